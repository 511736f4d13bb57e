/** The worker's AWS rate limit: token buckets, their keys, the fair queue and its deadlines, adaptation (fake clock). */
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import {
  apiFamily,
  AwsRateLimiter,
  DEFAULT_RATE_LIMITS,
  identityOf,
  TokenBucket,
  type Clock,
} from '../../src/activities/aws-rate-limit';
import { attemptDeadline, inAwsAttempt } from '../../src/activities/aws-attempt';
import { workerConfig } from '../../src/worker-config';

/**
 * A clock that moves only when told or slept on: a sleep is recorded and ends on the next turn
 * of the event loop, the clock moved on by its length (what was already due runs first).
 */
function fakeClock(): Clock & { t: number; slept: number[] } {
  const c = {
    t: 1_000_000,
    slept: [] as number[],
    now: () => c.t,
    sleep: (ms: number) =>
      new Promise<void>((r) => {
        c.slept.push(ms);
        setImmediate(() => {
          c.t += ms;
          r();
        });
      }),
  };
  return c;
}

/** A limiter of one Route 53 call a second (burst 1); `call(who)` records who was sent, in order. */
function oneRoute53CallASecond(maxWaitMs: number) {
  const clock = fakeClock();
  const l = new AwsRateLimiter({ clock, limits: { route53: { perSecond: 1, burst: 1 } }, maxWaitMs });
  const scope = { identity: 'worker', region: 'us-east-1', service: 'route53' };
  const sent: string[] = [];
  const call = (who: string) => l.run(scope, 'GetHostedZone', async () => void sent.push(who));
  return { clock, l, sent, call };
}

const throttling = () => Object.assign(new Error('Rate exceeded'), { name: 'Throttling', $fault: 'client' });

describe('TokenBucket', () => {
  test('a full bucket lets `burst` calls go at once, then one per 1/perSecond', () => {
    const b = new TokenBucket({ perSecond: 5, burst: 3 }, 0);
    expect([b.tryTake(0), b.tryTake(0), b.tryTake(0), b.tryTake(0)]).toEqual([true, true, true, false]);
    expect(b.timeFor(0, 1)).toBeCloseTo(200);
    expect(b.timeFor(0, 2)).toBeCloseTo(400); // the second token from now
    expect(b.tryTake(2_000)).toBe(true); // refilled meanwhile
  });

  test('never holds more than `burst` tokens after a quiet time', () => {
    const b = new TokenBucket({ perSecond: 10, burst: 2 }, 0);
    expect([b.tryTake(60_000), b.tryTake(60_000), b.tryTake(60_000)]).toEqual([true, true, false]);
  });

  test('a throttling answer halves the rate once a second at most, down to 1/16; quiet time restores it', () => {
    const b = new TokenBucket({ perSecond: 8, burst: 8 }, 0);
    b.throttled(0);
    b.throttled(500); // the same burst of throttling answers: once
    expect(b.currentRate).toBe(4);
    for (let t = 1_000; t <= 10_000; t += 1_000) b.throttled(t);
    expect(b.currentRate).toBe(0.5);
    b.tryTake(10_000 + 5_000);
    expect(b.currentRate).toBeCloseTo(0.5 + 0.8); // a tenth of the configured rate per 5 s
    b.tryTake(10_000 + 60_000);
    expect(b.currentRate).toBe(8);
  });

  test('after a throttling answer the bucket stops bursting: the next call waits', () => {
    const b = new TokenBucket({ perSecond: 4, burst: 10 }, 0);
    b.throttled(0);
    expect(b.tryTake(0)).toBe(false);
    expect(b.timeFor(0, 1)).toBeCloseTo(500); // one token at the halved rate (2/s)
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
    expect(l.counts).toEqual({ waited: 10, refused: 15, throttled: 0, longestWaitMs: 2_000 });
    expect(clock.slept.map(Math.round)).toEqual(Array(10).fill(200)); // one token handed out every 200 ms
  });

  test('the calls of one activity attempt share the longest wait; the next attempt has its own', async () => {
    const clock = fakeClock();
    const l = new AwsRateLimiter({ clock, limits: { rds: { perSecond: 1, burst: 1 } }, maxWaitMs: 1_500 });
    const scope = { identity: 'worker', region: 'us-east-1', service: 'rds' };
    const call = () => l.run(scope, 'DescribeDBInstances', async () => 'sent');
    l.bucket(scope, 'DescribeDBInstances').tryTake(clock.now()); // the bucket is empty
    // Alone, each of these calls would wait 1 s; together the attempt would wait 2 s.
    const attempt = inAwsAttempt(async () => [await call(), await call()]);
    await expect(attempt).rejects.toMatchObject({ type: 'AwsClientRateLimit' });
    expect(clock.slept.map(Math.round)).toEqual([1_000]);
    clock.t += 10_000;
    await expect(inAwsAttempt(async () => [await call(), await call()])).resolves.toEqual(['sent', 'sent']);
  });

  test('the oldest attempt goes first: its next call is not queued behind calls of newer attempts', async () => {
    const { clock, l, sent, call } = oneRoute53CallASecond(60_000);
    let older!: Promise<unknown>;
    const firstDone = new Promise<void>((resolve) => {
      older = inAwsAttempt(async () => {
        await call('old-1'); // the bucket's one token
        resolve();
        await new Promise((r) => setImmediate(r)); // meanwhile newer attempts queue up
        await call('old-2');
        await call('old-3');
      });
    });
    await firstDone;
    clock.t += 10; // the newer attempts start later
    const newer = ['a', 'b', 'c'].map((who) => inAwsAttempt(() => call(who)));
    await Promise.all([older, ...newer]);
    expect(sent).toEqual(['old-1', 'old-2', 'old-3', 'a', 'b', 'c']);
    expect(l.counts.refused).toBe(0);
  });

  test('a waiting call that older ones push past its deadline is refused then, not left to wait in vain', async () => {
    const { clock, l, sent, call } = oneRoute53CallASecond(3_500);
    let oldReady!: () => void;
    const go = new Promise<void>((r) => (oldReady = r));
    const older = inAwsAttempt(async () => {
      await call('old-1'); // the bucket's one token
      await go;
      await call('old-2');
      await call('old-3');
    });
    await new Promise((r) => setImmediate(r));
    clock.t += 10;
    // Two newer calls queue: their turns in 1 s and 2 s, within their 3.5 s.
    const newer = ['a', 'b'].map((who) => inAwsAttempt(() => call(who)).catch((e: ApplicationFailure) => e.type));
    // The older attempt's next two calls go ahead of both: b's turn would then come in 4 s.
    oldReady();
    const outcomes = await Promise.all([older.then(() => 'ok'), ...newer]);
    expect(outcomes).toEqual(['ok', undefined, 'AwsClientRateLimit']);
    expect(sent).toEqual(['old-1', 'old-2', 'old-3', 'a']);
    expect(l.counts).toMatchObject({ waited: 4, refused: 1 });
  });

  test('a cancelled activity leaves the queue at once; its call is never sent', async () => {
    const l = new AwsRateLimiter({ limits: { route53: { perSecond: 0.01, burst: 1 } } }); // a token per 100 s
    const scope = { identity: 'worker', region: 'us-east-1', service: 'route53' };
    let sent = 0;
    const call = () => l.run(scope, 'GetHostedZone', async () => void (sent += 1));
    await call(); // the one token
    const env = new MockActivityEnvironment({
      scheduledTimestampMs: Date.now(),
      scheduleToCloseTimeoutMs: 0,
      startToCloseTimeoutMs: 600_000,
      heartbeatTimeoutMs: 60_000,
    });
    const waiting = env.run(() => inAwsAttempt(call));
    await new Promise((r) => setImmediate(r));
    env.cancel();
    await expect(waiting).rejects.toBeInstanceOf(CancelledFailure);
    expect(sent).toBe(1);
    expect(l.counts).toMatchObject({ waited: 1, refused: 0 });
  });

  test('without a configured maximum an activity attempt waits as long as its timeouts leave it time to finish', () => {
    const now = 1_000_000;
    const quick = { startToCloseTimeoutMs: 120_000, scheduleToCloseTimeoutMs: 0, scheduledTimestampMs: now };
    expect(attemptDeadline(quick, now)).toBe(now + 96_000); // 2 min less a fifth for the calls
    const short = { ...quick, startToCloseTimeoutMs: 10_000 };
    expect(attemptDeadline(short, now)).toBe(now + 5_000); // at least 5 s kept
    // A wait polled by retry: its deadline (schedule-to-close) may come first.
    const polled = {
      startToCloseTimeoutMs: 120_000,
      scheduleToCloseTimeoutMs: 60_000,
      scheduledTimestampMs: now - 30_000,
    };
    expect(attemptDeadline(polled, now)).toBe(now + 30_000 - 24_000);
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
    expect([d.awsRateLimits, d.awsRateLimitMaxWaitMs]).toEqual([DEFAULT_RATE_LIMITS, undefined]);
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
