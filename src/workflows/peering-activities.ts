/** Activity proxies for the peering workflows, with timeouts from the run's timing settings. */
import {
  ActivityCancellationType,
  proxyActivities,
  type ActivityInterfaceFor,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { createDatabaseNetworkActivities } from '../activities/database-network';
import type { createDatabaseSideActivities } from '../activities/database-side';
import type { createEc2Activities } from '../activities/ec2';
import type { createRoute53Activities } from '../activities/route53';
import type { PeeringPlan } from '../domain/peering';
import { pollingOptions, type Wait } from './polling';

type Acts = ReturnType<typeof createEc2Activities> &
  ReturnType<typeof createRoute53Activities> &
  ReturnType<typeof createDatabaseSideActivities> &
  ReturnType<typeof createDatabaseNetworkActivities>;

const RETRY = { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 8 } as const;

/** Quick calls (describe, create, delete): bounded retries for throttling and network trouble. */
export const quick = proxyActivities<Acts>({ startToCloseTimeout: '2m', retry: RETRY });

/** The undo of a cancelled run: retried until done (only a non-retryable error stops it), like delete-clone. */
export const undoing = proxyActivities<Acts>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m' },
});

/**
 * Calls that wait (initiate, accept, route): heartbeat, and a start-to-close beyond their own
 * deadline. `settle`: a cancellation waits until the activity has really stopped (it learns of the
 * cancellation at its next heartbeat), so an undo afterwards sees everything it did.
 */
export function waiting(timing: PeeringPlan['timing'], settle = false): ActivityInterfaceFor<Acts> {
  const opts: ActivityOptions = {
    startToCloseTimeout: '2h',
    heartbeatTimeout: timing.heartbeatTimeout as ActivityOptions['heartbeatTimeout'],
    retry: RETRY,
    ...(settle ? { cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED } : {}),
  };
  return proxyActivities<Acts>(opts);
}

/**
 * The waits of initiate, accept and route poll by activity retry (./polling.ts): one check per
 * attempt, no worker slot held between checks. Before: one activity polling in place, heartbeating.
 */
export const WAITS_BY_RETRY = 'peer-vpc-waits-by-retry';

/** A peering wait polled by retry; `settle` as for waiting(). */
export function polled(w: Wait, settle = false): ActivityInterfaceFor<Acts> {
  return proxyActivities<Acts>({
    ...pollingOptions(w),
    ...(settle ? { cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED } : {}),
  });
}

/**
 * prepare's reads, the same for peerVpc and unpeerVpc: the customer VPC ("default" resolved) and
 * the database side (its CIDR and zone, and any peering it has with that VPC). Read-only.
 */
export async function lookUp(
  plan: Parameters<Acts['databaseDescribe']>[0] & { vpcId: string; region: string; databaseId: string },
) {
  const customer = await quick.resolveCustomerVpc.executeWithOptions(
    { summary: `find VPC ${plan.vpcId} in ${plan.region}` },
    [{ region: plan.region, vpcId: plan.vpcId }],
  );
  const side = await quick.databaseDescribe.executeWithOptions(
    { summary: `look up database ${plan.databaseId} (${plan.cloud.kind})` },
    [plan, customer],
  );
  return { customer, ...side };
}

/** peerVpc's prepare since 0.5.0: the same reads as lookUp in one activity (one round trip less). */
export async function lookUpPeering(
  plan: Parameters<Acts['lookUpPeering']>[0] & { vpcId: string; region: string; databaseId: string },
) {
  return quick.lookUpPeering.executeWithOptions(
    { summary: `find VPC ${plan.vpcId} in ${plan.region} and database ${plan.databaseId} (${plan.cloud.kind})` },
    [plan],
  );
}
