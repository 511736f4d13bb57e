/**
 * A fake DBLab Engine API (the parts the refresh uses), faithful to DBLab's published contract
 * (shared/reference/dblab-refresh.md): the tests' fake and the sandbox's DBLab (`dbops sandbox`).
 * Verification-Token auth (401 with the real body on a wrong token), /healthz without auth,
 * /status with retrieving.{status,lastRefresh,alerts}, POST /admin/config (400 when config changes
 * are disabled), POST /full-refresh (200 then an asynchronous refresh through refreshing →
 * renewed → snapshotting → finished; 400 while busy). The refresh advances on each /status poll,
 * so tests are deterministic. Quirks on demand: a stale `finished` that never starts, `failed`
 * with an alert, stuck in `renewed`, 5xx and hanging replies, a trigger whose reply is lost.
 */
import http from 'node:http';
import { LoopbackServer } from './loopback-server';

export type Phase = 'inactive' | 'pending' | 'failed' | 'refreshing' | 'renewed' | 'snapshotting' | 'finished';

export interface DblabFakeOptions {
  token: string;
  /** Polls spent in each of refreshing, renewed, snapshotting. */
  pollsPerPhase?: number;
}

export class DblabFake extends LoopbackServer {
  readonly requests: Array<{ method: string; path: string; status: number }> = [];
  readonly configs: unknown[] = [];
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
  /** The refresh ends in `failed` with this alert message. */
  failWith?: string;
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
      this.alerts = {
        refresh_failed: { level: 'error', message: this.failWith, lastSeen: new Date().toISOString(), count: 1 },
      };
      return;
    }
    this.status = 'finished';
    this.lastRefresh = new Date().toISOString();
  }

  protected async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    const send = (status: number, body?: unknown) => {
      this.requests.push({ method: req.method ?? '', path, status });
      if (res.destroyed) return;
      res.writeHead(status, { 'Content-Type': 'application/json' });
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
        retrieving: {
          mode: 'logical',
          status: this.status,
          lastRefresh: this.lastRefresh,
          nextRefresh: null,
          alerts: this.alerts,
          activity: null,
        },
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
    if (path === '/admin/config' && req.method === 'POST') {
      if (!this.configChangesEnabled)
        return send(400, { code: 'BAD_REQUEST', message: 'configuration changes are disabled' });
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      if (Object.keys(body).length) this.configs.push(body);
      return send(200, body);
    }
    if (path === '/full-refresh' && req.method === 'POST') {
      const fault = this.triggerFaults.shift();
      if (fault === 'error-before') return send(503, { code: 'INTERNAL', message: 'temporarily unavailable' });
      if (this.refuseTrigger || fault === 'refuse')
        return send(400, { code: 'BAD_REQUEST', message: 'There are no available pools for the refresh' });
      if (['refreshing', 'renewed', 'snapshotting', 'pending'].includes(this.status)) {
        return send(400, { code: 'BAD_REQUEST', message: 'The refresh process is already running' });
      }
      this.refreshesStarted += 1;
      this.flaky = [...this.flakyStatusAfterTrigger];
      if (fault === 'lose-reply') {
        this.requests.push({ method: 'POST', path, status: 0 });
        req.socket.destroy();
      } else send(200, { status: 'OK', message: 'Full refresh started' });
      if (!this.ignoreTrigger) {
        this.alerts = {};
        this.queue = ['pending', 'refreshing', 'renewed', 'snapshotting'];
        this.status = 'pending';
      }
      return;
    }
    return send(404, { code: 'NOT_FOUND', message: 'not found' });
  }

  private pollsInPhase?: number;
}
