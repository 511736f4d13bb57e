/**
 * deprovisionDatabase: removes a tenant's login and, with reclaimPolicy "delete", its database
 * (PostgreSQL: DROP DATABASE … WITH (FORCE)); "retain" keeps the data. Idempotent.
 */
import { patched } from '@temporalio/workflow';
import { planDeprovision, sqlTarget, type DeprovisionInput } from '../domain/provision';
import { changedOr, ProgressTracker, stepOutcome as step, validInput } from './progress';
import { credentials, sqlActivities } from './sql-activities';

/** Patch ids (CONTRIBUTING.md): each gates a change of what the workflow does. */
export const PATCHES = {
  /**
   * Region names are checked against the AWS SDK's list (us-eest-1 is refused when the run starts).
   * Before: any name of the region shape was accepted, and planning without the marker still does.
   */
  knownRegions: 'deprovision-database-known-regions',
} as const;

export const DEPROVISION_STAGES = ['validate', 'connect', 'drop-database', 'drop-user', 'remove-credentials'] as const;

export interface DeprovisionResult {
  database: string;
  user: string;
  reclaimPolicy: 'delete' | 'retain';
  databaseDropped: boolean;
  userDropped: boolean;
}

export async function deprovisionDatabase(input: DeprovisionInput): Promise<DeprovisionResult> {
  const progress = new ProgressTracker<DeprovisionResult>(
    'deprovisionDatabase',
    sqlTarget(input ?? {}),
    DEPROVISION_STAGES,
  );
  try {
    const plan = await progress.run(
      'validate',
      async () => validInput(() => planDeprovision(input), patched(PATCHES.knownRegions)),
      (p) => ({
        detail: `database ${p.database}, user ${p.user}, reclaim ${p.reclaimPolicy}`,
      }),
    );
    const sql = sqlActivities(plan.engine);

    await progress.run(
      'connect',
      () =>
        sql.connect.executeWithOptions(
          { summary: `log in to ${plan.engine} ${plan.server.host}:${plan.server.port}` },
          [plan],
        ),
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
