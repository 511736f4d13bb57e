/**
 * provisionDatabase in three activities instead of seven (patch
 * `provision-database-fewer-activities`): each runs the same per-step functions the seven-activity
 * path registers, in the same order, so the SQL, the ownership checks by mark and the error
 * classification are those of the steps; only the number of activity tasks (and so of workflow
 * tasks and history events) changes.
 *
 * - `<engine>ConnectAndCheck`: the admin login with its read-only checks, then the credentials
 *   target's check (the connect stage);
 * - `<engine>EnsureTenant`: ensure-database, ensure-user, grant (each idempotent, so a retried
 *   attempt does again only what is missing);
 * - `<engine>VerifyAndStore`: verify, then store-credentials.
 *
 * Each returns every step's own result, keyed by its stage, and how long each step took
 * (`stepMs`), so the workflow sets each stage's row from it. A step that fails fails the activity with the step's own failure (same type, message and
 * retryability) carrying `StepsFailure` as its details: the stage whose step failed and what the
 * steps before it did.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { SqlPlan } from '../../domain/provision';
import type { StepResult } from '../types';
import type { StoreResult } from '../credentials';
import type { SqlEngineActivities } from './types';

/** The details of a combined activity's failure: which stage's step failed, and what the steps before it returned. */
export interface StepsFailure {
  stage: string;
  done: Record<string, unknown>;
  /** How long each step that ran took (ms), the failed one's included. */
  stepMs: Record<string, number>;
}

/** How long each step took, by stage (the progress table shows each stage's own time). */
export interface StepTimes {
  stepMs: Record<string, number>;
}

export interface TenantSteps {
  'ensure-database': StepResult;
  'ensure-user': StepResult;
  grant: StepResult;
}

export interface VerifyAndStoreSteps {
  verify: StepResult;
  'store-credentials': StoreResult;
}

type EngineSteps = Pick<SqlEngineActivities, 'connect' | 'ensureDatabase' | 'ensureUser' | 'grant' | 'verify'>;

interface CredentialSteps {
  checkCredentialsTarget(plan: SqlPlan): Promise<void>;
  storeCredentials(plan: SqlPlan): Promise<StoreResult>;
}

/** The failure of the step of `stage`, as the step failed, with the stage and the earlier steps' results as details. */
function stepFailure(
  err: unknown,
  stage: string,
  done: Record<string, unknown>,
  stepMs: Record<string, number>,
): ApplicationFailure {
  const details: StepsFailure = { stage, done, stepMs };
  if (err instanceof ApplicationFailure)
    return ApplicationFailure.create({
      message: err.message,
      type: err.type ?? undefined,
      nonRetryable: err.nonRetryable ?? undefined,
      details: [details],
      cause: err.cause,
      nextRetryDelay: err.nextRetryDelay ?? undefined,
      category: err.category ?? undefined,
    });
  // Not classified (a programming error): retryable, typed by its name, as the SDK would report it.
  const e = err instanceof Error ? err : new Error(String(err));
  return ApplicationFailure.create({ message: e.message, type: e.name, details: [details] });
}

/** Runs the steps in order; each one's result under its stage. */
async function inOrder<R extends object>(steps: { [K in keyof R]: () => Promise<R[K]> }): Promise<R & StepTimes> {
  const done: Record<string, unknown> = {};
  const stepMs: Record<string, number> = {};
  for (const [stage, run] of Object.entries(steps) as Array<[string, () => Promise<unknown>]>) {
    const t0 = Date.now();
    try {
      done[stage] = await run();
      stepMs[stage] = Date.now() - t0;
    } catch (err) {
      stepMs[stage] = Date.now() - t0;
      throw stepFailure(err, stage, { ...done }, { ...stepMs });
    }
  }
  return { ...(done as R), stepMs };
}

export function provisionStepActivities(engine: EngineSteps, creds: CredentialSteps) {
  return {
    async connectAndCheck(plan: SqlPlan): Promise<{ serverVersion: string; detail: string }> {
      // One stage: its failure is the connect stage's, whichever of the two refused.
      const r = await engine.connect(plan);
      await creds.checkCredentialsTarget(plan);
      return r;
    },
    ensureTenant: (plan: SqlPlan): Promise<TenantSteps & StepTimes> =>
      inOrder<TenantSteps>({
        'ensure-database': () => engine.ensureDatabase(plan),
        'ensure-user': () => engine.ensureUser(plan),
        grant: () => engine.grant(plan),
      }),
    verifyAndStore: (plan: SqlPlan): Promise<VerifyAndStoreSteps & StepTimes> =>
      inOrder<VerifyAndStoreSteps>({
        verify: () => engine.verify(plan),
        'store-credentials': () => creds.storeCredentials(plan),
      }),
  };
}

/** The combined activities as the worker registers them, one name per engine. */
export function provisionStepRegistry(postgres: EngineSteps, mysql: EngineSteps, creds: CredentialSteps) {
  const pg = provisionStepActivities(postgres, creds);
  const my = provisionStepActivities(mysql, creds);
  return {
    postgresConnectAndCheck: pg.connectAndCheck,
    postgresEnsureTenant: pg.ensureTenant,
    postgresVerifyAndStore: pg.verifyAndStore,
    mysqlConnectAndCheck: my.connectAndCheck,
    mysqlEnsureTenant: my.ensureTenant,
    mysqlVerifyAndStore: my.verifyAndStore,
  };
}
