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
import { quick, undoing } from './peering-activities';
import { peerVpc, type PeerVpcResult } from './peer-vpc';
import { CancelGuard } from './undo';

/** Patch ids (CONTRIBUTING.md): each gates a change of what the workflow does. */
export const PATCHES = {
  /**
   * Region names are checked against the AWS SDK's list (us-eest-1 is refused when the run starts).
   * Before: any name of the region shape was accepted, and planning without the marker still does.
   */
  knownRegions: 'create-database-network-known-regions',
} as const;

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

export async function createDatabaseNetwork(input: CreateNetworkInput): Promise<CreateNetworkResult> {
  const progress = new ProgressTracker<CreateNetworkResult>(
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
        plan = validInput(() => planNetwork(input), patched(PATCHES.knownRegions));
        const p = plan;
        const where = { databaseId: p.databaseId, region: p.databaseRegion, roleArn: p.roleArn };
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
