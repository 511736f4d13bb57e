/** Activity proxies for the DBLab refresh workflows, with timeouts from the run's settings. */
import type { Duration } from '@temporalio/common';
import {
  proxyActivities,
  proxyLocalActivities,
  type ActivityInterfaceFor,
  type RetryPolicy,
} from '@temporalio/workflow';
import type { createClonePrepare } from '../activities/clone-prepare';
import type { createDblabActivities } from '../activities/dblab';
import type { createRdsActivities } from '../activities/rds';
import type { createTemporalRunActivities } from '../activities/temporal-runs';
import type { RefreshPlan } from '../domain/dblab-config';
import { durationMs } from '../domain/limits';
import { pollingOptions, type Wait } from './polling';

type Acts = ReturnType<typeof createRdsActivities> &
  ReturnType<typeof createDblabActivities> &
  ReturnType<typeof createClonePrepare>['activities'] &
  ReturnType<typeof createTemporalRunActivities>;

const RETRY: RetryPolicy = { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 6 };

/** Quick calls: describe, create, configure, trigger. */
export const quick = proxyActivities<Acts>({ startToCloseTimeout: '2m', retry: RETRY });

/** Local activities: values the run must take from its history (a marker), never recompute. */
export const recorded = proxyLocalActivities<Acts>({ startToCloseTimeout: '10s', retry: RETRY });

/** Dry-run checks: report a problem fast rather than retrying long. */
export const checking = proxyActivities<Acts>({ startToCloseTimeout: '1m', retry: { ...RETRY, maximumAttempts: 2 } });

/** Deleting the clone: retried until it works (only a non-retryable error stops it). */
export const deleting = proxyActivities<Acts>({
  startToCloseTimeout: '7h',
  heartbeatTimeout: '5m',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '5m' }, // no attempt limit
});

/**
 * restore-dblab: DBLab pointed back at its source. An outage of DBLab must not leave it naming the
 * deleted clone with the password configure-dblab wrote, so it is retried for up to 30 minutes
 * (every minute at most, no attempt limit), then the run fails saying what DBLab still holds.
 */
export const restoring = proxyActivities<Acts>({
  startToCloseTimeout: '2m',
  scheduleToCloseTimeout: '30m',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m' }, // no attempt limit
});

/** A wait polled by retry (./polling.ts): one check per attempt, no worker slot held between checks. */
export function polled(w: Wait): ActivityInterfaceFor<Acts> {
  return proxyActivities<Acts>(pollingOptions(w));
}

/** Waits that poll in place and heartbeat (runs from before polling by retry); deadlines live in the activities. */
export function waiting(plan: RefreshPlan): ActivityInterfaceFor<Acts> {
  const heartbeatMs = Math.max(3 * durationMs(plan.pollInterval), 5_000);
  const longest = Math.max(durationMs(plan.timeout), durationMs(plan.cloneTimeout)) + 30 * 60_000;
  return proxyActivities<Acts>({
    startToCloseTimeout: longest as Duration,
    heartbeatTimeout: heartbeatMs as Duration,
    retry: RETRY,
  });
}
