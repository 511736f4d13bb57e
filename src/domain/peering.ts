/**
 * VPC peering: the input shape, stage selection and what each peering state means. Pure; used by
 * the peering workflows, the activities and the client.
 */
import { z } from 'zod';
import { parseCidr } from './cidr';
import {
  boundedString,
  configName,
  durationString,
  httpUrl,
  invalidInput,
  MAX,
  availabilityZone,
  region as regionSchema,
  secretRefString,
  show,
} from './limits';
import { InvalidInput } from './errors';
import { expectPlanSchema } from './plan';

export const PEERING_STAGES = ['initiate', 'accept', 'route', 'associate-dns'] as const;
export type PeeringStage = (typeof PEERING_STAGES)[number];

export const VPC_ID = /^vpc-[0-9a-f]{8}([0-9a-f]{9})?$/;
const DATABASE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/;

/** Peering waits are bounded in hours: DURATION (limits.ts) without days. */
const DURATION = /^\d+(ms|s|m|h)$/;

/*
 * The schemas below are built for each validation and not kept: the SDK evaluates workflow modules
 * once per cached run, and a schema kept at module level stayed in memory as long as its run did
 * (a waiting peering holds it for hours; bench/RESULTS.md, "memory").
 */

const duration = () => durationString(DURATION, 'must be a duration like 500ms, 10s, 30m or 1h');

function awsCloudSchema() {
  return z
    .object({
      kind: z.literal('aws'),
      /** Region of the database network (default: the customer region). */
      region: regionSchema().optional(),
      /** Role to assume for the database account (default: the worker's own credentials). */
      roleArn: boundedString(MAX.arn).regex(ROLE_ARN, 'must be an IAM role ARN').optional(),
    })
    .strict();
}

const AEROSPIKE_INLINE = ['apiUrl', 'tokenUrl', 'clientIdRef', 'clientSecretRef'] as const;

/**
 * Aerospike Cloud: an operator-configured `account` (worker configuration), or the API given
 * inline (`apiUrl`, `tokenUrl`, `clientIdRef`, `clientSecretRef`); the two forms are exclusive.
 */
function aerospikeCloudSchema() {
  return z
    .object({
      kind: z.literal('aerospike-cloud'),
      account: configName('an Aerospike Cloud account of the worker configuration').optional(),
      apiUrl: httpUrl().optional(),
      tokenUrl: httpUrl().optional(),
      clientIdRef: secretRefString().optional(),
      clientSecretRef: secretRefString().optional(),
    })
    .strict()
    .superRefine((v, ctx) => {
      const inline = AEROSPIKE_INLINE.filter((k) => v[k] !== undefined);
      if (v.account !== undefined) {
        if (inline.length) {
          ctx.addIssue({
            code: 'custom',
            message: `give either account (a configured Aerospike Cloud account) or ${AEROSPIKE_INLINE.join(', ')}, not both (${inline.join(', ')} given with account)`,
          });
        }
        return;
      }
      for (const k of AEROSPIKE_INLINE) {
        if (v[k] === undefined)
          ctx.addIssue({
            code: 'custom',
            path: [k],
            message: 'is required unless account names a configured Aerospike Cloud account',
          });
      }
    });
}

export function cloudSchema() {
  return z.discriminatedUnion('kind', [awsCloudSchema(), aerospikeCloudSchema()]);
}

export type AwsCloud = z.infer<ReturnType<typeof awsCloudSchema>>;
/** An Aerospike Cloud account named in the worker configuration. */
export interface AerospikeCloudAccount {
  kind: 'aerospike-cloud';
  account: string;
}
/** The Aerospike Cloud API given in the input. */
export interface AerospikeCloudInline {
  kind: 'aerospike-cloud';
  apiUrl: string;
  tokenUrl: string;
  clientIdRef: string;
  clientSecretRef: string;
}
export type AerospikeCloud = AerospikeCloudAccount | AerospikeCloudInline;
export type Cloud = AwsCloud | AerospikeCloud;

/** Advanced timing, mostly for tests and slow clouds. */
export function timingSchema() {
  return z
    .object({
      pollInterval: duration().optional(),
      /** How long initiate waits for the database to be ready and for the peering id. */
      initiateTimeout: duration().optional(),
      /** How long accept/route wait for the peering to become active. */
      activeTimeout: duration().optional(),
      heartbeatTimeout: duration().optional(),
    })
    .strict();
}

/** The fields that name a peering's two sides, shared by the peering and the network inputs. */
function peeringSides() {
  return {
    databaseId: boundedString(128).regex(
      DATABASE_ID,
      'must be 1-128 of A-Z a-z 0-9 _ . - (starting with a letter or digit)',
    ),
    region: regionSchema(),
    vpcId: boundedString(21).refine(
      (v) => v === 'default' || VPC_ID.test(v),
      'must be a VPC id like vpc-0abc12345def67890, or "default"',
    ),
  };
}

export function peerVpcInputSchema() {
  return z
    .object({
      ...peeringSides(),
      stages: z
        .array(boundedString(32))
        .max(PEERING_STAGES.length, `must name at most ${PEERING_STAGES.length} stages`)
        .optional(),
      forceRouteCreation: z.boolean().optional(),
      routeTables: z.enum(['all', 'main']).optional(),
      /** Whether the database side should set up a secure connection (Aerospike Cloud's isSecureConnection). */
      secureConnection: z.boolean().optional(),
      cloud: cloudSchema(),
      timing: timingSchema().optional(),
      /** Run the read-only checks only and return what a run would change (issue 14). */
      plan: z.boolean().optional(),
      /** Apply only if the live plan still has this fingerprint (else PlanOutdated, nothing changed). */
      expectPlan: expectPlanSchema().optional(),
    })
    .strict();
}

export type PeerVpcInput = Omit<z.input<ReturnType<typeof peerVpcInputSchema>>, 'cloud'> & { cloud: Cloud };

export function unpeerVpcInputSchema() {
  return peerVpcInputSchema()
    .omit({
      stages: true,
      forceRouteCreation: true,
      routeTables: true,
      secureConnection: true,
    })
    .strict();
}
export type UnpeerVpcInput = Omit<z.input<ReturnType<typeof unpeerVpcInputSchema>>, 'cloud'> & { cloud: Cloud };

export function parse<T>(schema: z.ZodType<T>, raw: unknown): T {
  const r = schema.safeParse(raw);
  if (!r.success) {
    throw invalidInput(r.error, 'invalid input', 'input');
  }
  return r.data;
}

export interface PeeringPlan {
  databaseId: string;
  region: string;
  vpcId: string;
  stages: PeeringStage[];
  /** Whether stages were named (run only those) or not (run all, skipping what is done). */
  selected: boolean;
  force: boolean;
  routeTables: 'all' | 'main';
  secureConnection: boolean;
  cloud: Cloud;
  timing: { pollInterval: string; initiateTimeout: string; activeTimeout: string; heartbeatTimeout: string };
}

const DEFAULT_TIMING = { pollInterval: '10s', initiateTimeout: '1h', activeTimeout: '30m', heartbeatTimeout: '1m' };

/** Named stages run in canonical order; unknown names are refused. */
export function selectStages(named: readonly string[] | undefined): { stages: PeeringStage[]; selected: boolean } {
  if (!named || named.length === 0) return { stages: [...PEERING_STAGES], selected: false };
  const unknown = named.filter((n) => !(PEERING_STAGES as readonly string[]).includes(n));
  if (unknown.length) {
    throw new InvalidInput(
      `unknown stage${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `"${u}"`).join(', ')}: stages are ${PEERING_STAGES.join(', ')}`,
    );
  }
  return { stages: PEERING_STAGES.filter((s) => named.includes(s)), selected: true };
}

export function planPeering(raw: unknown): PeeringPlan {
  const i = parse(peerVpcInputSchema(), raw);
  const { stages, selected } = selectStages(i.stages);
  return {
    databaseId: i.databaseId,
    region: i.region,
    vpcId: i.vpcId,
    stages,
    selected,
    force: i.forceRouteCreation ?? false,
    routeTables: i.routeTables ?? 'all',
    secureConnection: i.secureConnection ?? false,
    cloud: i.cloud as Cloud, // the schema's refinement makes it one of the Cloud forms
    timing: { ...DEFAULT_TIMING, ...i.timing },
  };
}

export function planUnpeering(
  raw: unknown,
): Omit<PeeringPlan, 'stages' | 'selected' | 'force' | 'routeTables' | 'secureConnection'> {
  const i = parse(unpeerVpcInputSchema(), raw);
  return {
    databaseId: i.databaseId,
    region: i.region,
    vpcId: i.vpcId,
    cloud: i.cloud as Cloud,
    timing: { ...DEFAULT_TIMING, ...i.timing },
  };
}

export function peeringWorkflowId(i: { databaseId: string; vpcId: string }): string {
  return `peer-vpc:${i.databaseId}:${i.vpcId}`;
}

export function unpeeringWorkflowId(i: { databaseId: string; vpcId: string }): string {
  return `unpeer-vpc:${i.databaseId}:${i.vpcId}`;
}

export function peeringTarget(i: { databaseId?: unknown; vpcId?: unknown; region?: unknown }): string {
  return `${show(i.databaseId)}/${show(i.region)}/${show(i.vpcId)}`;
}

/** What the accept stage does for an EC2 peering state. */
export type AcceptAction = 'accept' | 'done' | 'wait' | 'fail';

export function acceptAction(state: string | undefined): AcceptAction {
  switch (state) {
    case 'pending-acceptance':
      return 'accept';
    case 'active':
      return 'done';
    case 'initiating-request':
    case 'provisioning':
      return 'wait';
    default:
      return 'fail'; // rejected, expired, failed, deleting, deleted, or missing
  }
}

/** Database-side (Aerospike Cloud) peering status: whether initiate can stop waiting. */
export function initiateSettled(p: { status?: string; peeringId?: string | null }): 'ready' | 'wait' | 'fail' {
  if (['rejected', 'expired', 'failed', 'deleting', 'deleted', 'not-operable'].includes(p.status ?? '')) return 'fail';
  if (p.peeringId && p.peeringId.startsWith('pcx-') && p.status !== 'initiating-request') return 'ready';
  return 'wait';
}

export function createNetworkInputSchema() {
  return z
    .object({
      ...peeringSides(),
      /** The database CIDR; default: the first free /19 of 10.128.0.0/9. */
      cidr: boundedString(18)
        .superRefine((v, ctx) => {
          try {
            parseCidr(v, 'requested CIDR');
          } catch (e) {
            ctx.addIssue({ code: 'custom', message: (e as Error).message });
          }
        })
        .optional(),
      /** One subnet per zone; default: the first zone of the database region. */
      availabilityZones: z.array(availabilityZone()).min(1).max(8).optional(),
      zoneName: boundedString(253)
        .regex(/^([a-z0-9-]+\.)+[a-z]{2,}$/, 'must be a DNS name like db-1.db.internal')
        .optional(),
      cloud: awsCloudSchema().optional(),
      routeTables: z.enum(['all', 'main']).optional(),
      forceRouteCreation: z.boolean().optional(),
      timing: timingSchema().optional(),
    })
    .strict();
}
export type CreateNetworkInput = z.input<ReturnType<typeof createNetworkInputSchema>>;

export interface NetworkPlan {
  databaseId: string;
  region: string;
  vpcId: string;
  requestedCidr?: string;
  databaseRegion: string;
  roleArn?: string;
  availabilityZones: string[];
  zoneName: string;
  peer: PeerVpcInput;
}

export function planNetwork(raw: unknown): NetworkPlan {
  const i = parse(createNetworkInputSchema(), raw);
  const databaseRegion = i.cloud?.region ?? i.region;
  const azs = i.availabilityZones ?? [`${databaseRegion}a`];
  const foreign = azs.filter((az) => az.slice(0, -1) !== databaseRegion);
  if (foreign.length)
    throw new InvalidInput(
      `invalid input: availabilityZones ${foreign.join(', ')} are not in the database region ${databaseRegion}`,
    );
  return {
    databaseId: i.databaseId,
    region: i.region,
    vpcId: i.vpcId,
    requestedCidr: i.cidr,
    databaseRegion,
    roleArn: i.cloud?.roleArn,
    availabilityZones: azs,
    zoneName: i.zoneName ?? `${i.databaseId.toLowerCase().replace(/[^a-z0-9-]/g, '-')}.db.internal`,
    peer: {
      databaseId: i.databaseId,
      region: i.region,
      vpcId: i.vpcId,
      cloud: { kind: 'aws', region: databaseRegion, ...(i.cloud?.roleArn ? { roleArn: i.cloud.roleArn } : {}) },
      ...(i.routeTables ? { routeTables: i.routeTables } : {}),
      ...(i.forceRouteCreation !== undefined ? { forceRouteCreation: i.forceRouteCreation } : {}),
      ...(i.timing ? { timing: i.timing } : {}),
    },
  };
}

export function networkWorkflowId(i: { databaseId: string; vpcId: string }): string {
  return `db-network:${i.databaseId}:${i.vpcId}`;
}
