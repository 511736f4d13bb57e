/**
 * reconcileDatabase: re-checks a provisioned tenant (database, user, grants, REVOKE … FROM
 * PUBLIC, the stored password still logging in) and repairs the drift, unless reportOnly. Put on
 * a Temporal schedule by `dbops db provision … --schedule`. Its input is provisionDatabase's plus
 * `reportOnly`. Acts only on a tenant dbops made: both its database and user carry this tenant's
 * mark (refused, non-retryable, otherwise).
 *
 * Stages: validate; check (the provisioning plan activity, read-only: the drift is the list of
 * changes a re-apply would make); repair (skipped without drift or with reportOnly: re-grants,
 * revokes what the tenant's own role holds beyond its database, re-applies REVOKE … FROM PUBLIC,
 * gives a login whose stored password no longer works a fresh one through the rotation's switch),
 * then checks again and reports what is left. DbopsDrift is upserted once, at the end; the
 * dbops_drift_total and dbops_reconcile_runs_total counters are recorded through the worker.
 */
import { ApplicationFailure, metricMeter, upsertSearchAttributes } from '@temporalio/workflow';
import { SA_DRIFT } from '../api';
import { DRIFT_METRICS, driftOutcome, planResult, type PlannedChange } from '../domain/plan';
import { sqlTarget, type SqlPlan } from '../domain/provision';
import { planReconcileDatabase, type ReconcileDatabaseInput } from '../domain/sql-plan';
import { ProgressTracker, validInput } from './progress';
import { PROVISION_STAGES } from './provision-database';
import { planActivities } from './sql-activities';

export const RECONCILE_DATABASE_STAGES = ['validate', 'check', 'repair'] as const;

export interface ReconcileDatabaseResult {
  database: string;
  user: string;
  /** What the check found: the changes a re-apply would make. */
  drift: PlannedChange[];
  /** The drift the repair removed. */
  repaired: PlannedChange[];
  /** The drift still there after the repair (with reportOnly: all of it). */
  remaining: PlannedChange[];
  reportOnly: boolean;
}

const WORKFLOW = 'reconcileDatabase';

/** The drift as one progress line, per provisioning stage. */
function driftDetail(changes: readonly PlannedChange[]): string {
  if (!changes.length) return 'no drift';
  return PROVISION_STAGES.filter((s) => changes.some((c) => c.stage === s))
    .map(
      (s) =>
        `${s}: ${changes
          .filter((c) => c.stage === s)
          .map((c) => `${c.action} ${c.what}`)
          .join('; ')}`,
    )
    .join(' | ')
    .slice(0, 500);
}

const identity = (c: PlannedChange) => `${c.stage}\u0000${c.action}\u0000${c.what}`;

export async function reconcileDatabase(input: ReconcileDatabaseInput): Promise<ReconcileDatabaseResult> {
  const progress = new ProgressTracker<ReconcileDatabaseResult>(
    WORKFLOW,
    sqlTarget(input ?? {}),
    RECONCILE_DATABASE_STAGES,
  );
  const meter = metricMeter.withTags({ workflow: WORKFLOW });
  const finish = (outcome: string) => {
    upsertSearchAttributes([{ key: SA_DRIFT, value: outcome }]);
    meter.createCounter(DRIFT_METRICS.runs, '1', 'reconcile runs by outcome').add(1, { outcome });
  };
  let drift: PlannedChange[] | undefined;
  try {
    const valid = await progress.run(
      'validate',
      async () => validInput(() => planReconcileDatabase(input)),
      (p) => ({
        detail: `database ${p.database}, user ${p.user}${p.reportOnly ? '; report only: nothing is changed' : ''}`,
      }),
    );
    const { reportOnly, ...plan } = valid;
    const tenant: SqlPlan = plan;
    const acts = planActivities(tenant.engine);
    const where = `${tenant.engine} ${tenant.server.host}:${tenant.server.port}`;
    const check = async () => {
      const p = await acts.planProvision.executeWithOptions(
        { summary: `check ${tenant.database} on ${where}: read-only` },
        [{ ...tenant, purpose: 'reconcile' }],
      );
      if (p.database !== 'ours' || p.user !== 'ours') {
        throw ApplicationFailure.nonRetryable(
          `refusing to reconcile ${tenant.database} on ${where}: its database or user is not one dbops provisioned for this tenant (database: ${p.database}, user: ${p.user}); run provisionDatabase first`,
          'NotOwnedByDbops',
        );
      }
      return planResult(p.changes).changes;
    };

    const found = await progress.run('check', check, (c) => ({ detail: driftDetail(c) }));
    drift = found;
    const counter = meter.createCounter(DRIFT_METRICS.drift, '1', 'drift found by reconcile runs, per change');
    for (const c of found) counter.add(1, { action: c.action });

    let remaining = found;
    if (!found.length) progress.skip('repair', 'no drift');
    else if (reportOnly) progress.skip('repair', 'report only: nothing changed');
    else {
      remaining = await progress.run(
        'repair',
        async () => {
          await acts.repair.executeWithOptions({ summary: `repair the drift of ${tenant.database}` }, [tenant]);
          return check();
        },
        (left) => ({
          detail: left.length ? `repaired some; left: ${driftDetail(left)}` : `repaired: ${driftDetail(found)}`,
          ...(left.length ? { problem: `drift left after the repair: ${driftDetail(left)}` } : {}),
        }),
      );
    }
    const left = new Set(remaining.map(identity));
    const result: ReconcileDatabaseResult = {
      database: tenant.database,
      user: tenant.user,
      drift: found,
      repaired: reportOnly ? [] : found.filter((c) => !left.has(identity(c))),
      remaining,
      reportOnly,
    };
    finish(driftOutcome(found, remaining, reportOnly));
    return progress.finish(result);
  } catch (err) {
    if (drift?.length) finish('unrepaired'); // the repair failed: the drift is still there
    return progress.fail(err);
  }
}
