/**
 * A fake DBLab Engine API (the parts the refresh uses): the tests' fake and the sandbox's DBLab
 * (`dbops sandbox`), faithful to shared/reference/dblab-refresh.md and to DBLab Engine's own source
 * (postgres-ai/database-lab-engine, engine/):
 * - Verification-Token auth (401 with the real body on a wrong token), /healthz without auth;
 * - GET /status: `pools` (models.PoolEntry: name, mode, dataStateAt, status active|refreshing|empty,
 *   cloneList, fileSystem), `cloning` (numClones, clones), `retrieving` (mode, status, lastRefresh,
 *   nextRefresh, alerts, activity). `alerts` is keyed by type (refresh_failed, refresh_skipped),
 *   each { level, message, lastSeen, count }; like Retrieval.State, an alert of a type already
 *   there gets count + 1 and a new lastSeen, and alerts are cleared only by a successful refresh
 *   (retrieval.go run/FullRefresh: cleanAlerts), not by a trigger;
 * - POST /full-refresh: 200 then an asynchronous refresh through refreshing → renewed →
 *   snapshotting → finished; 400 with Retrieval's own messages (retrieval.go): ErrRefreshInProgress
 *   while refreshing or snapshotting, ErrRefreshPending while pending, ErrNoAvailablePool when
 *   every pool holds clones (pool.Manager.GetPoolToUpdate: a pool with an empty clone list);
 * - GET /admin/config: the config projection (srv/config.go projectedAdminConfig, group "default":
 *   the password, in group "sensitive", is left out) as nested JSON plus `retrievalMode`;
 *   POST /admin/config merges the fields sent (an empty password is ignored: "Avoid storing empty
 *   password") and answers the new projection; 400 when config changes are disabled.
 * The refresh advances on each /status poll, so tests are deterministic. Quirks on demand: a stale
 * `finished` that never starts, `failed` with an alert, a failure at once, a skip after the
 * trigger, stuck in `renewed`, 5xx and hanging replies, a trigger whose reply is lost, a masked
 * password in GET /admin/config, a DBLab without GET /admin/config.
 */
import http from 'node:http';
import { LoopbackServer } from './loopback-server';

export type Phase = 'inactive' | 'pending' | 'failed' | 'refreshing' | 'renewed' | 'snapshotting' | 'finished';

/** Retrieval's refusals of a full refresh (engine/internal/retrieval/retrieval.go). */
export const ERR_REFRESH_IN_PROGRESS =
  'The data refresh/snapshot is currently in progress. Skip a new data refresh iteration';
export const ERR_REFRESH_PENDING = 'Data retrieving suspended because Retrieval state is pending';
export const ERR_NO_AVAILABLE_POOL = 'Pool to perform full refresh not found. Skip refreshing';

export interface FakePool {
  name: string;
  mode: string;
  dataStateAt: string;
  status: 'active' | 'refreshing' | 'empty';
  cloneList: string[];
  fileSystem: { mode: string; size: number; free: number; used: number };
}

/** The source part of DBLab's config (retrieval.spec.logicalDump.options.source). */
export interface FakeSource {
  connection: { host?: string; port?: number; dbname?: string; username?: string; password?: string };
  rdsIam?: { dbInstanceIdentifier?: string };
}

export interface DblabFakeOptions {
  token: string;
  /** Polls spent in each of refreshing, renewed, snapshotting. */
  pollsPerPhase?: number;
}

export class DblabFake extends LoopbackServer {
  readonly requests: Array<{ method: string; path: string; status: number }> = [];
  readonly configs: unknown[] = [];
  /** DBLab's current logical-dump source (what POST /admin/config changes), password included. */
  source: FakeSource = {
    connection: {
      host: 'dblab-source.example.internal',
      port: 5432,
      dbname: 'postgres',
      username: 'dblab_source_user',
      password: 'original-source-password',
    },
  };
  /** GET /admin/config: `omit` the password (DBLab's projection), `mask` it, or `none`: no such GET (404). */
  adminConfigGet: 'omit' | 'mask' | 'none' = 'omit';
  pools: FakePool[] = [
    {
      name: 'dblab_pool_1',
      mode: 'zfs',
      dataStateAt: '2020-01-01T00:00:00Z',
      status: 'active',
      cloneList: [],
      fileSystem: { mode: 'zfs', size: 100, free: 50, used: 50 },
    },
  ];
  /** The next trigger is accepted (200), then DBLab finds no pool free and skips (a refresh_skipped alert). */
  skipAfterTrigger = false;
  /** The next trigger is accepted, then the refresh fails before it starts: `failed` at the next poll. */
  failAtOnce?: string;
  status: Phase = 'finished';
  lastRefresh: string | null = '2020-01-01T00:00:00Z';
  alerts: Record<string, { level: string; message: string; lastSeen: string; count: number }> = {};
  configChangesEnabled = true;
  /** The trigger is accepted but nothing happens (status stays a stale finished). */
  ignoreTrigger = false;
  /** POST /full-refresh answers 400 (no pool free). */
  refuseTrigger = false;
  /**
   * What the next POST /full-refresh calls meet, one each: `error-before` answers 503 without
   * starting; `lose-reply` starts the refresh and resets the connection without a reply;
   * `refuse` answers 400 (no pool free).
   */
  triggerFaults: Array<'error-before' | 'lose-reply' | 'refuse'> = [];
  /**
   * The refresh ends in `failed` with this alert message; `{password}` in it is replaced by the
   * password last posted in the source connection (as pg_dump quoting its connection string would).
   */
  failWith?: string;
  /**
   * POST /admin/config is refused (400, with `message`) once `after` non-empty changes were
   * accepted; `echo`: the message quotes the password posted (as a server quoting a bad body would).
   */
  configRefusal?: { after: number; message: string; echo?: boolean };
  /** Bytes of padding added to each /status reply (a reply beyond what a client should read). */
  statusPadding = 0;
  /** How far the fake's clock is ahead of the host's (negative: behind): its alerts, lastRefresh and Date headers. */
  clockAheadMs = 0;
  private now(): Date {
    return new Date(Date.now() + this.clockAheadMs);
  }
  /** The refresh stays in `renewed` (no snapshot job configured). */
  stuckInRenewed = false;
  refreshesStarted = 0;
  /** Polls spent in each refresh phase; may be changed while a refresh runs. */
  pollsPerPhase: number;
  /** Replies to the first /status polls after a trigger: an HTTP status, or 0 for a hang of 3 s. */
  flakyStatusAfterTrigger: number[] = [];
  private flaky: number[] = [];
  private queue: Phase[] = [];
  private failures: number[] = [];
  private hangs: number[] = [];

  constructor(private readonly o: DblabFakeOptions) {
    super();
    this.pollsPerPhase = o.pollsPerPhase ?? 1;
  }

  failNext(count: number, status = 503): void {
    for (let i = 0; i < count; i++) this.failures.push(status);
  }
  /** The next `count` requests get no reply for `ms`. */
  hangNext(count: number, ms: number): void {
    for (let i = 0; i < count; i++) this.hangs.push(ms);
  }
  /** Every pool holds a clone (DBLab then refuses a full refresh). */
  holdClones(): void {
    this.pools = this.pools.map((p, i) => ({ ...p, cloneList: [`user-clone-${i + 1}`] }));
  }

  /** Retrieval.State.addAlert: a new alert, or count + 1 and a new lastSeen for one of that type. */
  addAlert(type: 'refresh_failed' | 'refresh_skipped', message: string): void {
    const prev = this.alerts[type];
    this.alerts[type] = {
      level: type === 'refresh_failed' ? 'error' : 'warning',
      message,
      lastSeen: this.now().toISOString(),
      count: (prev?.count ?? 0) + 1,
    };
  }

  /** The projection GET /admin/config answers: no password (or a masked one). */
  projection(): Record<string, unknown> {
    const { password, ...connection } = this.source.connection;
    const source: Record<string, unknown> = {
      connection: this.adminConfigGet === 'mask' && password ? { ...connection, password: '********' } : connection,
    };
    if (this.source.rdsIam) source.rdsIam = { ...this.source.rdsIam };
    return { retrieval: { spec: { logicalDump: { options: { source } } } }, retrievalMode: 'logical' };
  }

  /** DBLab busy with a refresh someone else started. */
  startOtherRefresh(): void {
    this.status = 'refreshing';
    this.queue = ['refreshing', 'renewed', 'snapshotting'];
  }

  /** Whatever refresh is under way ends now (finished), as if its polls had all been made. */
  finishNow(): void {
    this.queue = [];
    this.status = 'finished';
  }

  private advance(): void {
    if (this.queue.length === 0) return;
    this.queue.shift();
    if (this.queue.length > 0) {
      this.status = this.queue[0];
      return;
    }
    if (this.stuckInRenewed) {
      this.status = 'renewed';
      this.queue = ['renewed', 'renewed'];
      return;
    }
    if (this.failWith) {
      this.status = 'failed';
      this.addAlert(
        'refresh_failed',
        this.failWith.replace('{password}', String(this.source.connection.password ?? '')),
      );
      return;
    }
    this.status = 'finished';
    this.lastRefresh = this.now().toISOString();
    this.alerts = {}; // cleanAlerts after a successful refresh
  }

  protected async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    const send = (status: number, body?: unknown) => {
      this.requests.push({ method: req.method ?? '', path, status });
      if (res.destroyed) return;
      res.writeHead(status, { 'Content-Type': 'application/json', Date: this.now().toUTCString() });
      res.end(body === undefined ? '' : JSON.stringify(body));
    };
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const hang = this.hangs.shift();
    if (hang) await new Promise((r) => setTimeout(r, hang));
    if (res.destroyed) return;
    if (path === '/healthz' && req.method === 'GET')
      return send(200, { version: 'v4.0.0-fake', edition: 'community', instanceID: 'fake' });
    const failure = this.failures.shift();
    if (failure) return send(failure, { code: 'INTERNAL', message: 'temporarily unavailable' });
    if (req.headers['verification-token'] !== this.o.token)
      return send(401, { code: 'UNAUTHORIZED', message: 'Check your verification token.' });

    if (path === '/status' && req.method === 'GET') {
      const flaky = this.flaky.shift();
      if (flaky === 0) {
        await new Promise((r) => setTimeout(r, 3000));
        if (res.destroyed) return;
      } else if (flaky !== undefined) return send(flaky, { code: 'INTERNAL', message: 'flaky' });
      const pollsPerPhase = this.pollsPerPhase;
      const reply = {
        status: { code: 'OK', message: 'Instance is ready' },
        pools: this.pools,
        cloning: {
          numClones: this.pools.reduce((n, p) => n + p.cloneList.length, 0),
          clones: this.pools.flatMap((p) => p.cloneList.map((id) => ({ id, snapshot: { pool: p.name } }))),
        },
        retrieving: {
          mode: 'logical',
          status: this.status,
          lastRefresh: this.lastRefresh,
          nextRefresh: null,
          alerts: this.alerts,
          activity: null,
        },
        ...(this.statusPadding ? { padding: 'x'.repeat(this.statusPadding) } : {}),
      };
      send(200, reply);
      // each phase lasts `pollsPerPhase` polls
      if (this.queue.length) {
        this.pollsInPhase = (this.pollsInPhase ?? 0) + 1;
        if (this.pollsInPhase >= pollsPerPhase) {
          this.pollsInPhase = 0;
          this.advance();
        }
      }
      return;
    }
    if (path === '/admin/config' && req.method === 'GET') {
      if (this.adminConfigGet === 'none') return send(404, { code: 'NOT_FOUND', message: 'not found' });
      return send(200, this.projection());
    }
    if (path === '/admin/config' && req.method === 'POST') {
      if (!this.configChangesEnabled)
        return send(400, { code: 'BAD_REQUEST', message: 'configuration changes are disabled' });
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      const src = body?.retrieval?.spec?.logicalDump?.options?.source as FakeSource | undefined;
      const refusal = this.configRefusal;
      if (refusal && Object.keys(body).length && this.configs.length >= refusal.after) {
        const echo = refusal.echo ? ` (password "${src?.connection?.password ?? ''}")` : '';
        return send(400, { code: 'BAD_REQUEST', message: `${refusal.message}${echo}` });
      }
      if (Object.keys(body).length) this.configs.push(body);
      if (src?.connection) {
        const { password, ...rest } = src.connection;
        this.source.connection = { ...this.source.connection, ...rest };
        if (password) this.source.connection.password = password; // an empty password is not stored
      }
      if (src?.rdsIam) this.source.rdsIam = { ...this.source.rdsIam, ...src.rdsIam };
      return send(200, this.projection());
    }
    if (path === '/full-refresh' && req.method === 'POST') {
      const fault = this.triggerFaults.shift();
      if (fault === 'error-before') return send(503, { code: 'INTERNAL', message: 'temporarily unavailable' });
      // CanStartRefresh: refreshing and snapshotting only (renewed, between the two, is not refused)
      if (this.status === 'refreshing' || this.status === 'snapshotting')
        return send(400, { code: 'BAD_REQUEST', message: ERR_REFRESH_IN_PROGRESS });
      if (this.status === 'pending') return send(400, { code: 'BAD_REQUEST', message: ERR_REFRESH_PENDING });
      if (this.refuseTrigger || fault === 'refuse' || this.pools.every((p) => p.cloneList.length > 0))
        return send(400, { code: 'BAD_REQUEST', message: ERR_NO_AVAILABLE_POOL });
      this.refreshesStarted += 1;
      this.flaky = [...this.flakyStatusAfterTrigger];
      if (fault === 'lose-reply') {
        this.requests.push({ method: 'POST', path, status: 0 });
        req.socket.destroy();
      } else send(200, { status: 'OK', message: 'Full refresh started' });
      if (this.skipAfterTrigger) {
        // FullRefresh found no pool after all (a clone was made meanwhile): an alert, no refresh.
        this.skipAfterTrigger = false;
        this.addAlert('refresh_skipped', ERR_NO_AVAILABLE_POOL);
        return;
      }
      if (this.failAtOnce) {
        this.status = 'failed';
        this.addAlert('refresh_failed', this.failAtOnce);
        this.failAtOnce = undefined;
        return;
      }
      if (!this.ignoreTrigger) {
        this.queue = ['pending', 'refreshing', 'renewed', 'snapshotting'];
        this.status = 'pending';
      }
      return;
    }
    return send(404, { code: 'NOT_FOUND', message: 'not found' });
  }

  private pollsInPhase?: number;
}
