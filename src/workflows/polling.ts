/**
 * Waits polled by activity retry. The activity checks once; while the wait goes on it fails with
 * a retryable StillWaiting and the retry policy checks again after the poll interval. The
 * schedule-to-close timeout is the wait's deadline (fixed at the first check: a worker restart
 * does not move it). Between checks no worker slot is held and the history gets no event; the
 * Web UI's pending activity shows the attempt and the last StillWaiting (what, last status).
 * Workflow code only.
 */
import { RetryState, TimeoutType, type Duration } from '@temporalio/common';
import { ActivityFailure, ApplicationFailure, TimeoutFailure, type ActivityOptions } from '@temporalio/workflow';
import { durationMs } from '../domain/limits';
import { STILL_WAITING, WAIT_TIMEOUT, waitTimeoutMessage, type StillWaitingDetails } from '../domain/waits';

export { POLL_ONCE } from '../domain/waits';

export interface Wait {
  /** What is awaited, for people ("clone x to become available"). */
  what: string;
  /** How often to check. */
  interval: string;
  /** The wait's deadline, from its first check. */
  timeout: string;
  /**
   * A wait that usually ends within seconds (accept, route): the activity re-checks itself for
   * 1.5 s after its action, then retries back off from 1 s (Temporal's shortest retry) to `interval`.
   */
  quick?: boolean;
  /** The longest one check may take (default 2 minutes). */
  checkTimeout?: Duration;
  /** A check whose worker died is retried elsewhere after this long without a heartbeat. */
  heartbeatTimeout?: Duration;
}

/** The activity options of a wait: the retry policy is the poll loop, schedule-to-close the deadline. */
export function pollingOptions(w: Wait): ActivityOptions {
  const interval = durationMs(w.interval);
  return {
    scheduleToCloseTimeout: w.timeout as Duration,
    startToCloseTimeout: w.checkTimeout ?? '2m',
    ...(w.heartbeatTimeout ? { heartbeatTimeout: w.heartbeatTimeout } : {}),
    retry: w.quick
      ? { initialInterval: Math.min(1_000, interval), backoffCoefficient: 2, maximumInterval: interval }
      : { initialInterval: interval, backoffCoefficient: 1, maximumInterval: interval },
  };
}

/** What the wait's last check saw, from its StillWaiting failure. */
function lastSeen(failure: unknown): StillWaitingDetails | undefined {
  for (let f = failure; f instanceof Error; f = (f as { cause?: unknown }).cause) {
    if (f instanceof ApplicationFailure && f.type === STILL_WAITING)
      return f.details?.[0] as StillWaitingDetails | undefined;
  }
  return undefined;
}

/**
 * The deadline passed (schedule-to-close, or no time left for another retry): the WaitTimeout
 * failure the in-place wait gives. The activity itself gives it when it sees no time for another
 * check; this covers a last check that hung or a retry that could not fit.
 */
function asWaitTimeout(err: unknown, w: Wait): ApplicationFailure | undefined {
  if (!(err instanceof ActivityFailure)) return undefined;
  const c = err.cause;
  const expired =
    (c instanceof TimeoutFailure && c.timeoutType === TimeoutType.SCHEDULE_TO_CLOSE) ||
    (c instanceof ApplicationFailure && c.type === STILL_WAITING && err.retryState === RetryState.TIMEOUT);
  if (!expired) return undefined;
  const seen = lastSeen(c);
  return ApplicationFailure.nonRetryable(
    waitTimeoutMessage({ what: seen?.what ?? w.what, timeout: w.timeout }, seen?.status ?? 'unknown'),
    WAIT_TIMEOUT,
  );
}

/** Runs a wait polled by retry; its deadline passing fails it as WaitTimeout. */
export async function waitFor<T>(w: Wait, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw asWaitTimeout(err, w) ?? err;
  }
}

/** The stage detail while a wait runs: what it waits for, how often, how long at most. */
export function waitingNote(w: Wait): string {
  return `waiting for ${w.what} (checked every ${w.interval}, up to ${w.timeout})`;
}
