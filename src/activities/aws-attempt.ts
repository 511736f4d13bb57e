/**
 * What the AWS calls of one activity attempt share: how long they have waited, in total, for the
 * worker's own rate limit (src/activities/aws-rate-limit.ts). An attempt that makes several calls
 * may wait `maxWaitMs` in all, not for each call: a call past that fails with AwsClientRateLimit,
 * well before the attempt's start-to-close timeout.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export interface AttemptBudget {
  waitedMs: number;
}

const attempt = new AsyncLocalStorage<AttemptBudget>();

/** Runs one activity attempt with a wait budget of its own. */
export function inAwsAttempt<T>(fn: () => Promise<T>): Promise<T> {
  return attempt.run({ waitedMs: 0 }, fn);
}

/** The budget of the attempt running now, if any (calls outside an activity have none). */
export function currentAttempt(): AttemptBudget | undefined {
  return attempt.getStore();
}
