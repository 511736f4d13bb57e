/**
 * Waiting in an activity, two ways. In place (pollUntil: poll, heartbeat, sleep; the start time
 * rides in the heartbeat details, so a retried attempt keeps the deadline): what runs made before
 * polling by retry still ask for, and it holds a worker slot for the whole wait. By retry
 * (checkOnce: one check per attempt, the retry policy waits between checks): no slot held between
 * checks. Either way the wait is bounded, survives a worker restart, and adds no history event per poll.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { durationMs } from '../domain/limits';
import { heartbeat } from './aws-attempt';
import {
  STILL_WAITING,
  WAIT_TIMEOUT,
  waitTimeoutMessage,
  type PollMode,
  type StillWaitingDetails,
} from '../domain/waits';

export type { PollMode } from '../domain/waits';

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

function timedOut(opts: PollOptions, last: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(waitTimeoutMessage(opts, last), WAIT_TIMEOUT);
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
    heartbeat(ctx, { ...state?.(), startedAt, waitingFor: opts.what, lastStatus: last });
    if (Date.now() + interval > deadline) {
      throw timedOut(opts, last);
    }
    if (ctx) await ctx.sleep(interval);
    else await new Promise((r) => setTimeout(r, interval));
  }
}

/** Temporal does not retry an activity sooner than about a second after a failed attempt. */
const RETRY_FLOOR_MS = 1_000;

/**
 * One check of a wait polled by retry: the value when done; otherwise a retryable StillWaiting
 * failure (its message names what is awaited, the status seen and the check's number), or
 * WaitTimeout when the next check would come after the wait's deadline (the activity's
 * schedule-to-close, which the first attempt's schedule time fixes: a restart does not move it).
 * `state` rides in a heartbeat to the next attempt, where previousDetails() returns it. `quick`: the
 * wait usually ends within a second or two (see below).
 */
export async function checkOnce<T>(
  opts: PollOptions,
  check: () => Promise<PollStep<T>>,
  state?: () => object,
  quick = false,
): Promise<T> {
  const ctx = inActivity();
  let step = await check();
  // A quick wait (a state change the check itself just asked for) is looked at again soon, in this
  // attempt, before the retry policy's slower checks: after 100, 200, 400 and 800 ms.
  for (let pause = 100; quick && !step.done && pause <= 800; pause *= 2) {
    if (ctx) await ctx.sleep(pause);
    else await new Promise((r) => setTimeout(r, pause));
    step = await check();
  }
  if (step.done) return step.value;
  if (state) heartbeat(ctx, state());
  const info = ctx?.info;
  const deadline = info?.scheduleToCloseTimeoutMs
    ? info.scheduledTimestampMs + info.scheduleToCloseTimeoutMs
    : Date.now() + durationMs(opts.timeout);
  if (Date.now() + Math.max(durationMs(opts.interval), RETRY_FLOOR_MS) > deadline) throw timedOut(opts, step.status);
  throw ApplicationFailure.create({
    type: STILL_WAITING,
    message: `waiting for ${opts.what} (last status: ${step.status}; check ${info?.attempt ?? 1})`,
    details: [{ what: opts.what, status: step.status } satisfies StillWaitingDetails],
  });
}

/**
 * Polls in place (no mode: the call of a run that predates polling by retry, heartbeating) or
 * checks once (`{ poll: 'once' }`: the workflow's retry policy is the loop, src/workflows/polling.ts).
 */
export function pollOrCheck<T>(
  mode: PollMode | undefined,
  opts: PollOptions,
  check: () => Promise<PollStep<T>>,
  o: { state?: () => object; quick?: boolean } = {},
): Promise<T> {
  return mode?.poll === 'once' ? checkOnce(opts, check, o.state, o.quick) : pollUntil(opts, check, o.state);
}
