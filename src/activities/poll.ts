/**
 * Waiting inside an activity: poll, heartbeat, sleep; the wait is bounded and survives a worker
 * restart (the start time rides in the heartbeat details, so a retried attempt keeps the deadline).
 * History stays small however long the wait: one activity, not a loop of timers.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { durationMs } from '../domain/limits';

export interface PollOptions {
  /** What is being waited for, for messages ("peering pcx-1 to become active"). */
  what: string;
  interval: string;
  timeout: string;
}

export type PollStep<T> = { done: true; value: T } | { done: false; status: string };

function inActivity(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // called outside an activity (benchmark's plain-script baseline)
  }
}

/** This activity's attempt number (1 outside an activity). */
export function attempt(): number {
  return inActivity()?.info.attempt ?? 1;
}

/** What the previous attempt of this activity last heartbeated (after a worker restart). */
export function previousDetails<T extends object>(): Partial<T> {
  return ((inActivity()?.info.heartbeatDetails as Partial<T> | undefined) ?? {}) as Partial<T>;
}

/**
 * Polls `check` until done. `state` adds the caller's own progress to each heartbeat, so a
 * retried attempt can pick it up with previousDetails().
 */
export async function pollUntil<T>(
  opts: PollOptions,
  check: () => Promise<PollStep<T>>,
  state?: () => object,
): Promise<T> {
  const ctx = inActivity();
  const previous = ctx?.info.heartbeatDetails as { startedAt?: number } | undefined;
  const startedAt = previous?.startedAt ?? Date.now();
  const deadline = startedAt + durationMs(opts.timeout);
  const interval = durationMs(opts.interval);
  let last = 'not checked yet';
  for (;;) {
    const step = await check();
    if (step.done) return step.value;
    last = step.status;
    ctx?.heartbeat({ ...state?.(), startedAt, waitingFor: opts.what, lastStatus: last });
    if (Date.now() + interval > deadline) {
      throw ApplicationFailure.nonRetryable(
        `timed out after ${opts.timeout} waiting for ${opts.what} (last status: ${last})`,
        'WaitTimeout',
      );
    }
    if (ctx) await ctx.sleep(interval);
    else await new Promise((r) => setTimeout(r, interval));
  }
}
