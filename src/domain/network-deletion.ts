/**
 * Deleting a database network (deleteDatabaseNetwork): the input, the plan, and what stops a
 * deletion. Pure; used by the workflow, the activities and the client.
 */
import { z } from 'zod';
import { createNetworkInputSchema, parse, type UnpeerVpcInput } from './peering';
import { change, expectPlanSchema, type PlannedChange } from './plan';

/** deleteDatabaseNetwork's input; built for each validation and not kept, like every input schema (peering.ts). */
export function deleteNetworkInputSchema() {
  return createNetworkInputSchema()
    .pick({
      databaseId: true,
      region: true,
      vpcId: true,
      cloud: true,
      timing: true,
    })
    .extend({
      /** Run the read-only checks only and return what a run would delete (issue 14). */
      plan: z.boolean().optional(),
      /** Delete only if the live plan still has this fingerprint (else PlanOutdated, nothing deleted). */
      expectPlan: expectPlanSchema().optional(),
    })
    .strict();
}
export type DeleteNetworkInput = z.input<ReturnType<typeof deleteNetworkInputSchema>>;

export interface NetworkDeletionPlan {
  databaseId: string;
  /** The customer VPC peered with the network (unpeered first), and its region. */
  vpcId: string;
  region: string;
  databaseRegion: string;
  roleArn?: string;
  unpeer: UnpeerVpcInput;
}

export function planNetworkDeletion(raw: unknown): NetworkDeletionPlan {
  const i = parse(deleteNetworkInputSchema(), raw);
  const databaseRegion = i.cloud?.region ?? i.region;
  return {
    databaseId: i.databaseId,
    vpcId: i.vpcId,
    region: i.region,
    databaseRegion,
    roleArn: i.cloud?.roleArn,
    unpeer: {
      databaseId: i.databaseId,
      region: i.region,
      vpcId: i.vpcId,
      cloud: { kind: 'aws', region: databaseRegion, ...(i.cloud?.roleArn ? { roleArn: i.cloud.roleArn } : {}) },
      ...(i.timing ? { timing: i.timing } : {}),
    },
  };
}

export function networkDeletionWorkflowId(i: { databaseId: string; vpcId: string }): string {
  return `delete-db-network:${i.databaseId}:${i.vpcId}`;
}

/** A database network as found in AWS (inspectDatabaseNetwork). */
export interface DatabaseNetworkState {
  vpcId: string;
  cidr: string;
  /** Tagged ManagedBy=dbops: made by createDatabaseNetwork. */
  managedByDbops: boolean;
  /** The private zone createDatabaseNetwork made for it, if any. */
  hostedZoneId?: string;
  /** Subnets in the VPC; `ours` when tagged with the database id. */
  subnets: Array<{ id: string; ours: boolean }>;
  /** Live peerings (initiating, pending, provisioning, active) with other VPCs. */
  peerings: Array<{ peeringId: string; vpcId: string; status: string }>;
  /** Network interfaces in the VPC: database instances, endpoints, load balancers… */
  networkInterfaces: Array<{ id: string; description: string }>;
}

/**
 * Why the network cannot be deleted, every reason at once; empty when it can. The peering with
 * `customerVpcId` is not a reason: the deletion unpeers it first.
 */
export function deletionBlockers(net: DatabaseNetworkState, customerVpcId: string | undefined): string[] {
  const problems: string[] = [];
  if (!net.managedByDbops)
    problems.push(`VPC ${net.vpcId} was not made by dbops (no ManagedBy=dbops tag); delete it yourself`);
  const others = net.peerings.filter((p) => p.vpcId !== customerVpcId);
  if (others.length) {
    problems.push(
      `it is still peered with ${others.map((p) => `${p.vpcId} (${p.peeringId}, ${p.status})`).join(', ')}: unpeer those first`,
    );
  }
  if (net.networkInterfaces.length) {
    const shown = net.networkInterfaces.slice(0, 5).map((n) => (n.description ? `${n.id} "${n.description}"` : n.id));
    const more = net.networkInterfaces.length > 5 ? ` and ${net.networkInterfaces.length - 5} more` : '';
    problems.push(
      `${net.networkInterfaces.length} network interface(s) are in use in it (${shown.join(', ')}${more}): delete the databases and endpoints in it first`,
    );
  }
  const foreign = net.subnets.filter((x) => !x.ours);
  if (foreign.length)
    problems.push(`subnet(s) ${foreign.map((x) => x.id).join(', ')} were not made by dbops: delete them first`);
  return problems;
}

/** The live peering between the network and the customer VPC, if any. */
export function customerPeering(
  net: DatabaseNetworkState,
  customerVpcId: string,
): { peeringId: string; status: string } | undefined {
  return net.peerings.find((p) => p.vpcId === customerVpcId);
}

/**
 * What a deleteDatabaseNetwork run would delete, per stage (issue 14), from prepare's inspection:
 * the unpeering (its own plan, shown under the unpeer stage), the zone dbops made, the subnets
 * tagged for the database, the VPC. What stops the deletion is `blocked` (the run would refuse,
 * changing nothing).
 */
export function networkDeletionChanges(
  net: DatabaseNetworkState | undefined,
  blockers: readonly string[],
  unpeer: readonly PlannedChange[],
): { changes: PlannedChange[]; blocked: PlannedChange[] } {
  if (!net) return { changes: [], blocked: [] };
  const blocked = blockers.map((b) => change('prepare', 'delete', `database network ${net.vpcId}: ${b}`));
  const changes = [
    ...unpeer.map((c) => change('unpeer', c.action, c.what, c.detail)),
    ...(net.hostedZoneId
      ? [change('delete-hosted-zone', 'delete', `private hosted zone ${net.hostedZoneId} and its records`)]
      : []),
    ...net.subnets.filter((x) => x.ours).map((x) => change('delete-subnets', 'delete', `subnet ${x.id}`)),
    change('delete-vpc', 'delete', `VPC ${net.vpcId} (${net.cidr})`, net.managedByDbops ? 'made by dbops' : undefined),
  ];
  return { changes, blocked };
}
