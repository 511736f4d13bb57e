/**
 * deprovisionDatabase: removes a tenant's login and, with reclaimPolicy "delete", its database
 * (PostgreSQL: DROP DATABASE … WITH (FORCE)); "retain" keeps the data. Idempotent.
 */
import { patched } from '@temporalio/workflow';
import { planResult, type PlanResult } from '../domain/plan';
import { planDeprovision, sqlTarget } from '../domain/provision';
import { hasPlanFields, planDeprovisionRun, type DeprovisionRunInput, type RunMode } from '../domain/sql-plan';
import { changedOr, ProgressTracker, stepOutcome as step, validInput } from './progress';
import { credentials, planActivities, sqlActivities } from './sql-activities';
import { refuseOutdatedPlan, showPlan } from './sql-plan-mode';

/** Patch ids (CONTRIBUTING.md): each gates a change of what the workflow does. */
export const PATCHES = {
  /**
   * Region names are checked against the AWS SDK's list (us-eest-1 is refused when the run starts).
   * Before: any name of the region shape was accepted, and planning without the marker still does.
   */
  knownRegions: 'deprovision-database-known-regions',
  /** `plan` / `expectPlan` (as provision-database-plan); asked only by runs whose input has one of them. */
  plan: 'deprovision-database-plan',
} as const;

export const DEPROVISION_STAGES = ['validate', 'connect', 'drop-database', 'drop-user', 'remove-credentials'] as const;

export interface DeprovisionResult {
  database: string;
  user: string;
  reclaimPolicy: 'delete' | 'retain';
  databaseDropped: boolean;
  userDropped: boolean;
}

/** What a plan run returns: what would be dropped, and the tenant. */
export interface DeprovisionPlanResult extends PlanResult {
  database: string;
  user: string;
  reclaimPolicy: 'delete' | 'retain';
}

export async function deprovisionDatabase(
  input: DeprovisionRunInput,
): Promise<DeprovisionResult | DeprovisionPlanResult> {
  const progress = new ProgressTracker<DeprovisionResult | DeprovisionPlanResult>(
    'deprovisionDatabase',
    sqlTarget(input ?? {}),
    DEPROVISION_STAGES,
  );
  // Only a run with a plan field asks the patch (so no other run's history changes).
  const planFields = hasPlanFields(input) && patched(PATCHES.plan);
  let mode: RunMode = { plan: false };
  try {
    const plan = await progress.run(
      'validate',
      async () =>
        validInput(() => {
          if (!planFields) return planDeprovision(input);
          const r = planDeprovisionRun(input);
          mode = r.mode;
          return r.sql;
        }, patched(PATCHES.knownRegions)),
      (p) => ({
        detail: `database ${p.database}, user ${p.user}, reclaim ${p.reclaimPolicy}${mode.plan ? '; plan only: nothing is changed' : ''}`,
      }),
    );
    const sql = sqlActivities(plan.engine);
    const where = `${plan.engine} ${plan.server.host}:${plan.server.port}`;
    const planned = () =>
      planActivities(plan.engine).planDeprovision.executeWithOptions(
        { summary: `plan the removal of ${plan.database} on ${where}: read-only checks` },
        [plan],
      );
    if (mode.plan) {
      const found = await progress.run('connect', planned, (p) => ({
        detail: `read-only checks on ${where}: ${p.changes.length ? `${p.changes.length} changes planned` : 'nothing to remove'}`,
      }));
      await showPlan(progress, DEPROVISION_STAGES.slice(2), found.changes);
      return progress.finish({
        ...planResult(found.changes),
        database: plan.database,
        user: plan.user,
        reclaimPolicy: plan.reclaimPolicy,
      });
    }
    const expected = mode.expectPlan;

    await progress.run(
      'connect',
      async () => {
        const r = await sql.connect.executeWithOptions({ summary: `log in to ${where}` }, [plan]);
        if (!expected) return r;
        refuseOutdatedPlan(expected, (await planned()).changes);
        return { ...r, detail: `${r.detail}; the live state matches plan ${expected.fingerprint}` };
      },
      (r) => ({ detail: r.detail }),
    );
    const db = await progress.run(
      'drop-database',
      () =>
        sql.dropDatabase.executeWithOptions(
          { summary: `${plan.reclaimPolicy === 'delete' ? 'drop' : 'keep'} database ${plan.database}` },
          [plan],
        ),
      step,
    );
    const user = await progress.run(
      'drop-user',
      () => sql.dropUser.executeWithOptions({ summary: `drop user ${plan.user}` }, [plan]),
      step,
    );
    if (plan.credentialsTarget) {
      await progress.run(
        'remove-credentials',
        () => credentials.remove.executeWithOptions({ summary: 'remove the stored credentials' }, [plan]),
        changedOr((r) => (r.changed ? 'removed' : 'nothing stored')),
      );
    } else {
      progress.skip('remove-credentials', 'no credentials target given');
    }
    return progress.finish({
      database: plan.database,
      user: plan.user,
      reclaimPolicy: plan.reclaimPolicy,
      databaseDropped: plan.reclaimPolicy === 'delete' && db.changed,
      userDropped: user.changed,
    });
  } catch (err) {
    return progress.fail(err);
  }
}
