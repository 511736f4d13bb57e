/**
 * What the AWS calls of one activity attempt share for the worker's own rate limit
 * (src/activities/aws-rate-limit.ts): a deadline for waiting their turn and a place in the queue.
 *
 * - The deadline is the attempt's own: its start-to-close timeout (and schedule-to-close, for a
 *   wait polled by retry) less a reserve for the calls themselves, so an attempt waits as long as
 *   it can still finish, and no longer. `maxWaitMs`, when configured, caps it further.
 * - The place is the activity's first schedule time (the same for all its attempts): an attempt
 *   that has made some calls already, or a retried one, goes before calls of activities scheduled
 *   later, so a multi-call activity is not starved by newcomers and a retry does not go to the back.
 * - A call that waits heartbeats (when the activity has a heartbeat timeout) with the details the
 *   attempt last heartbeated, so the wait is not taken for a dead worker and no progress is lost.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Context } from '@temporalio/activity';

/** Share of the attempt's start-to-close kept for the calls after the last wait (at least 5 s). */
const RESERVE_SHARE = 0.2;
const RESERVE_MIN_MS = 5_000;

export interface AttemptBudget {
  /** When the attempt began (this worker's clock; set on first use outside an activity). */
  startedAt?: number;
  /** The latest a call of this attempt may be given its token; undefined outside an activity. */
  readonly deadline?: number;
  /** Queue order: the activity's first schedule time; set on first use outside an activity. */
  order?: number;
  /** The activity's context, for heartbeats while waiting. */
  readonly context?: Context;
  /** What this attempt last heartbeated (heartbeat() below), repeated by a waiting call. */
  lastDetails?: unknown;
  /** How long its calls have waited for their turn, in all. */
  waitedMs: number;
}

const attempt = new AsyncLocalStorage<AttemptBudget>();

function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // called outside an activity (tests, benchmarks' plain scripts)
  }
}

/** The latest moment an attempt started `now` may still wait for a token, from its timeouts. */
export function attemptDeadline(
  info: Pick<Context['info'], 'startToCloseTimeoutMs' | 'scheduleToCloseTimeoutMs' | 'scheduledTimestampMs'>,
  now: number,
): number | undefined {
  const ends: number[] = [];
  if (info.startToCloseTimeoutMs > 0) ends.push(now + info.startToCloseTimeoutMs);
  if (info.scheduleToCloseTimeoutMs > 0) ends.push(info.scheduledTimestampMs + info.scheduleToCloseTimeoutMs);
  if (!ends.length) return undefined;
  const end = Math.min(...ends);
  const reserve = Math.max(RESERVE_MIN_MS, (info.startToCloseTimeoutMs || end - now) * RESERVE_SHARE);
  return end - reserve;
}

/** Runs one activity attempt with a budget of its own. */
export function inAwsAttempt<T>(fn: () => Promise<T>): Promise<T> {
  const ctx = activityContext();
  const now = Date.now();
  const budget: AttemptBudget = ctx
    ? {
        startedAt: now,
        deadline: attemptDeadline(ctx.info, now),
        order: ctx.info.scheduledTimestampMs || now,
        context: ctx,
        lastDetails: ctx.info.heartbeatDetails,
        waitedMs: 0,
      }
    : { waitedMs: 0 };
  return attempt.run(budget, fn);
}

/** The budget of the attempt running now, if any (calls outside an activity have none). */
export function currentAttempt(): AttemptBudget | undefined {
  return attempt.getStore();
}

/** Heartbeats `details` from an activity, remembered so a call waiting for its token repeats them. */
export function heartbeat(ctx: Context | undefined, details: unknown): void {
  if (!ctx) return;
  const budget = attempt.getStore();
  if (budget && budget.context === ctx) budget.lastDetails = details;
  ctx.heartbeat(details);
}
