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
import { planProvision, sqlTarget, type ProvisionInput, type SqlPlan } from '../domain/provision';
import { changedOr, ProgressTracker, stepOutcome as step, validInput } from './progress';
import { credentials, sqlActivities, sqlUndo } from './sql-activities';
import { CancelGuard } from './undo';

/** Marks carry the run id; a cancelled run undoes what it created. */
/** Patch ids (CONTRIBUTING.md): each gates a change of what the workflow does. */
export const PATCHES = {
  /**
   * Region names are checked against the AWS SDK's list (us-eest-1 is refused when the run starts).
   * Before: any name of the region shape was accepted, and planning without the marker still does.
   */
  knownRegions: 'provision-database-known-regions',
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

export async function provisionDatabase(input: ProvisionInput): Promise<ProvisionResult> {
  const progress = new ProgressTracker<ProvisionResult>('provisionDatabase', sqlTarget(input ?? {}), PROVISION_STAGES);
  const guard = new CancelGuard(patched(UNDO_ON_CANCEL));
  let toUndo: SqlPlan | undefined;
  try {
    const valid: SqlPlan = await progress.run(
      'validate',
      async () => validInput(() => planProvision(input), patched(PATCHES.knownRegions)),
      (p) => ({
        detail: `database ${p.database}, user ${p.user}, auth ${p.auth}, tls ${p.sslMode}`,
      }),
    );
    // From history (the run's started event): the same on every attempt, replay and reset.
    const plan: SqlPlan = guard.enabled ? { ...valid, runId: workflowInfo().originalExecutionRunId } : valid;
    const sql = sqlActivities(plan.engine);
    const where = `${plan.engine} ${plan.server.host}:${plan.server.port}`;

    await progress.run(
      'connect',
      async () => {
        const r = await sql.connect.executeWithOptions({ summary: `log in to ${where} as ${plan.server.adminUser}` }, [
          plan,
        ]);
        await credentials.check.executeWithOptions({ summary: 'check the credentials target' }, [plan]);
        return r;
      },
      (r) => ({ detail: r.detail }),
    );
    if (guard.enabled) toUndo = plan;
    const create = <T>(call: () => Promise<T>): Promise<T> => guard.create(call);
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

    return progress.finish({
      engine: plan.engine,
      host: plan.server.host,
      port: plan.server.port,
      database: plan.database,
      user: plan.user,
      auth: plan.auth,
      sslMode: plan.sslMode,
      credentialsRef: stored.credentialsRef,
    });
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
