/**
 * deleteDatabaseNetwork (AWS): the undo of createDatabaseNetwork. Checks first that nothing else
 * uses the network (other peerings, network interfaces, subnets or a VPC dbops did not make) and
 * refuses, naming all of it, before changing anything; then unpeers the customer VPC (child
 * unpeerVpc) and deletes the private zone with its records, the subnets and the VPC. Every stage
 * is idempotent, so a re-run after a failure or a crash finishes the job; an absent network is a
 * no-op.
 */
import { ApplicationFailure, executeChild, patched } from '@temporalio/workflow';
import {
  customerPeering,
  deletionBlockers,
  planNetworkDeletion,
  type DatabaseNetworkState,
  type DeleteNetworkInput,
  type NetworkDeletionPlan,
} from '../domain/network-deletion';
import { peeringTarget, unpeeringWorkflowId } from '../domain/peering';
import { ProgressTracker, stepOutcome, validInput, type StageOutcome } from './progress';
import { quick } from './peering-activities';
import { unpeerVpc } from './unpeer-vpc';
import type { StepResult } from '../activities/types';

/** Patch ids (CONTRIBUTING.md): each gates a change of what the workflow does. */
export const PATCHES = {
  /**
   * Region names are checked against the AWS SDK's list (us-eest-1 is refused when the run starts).
   * Before: any name of the region shape was accepted, and planning without the marker still does.
   */
  knownRegions: 'delete-database-network-known-regions',
} as const;

export const DELETE_NETWORK_STAGES = [
  'prepare',
  'unpeer',
  'delete-hosted-zone',
  'delete-subnets',
  'delete-vpc',
] as const;

export interface DeleteNetworkResult {
  databaseId: string;
  /** The database VPC that was deleted (absent when there was no network). */
  databaseVpcId?: string;
  /** What this run deleted, one line each. */
  deleted: string[];
}

/** Where the database network is: its account (role) and region. */
const networkOf = (p: NetworkDeletionPlan) => ({
  databaseId: p.databaseId,
  region: p.databaseRegion,
  roleArn: p.roleArn,
});

export async function deleteDatabaseNetwork(input: DeleteNetworkInput): Promise<DeleteNetworkResult> {
  const progress = new ProgressTracker<DeleteNetworkResult>(
    'deleteDatabaseNetwork',
    peeringTarget(input ?? {}),
    DELETE_NETWORK_STAGES,
  );
  const deleted: string[] = [];
  /** A delete step's outcome, and what it deleted for the result. */
  const recorded = (r: StepResult): StageOutcome => {
    if (r.changed) deleted.push(r.detail);
    return stepOutcome(r);
  };
  try {
    const { plan, net, peered } = await progress.run(
      'prepare',
      async () => {
        const plan: NetworkDeletionPlan = validInput(() => planNetworkDeletion(input), patched(PATCHES.knownRegions));
        const net: DatabaseNetworkState | undefined = await quick.inspectDatabaseNetwork.executeWithOptions(
          { summary: `inspect the network of ${plan.databaseId}` },
          [networkOf(plan)],
        );
        if (!net) return { plan, net, peered: undefined };
        // "default" needs resolving to tell the customer's peering from others; only then.
        const customerVpcId =
          net.peerings.length === 0 || plan.vpcId !== 'default'
            ? plan.vpcId
            : (
                await quick.resolveCustomerVpc.executeWithOptions(
                  { summary: `find the default VPC in ${plan.region}` },
                  [{ region: plan.region, vpcId: plan.vpcId }],
                )
              ).vpcId;
        const blockers = deletionBlockers(net, customerVpcId);
        if (blockers.length) {
          throw ApplicationFailure.nonRetryable(
            `database network ${net.vpcId} of ${plan.databaseId} cannot be deleted: ` +
              `${blockers.join('; ')}; nothing was changed`,
            'DatabaseNetworkInUse',
            blockers,
          );
        }
        return { plan, net, peered: customerPeering(net, customerVpcId) };
      },
      (r) => ({
        detail: r.net
          ? `VPC ${r.net.vpcId} (${r.net.cidr}), ${r.net.subnets.length} subnet(s), ` +
            `zone ${r.net.hostedZoneId ?? 'none'}, peering ${r.peered?.peeringId ?? 'none'}`
          : `no network for ${r.plan.databaseId} in ${r.plan.databaseRegion}`,
      }),
    );
    if (!net) {
      progress.skipAfter('prepare', 'no database network');
      return progress.finish({ databaseId: plan.databaseId, deleted });
    }
    const where = networkOf(plan);

    if (peered) {
      const id = unpeeringWorkflowId({ databaseId: plan.databaseId, vpcId: plan.vpcId });
      await progress.run(
        'unpeer',
        () => executeChild(unpeerVpc, { workflowId: id, args: [plan.unpeer] }),
        (r) => {
          if (r.removed) deleted.push(`peering ${r.peeringId}`);
          return {
            skipped: !r.removed,
            detail: `${r.removed ? `removed peering ${r.peeringId}` : 'no peering to remove'} (child workflow ${id})`,
          };
        },
      );
    } else progress.skip('unpeer', `no peering with ${plan.vpcId}`);

    const zone = net.hostedZoneId;
    if (zone) {
      await progress.run(
        'delete-hosted-zone',
        () =>
          quick.deleteDatabaseHostedZone.executeWithOptions({ summary: `delete zone ${zone}` }, [
            { ...where, hostedZoneId: zone },
          ]),
        recorded,
      );
    } else progress.skip('delete-hosted-zone', 'no zone made by dbops');
    await progress.run(
      'delete-subnets',
      () =>
        quick.deleteDatabaseSubnets.executeWithOptions({ summary: `delete the subnets of ${net.vpcId}` }, [
          { ...where, vpcId: net.vpcId },
        ]),
      recorded,
    );
    await progress.run(
      'delete-vpc',
      () =>
        quick.deleteDatabaseVpc.executeWithOptions({ summary: `delete ${net.vpcId}` }, [
          { ...where, vpcId: net.vpcId },
        ]),
      recorded,
    );
    return progress.finish({ databaseId: plan.databaseId, databaseVpcId: net.vpcId, deleted });
  } catch (err) {
    return progress.fail(err);
  }
}
