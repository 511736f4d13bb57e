/**
 * reconcilePeering (issue 14, drift): re-checks a peering peerVpc made — the peering active, every
 * route to the database CIDR present and pointing at it (both sides), the VPC associated with the
 * database's zone — and repairs what drifted through the same idempotent activities peerVpc uses,
 * unless `reportOnly`. Run by a schedule (`dbops peer-vpc … --schedule`).
 *
 * validate → check (peerVpc's plan checks; a peering without dbops's tags is refused, and so is an
 * Aerospike Cloud peering: it carries no tags, so dbops cannot tell it made it) → repair (routes
 * and the zone association; then checks again and reports what is left).
 *
 * A peering that is gone, or not active, is not recreated or accepted: that is drift a reconcile
 * reports as unrepaired ("run peer-vpc"), because a missing peering is as likely a deliberate
 * unpeer as an accident, and a schedule that re-creates it would fight whoever removed it.
 *
 * The result lists the drift, what was repaired and what remains; DbopsDrift is set once at the end
 * (none, repaired, reported, unrepaired); dbops_drift_total{workflow, action} counts each drift
 * change and dbops_reconcile_runs_total{workflow, outcome} the runs.
 */
import { ApplicationFailure, metricMeter, upsertSearchAttributes } from '@temporalio/workflow';
import { SA_DRIFT } from '../api';
import { peeringTarget, planPeering, PEERING_STAGES, type PeeringPlan } from '../domain/peering';
import { planReconcilePeering, type PeeringChanges, type ReconcilePeeringInput } from '../domain/peering-plan';
import { DRIFT_METRICS, driftOutcome, planResult, stagePlanDetail, type PlannedChange } from '../domain/plan';
import { truncate } from '../domain/text';
import { errorText, ProgressTracker, validInput } from './progress';
import { lookUp, quick } from './peering-activities';
import { checkPeering, zoneAssociation, type Found } from './peering-plan';

export const RECONCILE_PEERING_STAGES = ['validate', 'check', 'repair'] as const;

export type DriftOutcome = 'none' | 'repaired' | 'reported' | 'unrepaired';

export interface ReconcilePeeringResult {
  databaseId: string;
  vpcId: string;
  region: string;
  peeringId?: string;
  /** What the check found: the changes a peer-vpc run would make now. */
  drift: PlannedChange[];
  repaired: PlannedChange[];
  /** Still there after the repair (all of the drift when report-only). */
  remaining: PlannedChange[];
  reportOnly: boolean;
  outcome: DriftOutcome;
}

const WORKFLOW = 'reconcilePeering';
const key = (c: PlannedChange) => `${c.stage}\u0000${c.action}\u0000${c.what}`;
/** Everything a re-apply would do or refuse, canonical: the drift. */
const driftOf = (live: PeeringChanges): PlannedChange[] => planResult([...live.changes, ...live.blocked]).changes;
const perStage = (changes: PlannedChange[]): string => {
  const parts = PEERING_STAGES.filter((s) => changes.some((c) => c.stage === s)).map(
    (s) => `${s}: ${stagePlanDetail(changes, s)}`,
  );
  return truncate(parts.join(' | ') || 'no drift', 1000);
};

export async function reconcilePeering(input: ReconcilePeeringInput): Promise<ReconcilePeeringResult> {
  const progress = new ProgressTracker<ReconcilePeeringResult>(
    WORKFLOW,
    peeringTarget(input ?? {}),
    RECONCILE_PEERING_STAGES,
  );
  try {
    const { plan, reportOnly } = await progress.run(
      'validate',
      async () => {
        const { peer, reportOnly } = validInput(() => planReconcilePeering(input));
        return { plan: validInput(() => planPeering(peer)), reportOnly };
      },
      (r) => ({ detail: `stages ${r.plan.stages.join(', ')}${r.reportOnly ? '; report only' : ''}` }),
    );

    const { found, live, drift } = await progress.run(
      'check',
      async () => {
        const found = await ours(plan);
        const live = await checkPeering(plan, found);
        return { found, live, drift: driftOf(live) };
      },
      (r) => ({ detail: perStage(r.drift) }),
    );

    let remaining = drift;
    if (drift.length === 0) progress.skip('repair', 'no drift');
    else if (reportOnly) progress.skip('repair', `report only: ${drift.length} change(s) not made`);
    else {
      remaining = await progress
        .run(
          'repair',
          async () => {
            const errors = await repair(plan, found, live);
            const after = driftOf(await checkPeering(plan, await lookUp(plan)));
            return { after, errors };
          },
          (r) => ({
            detail: `repaired ${drift.length - r.after.length} of ${drift.length}`,
            ...(r.after.length
              ? {
                  problem: truncate(
                    `unrepaired: ${perStage(r.after)}${r.errors.length ? `; ${r.errors.join('; ')}` : ''}` +
                      (r.after.some((c) => c.stage === 'initiate' || c.stage === 'accept')
                        ? '; the peering is not recreated or accepted by a reconcile: run peer-vpc'
                        : ''),
                    1000,
                  ),
                }
              : {}),
          }),
        )
        .then((r) => r.after);
    }

    const left = new Set(remaining.map(key));
    const repaired = reportOnly ? [] : drift.filter((c) => !left.has(key(c)));
    const outcome: DriftOutcome = driftOutcome(drift, remaining, reportOnly);
    record(drift, outcome);
    return progress.finish({
      databaseId: plan.databaseId,
      vpcId: found.customer.vpcId,
      region: found.customer.region,
      ...(found.peering?.peeringId ? { peeringId: found.peering.peeringId } : {}),
      drift,
      repaired,
      remaining,
      reportOnly,
      outcome,
    });
  } catch (err) {
    return progress.fail(err);
  }
}

/** prepare's reads, refusing what dbops cannot show it made. */
async function ours(plan: PeeringPlan): Promise<Found> {
  if (plan.cloud.kind !== 'aws') {
    throw ApplicationFailure.nonRetryable(
      'reconcilePeering checks peerings with an AWS database network only: an Aerospike Cloud peering carries no tags, so dbops cannot tell it made it (use peer-vpc --plan to see its drift)',
      'ReconcileUnsupported',
    );
  }
  const found = await lookUp(plan);
  if (found.peering && !found.peering.managed) {
    throw ApplicationFailure.nonRetryable(
      `peering ${found.peering.peeringId ?? '(no id)'} between ${plan.databaseId} and ${found.customer.vpcId} was not made by dbops (no ManagedBy=dbops tag): a reconcile does not change it`,
      'NotManagedByDbops',
    );
  }
  return found;
}

/** The repairs the check allows, through peerVpc's idempotent activities; the errors met, as text. */
async function repair(plan: PeeringPlan, found: Found, live: PeeringChanges): Promise<string[]> {
  const { customer, database, peering } = found;
  const errors: string[] = [];
  const attempt = async (call: () => Promise<unknown>) => {
    try {
      await call();
    } catch (err) {
      errors.push(errorText(err));
    }
  };
  const pcx = peering?.peeringId;
  if (pcx && live.repairable.customerRoutes) {
    await attempt(() =>
      quick.ensureCustomerRoutes.executeWithOptions({ summary: `repair: route ${database.cidr} → ${pcx}` }, [
        {
          region: customer.region,
          vpcId: customer.vpcId,
          cidr: database.cidr,
          peeringId: pcx,
          tables: plan.routeTables,
          force: plan.force,
          timing: plan.timing,
          active: true,
        },
      ]),
    );
  }
  if (pcx && live.repairable.returnRoutes) {
    await attempt(() =>
      quick.databaseReturnRoute.executeWithOptions({ summary: `repair: return route ${customer.cidr} → ${pcx}` }, [
        plan,
        customer,
        pcx,
      ]),
    );
  }
  const zone = peering?.hostedZoneId ?? database.hostedZoneId;
  if (zone && live.repairable.association) {
    await attempt(async () => {
      const auth = await quick.databaseAuthorizeZone.executeWithOptions(
        { summary: `repair: authorise ${customer.vpcId} on zone ${zone}` },
        [plan, customer, zone],
      );
      await quick.associateVpcWithZone.executeWithOptions(
        { summary: `repair: associate ${customer.vpcId} with zone ${zone}` },
        [
          {
            ...zoneAssociation(plan, found, zone),
            crossAccount: auth.crossAccount,
            zoneOwnerRoleArn: auth.zoneOwnerRoleArn,
          },
        ],
      );
    });
  }
  return errors;
}

/** DbopsDrift (once, at the end) and the drift metrics. */
function record(drift: PlannedChange[], outcome: DriftOutcome): void {
  upsertSearchAttributes([{ key: SA_DRIFT, value: outcome }]);
  const meter = metricMeter.withTags({ workflow: WORKFLOW });
  const found = meter.createCounter(DRIFT_METRICS.drift, '1', 'drift changes found by reconcile runs');
  for (const c of drift) found.add(1, { action: c.action });
  meter.createCounter(DRIFT_METRICS.runs, '1', 'reconcile runs by outcome').add(1, { outcome });
}
