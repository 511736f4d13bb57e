/**
 * The worker's AWS rate limit against AWS-style throttling: real AWS SDK clients go through the
 * fault proxy in front of moto, the proxy answering with each service's own throttling error above
 * a rate (its rate cap). A burst without the limit is throttled; the same burst with it is not:
 * calls wait their turn, oldest activity first, and those whose turn would come too late for their
 * attempt fail at once with the retryable AwsClientRateLimit (the activity retry policy spreads them
 * out) without reaching AWS.
 */
import { CreateVpcCommand, DescribeVpcsCommand } from '@aws-sdk/client-ec2';
import { DescribeDBInstancesCommand } from '@aws-sdk/client-rds';
import { GetHostedZoneCommand, ListHostedZonesCommand } from '@aws-sdk/client-route-53';
import { ListSecretsCommand } from '@aws-sdk/client-secrets-manager';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { AwsClients } from '../../src/activities/aws-clients';
import { isThrottlingError, withAwsErrors } from '../../src/activities/aws-errors';
import { AwsRateLimiter } from '../../src/activities/aws-rate-limit';
import { createRoute53Activities } from '../../src/activities/route53';
import { AwsFaultProxy, perActionRateCap } from '../fixtures/aws-fault-proxy';
import { motoEndpoint } from '../helpers/activities';
import { fixtureAws, makeAwsDatabase, makeCustomerVpc } from '../helpers/aws-fixtures';
import { uniqueName } from '../helpers/temporal';

const fx = fixtureAws();
const testing = { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1' };
let proxy: AwsFaultProxy;
let zoneId: string;

beforeAll(async () => {
  proxy = new AwsFaultProxy(motoEndpoint(), []);
  await proxy.start();
  const db = await makeAwsDatabase(fx, { databaseId: uniqueName('rl'), region: 'us-east-1', cidr: '10.250.0.0/19' });
  zoneId = db.zoneId!;
});
afterAll(async () => proxy.stop());

/** Clients through the proxy, one attempt per call (so a throttling answer reaches the caller). */
const clients = (rateLimiter?: AwsRateLimiter) =>
  new AwsClients({
    endpoint: proxy.url,
    defaultRegion: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    maxAttempts: 1,
    rateLimiter,
  });

const settle = <T>(ps: Array<Promise<T>>) =>
  Promise.all(
    ps.map((p) =>
      p.then(
        (v) => ({ ok: true as const, v }),
        (e: unknown) => ({ ok: false as const, e }),
      ),
    ),
  );

function capped(perSecond: number, burst = perSecond): number {
  proxy.rateCap = perActionRateCap(perSecond, burst);
  return proxy.faults.length;
}
const capThrottles = (since: number) => proxy.faults.slice(since).filter((f) => f.fault === 'rate-cap').length;

test('above the cap each service answers with its own throttling error, which the SDK and dbops read as such', async () => {
  capped(0.01, 1);
  const aws = clients();
  const burst = {
    ec2: () => aws.ec2().send(new DescribeVpcsCommand({})),
    route53: () => aws.route53().send(new ListHostedZonesCommand({})),
    rds: () => aws.rds().send(new DescribeDBInstancesCommand({})),
    secretsmanager: () => aws.secretsManager().send(new ListSecretsCommand({})),
    sts: () => aws.sts().send(new GetCallerIdentityCommand({})),
  };
  const names: Record<string, string[]> = {};
  for (const [service, call] of Object.entries(burst)) {
    const r = await settle([call(), call(), call()]);
    names[service] = r.flatMap((x) => (x.ok ? [] : [(x.e as Error).name]));
    expect(r.filter((x) => !x.ok).every((x) => isThrottlingError(x.e))).toBe(true);
  }
  expect(names).toEqual({
    ec2: ['RequestLimitExceeded', 'RequestLimitExceeded'],
    route53: ['Throttling', 'Throttling'],
    rds: ['Throttling', 'Throttling'],
    secretsmanager: ['ThrottlingException', 'ThrottlingException'],
    sts: ['Throttling', 'Throttling'],
  });
});

test('a burst of 40 EC2 and 40 Route 53 calls: throttled without the rate limit, not once with it', async () => {
  const burst = (aws: AwsClients) =>
    settle([
      ...Array.from({ length: 40 }, () => aws.ec2().send(new DescribeVpcsCommand({}))),
      ...Array.from({ length: 40 }, () => aws.route53().send(new GetHostedZoneCommand({ Id: zoneId }))),
    ]);

  let since = capped(10, 10);
  const without = await burst(clients());
  const failedWithout = without.filter((r) => !r.ok);
  expect(capThrottles(since)).toBeGreaterThan(0);
  expect(failedWithout.length).toBe(capThrottles(since));
  expect(failedWithout.every((r) => isThrottlingError(r.e))).toBe(true);

  since = capped(10, 10);
  // The worker's own clients: from the environment, under the limit (here below the cap).
  const limiter = new AwsRateLimiter({
    limits: { 'ec2-describe': { perSecond: 5, burst: 5 }, route53: { perSecond: 5, burst: 5 } },
    maxWaitMs: 60_000,
  });
  const withLimit = await burst(
    AwsClients.fromEnv({ ...testing, AWS_ENDPOINT_URL: proxy.url }, { rateLimiter: limiter }),
  );
  expect(capThrottles(since)).toBe(0);
  expect(withLimit.filter((r) => !r.ok)).toEqual([]);
  expect(limiter.counts).toMatchObject({ waited: 70, refused: 0, throttled: 0 });
});

test('past the longest wait an activity fails at once with the retryable AwsClientRateLimit, AWS never asked', async () => {
  const customer = await makeCustomerVpc(fx);
  const since = capped(10, 10);
  const seenBefore = proxy.seen.get('GetHostedZone') ?? 0;
  const limiter = new AwsRateLimiter({ limits: { route53: { perSecond: 5, burst: 5 } }, maxWaitMs: 1_000 });
  const acts = withAwsErrors(createRoute53Activities({ aws: clients(limiter) }));
  const a = { hostedZoneId: zoneId, vpcId: customer.vpcId, region: 'us-east-1', crossAccount: false };
  const r = await settle(Array.from({ length: 30 }, () => acts.vpcAssociatedWithZone(a)));
  const failed = r.flatMap((x) => (x.ok ? [] : [x.e]));
  expect(r.filter((x) => x.ok).map((x) => x.v)).toEqual(Array(30 - failed.length).fill(false));
  expect(failed.length).toBeGreaterThan(0);
  for (const e of failed) {
    expect(e).toBeInstanceOf(ApplicationFailure);
    expect(e).toMatchObject({ type: 'AwsClientRateLimit', nonRetryable: false });
  }
  expect(capThrottles(since)).toBe(0);
  expect((proxy.seen.get('GetHostedZone') ?? 0) - seenBefore).toBe(30 - failed.length);
});

test('a burst of two-call activities under their own timeouts: the oldest go through, the others are refused before sending anything', async () => {
  // associateVpcWithZone reads the zone (GetHostedZone), then associates: two Route 53 calls.
  const vpcs: string[] = [];
  for (let i = 0; i < 20; i++) {
    vpcs.push((await fx.ec2().send(new CreateVpcCommand({ CidrBlock: `10.${100 + i}.0.0/16` }))).Vpc!.VpcId!);
  }
  const since = capped(10, 10);
  const seen = (action: string) => proxy.seen.get(action) ?? 0;
  const [reads, associations] = [seen('GetHostedZone'), seen('AssociateVPCWithHostedZone')];
  // No configured longest wait: each attempt waits as long as its start-to-close (12.5 s) leaves
  // it time to finish (7.5 s), far less than the 19 s that 40 calls take at 2/s.
  const limiter = new AwsRateLimiter({ limits: { route53: { perSecond: 2, burst: 2 } } });
  const acts = withAwsErrors(createRoute53Activities({ aws: clients(limiter) }));
  const heartbeats: unknown[] = [];
  const t0 = Date.now();
  const outcomes = await Promise.all(
    vpcs.map((vpcId, i) => {
      const env = new MockActivityEnvironment({
        activityType: 'associateVpcWithZone',
        scheduledTimestampMs: t0 + i, // the i-th run's activity was scheduled i-th
        startToCloseTimeoutMs: 12_500,
        scheduleToCloseTimeoutMs: 0,
        heartbeatTimeoutMs: 1_500, // a call that waits must heartbeat, or Temporal would time it out
        heartbeatDetails: { checkpoint: i },
      });
      env.on('heartbeat', (d) => heartbeats.push(d));
      return env
        .run(acts.associateVpcWithZone, { hostedZoneId: zoneId, vpcId, region: 'us-east-1', crossAccount: false })
        .then(
          (r) => ((r as { changed: boolean }).changed ? 'associated' : 'unchanged'),
          (e: ApplicationFailure) => e.type,
        );
    }),
  );
  const through = outcomes.filter((o) => o === 'associated').length;
  expect(through).toBeGreaterThan(0);
  expect(through).toBeLessThan(20);
  // Oldest first: the activities that went through are the first scheduled; the rest were refused.
  expect(outcomes).toEqual([...Array(through).fill('associated'), ...Array(20 - through).fill('AwsClientRateLimit')]);
  // Nothing wasted: a refused attempt sent no call at all (its retry will not repeat a read).
  expect(seen('GetHostedZone') - reads).toBe(through);
  expect(seen('AssociateVPCWithHostedZone') - associations).toBe(through);
  expect(capThrottles(since)).toBe(0);
  // The waiting calls heartbeated, with what their attempt last heartbeated (no progress lost).
  expect(heartbeats.length).toBeGreaterThan(0);
  expect(heartbeats.every((d) => typeof (d as { checkpoint?: number }).checkpoint === 'number')).toBe(true);
  expect(limiter.counts).toMatchObject({ refused: 20 - through, throttled: 0 });
});
