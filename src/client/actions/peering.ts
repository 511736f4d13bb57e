/** What `dbops peer-vpc`, `unpeer-vpc`, `cidr plan` and `db-network create|delete` do (loaded only when one runs). */
import type { Command } from 'commander';
import { SA_OPERATION, SA_TARGET } from '../../api';
import { planCidr } from '../../domain/cidr';
import {
  parse,
  networkWorkflowId,
  peeringTarget,
  peeringWorkflowId,
  planNetwork,
  planPeering,
  planUnpeering,
  unpeeringWorkflowId,
  type CreateNetworkInput,
  type PeerVpcInput,
} from '../../domain/peering';
import { networkDeletionWorkflowId, planNetworkDeletion, type DeleteNetworkInput } from '../../domain/network-deletion';
import type { CliContext } from '../context';
import { createNetworkPlanInputSchema, withoutPlanFields } from '../../domain/network-plan';
import { planTable } from '../../domain/plan';
import {
  planReconcilePeering,
  reconcilePeeringWorkflowId,
  type ReconcilePeeringInput,
} from '../../domain/peering-plan';
import type { PeeringPlanResult } from '../../workflows/peering-plan';
import { planFields, type PlanFlags } from './plan-flags';
import { createSchedule } from './schedule';
import { inFlagTerms, type FlagNames } from '../flag-terms';
import { exitCodeOf, setExitCode } from '../exit';
import { startRun } from '../follow';
import type { WorkflowInput } from '../workflow-types';

/** The input fields the peering and network commands set, by flag (for messages in the user's terms). */
export const PEERING_FLAGS: FlagNames = {
  databaseId: '--database-id',
  region: '--region',
  vpcId: '--vpc-id',
  cloud: '--cloud',
  'cloud.region': '--cloud-region',
  'cloud.roleArn': '--role-arn',
  'cloud.apiUrl': '--api-url',
  'cloud.tokenUrl': '--token-url',
  'cloud.clientIdRef': '--client-id-ref',
  'cloud.clientSecretRef': '--client-secret-ref',
  'cloud.account': '--account',
  stages: '--stage-*',
  forceRouteCreation: '--force-route-creation',
  routeTables: '--route-tables',
  secureConnection: '--secure-connection',
  'timing.pollInterval': '--poll-interval',
  cidr: '--cidr',
  availabilityZones: '--az',
  zoneName: '--zone-name',
};

export interface CloudFlags {
  databaseId: string;
  region: string;
  vpcId: string;
  cloud: string;
  cloudRegion?: string;
  roleArn?: string;
  apiUrl?: string;
  tokenUrl?: string;
  clientIdRef?: string;
  clientSecretRef?: string;
  account?: string;
  pollInterval?: string;
  detach?: boolean;
}

function awsCloud(f: CloudFlags): { kind: 'aws'; region?: string; roleArn?: string } {
  return {
    kind: 'aws',
    ...(f.cloudRegion ? { region: f.cloudRegion } : {}),
    ...(f.roleArn ? { roleArn: f.roleArn } : {}),
  };
}

function cloud(f: CloudFlags): PeerVpcInput['cloud'] {
  if (f.cloud === 'aerospike-cloud') {
    if (f.account) return { kind: 'aerospike-cloud', account: f.account };
    return {
      kind: 'aerospike-cloud',
      apiUrl: f.apiUrl!,
      tokenUrl: f.tokenUrl!,
      clientIdRef: f.clientIdRef!,
      clientSecretRef: f.clientSecretRef!,
    };
  }
  if (f.cloud !== 'aws') throw new Error('--cloud must be aws or aerospike-cloud');
  return awsCloud(f);
}

type PeeringWorkflow = 'peerVpc' | 'unpeerVpc' | 'createDatabaseNetwork' | 'deleteDatabaseNetwork';

async function start<K extends PeeringWorkflow>(
  ctx: CliContext,
  cmd: Command,
  workflowType: K,
  workflowId: string,
  input: WorkflowInput<K>,
  detach?: boolean,
): Promise<void> {
  const { client, settings } = await ctx.connect();
  const code = await startRun<K>(
    client,
    {
      workflowType,
      workflowId,
      input,
      taskQueue: settings.taskQueue,
      staticSummary: `${workflowType} ${peeringTarget(input)}`,
      typedSearchAttributes: [
        { key: SA_OPERATION, value: workflowType },
        { key: SA_TARGET, value: peeringTarget(input) },
      ],
    },
    ctx.io,
    { detach },
  );
  setExitCode(cmd, code);
}

export async function peerVpc(
  ctx: CliContext,
  f: CloudFlags & PlanFlags & Record<string, unknown>,
  cmd: Command,
): Promise<void> {
  const stages = ['initiate', 'accept', 'route', 'associate-dns'].filter(
    (s) =>
      f[
        `stage${s
          .split('-')
          .map((w) => w[0].toUpperCase() + w.slice(1))
          .join('')}`
      ],
  );
  const input: PeerVpcInput = {
    databaseId: f.databaseId,
    region: f.region,
    vpcId: f.vpcId,
    cloud: cloud(f),
    ...(stages.length ? { stages } : {}),
    ...(f.forceRouteCreation ? { forceRouteCreation: true } : {}),
    routeTables: f.routeTables as 'all' | 'main',
    ...(f.secureConnection ? { secureConnection: true } : {}),
    ...(f.pollInterval ? { timing: { pollInterval: f.pollInterval } } : {}),
  };
  inFlagTerms(PEERING_FLAGS, () => planPeering(input)); // bad input is refused here, before anything starts
  if (f.schedule !== undefined) {
    if (f.plan || f.expectPlan || f.expectPlanFrom)
      throw new Error('--schedule puts a reconcile on a schedule: it takes no --plan or --expect-plan');
    await scheduleReconcile(ctx, input, {
      schedule: String(f.schedule),
      ...(typeof f.scheduleId === 'string' ? { scheduleId: f.scheduleId } : {}),
      reportOnly: Boolean(f.reportOnly),
    });
    return;
  }
  if (f.scheduleId !== undefined || f.reportOnly) throw new Error('--schedule-id and --report-only go with --schedule');
  await planOrApply(ctx, cmd, f, 'peerVpc', peeringWorkflowId(input), input, planPeering);
}

type PlannedWorkflow = 'peerVpc' | 'unpeerVpc' | 'createDatabaseNetwork' | 'deleteDatabaseNetwork';

/**
 * `--plan`: a plan run (id `<workflow id>:plan`), followed, then its plan as a table, the
 * fingerprint and how to apply it. `--expect-plan` / `--expect-plan-from`: the apply, carrying the
 * plan (checked against the workflow's schema first). Neither: the apply.
 */
async function planOrApply<K extends PlannedWorkflow>(
  ctx: CliContext,
  cmd: Command,
  f: PlanFlags & { detach?: boolean },
  type: K,
  workflowId: string,
  input: WorkflowInput<K>,
  check: (input: unknown) => unknown,
): Promise<void> {
  const fields = await planFields(ctx, f);
  if (fields.plan) {
    const id = `${workflowId}:plan`;
    const { client } = await ctx.connect();
    await start(ctx, cmd, type, id, { ...input, plan: true }, f.detach);
    if (exitCodeOf(cmd) !== 0 || f.detach) return;
    const r = (await client.workflow.getHandle(id).result()) as PeeringPlanResult;
    ctx.io.out.write(`\n${planTable(r.changes)}\n`);
    if (r.blocked.length) {
      ctx.io.out.write(`\nthe apply would refuse:\n${planTable(r.blocked)}\n`);
      setExitCode(cmd, 1);
    }
    ctx.io.out.write(
      `\nplan ${r.fingerprint}\napply it with the same flags and --expect-plan ${r.fingerprint} (or --expect-plan-from ${id})\n`,
    );
    return;
  }
  const apply = fields.expectPlan ? { ...input, expectPlan: fields.expectPlan } : input;
  inFlagTerms({ ...PEERING_FLAGS, expectPlan: '--expect-plan' }, () => check(apply));
  await start(ctx, cmd, type, workflowId, apply, f.detach);
}

interface ScheduleFlags {
  schedule: string;
  scheduleId?: string;
  reportOnly?: boolean;
}

/** `peer-vpc --schedule`: a schedule whose runs reconcile the peering (reconcilePeering, overlap skip). */
async function scheduleReconcile(ctx: CliContext, peer: PeerVpcInput, f: ScheduleFlags): Promise<void> {
  const input: ReconcilePeeringInput = { ...peer, ...(f.reportOnly ? { reportOnly: true } : {}) };
  inFlagTerms({ ...PEERING_FLAGS, reportOnly: '--report-only' }, () => planPeering(planReconcilePeering(input).peer));
  const { client, settings } = await ctx.connect();
  const id = reconcilePeeringWorkflowId(peer);
  const scheduleId = f.scheduleId ?? id;
  await createSchedule(client, {
    scheduleId,
    cron: [f.schedule],
    workflowType: 'reconcilePeering',
    workflowId: id,
    input,
    taskQueue: settings.taskQueue,
    overlap: 'skip',
    note: `drift check of the peering ${peeringTarget(peer)}${f.reportOnly ? ' (report only)' : ''}`,
  });
  ctx.io.out.write(
    `schedule ${scheduleId} created: reconcile of the peering ${peeringTarget(peer)} (${f.reportOnly ? 'report only' : 'repairs drift'}), cron ${f.schedule}, overlap skip\n`,
  );
}

export async function unpeerVpc(ctx: CliContext, f: CloudFlags & PlanFlags, cmd: Command): Promise<void> {
  const input = {
    databaseId: f.databaseId,
    region: f.region,
    vpcId: f.vpcId,
    cloud: cloud(f),
    ...(f.pollInterval ? { timing: { pollInterval: f.pollInterval } } : {}),
  };
  inFlagTerms(PEERING_FLAGS, () => planUnpeering(input));
  await planOrApply(ctx, cmd, f, 'unpeerVpc', unpeeringWorkflowId(input), input, planUnpeering);
}

export async function cidrPlan(
  ctx: CliContext,
  o: { vpcId: string; region: string; cidr?: string; output: string },
): Promise<void> {
  // The AWS SDK is loaded only here: the other commands of this group run on the worker.
  const [{ AwsClients }, { createEc2Activities }] = await Promise.all([
    import('../../activities/aws-clients'),
    import('../../activities/ec2'),
  ]);
  const ec2 = createEc2Activities({ aws: AwsClients.fromEnv(ctx.env) });
  const { vpc, inUse } = await ec2.describeInUse({ region: o.region, vpcId: o.vpcId });
  const plan = planCidr({ vpcId: vpc.vpcId, inUse, requested: o.cidr });
  if (o.output === 'json') {
    ctx.io.out.write(`${JSON.stringify({ vpcId: vpc.vpcId, inUse, chosen: plan.cidr, tried: plan.tried }, null, 2)}\n`);
    return;
  }
  ctx.io.out.write(`in use by ${vpc.vpcId}:\n`);
  for (const u of inUse) ctx.io.out.write(`  ${u.cidr.padEnd(18)} ${u.source}\n`);
  ctx.io.out.write(`chosen: ${plan.cidr}\n`);
}

export async function createNetwork(
  ctx: CliContext,
  f: CloudFlags & PlanFlags & { cidr?: string; az?: string[]; zoneName?: string; routeTables: string },
  cmd: Command,
): Promise<void> {
  if (f.cloud !== 'aws') throw new Error('db-network create makes an AWS database network: --cloud must be aws');
  const input: CreateNetworkInput = {
    databaseId: f.databaseId,
    region: f.region,
    vpcId: f.vpcId,
    ...(f.cidr ? { cidr: f.cidr } : {}),
    ...(f.az ? { availabilityZones: f.az } : {}),
    ...(f.zoneName ? { zoneName: f.zoneName } : {}),
    cloud: awsCloud(f),
    routeTables: f.routeTables as 'all',
    ...(f.pollInterval ? { timing: { pollInterval: f.pollInterval } } : {}),
  };
  inFlagTerms(PEERING_FLAGS, () => planNetwork(input));
  await planOrApply(ctx, cmd, f, 'createDatabaseNetwork', networkWorkflowId(input), input, (i) =>
    planNetwork(withoutPlanFields(parse(createNetworkPlanInputSchema(), i))),
  );
}

export async function deleteNetwork(ctx: CliContext, f: CloudFlags & PlanFlags, cmd: Command): Promise<void> {
  if (f.cloud !== 'aws') throw new Error('db-network delete removes an AWS database network: --cloud must be aws');
  const input: DeleteNetworkInput = {
    databaseId: f.databaseId,
    region: f.region,
    vpcId: f.vpcId,
    cloud: awsCloud(f),
    ...(f.pollInterval ? { timing: { pollInterval: f.pollInterval } } : {}),
  };
  inFlagTerms(PEERING_FLAGS, () => planNetworkDeletion(input));
  await planOrApply(ctx, cmd, f, 'deleteDatabaseNetwork', networkDeletionWorkflowId(input), input, planNetworkDeletion);
}
