/**
 * The worker's admin connections to SQL servers: one bounded pool per server and login, shared by
 * every activity and run on this worker, so a run no longer opens (and authenticates) a connection
 * per stage. A pool belongs to the server as the operator bound it (src/authority.ts) together with
 * the resolved admin secret: the key holds a hash of that secret, never the secret, and never
 * anything a run's input could choose beyond what the binding allows. When the resolved secret
 * changes (rotation), the next call builds a new pool and the old one closes once its connections
 * are back. A failed login adds nothing to a pool, so it cannot spoil it.
 *
 * Besides the pools, every server has a gate for the short-lived connections that cannot be pooled
 * (a tenant's own login, work inside a tenant's database, MySQL with IAM tokens), bounded to the
 * same size: a worker holds at most 2 × max connections to one server, however many runs there are.
 */
import crypto from 'node:crypto';
import { asyncLocalStorage } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';

export interface SqlPoolSettings {
  /** Connections of one pool (DBOPS_SQL_POOL_MAX), and short-lived connections per server at once. */
  max: number;
  /** An idle pooled connection is closed after this long (DBOPS_SQL_POOL_IDLE, seconds). */
  idleSeconds: number;
}

export const DEFAULT_SQL_POOL: SqlPoolSettings = { max: 10, idleSeconds: 30 };

/** What a pool is made of, per engine (postgres-pool.ts, mysql-pool.ts). */
export interface EnginePool<C> {
  /** A connection: an idle one of the pool, or a new one. */
  acquire(): Promise<{ conn: C; reused: boolean }>;
  /** Back to the pool, or closed when `broken` (its session state is unknown after an error). */
  release(conn: C, broken: boolean): void;
  /** Whether an error means the connection itself is gone (killed, cut), not what was sent on it. */
  isBroken(err: unknown): boolean;
  /** Closes every connection (those in use once they are released). */
  end(): Promise<void>;
}

/**
 * At most `size` holders at once; the others wait in order. A waiter whose activity is cancelled
 * (timed out, the worker stopping) leaves the queue, so a dead attempt never takes a turn.
 */
export class Gate {
  private free: number;
  private readonly waiting: Array<() => void> = [];

  constructor(size: number) {
    this.free = size;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free -= 1;
    else await this.wait(asyncLocalStorage.getStore()?.cancellationSignal);
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free += 1;
    }
  }

  private wait(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const turn = () => {
        signal?.removeEventListener('abort', leave);
        resolve();
      };
      const leave = () => {
        const i = this.waiting.indexOf(turn);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(ApplicationFailure.retryable('cancelled while waiting for a SQL connection', 'SqlWaitCancelled'));
      };
      if (signal?.aborted) return leave();
      signal?.addEventListener('abort', leave, { once: true });
      this.waiting.push(turn);
    });
  }
}

interface Entry {
  fingerprint: string;
  pool: EnginePool<unknown>;
  gate: Gate;
  inUse: number;
  retired: boolean;
}

/** A hash of the resolved secrets a pool logs in with (the pool is rebuilt when it changes). */
export function secretFingerprint(values: Array<string | undefined>): string {
  const h = crypto.createHash('sha256');
  for (const v of values) h.update(`${v === undefined ? '-' : `+${v.length}:${v}`}\n`);
  return h.digest('hex');
}

export class SqlPools {
  private readonly pools = new Map<string, Entry>();
  private readonly gates = new Map<string, Gate>();
  private readonly retiring = new Set<Promise<void>>();
  private closed = false;

  constructor(readonly settings: SqlPoolSettings = DEFAULT_SQL_POOL) {}

  /**
   * Runs `fn` on a connection of the pool for `identity` (engine, server, login, database, TLS as
   * bound); `fingerprint` is secretFingerprint of the resolved secrets, `create` makes the pool the
   * first time (or again after the fingerprint changed). `open` runs first on the connection (the
   * session's locks, who it is): it must be safe to repeat, because a pooled connection the server
   * ended meanwhile is replaced by a new one and `open` runs again there. When `open` or `fn`
   * throws, the connection is closed rather than returned.
   */
  async use<C, P, T>(
    identity: string,
    fingerprint: string,
    create: () => EnginePool<C>,
    open: (conn: C) => Promise<P>,
    fn: (conn: C, opened: P) => Promise<T>,
  ): Promise<T> {
    if (this.closed)
      throw ApplicationFailure.retryable('this worker is stopping: its SQL connections are closed', 'WorkerStopping');
    let entry = this.pools.get(identity);
    if (entry && entry.fingerprint !== fingerprint) {
      this.retire(entry);
      entry = undefined;
    }
    if (!entry) {
      entry = {
        fingerprint,
        pool: create() as EnginePool<unknown>,
        gate: new Gate(this.settings.max),
        inUse: 0,
        retired: false,
      };
      this.pools.set(identity, entry);
    }
    const e = entry;
    const pool = e.pool as EnginePool<C>;
    e.inUse += 1;
    try {
      return await e.gate.run(async () => {
        let conn: C;
        let opened: P;
        for (let attempt = 0; ; attempt++) {
          const got = await pool.acquire();
          conn = got.conn;
          try {
            opened = await open(conn);
            break;
          } catch (err) {
            pool.release(conn, true);
            // Killed or cut while it sat in the pool: nothing was done on it, so again on another.
            if (!(got.reused && pool.isBroken(err) && attempt < this.settings.max)) throw err;
          }
        }
        let broken = true;
        try {
          const v = await fn(conn, opened);
          broken = false;
          return v;
        } finally {
          pool.release(conn, broken);
        }
      });
    } finally {
      e.inUse -= 1;
      if (e.retired && e.inUse === 0) this.endLater(e);
    }
  }

  /** Runs `fn` (which opens and closes its own connection) within the server's short-lived gate. */
  shortLived<T>(server: string, fn: () => Promise<T>): Promise<T> {
    let gate = this.gates.get(server);
    if (!gate) {
      gate = new Gate(this.settings.max);
      this.gates.set(server, gate);
    }
    return gate.run(fn);
  }

  /** How many pools are open (for tests). */
  get size(): number {
    return this.pools.size;
  }

  /** Closes every pool; later calls are refused. The worker calls it once it has stopped. */
  async close(): Promise<void> {
    this.closed = true;
    for (const e of this.pools.values()) this.retire(e);
    await Promise.all([...this.retiring]);
  }

  private retire(e: Entry): void {
    if (e.retired) return;
    e.retired = true;
    for (const [k, v] of this.pools) if (v === e) this.pools.delete(k);
    if (e.inUse === 0) this.endLater(e);
  }

  private endLater(e: Entry): void {
    const p = e.pool
      .end()
      .catch(() => undefined)
      .finally(() => this.retiring.delete(p));
    this.retiring.add(p);
  }
}
