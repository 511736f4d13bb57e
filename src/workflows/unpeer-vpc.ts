/**
 * unpeerVpc: undoes a peering — disassociates the VPC from the database's hosted zone, removes only
 * the routes that point at this peering (both sides), deletes the peering on the database side.
 * Idempotent: what is already gone shows as skipped.
 */
import { ApplicationFailure, patched } from '@temporalio/workflow';
import { parse, peeringTarget, planUnpeering, unpeerVpcInputSchema, type UnpeerVpcInput } from '../domain/peering';
import { asksForPlan, planMode, type PeeringChanges, type PlanMode } from '../domain/peering-plan';
import { checkUnpeering, finishPlan, refuseUnlessPlanned, type PeeringPlanResult } from './peering-plan';
import { ProgressTracker, stepOutcome as outcome, validInput } from './progress';
import { lookUp, quick } from './peering-activities';

/** Patch ids (CONTRIBUTING.md): each gates a change of what the workflow does. */
export const PATCHES = {
  /**
   * Region names are checked against the AWS SDK's list (us-eest-1 is refused when the run starts).
   * Before: any name of the region shape was accepted, and planning without the marker still does.
   */
  knownRegions: 'unpeer-vpc-known-regions',
  /**
   * Plan mode (issue 14): `plan` returns what a run would delete (read-only checks only);
   * `expectPlan` refuses (PlanOutdated) before deleting anything when the live plan differs.
   * Asked only by runs whose input has either field.
   */
  plan: 'unpeer-vpc-plan',
  /**
   * Only what dbops made (the brief's trust boundary): on an AWS database network, a peering
   * without dbops's tags (ManagedBy=dbops or dbops:database-id, which peerVpc gives every peering
   * it requests) is refused in prepare (NotManagedByDbops), before anything is removed; the delete
   * then deletes only the peering prepare found. Before: any peering between the two VPCs.
   */
  onlyManaged: 'unpeer-vpc-only-managed',
} as const;

/** Since 0.5.0: a peering on an AWS database network that dbops cannot show it made is not removed. */
function refuseUnmanaged(plan: ReturnType<typeof planUnpeering>, found: Awaited<ReturnType<typeof lookUp>>): void {
  if (plan.cloud.kind !== 'aws' || !found.peering || found.peering.managed) return;
  throw ApplicationFailure.nonRetryable(
    `peering ${found.peering.peeringId ?? '(no id)'} between ${plan.databaseId} and ${found.customer.vpcId} was not made by dbops (no ManagedBy=dbops or dbops:database-id tag): unpeerVpc does not remove it`,
    'NotManagedByDbops',
  );
}

const APPLY: PlanMode = { kind: 'apply' };
const NO_PLAN: Pick<PeeringChanges, 'changes' | 'blocked'> | undefined = undefined;

export const UNPEER_STAGES = ['prepare', 'disassociate-dns', 'remove-routes', 'delete-peering'] as const;

export interface UnpeerVpcResult {
  databaseId: string;
  vpcId: string;
  peeringId?: string;
  removed: boolean;
}

export async function unpeerVpc(input: UnpeerVpcInput): Promise<UnpeerVpcResult | PeeringPlanResult> {
  const progress = new ProgressTracker<UnpeerVpcResult | PeeringPlanResult>(
    'unpeerVpc',
    peeringTarget(input ?? {}),
    UNPEER_STAGES,
  );
  try {
    const { plan, customer, database, peering, mode, live, onlyManaged } = await progress.run(
      'prepare',
      async () => {
        const plan = validInput(() => planUnpeering(input), patched(PATCHES.knownRegions));
        // Since 0.5.0, asked only by runs whose input has plan or expectPlan (others' histories stay as they were).
        if (!(asksForPlan(input) && patched(PATCHES.plan))) {
          const found = await lookUp(plan);
          const onlyManaged = patched(PATCHES.onlyManaged);
          if (onlyManaged) refuseUnmanaged(plan, found);
          return { plan, ...found, mode: APPLY, live: NO_PLAN, onlyManaged };
        }
        const mode = validInput(() => planMode(parse(unpeerVpcInputSchema(), input)));
        const found = await lookUp(plan);
        const onlyManaged = patched(PATCHES.onlyManaged);
        if (onlyManaged) refuseUnmanaged(plan, found);
        if (mode.kind === 'apply') return { plan, ...found, mode, live: NO_PLAN, onlyManaged }; // "plan": false
        const live = await checkUnpeering(plan, found);
        refuseUnlessPlanned(mode, live);
        return { plan, ...found, mode, live, onlyManaged };
      },
      (r) => ({
        detail: r.peering
          ? `peering ${r.peering.peeringId ?? '(no id yet)'} is ${r.peering.status}`
          : `no peering between ${r.plan.databaseId} and ${r.customer.vpcId}`,
      }),
    );
    if (mode.kind === 'plan' && live) {
      return finishPlan(progress, UNPEER_STAGES.slice(1), live, {
        databaseId: plan.databaseId,
        vpcId: customer.vpcId,
        region: customer.region,
        ...(peering?.peeringId ? { peeringId: peering.peeringId } : {}),
      });
    }

    const peeringId = peering?.peeringId;
    const zone = peering?.hostedZoneId ?? database.hostedZoneId;
    const crossAccount = database.accountId === undefined || database.accountId !== customer.accountId;
    const zoneOwnerRoleArn = plan.cloud.kind === 'aws' ? plan.cloud.roleArn : undefined;

    if (zone) {
      await progress.run(
        'disassociate-dns',
        () =>
          quick.disassociateVpcFromZone.executeWithOptions({ summary: `disassociate ${customer.vpcId} from ${zone}` }, [
            {
              hostedZoneId: zone,
              vpcId: customer.vpcId,
              region: customer.region,
              crossAccount,
              zoneOwnerRoleArn,
            },
          ]),
        outcome,
      );
    } else progress.skip('disassociate-dns', 'the database has no hosted zone');

    if (peeringId) {
      await progress.run(
        'remove-routes',
        async () => {
          const mine = await quick.removeCustomerRoutes.executeWithOptions(
            { summary: `remove routes via ${peeringId}` },
            [{ region: customer.region, vpcId: customer.vpcId, peeringId }],
          );
          const back = await quick.databaseRemoveReturnRoute.executeWithOptions(
            { summary: `remove return routes via ${peeringId}` },
            [plan, customer, peeringId],
          );
          return { changed: mine.changed || back.changed, detail: `${mine.detail}; ${back.detail}` };
        },
        outcome,
      );
    } else progress.skip('remove-routes', 'no peering id');

    const deleted = await progress.run(
      'delete-peering',
      () =>
        quick.databaseDeletePeering.executeWithOptions(
          { summary: `delete the peering on the database side` },
          // Since 0.5.0 (AWS): only the peering prepare found and checked.
          onlyManaged && plan.cloud.kind === 'aws' && peeringId ? [plan, customer, { peeringId }] : [plan, customer],
        ),
      outcome,
    );
    return progress.finish({ databaseId: plan.databaseId, vpcId: customer.vpcId, peeringId, removed: deleted.changed });
  } catch (err) {
    return progress.fail(err);
  }
}
