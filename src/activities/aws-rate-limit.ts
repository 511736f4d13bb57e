/**
 * A client-side rate limit for every AWS call the worker makes, so a burst of runs queues inside
 * the worker instead of being throttled by AWS (which then costs every caller its SDK retries and,
 * past those, an activity attempt).
 *
 * AWS throttles per account and region (Route 53: per account, it is global), with a token bucket
 * per API or per group of APIs. The worker keeps one token bucket per (identity, region, API family)
 * with defaults at about 90% of AWS's published rates (DEFAULT_RATE_LIMITS); EC2, which throttles
 * every API on its own, gets one bucket per API within its family. The identity is the account of
 * the role a client assumes, else the worker's own credentials.
 *
 * A call takes a token, waiting for one if need be. When the wait would exceed `maxWaitMs` (for all
 * the calls of one activity attempt together, src/activities/aws-attempt.ts) the call fails at once
 * with the retryable `AwsClientRateLimit`: the activity retry policy tries again later and the
 * worker slot is free meanwhile. Adaptive: a throttling answer from AWS (the budget is
 * shared with other tools and consoles of the account) halves that bucket's rate, at most once a
 * second, down to 1/16 of the configured rate; each 5 s without one gives back a tenth of it.
 */
import { ApplicationFailure } from '@temporalio/common';
import { currentAttempt } from './aws-attempt';
import { isThrottlingError } from './aws-errors';

export const API_FAMILIES = ['route53', 'ec2-describe', 'ec2-mutating', 'rds', 'sts', 'secretsmanager'] as const;
export type ApiFamily = (typeof API_FAMILIES)[number];

export interface RateLimit {
  /** Sustained calls per second (the bucket's refill rate). */
  perSecond: number;
  /** Calls that may go at once after a quiet time (the bucket's size). */
  burst: number;
}

/**
 * About 90% of what AWS publishes (2025/2026 documentation):
 * - Route 53: 5 requests/s per account (the long-standing limit; newer accounts get 10/s overall,
 *   AssociateVPCWithHostedZone still 5/s);
 * - EC2, per API: non-mutating (Describe*) bucket 100, refill 20/s; mutating bucket 200, refill 5/s;
 * - RDS: all APIs together, bucket 300, refill 12/s per account and region;
 * - Secrets Manager: 50/s for its control-plane APIs (reads allow far more);
 * - STS: AWS publishes no fixed rate; a conservative 50/s.
 */
export const DEFAULT_RATE_LIMITS: Readonly<Record<ApiFamily, RateLimit>> = {
  route53: { perSecond: 4.5, burst: 5 },
  'ec2-describe': { perSecond: 18, burst: 90 },
  'ec2-mutating': { perSecond: 4.5, burst: 180 },
  rds: { perSecond: 10.8, burst: 270 },
  sts: { perSecond: 45, burst: 90 },
  secretsmanager: { perSecond: 45, burst: 45 },
};

export const DEFAULT_MAX_WAIT_MS = 20_000;

/** Families whose limit AWS applies to each API on its own (one bucket per API). */
const PER_API: ReadonlySet<ApiFamily> = new Set(['ec2-describe', 'ec2-mutating']);

/** The family of a call: its service, and for EC2 whether it changes anything. */
export function apiFamily(service: string, command: string): ApiFamily {
  if (service === 'ec2') return /^(Describe|Get|List|Search)/.test(command) ? 'ec2-describe' : 'ec2-mutating';
  if (service === 'route53' || service === 'rds' || service === 'sts' || service === 'secretsmanager') return service;
  throw new Error(`no rate limit family for AWS service ${service}`);
}

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

const HALVE_AT_MOST_EVERY_MS = 1_000;
const RECOVER_EVERY_MS = 5_000;
const RECOVER_STEP = 0.1; // of the configured rate
const FLOOR = 1 / 16; // of the configured rate

/**
 * A token bucket whose calls book tokens ahead: a call that finds none takes the next one to come
 * (the balance goes negative) and is told how long to wait for it, so waiting calls go in order.
 */
export class TokenBucket {
  private tokens: number;
  private rate: number;
  private last: number;
  private lastThrottle = -Infinity;
  private lastRecovery = -Infinity;

  constructor(
    readonly limit: RateLimit,
    now: number,
  ) {
    this.tokens = limit.burst;
    this.rate = limit.perSecond;
    this.last = now;
  }

  /** The refill rate now (lower than configured after throttling). */
  get currentRate(): number {
    return this.rate;
  }

  private advance(now: number): void {
    if (now <= this.last) return;
    // Recovery first: each full interval since the last throttle (or the last step) gives some back.
    if (this.rate < this.limit.perSecond) {
      const from = Math.max(this.lastThrottle, this.lastRecovery);
      const steps = Math.floor((now - from) / RECOVER_EVERY_MS);
      if (steps > 0) {
        this.rate = Math.min(this.limit.perSecond, this.rate + steps * RECOVER_STEP * this.limit.perSecond);
        this.lastRecovery = from + steps * RECOVER_EVERY_MS;
      }
    }
    this.tokens = Math.min(this.limit.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
  }

  /** Takes a token: how long (ms) to wait for it, or undefined (nothing taken) if over `maxWaitMs`. */
  take(now: number, maxWaitMs: number): number | undefined {
    this.advance(now);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    const wait = ((1 - this.tokens) / this.rate) * 1000;
    if (wait > maxWaitMs) return undefined;
    this.tokens -= 1;
    return wait;
  }

  /** AWS throttled a call of this bucket: halve the rate (at most once a second) and stop bursting. */
  throttled(now: number): void {
    this.advance(now);
    if (now - this.lastThrottle < HALVE_AT_MOST_EVERY_MS) return;
    this.lastThrottle = now;
    this.rate = Math.max(this.limit.perSecond * FLOOR, this.rate / 2);
    this.tokens = Math.min(this.tokens, 0);
  }
}

export interface RateLimiterOptions {
  /** Per family, replacing the default (DEFAULT_RATE_LIMITS) of the families given. */
  limits?: Partial<Record<ApiFamily, RateLimit>>;
  /** Longest wait for a token (in all, for the calls of one activity attempt) before AwsClientRateLimit; default 20 s. */
  maxWaitMs?: number;
  clock?: Clock;
}

export interface CallScope {
  /** The account or credentials the call is made with (e.g. `account:123456789012`, `worker`). */
  identity: string;
  region: string;
  service: string;
}

/** What a rate-limit middleware needs of a call: its command name (set by the SDK). */
type Handler = (args: unknown) => Promise<unknown>;

export class AwsRateLimiter {
  readonly limits: Readonly<Record<ApiFamily, RateLimit>>;
  readonly maxWaitMs: number;
  private readonly clock: Clock;
  private readonly buckets = new Map<string, TokenBucket>();
  /** Calls that failed fast (AwsClientRateLimit) and throttling answers seen, for benchmarks and logs. */
  readonly counts = { waited: 0, refused: 0, throttled: 0 };

  constructor(o: RateLimiterOptions = {}) {
    this.limits = { ...DEFAULT_RATE_LIMITS, ...o.limits };
    this.maxWaitMs = o.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
    this.clock = o.clock ?? realClock;
  }

  /** The bucket of a call (created on first use). */
  bucket(scope: CallScope, command: string): TokenBucket {
    const family = apiFamily(scope.service, command);
    const region = scope.service === 'route53' ? 'global' : scope.region;
    const key = `${scope.identity}|${region}|${family}${PER_API.has(family) ? `|${command}` : ''}`;
    let b = this.buckets.get(key);
    if (!b) {
      b = new TokenBucket(this.limits[family], this.clock.now());
      this.buckets.set(key, b);
    }
    return b;
  }

  /** Waits for a token for this call, or throws the retryable AwsClientRateLimit. */
  async acquire(scope: CallScope, command: string): Promise<TokenBucket> {
    const b = this.bucket(scope, command);
    const budget = currentAttempt();
    const wait = b.take(this.clock.now(), this.maxWaitMs - (budget?.waitedMs ?? 0));
    if (wait === undefined) {
      this.counts.refused += 1;
      const family = apiFamily(scope.service, command);
      throw ApplicationFailure.retryable(
        `${command}: the worker's own ${family} rate limit (${b.currentRate.toFixed(1)}/s) is booked further ahead ` +
          `than this attempt may still wait (${this.maxWaitMs / 1000} s in all); retried later by the activity retry policy`,
        'AwsClientRateLimit',
      );
    }
    if (wait > 0) {
      this.counts.waited += 1;
      if (budget) budget.waitedMs += wait;
      await this.clock.sleep(wait);
    }
    return b;
  }

  /** Runs one call (one attempt) under the limit; a throttling answer slows its bucket down. */
  async run<T>(scope: CallScope, command: string, call: () => Promise<T>): Promise<T> {
    const b = await this.acquire(scope, command);
    try {
      return await call();
    } catch (err) {
      if (isRateThrottle(err)) {
        this.counts.throttled += 1;
        b.throttled(this.clock.now());
      }
      throw err;
    }
  }

  /**
   * The AWS SDK middleware: added to the `finalizeRequest` step at low priority it runs inside the
   * SDK's retry loop, so every attempt (an SDK retry too) takes a token.
   */
  middleware(scope: CallScope) {
    return (next: Handler, context: { commandName?: string }) => (args: unknown) =>
      this.run(scope, (context.commandName ?? '').replace(/Command$/, ''), () => next(args));
  }
}

/** A throttling answer about the rate (not Route 53's per-zone PriorRequestNotComplete). */
function isRateThrottle(err: unknown): boolean {
  return isThrottlingError(err) && (err as { name?: string }).name !== 'PriorRequestNotComplete';
}

/** The identity part of a bucket key: the account of the role assumed, else the worker's own. */
export function identityOf(roleArn: string | undefined): string {
  const account = roleArn?.split(':')[4];
  return account ? `account:${account}` : 'worker';
}
