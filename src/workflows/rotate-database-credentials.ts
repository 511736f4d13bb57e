/**
 * rotateDatabaseCredentials: a new password for a tenant dbops provisioned, without downtime, by
 * alternating users: the tenant's two logins `<user>` and `<user>_b` take turns. The one the
 * credentials target does not name gets a fresh password, logs in with it, and the target is
 * switched to it in one atomic write (src/activities/sql/rotation.ts); the previous login keeps
 * working through the grace period (a durable timer), then is retired. Which login is current is
 * read from the target by an activity (recorded in history), never recomputed here.
 *
 * Cancelled before the switch: nothing has changed (the old credentials stay in the target). A
 * switch in flight finishes. Cancelled after it: the new credentials stay and the previous login
 * is not retired (a cancel never cuts off a client); the next rotation gives it a fresh password.
 */
import { patched, sleep, workflowInfo } from '@temporalio/workflow';
import { sqlTarget } from '../domain/provision';
import { planRotation, type RotateInput, type RotationPlan } from '../domain/rotation';
import { ProgressTracker, stepOutcome as step, validInput } from './progress';
import { rotationActivities } from './sql-activities';
import { CancelGuard } from './undo';

/** Patch ids (CONTRIBUTING.md): each gates a change of what the workflow does. */
export const PATCHES = {
  /**
   * The switch and the retirement run with a 30 s heartbeat timeout, so a worker lost in the
   * middle of one (killed, crashed) is noticed and the step retried within it. Before: only their
   * 5 min start-to-close timeout, and runs without the marker keep that.
   */
  heartbeats: 'rotate-database-credentials-heartbeats',
  /**
   * The retirement also ends the sessions still open with the previous login, so the old
   * credentials stop working at the end of the grace, open sessions included. Asked before the
   * switch, when the grace is promised to clients: a run already past it keeps the sessions, as
   * before.
   */
  endSessions: 'rotate-database-credentials-end-sessions',
} as const;

export const ROTATE_STAGES = ['validate', 'check-ownership', 'switch-credentials', 'grace', 'retire-previous'] as const;

export interface RotateResult {
  engine: string;
  host: string;
  port: number;
  database: string;
  /** The login the credentials target holds now. */
  user: string;
  /** The login it held before; retired after the grace period. */
  previous: string;
  gracePeriod: string;
}

export async function rotateDatabaseCredentials(input: RotateInput): Promise<RotateResult> {
  const progress = new ProgressTracker<RotateResult>(
    'rotateDatabaseCredentials',
    sqlTarget(input ?? {}),
    ROTATE_STAGES,
  );
  const guard = new CancelGuard(true);
  try {
    const valid = await progress.run(
      'validate',
      async () => validInput(() => planRotation(input)),
      (p) => ({
        detail: `database ${p.database}, logins ${p.logins.primary} and ${p.logins.standby}, grace ${p.gracePeriod}`,
      }),
    );
    // From history (the run's started event): written in the mark of a login this run creates.
    const plan: RotationPlan = { ...valid, runId: workflowInfo().originalExecutionRunId };
    const sql = rotationActivities(plan.engine);

    const state = await progress.run(
      'check-ownership',
      () =>
        sql.check.executeWithOptions({ summary: `read the credentials target; check both logins are this tenant's` }, [
          plan,
        ]),
      (r) => ({ detail: r.detail }),
    );
    const { current: from, next: to } = state;

    const changing = patched(PATCHES.heartbeats) ? rotationActivities(plan.engine, true) : sql;
    const endSessions = patched(PATCHES.endSessions);
    await progress.run(
      'switch-credentials',
      () =>
        guard.create(() =>
          changing.switchTo.executeWithOptions(
            { summary: `fresh password on ${to}, log in with it, write it to the credentials target` },
            [{ ...plan, from, to }],
          ),
        ),
      step,
    );
    guard.stopIfCancelled(); // cancelled during the switch: the new credentials stay, nothing more starts

    await progress.run(
      'grace',
      () => sleep(plan.graceMs),
      () => ({ detail: `${from} kept working for ${plan.gracePeriod}` }),
    );
    await progress.run(
      'retire-previous',
      () =>
        guard.create(() =>
          changing.retire.executeWithOptions(
            {
              summary: `retire ${from}: a password nobody knows${endSessions ? '; its open sessions ended' : ''}`,
            },
            [endSessions ? { ...plan, previous: from, endSessions: true } : { ...plan, previous: from }],
          ),
        ),
      step,
    );

    return progress.finish({
      engine: plan.engine,
      host: plan.server.host,
      port: plan.server.port,
      database: plan.database,
      user: to,
      previous: from,
      gracePeriod: plan.gracePeriod,
    });
  } catch (err) {
    return progress.fail(err);
  }
}
