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
 * A call takes a token, waiting for one if need be, in a queue per bucket ordered by the age of
 * the activity (its first schedule time), so an attempt that has made calls already, or a retried
 * one, is not sent to the back by newer runs (src/activities/aws-attempt.ts). A call may wait as
 * long as its attempt's own timeouts leave time to finish (and `maxWaitMs` when configured); a
 * call whose turn would come later fails at once with the retryable `AwsClientRateLimit`, nothing
 * sent: the activity retry policy tries again later and the worker slot is free meanwhile. A
 * waiting call heartbeats for its activity. Adaptive: a throttling answer from AWS (the budget is
 * shared with other tools and consoles of the account) halves that bucket's rate, at most once a
 * second, down to 1/16 of the configured rate; each 5 s without one gives back a tenth of it.
 */
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { currentAttempt, type AttemptBudget } from './aws-attempt';
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

/** The longest wait of a call made outside an activity (no timeouts to go by). */
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
  /** Resolves after `ms`, or at once when `signal` aborts (its timer then cleared). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    }),
};

const HALVE_AT_MOST_EVERY_MS = 1_000;
const RECOVER_EVERY_MS = 5_000;
const RECOVER_STEP = 0.1; // of the configured rate
const FLOOR = 1 / 16; // of the configured rate

/** A token bucket: `burst` tokens, refilled at `perSecond` (lower for a while after throttling). */
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

  /** Takes a token if there is one. */
  tryTake(now: number): boolean {
    this.advance(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** How long (ms) until the `n`-th token from now, at the current rate (0 if there are n already). */
  timeFor(now: number, n: number): number {
    this.advance(now);
    return Math.max(0, ((n - this.tokens) / this.rate) * 1000);
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

interface Waiter {
  /** Queue order: the activity's first schedule time (older first), then arrival. */
  order: number;
  seq: number;
  deadline: number;
  granted(): void;
  refused(): void;
  left(): void;
}

/**
 * The calls waiting for a bucket's tokens, oldest activity first. A call is refused at once when
 * its turn would come after its deadline, and a waiting call as soon as that becomes true (an
 * older call went ahead of it, or throttling slowed the bucket): no call waits past its deadline.
 */
export class FairQueue {
  private readonly waiters: Waiter[] = [];
  private pumping = false;
  /** Ends the pump's sleep (the queue emptied before the next token). */
  private wake?: () => void;
  private seq = 0;

  constructor(
    readonly bucket: TokenBucket,
    private readonly clock: Clock,
  ) {}

  get length(): number {
    return this.waiters.length;
  }

  /**
   * A token now (true), a place in the queue (a promise of the token, and a way to leave it), or
   * refused (false: nothing taken, the call must not be sent).
   */
  enter(order: number, deadline: number): true | false | { turn: Promise<void>; leave(): void } {
    const now = this.clock.now();
    if (!this.waiters.length && this.bucket.tryTake(now)) return true;
    let i = this.waiters.length;
    while (i > 0 && this.waiters[i - 1].order > order) i--;
    if (now + this.bucket.timeFor(now, i + 1) > deadline) return false;
    let waiter!: Waiter;
    const turn = new Promise<void>((granted, reject) => {
      const [refused, left] = [() => reject(REFUSED), () => reject(LEFT)];
      waiter = { order, seq: this.seq++, deadline, granted: () => granted(), refused, left };
    });
    this.waiters.splice(i, 0, waiter);
    this.refuseLate(i + 1);
    void this.pump();
    return {
      turn,
      leave: () => {
        this.remove(waiter);
        waiter.left();
      },
    };
  }

  /** Refuses the waiters from index `from` on whose turn would now come after their deadline. */
  refuseLate(from = 0): void {
    const now = this.clock.now();
    for (let i = from; i < this.waiters.length;) {
      const w = this.waiters[i];
      if (now + this.bucket.timeFor(now, i + 1) > w.deadline) {
        this.waiters.splice(i, 1);
        w.refused();
      } else i++;
    }
    if (!this.waiters.length) this.wake?.();
  }

  private remove(w: Waiter): void {
    const i = this.waiters.indexOf(w);
    if (i >= 0) this.waiters.splice(i, 1);
    if (!this.waiters.length) this.wake?.();
  }

  /** Hands each token as it comes to the first waiter. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.waiters.length) {
        const now = this.clock.now();
        if (this.bucket.tryTake(now)) {
          this.waiters.shift()!.granted();
          continue;
        }
        const woken = new AbortController();
        this.wake = () => woken.abort();
        await this.clock.sleep(Math.max(1, this.bucket.timeFor(now, 1)), woken.signal);
      }
    } finally {
      this.pumping = false;
      this.wake = undefined;
    }
  }
}

const REFUSED = Symbol('refused');
const LEFT = Symbol('left the queue');

export interface RateLimiterOptions {
  /** Per family, replacing the default (DEFAULT_RATE_LIMITS) of the families given. */
  limits?: Partial<Record<ApiFamily, RateLimit>>;
  /**
   * Longest after its attempt began that a call may still wait for its turn, before
   * AwsClientRateLimit. Default: as long as the attempt's own timeouts leave time to finish
   * (src/activities/aws-attempt.ts); DEFAULT_MAX_WAIT_MS for a call outside an activity.
   */
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

/** A waiting call heartbeats this often (at most; a third of the heartbeat timeout if shorter). */
const HEARTBEAT_EVERY_MS = 10_000;

export class AwsRateLimiter {
  readonly limits: Readonly<Record<ApiFamily, RateLimit>>;
  readonly maxWaitMs?: number;
  private readonly clock: Clock;
  private readonly queues = new Map<string, FairQueue>();
  /** Calls that waited / were refused (AwsClientRateLimit), throttling answers seen, the longest wait. */
  readonly counts = { waited: 0, refused: 0, throttled: 0, longestWaitMs: 0 };

  constructor(o: RateLimiterOptions = {}) {
    this.limits = { ...DEFAULT_RATE_LIMITS, ...o.limits };
    this.maxWaitMs = o.maxWaitMs;
    this.clock = o.clock ?? realClock;
  }

  private queue(scope: CallScope, command: string): FairQueue {
    const family = apiFamily(scope.service, command);
    const region = scope.service === 'route53' ? 'global' : scope.region;
    const key = `${scope.identity}|${region}|${family}${PER_API.has(family) ? `|${command}` : ''}`;
    let q = this.queues.get(key);
    if (!q) {
      q = new FairQueue(new TokenBucket(this.limits[family], this.clock.now()), this.clock);
      this.queues.set(key, q);
    }
    return q;
  }

  /** The bucket of a call (created on first use). */
  bucket(scope: CallScope, command: string): TokenBucket {
    return this.queue(scope, command).bucket;
  }

  /** The latest a call of the attempt running now may get its token. */
  private deadline(budget: AttemptBudget | undefined, now: number): number {
    const start = budget ? (budget.startedAt ??= now) : now;
    const own = budget?.deadline ?? start + (this.maxWaitMs ?? DEFAULT_MAX_WAIT_MS);
    return this.maxWaitMs === undefined ? own : Math.min(own, start + this.maxWaitMs);
  }

  /** Waits for a token for this call, or throws the retryable AwsClientRateLimit. */
  async acquire(scope: CallScope, command: string): Promise<TokenBucket> {
    const q = this.queue(scope, command);
    const budget = currentAttempt();
    const now = this.clock.now();
    const deadline = this.deadline(budget, now);
    const place = q.enter(budget ? (budget.order ??= now) : now, deadline);
    if (place === true) return q.bucket;
    if (place === false) throw this.refusal(q, scope, command, budget, deadline);
    this.counts.waited += 1;
    const stop = whileWaiting(budget, place.leave);
    try {
      await place.turn;
    } catch (err) {
      if (err === REFUSED) throw this.refusal(q, scope, command, budget, deadline);
      if (err === LEFT && stop.cancelled) throw stop.cancelled;
      throw err;
    } finally {
      stop.done();
      const waited = this.clock.now() - now;
      if (budget) budget.waitedMs += waited;
      this.counts.longestWaitMs = Math.max(this.counts.longestWaitMs, waited);
    }
    return q.bucket;
  }

  private refusal(
    q: FairQueue,
    scope: CallScope,
    command: string,
    budget: AttemptBudget | undefined,
    deadline: number,
  ) {
    this.counts.refused += 1;
    const family = apiFamily(scope.service, command);
    const mayWait = Math.max(0, deadline - (budget?.startedAt ?? this.clock.now()));
    return ApplicationFailure.retryable(
      `${command}: the worker's own ${family} rate limit (${q.bucket.currentRate.toFixed(1)}/s, ${q.length} waiting) ` +
        `would give this call its turn later than this attempt may wait (${Math.round(mayWait / 1000)} s ` +
        `in all, to leave it time to finish); nothing was sent, retried later by the activity retry policy`,
      'AwsClientRateLimit',
    );
  }

  /** Runs one call (one attempt) under the limit; a throttling answer slows its bucket down. */
  async run<T>(scope: CallScope, command: string, call: () => Promise<T>): Promise<T> {
    const q = this.queue(scope, command);
    await this.acquire(scope, command);
    try {
      return await call();
    } catch (err) {
      if (isRateThrottle(err)) {
        this.counts.throttled += 1;
        q.bucket.throttled(this.clock.now());
        q.refuseLate();
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

/**
 * While a call of an activity waits for its turn: heartbeat (if the activity has a heartbeat
 * timeout) with what the attempt last heartbeated, and leave the queue if the activity is cancelled.
 */
function whileWaiting(budget: AttemptBudget | undefined, leave: () => void) {
  const state: { cancelled?: unknown; done(): void } = { done: () => undefined };
  const ctx = budget?.context;
  if (!ctx) return state;
  const hb = ctx.info.heartbeatTimeoutMs;
  const timer = hb
    ? setInterval(() => ctx.heartbeat(budget.lastDetails), Math.min(HEARTBEAT_EVERY_MS, hb / 3))
    : undefined;
  timer?.unref();
  const onAbort = () => {
    state.cancelled = ctx.cancellationSignal.reason ?? new CancelledFailure('activity cancelled');
    leave();
  };
  if (ctx.cancellationSignal.aborted) queueMicrotask(onAbort);
  else ctx.cancellationSignal.addEventListener('abort', onAbort);
  state.done = () => {
    if (timer) clearInterval(timer);
    ctx.cancellationSignal.removeEventListener('abort', onAbort);
  };
  return state;
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
