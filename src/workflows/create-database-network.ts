/**
 * createDatabaseNetwork (AWS): plans a free CIDR for the customer VPC, creates the database VPC,
 * one subnet per availability zone and the private hosted zone (all tagged
 * dbops:database-id=<id>), then peers them with peerVpc as a child workflow. A failure (or a
 * cancellation) before the child starts removes what this run created.
 *
 * What "this run created" means (patch UNDO_BY_RUN_TAG): the VPC also carries dbops:run-id=<the
 * run's first run id>, and the undo removes the VPC with that tag (and its zone and subnets), so a
 * VPC made by an attempt whose reply was lost (or whose worker died) is undone too. Each create
 * runs in a non-cancellable scope: a cancellation lets an in-flight create finish, then undoes it;
 * a create not yet sent is never sent; the private zone name is checked against the worker's
 * configuration in plan-cidr, before anything is made. Runs started before the patch keep the old
 * behaviour.
 */
import {
  ApplicationFailure,
  CancelledFailure,
  CancellationScope,
  executeChild,
  isCancellation,
  patched,
  workflowInfo,
} from '@temporalio/workflow';
import { planCidr, splitCidr } from '../domain/cidr';
import { anyRegionName } from '../domain/limits';
import {
  peeringTarget,
  peeringWorkflowId,
  planNetwork,
  planPeering,
  type CreateNetworkInput,
  type NetworkPlan,
} from '../domain/peering';
import { changedOr, ProgressTracker, validInput } from './progress';
import { lookUp, quick, undoing } from './peering-activities';
import { asksForPlan, planMode, type PlanMode } from '../domain/peering-plan';
import { change, type PlannedChange, type PlanResult } from '../domain/plan';
import { createNetworkPlanInputSchema, networkCreationChanges, withoutPlanFields } from '../domain/network-plan';
import { parse } from '../domain/peering';
import { checkPeering, finishPlan, refuseUnlessPlanned } from './peering-plan';
import { peerVpc, type PeerVpcResult } from './peer-vpc';
import { CancelGuard } from './undo';

/** Patch ids (CONTRIBUTING.md): each gates a change of what the workflow does. */
export const PATCHES = {
  /**
   * Region names are checked against the AWS SDK's list (us-eest-1 is refused when the run starts).
   * Before: any name of the region shape was accepted, and planning without the marker still does.
   */
  knownRegions: 'create-database-network-known-regions',
  /**
   * Plan mode (issue 14): `plan` returns what a run would create (read-only checks only);
   * `expectPlan` refuses (PlanOutdated, PlanBlocked) before creating anything when the live plan
   * differs. Asked only by runs whose input has either field (before: refused as unknown fields).
   */
  plan: 'create-database-network-plan',
} as const;

/** A plan run's result: the plan, what would stop the apply, and the target. */
export interface CreateNetworkPlanResult extends PlanResult {
  blocked: PlannedChange[];
  databaseId: string;
  databaseVpcId?: string;
  cidr: string;
}

/** Creates are non-cancellable and the undo finds the run's VPC by its dbops:run-id tag. */
export const UNDO_BY_RUN_TAG = 'create-database-network-undo-by-run-tag';
/**
 * The run id in the VPC's tag is the one on the run's started event (its own for each run of a
 * cron or retry chain, kept across resets), not the chain's first run id.
 */
export const OWN_RUN_ID = 'create-database-network-own-run-id';
/**
 * A cancellation once the child peerVpc has started, when this run made the VPC: after the child
 * has ended (it undoes its own peering when the cancellation reaches it first; it may also have
 * completed), any peering to the VPC is removed (the VPC is this run's, so the peering is too),
 * then the network.
 */
export const UNDO_AFTER_PEER_CANCEL = 'create-database-network-undo-after-peer-cancel';

export const NETWORK_STAGES = ['plan-cidr', 'create-vpc', 'create-subnets', 'create-hosted-zone', 'peer'] as const;

export interface CreateNetworkResult {
  databaseId: string;
  databaseVpcId: string;
  cidr: string;
  subnetIds: string[];
  hostedZoneId: string;
  peering: PeerVpcResult;
}

export async function createDatabaseNetwork(
  input: CreateNetworkInput,
): Promise<CreateNetworkResult | CreateNetworkPlanResult> {
  const progress = new ProgressTracker<CreateNetworkResult | CreateNetworkPlanResult>(
    'createDatabaseNetwork',
    peeringTarget(input ?? {}),
    NETWORK_STAGES,
  );
  const byRunTag = patched(UNDO_BY_RUN_TAG);
  // From history (the run's started event): the same on every replay, every attempt and after a reset.
  const info = workflowInfo();
  const runId = byRunTag ? (patched(OWN_RUN_ID) ? info.originalExecutionRunId : info.firstExecutionRunId) : undefined;
  /** Once the run is cancelled nothing more is created; a create in flight completes and is undone. */
  const guard = new CancelGuard(byRunTag);
  const create = <T>(call: () => Promise<T>): Promise<T> => guard.create(call);
  let undoAfterPeer = false;
  let plan: NetworkPlan | undefined;
  let createdVpc = false;
  let vpcRequested = false;
  let childStarted = false;
  try {
    const planned = await progress.run(
      'plan-cidr',
      async () => {
        // Since 0.5.0, asked only by runs whose input has plan or expectPlan (others' histories stay as they were).
        const asking = asksForPlan(input) && patched(PATCHES.plan);
        const mode: PlanMode = asking
          ? validInput(() => planMode(parse(createNetworkPlanInputSchema(), input)))
          : { kind: 'apply' };
        plan = validInput(() => planNetwork(asking ? withoutPlanFields(input) : input), patched(PATCHES.knownRegions));
        const p = plan;
        const where = { databaseId: p.databaseId, region: p.databaseRegion, roleArn: p.roleArn };
        if (mode.kind !== 'apply') {
          const live = await checkNetwork(p);
          refuseUnlessPlanned(mode, live.live);
          if (mode.kind === 'plan') return { ...live, skipped: false };
        }
        // With the patch, the zone name is checked here too (read-only), before anything is made.
        const existing = await quick.findDatabaseNetwork.executeWithOptions(
          { summary: `look for database network ${p.databaseId}` },
          [byRunTag ? { ...where, zoneName: p.zoneName } : where],
        );
        if (existing) {
          if (p.requestedCidr && p.requestedCidr !== existing.cidr) {
            throw ApplicationFailure.nonRetryable(
              `database ${p.databaseId} already has network ${existing.vpcId} ` +
                `with CIDR ${existing.cidr}, not ${p.requestedCidr}`,
              'DatabaseNetworkConflict',
            );
          }
          return {
            cidr: existing.cidr,
            detail: `database network ${existing.vpcId} exists with ${existing.cidr}`,
            skipped: true,
          };
        }
        const seen = await quick.describeInUse.executeWithOptions({ summary: `list what ${p.vpcId} already reaches` }, [
          { region: p.region, vpcId: p.vpcId },
        ]);
        const chosen = validInput(() =>
          planCidr({ vpcId: seen.vpc.vpcId, inUse: seen.inUse, requested: p.requestedCidr }),
        );
        return {
          cidr: chosen.cidr,
          detail: `${chosen.cidr} (${seen.inUse.length} blocks in use, ${chosen.tried} tried)`,
          skipped: false,
        };
      },
      (r) => ({ detail: r.detail, skipped: r.skipped }),
    );
    const p = plan!;
    if ('live' in planned) {
      return await finishPlan(progress, NETWORK_STAGES.slice(1), planned.live, {
        databaseId: p.databaseId,
        ...(planned.vpcId ? { databaseVpcId: planned.vpcId } : {}),
        cidr: planned.cidr,
      });
    }
    const where = { databaseId: p.databaseId, region: p.databaseRegion, roleArn: p.roleArn };

    const vpc = await progress.run(
      'create-vpc',
      () => {
        vpcRequested = true;
        return create(() =>
          quick.createDatabaseVpc.executeWithOptions({ summary: `create VPC ${planned.cidr}` }, [
            { ...where, cidr: planned.cidr, ...(runId ? { runId } : {}) },
          ]),
        );
      },
      changedOr((r) => r.vpcId),
    );
    createdVpc = vpc.changed;
    const subnets = await progress.run(
      'create-subnets',
      async () => {
        const cidrs = validInput(() => splitCidr(planned.cidr, p.availabilityZones.length));
        return create(() =>
          quick.createDatabaseSubnets.executeWithOptions({ summary: `create ${cidrs.length} subnet(s)` }, [
            {
              ...where,
              vpcId: vpc.vpcId,
              subnets: p.availabilityZones.map((az, i) => ({ az, cidr: cidrs[i] })),
            },
          ]),
        );
      },
      changedOr((r) => r.subnetIds.join(', ')),
    );
    const zone = await progress.run(
      'create-hosted-zone',
      () =>
        create(() =>
          quick.createDatabaseHostedZone.executeWithOptions({ summary: `create private zone ${p.zoneName}` }, [
            {
              ...where,
              vpcId: vpc.vpcId,
              zoneName: p.zoneName,
            },
          ]),
        ),
      changedOr((r) => `${p.zoneName} (${r.hostedZoneId})`),
    );

    const peering = await progress.run(
      'peer',
      async () => {
        // Cancelled while the last create ran: the child is never started, and the network is undone.
        guard.stopIfCancelled();
        undoAfterPeer = byRunTag && vpc.changed && patched(UNDO_AFTER_PEER_CANCEL);
        childStarted = true;
        // p.peer never asks for a plan: the child applies and returns a PeerVpcResult.
        return (await executeChild(peerVpc, {
          workflowId: peeringWorkflowId({ databaseId: p.databaseId, vpcId: p.vpcId }),
          args: [p.peer],
        })) as PeerVpcResult;
      },
      (r) => ({
        detail: `${r.peeringId} (child workflow ${peeringWorkflowId({ databaseId: p.databaseId, vpcId: p.vpcId })})`,
      }),
    );

    if (undoAfterPeer) guard.stopIfCancelled(); // cancelled while the child completed: undone like the others
    return progress.finish({
      databaseId: p.databaseId,
      databaseVpcId: vpc.vpcId,
      cidr: planned.cidr,
      subnetIds: subnets.subnetIds,
      hostedZoneId: zone.hostedZoneId,
      peering,
    });
  } catch (err) {
    // Cancelled while the child ran (or once it had completed): the peering to this run's VPC and
    // then the network go. A child that failed on its own leaves the network for a re-run.
    const cancelledAfterPeer =
      undoAfterPeer && (isCancellation(err) || CancellationScope.current().consideredCancelled);
    if (cancelledAfterPeer && plan) {
      const p = plan;
      await guard.undo(() => removePeeringOf(p));
    }
    if (byRunTag && plan && vpcRequested && (!childStarted || cancelledAfterPeer)) {
      // Undo the VPC this run made (found by its run tag, whichever attempt made it), even when the
      // run is being cancelled. Nothing carries the tag when the network existed before the run.
      const p = plan;
      await guard.undo(() =>
        quick.removeDatabaseNetwork.executeWithOptions({ summary: `remove the database network this run created` }, [
          { databaseId: p.databaseId, region: p.databaseRegion, roleArn: p.roleArn, runId },
        ]),
      );
    } else if (!byRunTag && plan && createdVpc && !childStarted) {
      // Undo what this run made, even when the run is being cancelled.
      const p = plan;
      await guard.undo(() =>
        quick.removeDatabaseNetwork.executeWithOptions({ summary: `remove the database network this run created` }, [
          { databaseId: p.databaseId, region: p.databaseRegion, roleArn: p.roleArn },
        ]),
      );
    }
    if (isCancellation(err)) throw err;
    if (cancelledAfterPeer) throw new CancelledFailure('cancelled; what the run made is undone');
    return progress.fail(err);
  }
}

/**
 * What a run would create now (issue 14), by read-only activities only: the network (VPC, subnets,
 * zone), the CIDR plan-cidr would choose, and, once the network exists, the peering's own plan.
 */
async function checkNetwork(p: NetworkPlan) {
  const where = { databaseId: p.databaseId, region: p.databaseRegion, roleArn: p.roleArn };
  const found = await quick.readDatabaseNetwork.executeWithOptions(
    { summary: `plan: read the network of ${p.databaseId}` },
    [{ ...where, zoneName: p.zoneName }],
  );
  let cidr = found?.cidr;
  if (!cidr) {
    const seen = await quick.describeInUse.executeWithOptions(
      { summary: `plan: list what ${p.vpcId} already reaches` },
      [{ region: p.region, vpcId: p.vpcId }],
    );
    cidr = validInput(() => planCidr({ vpcId: seen.vpc.vpcId, inUse: seen.inUse, requested: p.requestedCidr })).cidr;
  }
  const chosen = cidr;
  const subnets = validInput(() => splitCidr(chosen, p.availabilityZones.length)).map((c, i) => ({
    az: p.availabilityZones[i],
    cidr: c,
  }));
  const net = networkCreationChanges({
    databaseId: p.databaseId,
    cidr: chosen,
    requestedCidr: p.requestedCidr,
    subnets,
    zoneName: p.zoneName,
    found,
  });
  let peer: PlannedChange[] = [];
  if (found && !net.blocked.length) {
    const peering = anyRegionName(() => planPeering(p.peer));
    peer = (await checkPeering(peering, await lookUp(peering))).changes.map((c) =>
      change('peer', c.action, c.what, c.detail),
    );
  } else if (!found) {
    peer = [change('peer', 'create', `VPC peering ${p.databaseId} ↔ ${p.vpcId}`, 'peerVpc, once the network exists')];
  }
  const live = { changes: [...net.changes, ...peer], blocked: net.blocked };
  return {
    live,
    vpcId: found?.vpcId,
    cidr: chosen,
    detail: found ? `database network ${found.vpcId} exists with ${found.cidr}` : `would choose ${chosen}`,
  };
}

/** Removes the peering between the customer VPC and this run's database VPC, and the customer's routes via it. */
async function removePeeringOf(p: NetworkPlan): Promise<void> {
  // Validated when the run began, by the region rule of its start (see PATCHES.knownRegions).
  const plan = anyRegionName(() => planPeering(p.peer));
  const customer = await undoing.resolveCustomerVpc.executeWithOptions({ summary: `undo: find VPC ${plan.vpcId}` }, [
    { region: plan.region, vpcId: plan.vpcId },
  ]);
  const { peering } = await undoing.databaseDescribe.executeWithOptions(
    { summary: 'undo: find the peering to the new network' },
    [plan, customer],
  );
  if (!peering) return;
  if (peering.peeringId) {
    await undoing.removeCustomerRoutes.executeWithOptions({ summary: `undo: remove routes via ${peering.peeringId}` }, [
      { region: customer.region, vpcId: customer.vpcId, peeringId: peering.peeringId },
    ]);
  }
  await undoing.databaseDeletePeering.executeWithOptions(
    { summary: `undo: delete ${peering.peeringId ?? 'the peering request'}` },
    [plan, customer],
  );
}
