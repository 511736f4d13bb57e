/**
 * Credential rotation, alternating users: a tenant has two logins, `<user>` and `<user>_b`; the
 * credentials target names the current one. A rotation gives the other login a fresh password,
 * logs in with it, and only then writes it to the target (one atomic write), so the target always
 * holds one working credential set: a crash before the write leaves the old, untouched login in
 * it (the other login's new password was never stored anywhere, so it is as good as reset), a
 * crash after it leaves the new one. The previous login keeps its password through the grace
 * period and is then retired (a random password nobody knows; NOLOGIN on PostgreSQL).
 *
 * The password is generated here and never leaves the activity: not in a result, a heartbeat or
 * a failure message. The engine steps (postgres.ts, mysql.ts) check ownership against the
 * catalog: both logins must carry this tenant's dbops mark (the second one may be absent).
 */
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { describeRotationRun, runningRotations } from '../../temporal/rotation-runs';
import type { RotationPlan } from '../../domain/rotation';
import { otherLogin } from '../../domain/rotation';
import { scrubSecrets } from '../scrub';
import { generatePassword, readRotationTarget, writeRotatedCredentials, type CredentialsDeps } from '../credentials';
import type { StepResult } from './types';

/** What each engine does for a rotation; every call checks the login is this tenant's first. */
export interface RotationOps {
  /** Refuses unless the database and `<user>` carry this tenant's mark and `<user>_b` is absent or does too. */
  checkLogins(plan: RotationPlan): Promise<string>;
  /** Creates (marked, with the primary's reach) or updates `login` with `password`, and lets it log in. */
  setPassword(plan: RotationPlan, login: string, password: string): Promise<void>;
  /** Whether `login` can log in to the tenant's database with `password`. */
  loginWorks(plan: RotationPlan, login: string, password: string): Promise<boolean>;
  /** Gives `login` a random password nobody knows (and NOLOGIN where the engine has it). */
  retire(plan: RotationPlan, login: string): Promise<void>;
  /**
   * Ends the sessions logged in as `login` (that login only, never another's); returns how many,
   * or a note when the admin may not end them.
   */
  endSessions(plan: RotationPlan, login: string): Promise<{ ended: number; note?: string }>;
}

export interface RotationState {
  /** The login the target names now (read from the target, recorded in history). */
  current: string;
  /** The login the rotation switches to. */
  next: string;
  detail: string;
}

export type SwitchPlan = RotationPlan & { from: string; to: string };
export type RetirePlan = RotationPlan & {
  previous: string;
  /**
   * Also end the sessions still open with the previous login (patch `endSessions`): the old
   * credentials stop working at the end of the grace, open sessions included. A hint an older
   * activity ignores (it retires the login, as before).
   */
  endSessions?: boolean;
};

/** A rotation step found the target changed under it (another rotation, an operator's edit). */
export const ROTATION_TARGET_CHANGED = 'RotationTargetChanged';
/** Another rotation of the same tenant is running (one at a time: a manual run and a scheduled one). */
export const ROTATION_ALREADY_RUNNING = 'RotationAlreadyRunning';

/**
 * Refuses this run when a rotation of the same tenant that started earlier is still running: the
 * earliest holds the tenant, every later one stops here, before anything changed. Two runs that
 * start so close together that neither sees the other yet (visibility lag) both read the same
 * current login, so they switch to the same one, and the second switch finds it already done; the
 * harmful overlap, a second run switching back while the first one's grace runs, needs the second
 * check to come after the first switch, and by then the first run is visible.
 */
async function refuseOverlap(plan: RotationPlan, temporal: Client | undefined): Promise<string> {
  const ctx = activityContext();
  const self = ctx?.info.workflowExecution;
  if (!ctx || !self) return ''; // not run by a workflow (a standalone call): nothing to take turns with
  const others = await runningRotations(temporal ?? ctx.client, plan, self);
  const me = others.length
    ? await (temporal ?? ctx.client).workflow.getHandle(self.workflowId, self.runId).describe()
    : undefined;
  const first = others.find(
    (o) =>
      !me || o.startTime < me.startTime || (o.startTime.getTime() === me.startTime.getTime() && o.runId < self.runId),
  );
  if (first)
    throw ApplicationFailure.nonRetryable(
      `another rotation of database ${plan.database} on ${plan.engine} ${plan.server.host}:${plan.server.port} is running: ${describeRotationRun(first)}; one rotation of a tenant runs at a time, so this one changed nothing: wait for that run to finish (dbops status ${first.workflowId}) and rotate again if needed`,
      ROTATION_ALREADY_RUNNING,
    );
  return others.length ? `; ${others.length} later rotation(s) of this tenant will stop at their check` : '';
}

const logins = (plan: RotationPlan) => [plan.logins.primary, plan.logins.standby];

/** Tells Temporal this attempt is alive (no details: nothing of a password); steps run with a heartbeat timeout. */
function beat(): void {
  activityContext()?.heartbeat();
}

/** The running activity's context; undefined when called outside an activity (a unit test, a script). */
function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

export function rotationActivities(ops: RotationOps, deps: CredentialsDeps & { temporal?: Client }) {
  /**
   * Makes sure the set in the target logs in before the previous login goes, so the retirement
   * never leaves the target without a working set. It may not: a write of a switch attempt that
   * stalled past its timeout can land after the retried attempt's, leaving a password there that
   * the login no longer has. Then the login gets the target's password again (the set clients
   * read; the password stays inside this activity). Returns a note for the detail ('' when fine).
   */
  async function matchTarget(plan: RetirePlan, stored: { user: string; password: string }, label: string) {
    try {
      if (await ops.loginWorks(plan, stored.user, stored.password)) return '';
      await ops.setPassword(plan, stored.user, stored.password);
      if (!(await ops.loginWorks(plan, stored.user, stored.password)))
        throw ApplicationFailure.retryable(
          `the credentials in ${label} do not log in as ${stored.user}, even after setting them again; ${plan.previous} is not retired`,
          'RotationLoginFailed',
        );
    } catch (err) {
      throw scrubbed(err, stored.password);
    }
    return `; ${stored.user} did not accept the password in ${label} (a late write of an earlier switch attempt?) and was given it again first`;
  }

  return {
    /**
     * Read-only: that no earlier rotation of the tenant is running, which login the target names,
     * and that both logins are this tenant's.
     */
    async check(plan: RotationPlan): Promise<RotationState> {
      const later = await refuseOverlap(plan, deps.temporal);
      const { stored, label } = await readRotationTarget(plan, logins(plan), deps);
      const owned = await ops.checkLogins(plan);
      const current = stored.user;
      const next = otherLogin(plan, current);
      return { current, next, detail: `${label} names ${current}; switching to ${next}; ${owned}${later}` };
    },

    /** Fresh password on `to`, a login with it, then the target written: in that order, in one activity. */
    async switchTo(plan: SwitchPlan): Promise<StepResult> {
      const { stored, label } = await readRotationTarget(plan, logins(plan), deps);
      if (stored.user === plan.to && (await ops.loginWorks(plan, plan.to, stored.password)))
        return { changed: false, detail: `${label} already holds working credentials of ${plan.to}` };
      if (stored.user !== plan.from && stored.user !== plan.to)
        throw ApplicationFailure.nonRetryable(
          `${label} names ${stored.user}, neither ${plan.from} nor ${plan.to}`,
          ROTATION_TARGET_CHANGED,
        );
      // Tried again after the write: an attempt of this switch that stalled past its timeout (not
      // dead) may set its own password on the same login meanwhile; then this one sets a fresh
      // password again, so the target it leaves holds a set that works.
      for (let round = 1; ; round++) {
        const password = generatePassword();
        try {
          beat();
          await ops.setPassword(plan, plan.to, password);
          beat();
          if (!(await ops.loginWorks(plan, plan.to, password)))
            throw ApplicationFailure.retryable(
              `${plan.to} could not log in to ${plan.database} with its new password; the target still holds ${stored.user}`,
              'RotationLoginFailed',
            );
          beat();
          await writeRotatedCredentials(plan, logins(plan), plan.to, password, deps);
          beat();
          if (await ops.loginWorks(plan, plan.to, password)) break;
          if (round >= 3)
            throw ApplicationFailure.retryable(
              `${plan.to}'s password keeps changing under this rotation (another run of it?)`,
              'RotationLoginFailed',
            );
        } catch (err) {
          throw scrubbed(err, password);
        }
      }
      return {
        changed: true,
        detail: `${plan.to} has a fresh password and logged in with it; ${label} now holds it; ${plan.from} still works`,
      };
    },

    /**
     * Retires the previous login, unless the target names it (then it is the one that works), and
     * only once the target's set logs in (matchTarget).
     */
    async retire(plan: RetirePlan): Promise<StepResult> {
      const { stored, label } = await readRotationTarget(plan, logins(plan), deps);
      if (stored.user === plan.previous)
        throw ApplicationFailure.nonRetryable(
          `${label} names ${plan.previous} again; refusing to retire the login the target holds`,
          ROTATION_TARGET_CHANGED,
        );
      beat();
      await ops.checkLogins(plan);
      beat();
      const repaired = await matchTarget(plan, stored, label);
      beat();
      await ops.retire(plan, plan.previous);
      const detail = `${plan.previous} no longer logs in with its old password${repaired}`;
      if (!plan.endSessions) return { changed: true, detail };
      beat();
      const { ended, note } = await ops.endSessions(plan, plan.previous);
      return {
        changed: true,
        detail: `${detail}; ${note ?? `${ended} session${ended === 1 ? '' : 's'} still open with it ended`}`,
      };
    },
  };
}

/** The same failure with every spelling of `password` taken out of its message. */
function scrubbed(err: unknown, password: string): unknown {
  if (!(err instanceof Error) || !err.message) return err;
  const clean = scrubSecrets(err.message, [password]);
  if (clean === err.message) return err;
  if (err instanceof ApplicationFailure)
    return err.nonRetryable
      ? ApplicationFailure.nonRetryable(clean, err.type)
      : ApplicationFailure.retryable(clean, err.type);
  return new Error(clean);
}
