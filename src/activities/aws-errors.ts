/**
 * AWS SDK errors, classified once for every AWS activity: the caller's own mistakes (4xx other
 * than throttling) are not retried and keep AWS's code as the failure type; throttling, 5xx and
 * network trouble are retried by the activity retry policy.
 */
import { ApplicationFailure } from '@temporalio/common';

const THROTTLING = new Set(['Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequestsException', 'RequestThrottled', 'PriorRequestNotComplete', 'SlowDown']);

export function classifyAwsError(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  const e = err as { name?: string; message?: string; $fault?: string; $metadata?: { httpStatusCode?: number } };
  if (e.$fault === 'client' && e.name && !THROTTLING.has(e.name)) {
    return ApplicationFailure.nonRetryable(`${e.name}: ${e.message ?? 'request refused by AWS'}`, e.name);
  }
  return err;
}

/** Wraps every function of an activity object so AWS errors leave classified. */
export function withAwsErrors<T extends Record<string, (...args: never[]) => Promise<unknown>>>(acts: T): T {
  return Object.fromEntries(
    Object.entries(acts).map(([name, fn]) => [
      name,
      async (...args: never[]) => {
        try {
          return await fn(...args);
        } catch (err) {
          throw classifyAwsError(err);
        }
      },
    ]),
  ) as T;
}
