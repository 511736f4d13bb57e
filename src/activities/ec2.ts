/**
 * EC2 in the customer account: resolving the VPC, accepting the peering in the VPC's own region,
 * routes to the database CIDR, and what the VPC already reaches (for CIDR planning). The route
 * logic is shared with the database side, which needs the same in its own VPC.
 */
import {
  AcceptVpcPeeringConnectionCommand,
  CreateRouteCommand,
  DeleteRouteCommand,
  DescribeRouteTablesCommand,
  DescribeVpcPeeringConnectionsCommand,
  DescribeVpcsCommand,
  ReplaceRouteCommand,
  type EC2Client,
  type Route,
  type RouteTable,
  type VpcPeeringConnection,
} from '@aws-sdk/client-ec2';
import { ApplicationFailure } from '@temporalio/common';
import { collectInUse, type InUse } from '../domain/cidr';
import { acceptAction } from '../domain/peering';
import { routeAction, type RouteFact } from '../domain/peering-plan';
import type { AwsClients } from './aws-clients';
import { AWS_ERRORS, isAwsError } from './aws-errors';
import { pollOrCheck, previousDetails, type PollMode } from './poll';
import type { Authority } from '../authority';
import type { StepResult } from './types';

export interface CustomerVpc {
  vpcId: string;
  region: string;
  accountId: string;
  cidr: string;
  cidrBlocks: string[];
}

export interface Timing {
  pollInterval: string;
  activeTimeout: string;
}

export async function describeVpc(ec2: EC2Client, region: string, vpcId: string): Promise<CustomerVpc> {
  let vpcs;
  if (vpcId === 'default') {
    vpcs =
      (await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] }))).Vpcs ?? [];
    vpcs = vpcs.filter((v) => v.IsDefault); // filter in code too: emulators may ignore Filters
    if (vpcs.length === 0) throw ApplicationFailure.nonRetryable(`default VPC not found in ${region}`, 'VpcNotFound');
  } else {
    try {
      vpcs = (await ec2.send(new DescribeVpcsCommand({ VpcIds: [vpcId] }))).Vpcs ?? [];
    } catch (err) {
      if (isAwsError(err, AWS_ERRORS.vpcNotFound))
        throw ApplicationFailure.nonRetryable(`VPC ${vpcId} not found in ${region}`, 'VpcNotFound');
      throw err;
    }
    if (vpcs.length === 0) throw ApplicationFailure.nonRetryable(`VPC ${vpcId} not found in ${region}`, 'VpcNotFound');
  }
  const v = vpcs[0];
  const blocks = (v.CidrBlockAssociationSet ?? [])
    .filter((a) => !a.CidrBlockState?.State || a.CidrBlockState.State === 'associated')
    .map((a) => a.CidrBlock!)
    .filter(Boolean);
  return {
    vpcId: v.VpcId!,
    region,
    accountId: v.OwnerId!,
    cidr: v.CidrBlock!,
    cidrBlocks: blocks.length ? blocks : [v.CidrBlock!],
  };
}

/** EC2 peering connections by id (ids work on every EC2 implementation; Filters may be ignored). */
export async function describePeering(ec2: EC2Client, peeringId: string): Promise<VpcPeeringConnection | undefined> {
  try {
    const r = await ec2.send(new DescribeVpcPeeringConnectionsCommand({ VpcPeeringConnectionIds: [peeringId] }));
    return r.VpcPeeringConnections?.[0];
  } catch (err) {
    if (isAwsError(err, AWS_ERRORS.peeringNotFound)) return undefined;
    throw err;
  }
}

/** The route tables of one VPC, or of several reached with the same client (one paged read). */
export async function routeTablesOf(ec2: EC2Client, vpcId: string | string[]): Promise<RouteTable[]> {
  const ids = Array.isArray(vpcId) ? vpcId : [vpcId];
  const out: RouteTable[] = [];
  let NextToken: string | undefined;
  do {
    const r = await ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: ids }], NextToken }));
    out.push(...(r.RouteTables ?? []).filter((t) => ids.includes(t.VpcId ?? '')));
    NextToken = r.NextToken;
  } while (NextToken);
  return out;
}

function isMain(t: RouteTable): boolean {
  return (t.Associations ?? []).some((a) => a.Main);
}

function targetOf(r: Route): string {
  return (
    r.VpcPeeringConnectionId ??
    r.GatewayId ??
    r.NatGatewayId ??
    r.TransitGatewayId ??
    r.NetworkInterfaceId ??
    r.InstanceId ??
    r.LocalGatewayId ??
    r.CarrierGatewayId ??
    r.CoreNetworkArn ??
    'unknown target'
  );
}

/** The route for `cidr` in a table, as the route rules (routeAction) see it. */
function routeFact(t: RouteTable, cidr: string): RouteFact {
  const r = (t.Routes ?? []).find((x) => x.DestinationCidrBlock === cidr);
  return {
    routeTableId: t.RouteTableId!,
    cidr,
    ...(r
      ? {
          existing: {
            ...(r.VpcPeeringConnectionId ? { peeringId: r.VpcPeeringConnectionId } : {}),
            target: targetOf(r),
            blackhole: r.State === 'blackhole',
          },
        }
      : {}),
  };
}

/**
 * The routes for each of `cidrs` in the VPC's targeted tables (all, or the main one), as found:
 * what ensureRoutesIn would look at. Read-only (DescribeRouteTables).
 */
export async function readRoutesIn(
  ec2: EC2Client,
  o: { vpcId: string; cidrs: readonly string[]; tables: 'all' | 'main' },
): Promise<RouteFact[]> {
  let tables = await routeTablesOf(ec2, o.vpcId);
  if (o.tables === 'main') tables = tables.filter(isMain);
  return o.cidrs.flatMap((cidr) => tables.map((t) => routeFact(t, cidr)));
}

export interface RouteChange {
  routeTableId: string;
  /** The table's VPC (since 0.5.0). */
  vpcId?: string;
  action: 'present' | 'created' | 'replaced-blackhole' | 'replaced-forced';
  previousTarget?: string;
}

export interface RouteTarget {
  vpcId: string;
  cidr: string;
  peeringId: string;
  tables: 'all' | 'main';
  force: boolean;
}

interface PlannedRoute {
  t: RouteTable;
  cidr: string;
  peeringId: string;
  action: RouteChange['action'];
  previous?: string;
}

/**
 * What makes every targeted route table of `o.vpcId` (among `tables`, read already) hold
 * `cidr -> peeringId`: same target is a no-op, a blackhole is replaced, another target is an error
 * unless forced (then ReplaceRoute: no gap). Throws on a conflict before anything is changed.
 */
function planRoutes(tables: RouteTable[], o: RouteTarget): PlannedRoute[] {
  let mine = tables.filter((t) => t.VpcId === o.vpcId);
  if (o.tables === 'main') mine = mine.filter(isMain);
  if (mine.length === 0)
    throw ApplicationFailure.nonRetryable(
      `VPC ${o.vpcId} has no ${o.tables === 'main' ? 'main ' : ''}route table`,
      'RouteTableNotFound',
    );
  return mine.map((t) => {
    const fact = routeFact(t, o.cidr);
    const action = routeAction(fact.existing, o.peeringId, o.force);
    if (action === 'conflict') {
      throw ApplicationFailure.nonRetryable(
        `route for ${o.cidr} already exists in route table ${t.RouteTableId} but points to a different target (${fact.existing!.target}); use force to replace it`,
        'RouteConflict',
      );
    }
    return action === 'replaced-blackhole' || action === 'replaced-forced'
      ? { t, cidr: o.cidr, peeringId: o.peeringId, action, previous: fact.existing!.target }
      : { t, cidr: o.cidr, peeringId: o.peeringId, action };
  });
}

async function applyRoutes(ec2: EC2Client, plans: PlannedRoute[]): Promise<RouteChange[]> {
  const changes: RouteChange[] = [];
  for (const p of plans) {
    const params = {
      RouteTableId: p.t.RouteTableId!,
      DestinationCidrBlock: p.cidr,
      VpcPeeringConnectionId: p.peeringId,
    };
    if (p.action === 'created') {
      try {
        await ec2.send(new CreateRouteCommand(params));
      } catch (err) {
        // A concurrent or earlier attempt made it already: replace only if it is not ours.
        if (!isAwsError(err, AWS_ERRORS.routeExists)) throw err;
        const now = (await ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: [p.t.RouteTableId!] })))
          .RouteTables?.[0];
        const r = now?.Routes?.find((x) => x.DestinationCidrBlock === p.cidr);
        if (r?.VpcPeeringConnectionId !== p.peeringId) throw err;
      }
    } else if (p.action !== 'present') {
      await ec2.send(new ReplaceRouteCommand(params));
    }
    changes.push({ routeTableId: p.t.RouteTableId!, vpcId: p.t.VpcId, action: p.action, previousTarget: p.previous });
  }
  return changes;
}

/**
 * Makes every targeted route table hold `cidr -> peeringId` for each target, checking every table
 * of every target before changing any, so a conflict leaves nothing half-done. The targets' VPCs
 * must be reachable with `ec2`; their tables are read in one call.
 */
export async function ensureRoutesIn(ec2: EC2Client, ...targets: RouteTarget[]): Promise<RouteChange[]> {
  const tables = await routeTablesOf(ec2, [...new Set(targets.map((t) => t.vpcId))]);
  const plans = targets.flatMap((o) => planRoutes(tables, o));
  return applyRoutes(ec2, plans);
}

/** The routes that point at `peeringId` (what removeRoutesIn would remove). Read-only. */
export async function readRoutesVia(
  ec2: EC2Client,
  o: { vpcId: string; peeringId: string },
): Promise<Array<{ routeTableId: string; cidr: string }>> {
  return (await routeTablesOf(ec2, o.vpcId)).flatMap((t) =>
    (t.Routes ?? [])
      .filter((r) => r.VpcPeeringConnectionId === o.peeringId && r.DestinationCidrBlock)
      .map((r) => ({ routeTableId: t.RouteTableId!, cidr: r.DestinationCidrBlock! })),
  );
}

/** Removes only the routes that point at `peeringId`. */
export async function removeRoutesIn(ec2: EC2Client, o: { vpcId: string; peeringId: string }): Promise<string[]> {
  const removed: string[] = [];
  for (const t of await routeTablesOf(ec2, o.vpcId)) {
    for (const r of t.Routes ?? []) {
      if (r.VpcPeeringConnectionId !== o.peeringId || !r.DestinationCidrBlock) continue;
      try {
        await ec2.send(
          new DeleteRouteCommand({ RouteTableId: t.RouteTableId!, DestinationCidrBlock: r.DestinationCidrBlock }),
        );
      } catch (err) {
        if (!isAwsError(err, AWS_ERRORS.routeNotFound)) throw err;
      }
      removed.push(`${t.RouteTableId} ${r.DestinationCidrBlock}`);
    }
  }
  return removed;
}

/** What the customer's route changes say in the stage table. */
export function customerRoutesOutcome(changes: RouteChange[], i: { cidr: string; peeringId: string }): StepResult {
  const made = changes.filter((c) => c.action !== 'present');
  const detail = made.length
    ? `${made.map((c) => `${c.routeTableId}: ${c.action}${c.previousTarget ? ` (was ${c.previousTarget})` : ''}`).join(', ')}`
    : `${i.cidr} → ${i.peeringId} already in ${changes.length} route table(s)`;
  return { changed: made.length > 0, detail };
}

/** Until the peering is active: in place, or with `mode` one quick check per attempt (./poll.ts). */
export async function waitPeeringActive(
  ec2: EC2Client,
  peeringId: string,
  timing: Timing,
  mode?: PollMode,
): Promise<void> {
  await pollOrCheck(
    mode,
    { what: `peering ${peeringId} to become active`, interval: timing.pollInterval, timeout: timing.activeTimeout },
    async () => {
      const p = await describePeering(ec2, peeringId);
      const state = p?.Status?.Code;
      const action = acceptAction(state);
      if (action === 'done') return { done: true, value: undefined };
      if (action === 'fail') {
        throw ApplicationFailure.nonRetryable(
          `peering ${peeringId} is ${state ?? 'gone'}${p?.Status?.Message ? ` (${p.Status.Message})` : ''}`,
          'PeeringFailed',
        );
      }
      return { done: false, status: state ?? 'unknown' };
    },
    { quick: true },
  );
}

export function createEc2Activities(deps: { aws: AwsClients; authority?: Pick<Authority, 'forceRouteCreation'> }) {
  return {
    /** The customer VPC ("default" resolved), its CIDRs and owner account. Read-only. */
    async resolveCustomerVpc(i: { region: string; vpcId: string }): Promise<CustomerVpc> {
      return describeVpc(deps.aws.ec2(i.region), i.region, i.vpcId);
    },

    /**
     * Accepts in the customer VPC's region; handles every peering state; waits until active (in
     * place, or with `mode` one quick check per attempt: whether an attempt accepted rides on).
     */
    async acceptPeering(
      i: { region: string; peeringId: string; timing: Timing },
      mode?: PollMode,
    ): Promise<StepResult> {
      const ec2 = deps.aws.ec2(i.region);
      let accepted = previousDetails<{ accepted: boolean }>().accepted ?? false;
      // Act first: a peering initiate just reported pending is accepted in one call, whose answer
      // says its state. Not pending (accepted already, still initiating, gone): the loop reads it.
      // Polled by retry, an attempt after one that accepted only reads.
      if (!accepted) {
        try {
          const r = await ec2.send(new AcceptVpcPeeringConnectionCommand({ VpcPeeringConnectionId: i.peeringId }));
          accepted = true;
          if (r.VpcPeeringConnection?.Status?.Code === 'active')
            return { changed: true, detail: `accepted ${i.peeringId}; active` };
        } catch (err) {
          if (!isAwsError(err, [...AWS_ERRORS.peeringStateTransition, ...AWS_ERRORS.peeringNotFound])) throw err;
        }
      }
      await pollOrCheck(
        mode,
        {
          what: `peering ${i.peeringId} to be accepted and active`,
          interval: i.timing.pollInterval,
          timeout: i.timing.activeTimeout,
        },
        async () => {
          const p = await describePeering(ec2, i.peeringId);
          const state = p?.Status?.Code;
          switch (acceptAction(state)) {
            case 'done':
              return { done: true, value: undefined };
            case 'accept': {
              const r = await ec2.send(new AcceptVpcPeeringConnectionCommand({ VpcPeeringConnectionId: i.peeringId }));
              accepted = true;
              return r.VpcPeeringConnection?.Status?.Code === 'active'
                ? { done: true, value: undefined }
                : { done: false, status: 'accepted' };
            }
            case 'wait':
              return { done: false, status: state! };
            default:
              throw ApplicationFailure.nonRetryable(
                p
                  ? `peering ${i.peeringId} is ${state}${p.Status?.Message ? ` (${p.Status.Message})` : ''}: it cannot be accepted`
                  : `peering ${i.peeringId} not found in ${i.region}`,
                'PeeringFailed',
              );
          }
        },
        { state: () => ({ accepted }), quick: true },
      );
      return {
        changed: accepted,
        detail: accepted ? `accepted ${i.peeringId}; active` : `${i.peeringId} already active`,
      };
    },

    /** Waits for the peering to be active (in place, or with `mode` by retry), then routes the database CIDR through it. */
    async ensureCustomerRoutes(
      i: {
        region: string;
        vpcId: string;
        cidr: string;
        peeringId: string;
        tables: 'all' | 'main';
        force: boolean;
        timing: Timing;
        /** The workflow has just seen the peering active (accept ran, or prepare found it): not read again. */
        active?: true;
      },
      mode?: PollMode,
    ): Promise<StepResult & { changes: RouteChange[] }> {
      // Checked in prepare too; again here, where the route is replaced (a run may predate the check).
      if (i.force) deps.authority?.forceRouteCreation();
      const ec2 = deps.aws.ec2(i.region);
      if (!i.active) await waitPeeringActive(ec2, i.peeringId, i.timing, mode);
      const changes = await ensureRoutesIn(ec2, {
        vpcId: i.vpcId,
        cidr: i.cidr,
        peeringId: i.peeringId,
        tables: i.tables,
        force: i.force,
      });
      return { ...customerRoutesOutcome(changes, i), changes };
    },

    /** Plan (issue 14): the customer VPC's routes for the database CIDR, as found. Read-only. */
    async readCustomerRoutes(i: {
      region: string;
      vpcId: string;
      cidr: string;
      tables: 'all' | 'main';
    }): Promise<RouteFact[]> {
      return readRoutesIn(deps.aws.ec2(i.region), { vpcId: i.vpcId, cidrs: [i.cidr], tables: i.tables });
    },

    /** Plan (issue 14): the peering's EC2 state in the customer's region (undefined: not found). Read-only. */
    async readPeeringState(i: { region: string; peeringId: string }): Promise<string | undefined> {
      return (await describePeering(deps.aws.ec2(i.region), i.peeringId))?.Status?.Code;
    },

    /** Plan (issue 14): the customer VPC's routes via the peering (what removeCustomerRoutes removes). Read-only. */
    async readCustomerRoutesVia(i: { region: string; vpcId: string; peeringId: string }) {
      return readRoutesVia(deps.aws.ec2(i.region), { vpcId: i.vpcId, peeringId: i.peeringId });
    },

    async removeCustomerRoutes(i: { region: string; vpcId: string; peeringId: string }): Promise<StepResult> {
      const removed = await removeRoutesIn(deps.aws.ec2(i.region), { vpcId: i.vpcId, peeringId: i.peeringId });
      return {
        changed: removed.length > 0,
        detail: removed.length ? `removed ${removed.join(', ')}` : `no route points at ${i.peeringId}`,
      };
    },

    /** Everything the VPC already reaches: its CIDRs, route destinations, live peerings' other sides. */
    async describeInUse(i: { region: string; vpcId: string }): Promise<{ vpc: CustomerVpc; inUse: InUse[] }> {
      const ec2 = deps.aws.ec2(i.region);
      const vpc = await describeVpc(ec2, i.region, i.vpcId);
      const tables = await routeTablesOf(ec2, vpc.vpcId);
      const peerings: VpcPeeringConnection[] = [];
      let NextToken: string | undefined;
      do {
        const r = await ec2.send(new DescribeVpcPeeringConnectionsCommand({ NextToken }));
        peerings.push(...(r.VpcPeeringConnections ?? []));
        NextToken = r.NextToken;
      } while (NextToken);
      const mine = peerings.filter(
        (p) => p.RequesterVpcInfo?.VpcId === vpc.vpcId || p.AccepterVpcInfo?.VpcId === vpc.vpcId,
      );
      const inUse = collectInUse({
        vpcId: vpc.vpcId,
        cidrBlocks: vpc.cidrBlocks,
        routeTables: tables.map((t) => ({
          id: t.RouteTableId!,
          destinations: (t.Routes ?? []).map((r) => r.DestinationCidrBlock),
        })),
        peerings: mine.map((p) => {
          const other = p.RequesterVpcInfo?.VpcId === vpc.vpcId ? p.AccepterVpcInfo : p.RequesterVpcInfo;
          const blocks = (other?.CidrBlockSet ?? []).map((b) => b.CidrBlock!).filter(Boolean);
          return {
            id: p.VpcPeeringConnectionId!,
            state: p.Status?.Code ?? '',
            otherSideCidrs: blocks.length ? blocks : [other?.CidrBlock].filter((x): x is string => !!x),
          };
        }),
      });
      return { vpc, inUse };
    },
  };
}
