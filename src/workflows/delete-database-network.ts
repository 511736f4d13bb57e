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
  deleteNetworkInputSchema,
  deletionBlockers,
  networkDeletionChanges,
  planNetworkDeletion,
  type DatabaseNetworkState,
  type DeleteNetworkInput,
  type NetworkDeletionPlan,
} from '../domain/network-deletion';
import { parse, peeringTarget, planUnpeering, unpeeringWorkflowId } from '../domain/peering';
import { asksForPlan, planMode, type PlanMode } from '../domain/peering-plan';
import type { PlannedChange, PlanResult } from '../domain/plan';
import { checkUnpeering, finishPlan, refuseUnlessPlanned } from './peering-plan';
import { ProgressTracker, stepOutcome, validInput, type StageOutcome } from './progress';
import { lookUp, quick } from './peering-activities';
import { unpeerVpc, type UnpeerVpcResult } from './unpeer-vpc';
import type { StepResult } from '../activities/types';

/** Patch ids (CONTRIBUTING.md): each gates a change of what the workflow does. */
export const PATCHES = {
  /**
   * Region names are checked against the AWS SDK's list (us-eest-1 is refused when the run starts).
   * Before: any name of the region shape was accepted, and planning without the marker still does.
   */
  knownRegions: 'delete-database-network-known-regions',
  /**
   * Plan mode (issue 14): `plan` returns what a run would delete, and what stops it (read-only
   * checks only); `expectPlan` refuses (PlanOutdated, PlanBlocked) before deleting anything when
   * the live plan differs. Asked only by runs whose input has either field.
   */
  plan: 'delete-database-network-plan',
} as const;

const APPLY: PlanMode = { kind: 'apply' };
/** The unpeering a deletion would run, as unpeerVpc plans it (its prepare's reads, its checks). */
const unpeerPlan = (p: NetworkDeletionPlan) => planUnpeering(p.unpeer);

/** A plan run's result: the plan, what stops the deletion, and the target. */
export interface DeleteNetworkPlanResult extends PlanResult {
  blocked: PlannedChange[];
  databaseId: string;
  databaseVpcId?: string;
}

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

export async function deleteDatabaseNetwork(
  input: DeleteNetworkInput,
): Promise<DeleteNetworkResult | DeleteNetworkPlanResult> {
  const progress = new ProgressTracker<DeleteNetworkResult | DeleteNetworkPlanResult>(
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
    const { plan, net, peered, live } = await progress.run(
      'prepare',
      async () => {
        const plan: NetworkDeletionPlan = validInput(() => planNetworkDeletion(input), patched(PATCHES.knownRegions));
        // Since 0.5.0, asked only by runs whose input has plan or expectPlan (others' histories stay as they were).
        const mode =
          asksForPlan(input) && patched(PATCHES.plan)
            ? validInput(() => planMode(parse(deleteNetworkInputSchema(), input)))
            : APPLY;
        const net: DatabaseNetworkState | undefined = await quick.inspectDatabaseNetwork.executeWithOptions(
          { summary: `inspect the network of ${plan.databaseId}` },
          [networkOf(plan)],
        );
        // "default" needs resolving to tell the customer's peering from others; only then.
        const customerVpcId =
          !net || net.peerings.length === 0 || plan.vpcId !== 'default'
            ? plan.vpcId
            : (
                await quick.resolveCustomerVpc.executeWithOptions(
                  { summary: `find the default VPC in ${plan.region}` },
                  [{ region: plan.region, vpcId: plan.vpcId }],
                )
              ).vpcId;
        const blockers = net ? deletionBlockers(net, customerVpcId) : [];
        const peered = net && customerPeering(net, customerVpcId);
        let live: ReturnType<typeof networkDeletionChanges> | undefined;
        if (mode.kind !== 'apply') {
          // Plan (issue 14): the blockers are the plan's refusals; the unpeering's own plan is read.
          const unpeer = peered ? (await checkUnpeering(unpeerPlan(plan), await lookUp(unpeerPlan(plan)))).changes : [];
          live = networkDeletionChanges(net, blockers, unpeer);
          refuseUnlessPlanned(mode, live);
          if (mode.kind === 'plan') return { plan, net, peered, live };
        }
        if (blockers.length) {
          throw ApplicationFailure.nonRetryable(
            `database network ${net!.vpcId} of ${plan.databaseId} cannot be deleted: ` +
              `${blockers.join('; ')}; nothing was changed`,
            'DatabaseNetworkInUse',
            blockers,
          );
        }
        return { plan, net, peered, live: undefined };
      },
      (r) => ({
        detail: r.net
          ? `VPC ${r.net.vpcId} (${r.net.cidr}), ${r.net.subnets.length} subnet(s), ` +
            `zone ${r.net.hostedZoneId ?? 'none'}, peering ${r.peered?.peeringId ?? 'none'}`
          : `no network for ${r.plan.databaseId} in ${r.plan.databaseRegion}`,
      }),
    );
    if (live) {
      return finishPlan(progress, DELETE_NETWORK_STAGES.slice(1), live, {
        databaseId: plan.databaseId,
        ...(net ? { databaseVpcId: net.vpcId } : {}),
      });
    }
    if (!net) {
      progress.skipAfter('prepare', 'no database network');
      return progress.finish({ databaseId: plan.databaseId, deleted });
    }
    const where = networkOf(plan);

    if (peered) {
      const id = unpeeringWorkflowId({ databaseId: plan.databaseId, vpcId: plan.vpcId });
      await progress.run(
        'unpeer',
        // plan.unpeer never asks for a plan: the child applies and returns an UnpeerVpcResult.
        async () => (await executeChild(unpeerVpc, { workflowId: id, args: [plan.unpeer] })) as UnpeerVpcResult,
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
