/**
 * provisionDatabase: a tenant's own database and least-privilege user on a shared PostgreSQL or
 * MySQL/MariaDB server, and a connection string stored in the credentials target. Every stage is
 * safe to re-run; a re-run changes nothing and returns the same reference.
 *
 * Cancelled (patch UNDO_ON_CANCEL): the stage in flight finishes, no later stage starts, and what
 * this run created is removed: the user and the credentials it stored, and the database while it
 * is still empty. "Created by this run" is the run id written in each object's mark when it is
 * made (never a `changed` flag), so a database or user that existed before the run is kept. The run
 * id is the one on the run's started event: kept across resets, its own for each run of a cron or
 * retry chain.
 */
import { CancelledFailure, CancellationScope, isCancellation, patched, workflowInfo } from '@temporalio/workflow';
import { planResult, type PlanResult } from '../domain/plan';
import { planProvision, sqlTarget, type SqlPlan } from '../domain/provision';
import { hasPlanFields, planProvisionRun, type ProvisionRunInput, type RunMode } from '../domain/sql-plan';
import { changedOr, ProgressTracker, stepOutcome as step, validInput } from './progress';
import { credentials, planActivities, provisionSteps, sqlActivities, sqlUndo } from './sql-activities';
import { refuseOutdatedPlan, showPlan } from './sql-plan-mode';
import { CancelGuard } from './undo';

/** Marks carry the run id; a cancelled run undoes what it created. */
/** Patch ids (CONTRIBUTING.md): each gates a change of what the workflow does. */
export const PATCHES = {
  /**
   * Region names are checked against the AWS SDK's list (us-eest-1 is refused when the run starts).
   * Before: any name of the region shape was accepted, and planning without the marker still does.
   */
  knownRegions: 'provision-database-known-regions',
  /**
   * `plan` (read-only checks, the plan as the result) and `expectPlan` (refuse when the live state
   * no longer matches it). Asked only by runs whose input has one of them: before, such an input
   * was refused as having unknown fields, and every other run's history stays as it was.
   */
  plan: 'provision-database-plan',
  /**
   * Three activities instead of seven: connect with the credentials target's check
   * (`<engine>ConnectAndCheck`), ensure-database + ensure-user + grant (`<engine>EnsureTenant`),
   * verify + store-credentials (`<engine>VerifyAndStore`). The same steps run in the same order
   * inside them, and every stage keeps its row, set from its step's result; a failed step names its
   * stage. Runs without the marker keep the seven activities.
   */
  fewerActivities: 'provision-database-fewer-activities',
} as const;

export const UNDO_ON_CANCEL = 'provision-database-undo-on-cancel';

export const PROVISION_STAGES = [
  'validate',
  'connect',
  'ensure-database',
  'ensure-user',
  'grant',
  'verify',
  'store-credentials',
] as const;

export interface ProvisionResult {
  engine: string;
  host: string;
  port: number;
  database: string;
  user: string;
  auth: 'password' | 'iam';
  sslMode: string;
  /** Where the connection string is: file:/path or aws-sm:<arn>. */
  credentialsRef: string;
}

/** What a plan run returns: the plan (changes and fingerprint) and the tenant it is for. */
export interface ProvisionPlanResult extends PlanResult {
  engine: string;
  host: string;
  port: number;
  database: string;
  user: string;
}

function result(plan: SqlPlan, credentialsRef: string): ProvisionResult {
  return {
    engine: plan.engine,
    host: plan.server.host,
    port: plan.server.port,
    database: plan.database,
    user: plan.user,
    auth: plan.auth,
    sslMode: plan.sslMode,
    credentialsRef,
  };
}

export async function provisionDatabase(input: ProvisionRunInput): Promise<ProvisionResult | ProvisionPlanResult> {
  const progress = new ProgressTracker<ProvisionResult | ProvisionPlanResult>(
    'provisionDatabase',
    sqlTarget(input ?? {}),
    PROVISION_STAGES,
  );
  const guard = new CancelGuard(patched(UNDO_ON_CANCEL));
  let toUndo: SqlPlan | undefined;
  // Only a run with a plan field asks the patch (so no other run's history changes).
  const planFields = hasPlanFields(input) && patched(PATCHES.plan);
  let mode: RunMode = { plan: false };
  try {
    const valid: SqlPlan = await progress.run(
      'validate',
      async () =>
        validInput(() => {
          if (!planFields) return planProvision(input);
          const r = planProvisionRun(input);
          mode = r.mode;
          return r.sql;
        }, patched(PATCHES.knownRegions)),
      (p) => ({
        detail: `database ${p.database}, user ${p.user}, auth ${p.auth}, tls ${p.sslMode}${mode.plan ? '; plan only: nothing is changed' : ''}${mode.expectPlan ? `; applies only while the live state matches ${mode.expectPlan.fingerprint}` : ''}`,
      }),
    );
    // From history (the run's started event): the same on every attempt, replay and reset.
    const plan: SqlPlan = guard.enabled ? { ...valid, runId: workflowInfo().originalExecutionRunId } : valid;
    const sql = sqlActivities(plan.engine);
    const where = `${plan.engine} ${plan.server.host}:${plan.server.port}`;
    const tenant = {
      engine: plan.engine,
      host: plan.server.host,
      port: plan.server.port,
      database: plan.database,
      user: plan.user,
    };
    const planned = () =>
      planActivities(plan.engine).planProvision.executeWithOptions(
        { summary: `plan ${plan.database} on ${where}: read-only checks` },
        [plan],
      );

    if (mode.plan) {
      // Plan only: the read-only checks (they refuse what the apply would refuse), then each stage's part.
      const found = await progress.run('connect', planned, (p) => ({
        detail: `read-only checks on ${where}: ${p.changes.length ? `${p.changes.length} changes planned` : 'nothing to change'}`,
      }));
      await showPlan(progress, PROVISION_STAGES.slice(2), found.changes);
      return progress.finish({ ...planResult(found.changes), ...tenant });
    }
    const expected = mode.expectPlan;
    const create = <T>(call: () => Promise<T>): Promise<T> => guard.create(call);
    if (patched(PATCHES.fewerActivities)) {
      const steps = provisionSteps(plan.engine);
      await progress.run(
        'connect',
        async () => {
          const r = await steps.connect.executeWithOptions(
            { summary: `log in to ${where} as ${plan.server.adminUser}; check the credentials target` },
            [plan],
          );
          if (!expected) return r;
          refuseOutdatedPlan(expected, (await planned()).changes);
          return { ...r, detail: `${r.detail}; the live state matches plan ${expected.fingerprint}` };
        },
        (r) => ({ detail: r.detail }),
      );
      if (guard.enabled) toUndo = plan;
      // ensure-database, ensure-user, grant: one activity, each stage's row from its step.
      await progress.runStages(
        () =>
          create(() =>
            steps.ensureTenant.executeWithOptions(
              {
                summary: `ensure database ${plan.database} and user ${plan.user}; give ${plan.user} ${plan.database} only`,
              },
              [plan],
            ),
          ),
        { 'ensure-database': step, 'ensure-user': step, grant: step },
      );
      // verify, store-credentials: one activity.
      const done = await progress.runStages(
        () =>
          create(() =>
            steps.verifyAndStore.executeWithOptions(
              { summary: `log in as ${plan.user} and check its reach; store the connection string` },
              [plan],
            ),
          ),
        { verify: (r) => ({ detail: r.detail }), 'store-credentials': changedOr((r) => r.credentialsRef) },
      );
      guard.stopIfCancelled(); // cancelled during the last stage: undone like the others
      return progress.finish(result(plan, done['store-credentials'].credentialsRef));
    }
    await progress.run(
      'connect',
      async () => {
        const r = await sql.connect.executeWithOptions({ summary: `log in to ${where} as ${plan.server.adminUser}` }, [
          plan,
        ]);
        await credentials.check.executeWithOptions({ summary: 'check the credentials target' }, [plan]);
        if (expected) {
          refuseOutdatedPlan(expected, (await planned()).changes);
          return { ...r, detail: `${r.detail}; the live state matches plan ${expected.fingerprint}` };
        }
        return r;
      },
      (r) => ({ detail: r.detail }),
    );
    if (guard.enabled) toUndo = plan;
    await progress.run(
      'ensure-database',
      () =>
        create(() => sql.ensureDatabase.executeWithOptions({ summary: `ensure database ${plan.database}` }, [plan])),
      step,
    );
    await progress.run(
      'ensure-user',
      () => create(() => sql.ensureUser.executeWithOptions({ summary: `ensure user ${plan.user}` }, [plan])),
      step,
    );
    await progress.run(
      'grant',
      () => create(() => sql.grant.executeWithOptions({ summary: `give ${plan.user} ${plan.database} only` }, [plan])),
      step,
    );
    await progress.run(
      'verify',
      () =>
        create(() => sql.verify.executeWithOptions({ summary: `log in as ${plan.user} and check its reach` }, [plan])),
      (r) => ({ detail: r.detail }),
    );
    const stored = await progress.run(
      'store-credentials',
      () => create(() => credentials.store.executeWithOptions({ summary: 'store the connection string' }, [plan])),
      changedOr((r) => r.credentialsRef),
    );
    guard.stopIfCancelled(); // cancelled during the last stage: undone like the others

    return progress.finish(result(plan, stored.credentialsRef));
  } catch (err) {
    // Cancelled: also when the stage in flight failed after the cancellation (it could not be interrupted).
    if (toUndo && (isCancellation(err) || CancellationScope.current().consideredCancelled)) {
      const undo = { ...toUndo, reclaimPolicy: 'delete' as const, madeByRun: toUndo.runId };
      const sql = undo.engine === 'postgres' ? sqlUndo.postgres : sqlUndo.mysql;
      await guard.undo(async () => {
        await sql.dropUser.executeWithOptions({ summary: `undo: drop user ${undo.user} if this run created it` }, [
          undo,
        ]);
        await sql.dropDatabase.executeWithOptions(
          { summary: `undo: drop database ${undo.database} if this run created it and it is empty` },
          [undo],
        );
        if (undo.credentialsTarget)
          await sqlUndo.removeCredentials.executeWithOptions(
            { summary: 'undo: remove the credentials this run stored' },
            [undo],
          );
      });
      if (!isCancellation(err)) throw new CancelledFailure('cancelled; what the run made is undone');
    }
    return progress.fail(err);
  }
}
