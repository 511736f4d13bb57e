/** The worker's AWS rate limit: token buckets, their keys, the fail-fast wait limit, adaptation (fake clock). */
import { ApplicationFailure } from '@temporalio/common';
import {
  apiFamily,
  AwsRateLimiter,
  DEFAULT_RATE_LIMITS,
  identityOf,
  TokenBucket,
  type Clock,
} from '../../src/activities/aws-rate-limit';
import { inAwsAttempt } from '../../src/activities/aws-attempt';
import { workerConfig } from '../../src/worker-config';

/** A clock that moves only when told; sleeps are recorded and return at once. */
function fakeClock(): Clock & { t: number; slept: number[] } {
  const c = {
    t: 1_000_000,
    slept: [] as number[],
    now: () => c.t,
    sleep: async (ms: number) => void c.slept.push(ms),
  };
  return c;
}

const throttling = () => Object.assign(new Error('Rate exceeded'), { name: 'Throttling', $fault: 'client' });

describe('TokenBucket', () => {
  test('a full bucket lets `burst` calls go at once, then one per 1/perSecond', () => {
    const b = new TokenBucket({ perSecond: 5, burst: 3 }, 0);
    expect([b.take(0, 10_000), b.take(0, 10_000), b.take(0, 10_000)]).toEqual([0, 0, 0]);
    expect(b.take(0, 10_000)).toBeCloseTo(200);
    expect(b.take(0, 10_000)).toBeCloseTo(400); // booked behind the previous one
    expect(b.take(2_000, 10_000)).toBe(0); // refilled meanwhile
  });

  test('refuses (and books nothing) when the wait would exceed the maximum', () => {
    const b = new TokenBucket({ perSecond: 1, burst: 1 }, 0);
    expect(b.take(0, 1_500)).toBe(0);
    expect(b.take(0, 1_500)).toBeCloseTo(1_000);
    expect(b.take(0, 1_500)).toBeUndefined();
    expect(b.take(0, 1_500)).toBeUndefined();
    expect(b.take(2_000, 1_500)).toBe(0); // the refused calls took no token
  });

  test('never holds more than `burst` tokens after a quiet time', () => {
    const b = new TokenBucket({ perSecond: 10, burst: 2 }, 0);
    expect([b.take(60_000, 0), b.take(60_000, 0), b.take(60_000, 0)]).toEqual([0, 0, undefined]);
  });

  test('a throttling answer halves the rate once a second at most, down to 1/16; quiet time restores it', () => {
    const b = new TokenBucket({ perSecond: 8, burst: 8 }, 0);
    b.throttled(0);
    b.throttled(500); // the same burst of throttling answers: once
    expect(b.currentRate).toBe(4);
    for (let t = 1_000; t <= 10_000; t += 1_000) b.throttled(t);
    expect(b.currentRate).toBe(0.5);
    b.take(10_000 + 5_000, 0);
    expect(b.currentRate).toBeCloseTo(0.5 + 0.8); // a tenth of the configured rate per 5 s
    b.take(10_000 + 60_000, 0);
    expect(b.currentRate).toBe(8);
  });

  test('after a throttling answer the bucket stops bursting: the next call waits', () => {
    const b = new TokenBucket({ perSecond: 4, burst: 10 }, 0);
    b.throttled(0);
    expect(b.take(0, 10_000)).toBeCloseTo(500); // one token at the halved rate (2/s)
  });
});

describe('AwsRateLimiter', () => {
  test('families: EC2 by whether the call changes anything, the other services by name', () => {
    expect(apiFamily('ec2', 'DescribeVpcs')).toBe('ec2-describe');
    expect(apiFamily('ec2', 'CreateRoute')).toBe('ec2-mutating');
    expect(apiFamily('route53', 'AssociateVPCWithHostedZone')).toBe('route53');
    expect(apiFamily('rds', 'DescribeDBInstances')).toBe('rds');
    expect(apiFamily('sts', 'AssumeRole')).toBe('sts');
    expect(apiFamily('secretsmanager', 'CreateSecret')).toBe('secretsmanager');
    expect(identityOf('arn:aws:iam::123456789012:role/dbops')).toBe('account:123456789012');
    expect(identityOf(undefined)).toBe('worker');
  });

  test('buckets: Route 53 one per account for all regions and calls; EC2 one per API and region', () => {
    const l = new AwsRateLimiter({ clock: fakeClock() });
    const me = { identity: 'worker', region: 'us-east-1' };
    const r53 = l.bucket({ ...me, service: 'route53' }, 'GetHostedZone');
    expect(l.bucket({ ...me, region: 'eu-west-1', service: 'route53' }, 'AssociateVPCWithHostedZone')).toBe(r53);
    expect(l.bucket({ ...me, identity: 'account:1', service: 'route53' }, 'GetHostedZone')).not.toBe(r53);
    const ec2 = l.bucket({ ...me, service: 'ec2' }, 'CreateRoute');
    expect(l.bucket({ ...me, service: 'ec2' }, 'CreateRoute')).toBe(ec2);
    expect(l.bucket({ ...me, service: 'ec2' }, 'CreateVpcPeeringConnection')).not.toBe(ec2);
    expect(l.bucket({ ...me, region: 'eu-west-1', service: 'ec2' }, 'CreateRoute')).not.toBe(ec2);
    expect(ec2.limit).toEqual(DEFAULT_RATE_LIMITS['ec2-mutating']);
    const rds = l.bucket({ ...me, service: 'rds' }, 'DescribeDBInstances');
    expect(l.bucket({ ...me, service: 'rds' }, 'RestoreDBInstanceFromDBSnapshot')).toBe(rds);
  });

  test('a burst of 30 Route 53 calls at 5/s: 5 at once, the rest spaced, those past the wait limit refused', async () => {
    const clock = fakeClock();
    const l = new AwsRateLimiter({ clock, limits: { route53: { perSecond: 5, burst: 5 } }, maxWaitMs: 2_000 });
    const scope = { identity: 'worker', region: 'us-east-1', service: 'route53' };
    const outcomes = await Promise.all(
      Array.from({ length: 30 }, () =>
        l.run(scope, 'AssociateVPCWithHostedZone', async () => 'sent').catch((e: ApplicationFailure) => e),
      ),
    );
    const sent = outcomes.filter((o) => o === 'sent').length;
    const refused = outcomes.filter((o) => o instanceof ApplicationFailure);
    expect(sent).toBe(15); // 5 at once + 10 booked within the 2 s wait limit
    expect(refused).toHaveLength(15);
    expect(refused.every((e) => e.type === 'AwsClientRateLimit' && !e.nonRetryable)).toBe(true);
    expect(l.counts).toEqual({ waited: 10, refused: 15, throttled: 0 });
    expect(clock.slept.map(Math.round)).toEqual([200, 400, 600, 800, 1000, 1200, 1400, 1600, 1800, 2000]);
  });

  test('the calls of one activity attempt share the longest wait; the next attempt has its own', async () => {
    const clock = fakeClock();
    const l = new AwsRateLimiter({ clock, limits: { rds: { perSecond: 1, burst: 1 } }, maxWaitMs: 2_500 });
    const scope = { identity: 'worker', region: 'us-east-1', service: 'rds' };
    const call = () => l.run(scope, 'DescribeDBInstances', async () => 'sent');
    l.bucket(scope, 'DescribeDBInstances').take(clock.now(), 0); // the bucket is empty
    // Alone, each of these calls would wait less than 2.5 s; together the attempt would wait 3 s.
    const attempt = inAwsAttempt(async () => [await call(), await call()]);
    await expect(attempt).rejects.toMatchObject({ type: 'AwsClientRateLimit' });
    expect(clock.slept.map(Math.round)).toEqual([1_000]);
    clock.t += 10_000;
    await expect(inAwsAttempt(async () => [await call(), await call()])).resolves.toEqual(['sent', 'sent']);
  });

  test('a throttling answer from AWS slows that bucket down and is passed on to the caller', async () => {
    const clock = fakeClock();
    const l = new AwsRateLimiter({ clock, limits: { rds: { perSecond: 10, burst: 10 } } });
    const scope = { identity: 'worker', region: 'us-east-1', service: 'rds' };
    await expect(
      l.run(scope, 'DescribeDBInstances', async () => {
        throw throttling();
      }),
    ).rejects.toMatchObject({ name: 'Throttling' });
    expect(l.bucket(scope, 'DescribeDBInstances').currentRate).toBe(5);
    expect(l.bucket({ ...scope, region: 'eu-west-1' }, 'DescribeDBInstances').currentRate).toBe(10);
    // Route 53's "a change to this zone is in progress" is not about the rate.
    const r53 = { ...scope, service: 'route53' };
    await l
      .run(r53, 'ChangeResourceRecordSets', async () => {
        throw Object.assign(new Error('busy'), { name: 'PriorRequestNotComplete' });
      })
      .catch(() => undefined);
    expect(l.bucket(r53, 'ChangeResourceRecordSets').currentRate).toBe(DEFAULT_RATE_LIMITS.route53.perSecond);
  });
});

describe('worker configuration aws.rateLimits', () => {
  test('defaults, replaced per family', () => {
    const c = workerConfig({ aws: { rateLimits: { route53: { perSecond: 2, burst: 2 }, maxWaitSeconds: 5 } } }, 't');
    expect(c.awsRateLimits).toEqual({ ...DEFAULT_RATE_LIMITS, route53: { perSecond: 2, burst: 2 } });
    expect(c.awsRateLimitMaxWaitMs).toBe(5_000);
    const d = workerConfig({}, 't');
    expect([d.awsRateLimits, d.awsRateLimitMaxWaitMs]).toEqual([DEFAULT_RATE_LIMITS, 20_000]);
  });

  test('refuses unknown families and fields, and rates that are not positive', () => {
    expect(() => workerConfig({ aws: { rateLimits: { lambda: { perSecond: 1, burst: 1 } } } }, 't')).toThrow(
      /aws\.rateLimits: Unrecognized key/,
    );
    expect(() => workerConfig({ aws: { rateLimits: { rds: { perSecond: 1, burst: 1, x: 1 } } } }, 't')).toThrow(
      /aws\.rateLimits\.rds: Unrecognized key/,
    );
    expect(() => workerConfig({ aws: { rateLimits: { rds: { perSecond: 0, burst: 1 } } } }, 't')).toThrow(
      /aws\.rateLimits\.rds\.perSecond/,
    );
    expect(() => workerConfig({ aws: { rateLimits: { rds: { perSecond: 1, burst: 0.5 } } } }, 't')).toThrow(
      /aws\.rateLimits\.rds\.burst/,
    );
  });
});
