/**
 * provisionDatabase: a tenant's own database and least-privilege user on a shared PostgreSQL or
 * MySQL/MariaDB server, and a connection string stored in the credentials target. Every stage is
 * safe to re-run; a re-run changes nothing and returns the same reference.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import { planProvision, sqlTarget, InvalidInputError, type ProvisionInput, type SqlPlan } from '../domain/provision';
import { ProgressTracker, type StageOutcome } from './progress';
import { credentials, sqlActivities } from './sql-activities';

export const PROVISION_STAGES = ['validate', 'connect', 'ensure-database', 'ensure-user', 'grant', 'verify', 'store-credentials'] as const;

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

const step = (r: { changed: boolean; detail: string }): StageOutcome => ({ skipped: !r.changed, detail: r.detail });

export function validated<P>(plan: () => P): P {
  try {
    return plan();
  } catch (err) {
    if (err instanceof InvalidInputError) throw ApplicationFailure.nonRetryable(err.message, 'InvalidInput');
    throw err;
  }
}

export async function provisionDatabase(input: ProvisionInput): Promise<ProvisionResult> {
  const progress = new ProgressTracker<ProvisionResult>('provisionDatabase', sqlTarget(input ?? {}), PROVISION_STAGES);
  try {
    const plan: SqlPlan = await progress.run('validate', async () => validated(() => planProvision(input)), (p) => ({
      detail: `database ${p.database}, user ${p.user}, auth ${p.auth}, tls ${p.sslMode}`,
    }));
    const sql = sqlActivities(plan.engine);
    const where = `${plan.engine} ${plan.server.host}:${plan.server.port}`;

    await progress.run('connect', async () => {
      const r = await sql.connect.executeWithOptions({ summary: `log in to ${where} as ${plan.server.adminUser}` }, [plan]);
      await credentials.check.executeWithOptions({ summary: 'check the credentials target' }, [plan]);
      return r;
    }, (r) => ({ detail: r.detail }));
    await progress.run('ensure-database', () => sql.ensureDatabase.executeWithOptions({ summary: `ensure database ${plan.database}` }, [plan]), step);
    await progress.run('ensure-user', () => sql.ensureUser.executeWithOptions({ summary: `ensure user ${plan.user}` }, [plan]), step);
    await progress.run('grant', () => sql.grant.executeWithOptions({ summary: `give ${plan.user} ${plan.database} only` }, [plan]), step);
    await progress.run('verify', () => sql.verify.executeWithOptions({ summary: `log in as ${plan.user} and check its reach` }, [plan]), (r) => ({ detail: r.detail }));
    const stored = await progress.run('store-credentials', () => credentials.store.executeWithOptions({ summary: 'store the connection string' }, [plan]), (r) => ({
      skipped: !r.changed,
      detail: r.credentialsRef,
    }));

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
    return progress.fail(err);
  }
}
