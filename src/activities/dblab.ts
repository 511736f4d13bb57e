/**
 * DBLab Engine's HTTP API: health, status, admin config and full refresh. Every call has a
 * per-request timeout; 5xx, timeouts and network errors are retryable, a wrong token (401) is not.
 * The token is a reference resolved here; it never leaves this module except in the header.
 */
import net from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { isRefreshCloneHost, RDS_ID, writesPassword, type RefreshPlan } from '../domain/dblab-config';
import { boundedString, durationMs } from '../domain/limits';
import { cleanText } from '../domain/text';
import { interpretWait, isBusy, refreshBlocker, startedSince, type StatusReply } from '../domain/dblab-status';
import type { Authority, BoundDblab } from '../authority';
import { derivePassword, retiredPassword } from './derived-passwords';
import { httpService } from './http';
import { attempt, pollOrCheck, previousDetails, type PollMode } from './poll';
import type { CloneEndpoint } from './types';

export interface DblabDeps {
  authority: Authority;
  fetch?: typeof fetch;
}

/** The DBLab instance a plan names, as the operator configured it (token bound to its endpoint). */
export function boundDblab(plan: Pick<RefreshPlan, 'config'>, deps: Pick<DblabDeps, 'authority'>): BoundDblab {
  const c = plan.config;
  return deps.authority.dblab({
    ...c.dblab,
    sourcePassword: c.source.password,
    source: { region: c.aws.region, identifier: c.source.identifier },
    publicClone: c.clone.publiclyAccessible ?? false,
  });
}

export interface DblabCheck {
  /**
   * The operator's name for this DBLab (the worker configuration's entry, authority.dblab): the
   * label of the refresh metrics, never a name from the input. Absent in runs from before it.
   */
  dblab?: string;
  version?: string;
  status: string;
  busy: boolean;
  lastRefresh?: string | null;
  /**
   * Why DBLab would refuse a full refresh now (a refresh under way, retrieval pending, every pool
   * holding clones), or absent when it can take one (src/domain/dblab-status.ts refreshBlocker).
   */
  blocked?: string;
  /** The pools and their clone counts, for the stage detail. */
  pools?: string;
}

/**
 * The source DBLab's logical dump read from before configure-dblab changed it: the non-secret
 * fields of `GET /admin/config` (DBLab's config projection; its password is in the "sensitive"
 * group, which the GET never returns, and is never read or kept here). Recorded in history as the
 * read's result, so restore-dblab can put them back after the clone is gone.
 */
export interface SavedSource {
  /** false: DBLab answered no config (an older DBLab without GET /admin/config). */
  read: boolean;
  host?: string;
  port?: number;
  dbname?: string;
  username?: string;
  /** `source.rdsIam.dbInstanceIdentifier`, when the source used RDS IAM. */
  rdsIamInstance?: string;
  /**
   * With read false: why what DBLab showed was not kept (it named another refresh's clone, or a
   * field was not a plain name), for the stage details. Absent: DBLab answered no config.
   */
  note?: string;
}

/** Depth beyond which a DBLab reply's nesting is dropped (its contract nests a few levels). */
const MAX_DEPTH = 10;

/** Every string of a parsed reply through `clean` (control characters out, secrets scrubbed, cut). */
function cleanReply(v: unknown, clean: (s: string) => string, depth = 0): unknown {
  if (typeof v === 'string') return clean(v);
  if (depth > MAX_DEPTH) return undefined;
  if (Array.isArray(v)) return v.map((x) => cleanReply(x, clean, depth + 1));
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, cleanReply(x, clean, depth + 1)]));
  return v;
}

export function createDblabClient(plan: Pick<RefreshPlan, 'config' | 'requestTimeoutMs'>, deps: DblabDeps) {
  const dblab = boundDblab(plan, deps);
  const base = dblab.endpoint;
  let token: string | undefined;
  /** The passwords this client posts (or DBLab may echo): scrubbed like the token. */
  const posted: string[] = [];
  const http = httpService({
    label: 'DBLab',
    unavailableType: 'DblabUnavailable',
    tooLargeType: 'DblabReplyTooLarge',
    timeoutMs: plan.requestTimeoutMs,
    fetch: deps.fetch,
    secrets: () => [token, ...posted],
  });
  const text = http.errorText;

  async function call(method: string, path: string, body?: unknown, auth = true): Promise<Response> {
    if (auth && token === undefined) token = await dblab.token();
    const res = await http.send(
      `${base}${path}`,
      {
        method,
        headers: {
          Accept: 'application/json',
          ...(auth ? { 'Verification-Token': token! } : {}),
          ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      },
      `${method} ${path}`,
    );
    if (res.status === 401 || res.status === 403) {
      throw ApplicationFailure.nonRetryable(
        `DBLab at ${base} rejected the verification token (HTTP ${res.status}): check dblab.token`,
        'DblabAuthFailed',
      );
    }
    return res;
  }

  /** How far DBLab's clock is ahead of ours (its last /status reply's Date header); 0 when close or unknown. */
  let clockOffsetMs = 0;

  const client = {
    /**
     * `at` (our clock) in DBLab's clock, to compare with the times its replies carry (an alert's
     * lastSeen, lastRefresh): with DBLab's clock minutes ahead, an alert from before the trigger
     * looked fresh and failed a good refresh; minutes behind, a fresh failure looked stale.
     */
    inDblabClock(at: Date): Date {
      return new Date(at.getTime() + clockOffsetMs);
    },
    /** A password this client posts, or DBLab may echo in a reply: kept out of every message. */
    keepSecret(secret: string | undefined): void {
      if (secret) posted.push(secret);
    },
    /** DBLab-derived text for a message or a record (no control characters, secrets scrubbed, at most 300 characters). */
    clean: http.clean,
    async health(): Promise<{ version?: string }> {
      const res = await call('GET', '/healthz', undefined, false);
      if (!res.ok) throw ApplicationFailure.retryable(`DBLab /healthz: HTTP ${res.status}`, 'DblabUnavailable');
      const v = (await http.json<{ version?: unknown }>(res, 'GET /healthz')).version;
      return typeof v === 'string' ? { version: http.clean(v) } : {};
    },
    /** GET /status, every string in it cleaned (alerts and pool names reach messages, details and results). */
    async status(): Promise<StatusReply> {
      const res = await call('GET', '/status');
      clockOffsetMs = clockOffset(res.headers.get('date'));
      if (!res.ok)
        throw ApplicationFailure.retryable(`DBLab /status: HTTP ${res.status}: ${await text(res)}`, 'DblabUnavailable');
      return cleanReply(await http.json<unknown>(res, 'GET /status'), http.clean) as StatusReply;
    },
    /** GET /admin/config: DBLab's config projection (secrets left out); undefined when DBLab has no such GET. */
    async readConfig(): Promise<Record<string, unknown> | undefined> {
      const res = await call('GET', '/admin/config');
      if (res.status === 404 || res.status === 405) return undefined;
      if (res.status >= 500)
        throw ApplicationFailure.retryable(`DBLab GET /admin/config: HTTP ${res.status}`, 'DblabUnavailable');
      if (!res.ok)
        throw ApplicationFailure.nonRetryable(
          `DBLab would not show its configuration (GET /admin/config: HTTP ${res.status}: ${await text(res)})`,
          'DblabConfigRefused',
        );
      const cfg = await http.json<unknown>(res, 'GET /admin/config');
      return cfg && typeof cfg === 'object' ? (cfg as Record<string, unknown>) : {};
    },
    /** POST /admin/config with only the fields being changed. */
    async configure(change: object): Promise<void> {
      const res = await call('POST', '/admin/config', change);
      if (res.status === 400) {
        throw ApplicationFailure.nonRetryable(
          `DBLab refused the configuration change: ${await text(res)} (are config changes enabled, and is DBLab in logical mode?)`,
          'DblabConfigRefused',
        );
      }
      if (!res.ok)
        throw ApplicationFailure.nonRetryable(
          `DBLab /admin/config: HTTP ${res.status}: ${await text(res)}`,
          'DblabConfigRefused',
        );
    },
    async fullRefresh(triggeredAt?: Date): Promise<{ alreadyRunning: boolean }> {
      const res = await call('POST', '/full-refresh');
      if (res.ok) return { alreadyRunning: false };
      if (res.status === 400) {
        const why = await text(res);
        // A retried attempt may find the refresh its first attempt started (that reply was lost):
        // then DBLab is busy, or already done since the trigger. Otherwise the 400 is a refusal.
        if (attempt() > 1) {
          const reply = await client.status();
          if (startedSince(reply, triggeredAt && client.inDblabClock(triggeredAt))) return { alreadyRunning: true };
        }
        throw ApplicationFailure.nonRetryable(`DBLab would not start a full refresh: ${why}`, 'DblabBusy');
      }
      throw ApplicationFailure.nonRetryable(
        `DBLab /full-refresh: HTTP ${res.status}: ${await text(res)}`,
        'DblabRefreshRefused',
      );
    },
  };
  return client;
}

/**
 * DBLab's clock minus ours from a reply's Date header, when they differ by more than
 * CLOCK_SKEW_MS (the header has whole seconds, and the reply took a moment); else 0.
 */
export function clockOffset(dateHeader: string | null, now = Date.now()): number {
  const theirs = dateHeader ? Date.parse(dateHeader) : NaN;
  if (Number.isNaN(theirs)) return 0;
  const offset = theirs - now;
  return Math.abs(offset) > CLOCK_SKEW_MS ? offset : 0;
}

/** Clock differences up to this are taken as none (the Date header's second, a reply's time in flight). */
export const CLOCK_SKEW_MS = 2_000;

/** The nested /admin/config body that points DBLab's logical dump at the clone. */
export function sourceConfig(
  plan: RefreshPlan,
  clone: CloneEndpoint,
  login: { username: string; password?: string },
): object {
  const c = plan.config;
  const source: Record<string, unknown> = {
    connection: {
      host: clone.host,
      port: clone.port,
      dbname: c.source.dbName,
      username: login.username,
      ...(login.password !== undefined ? { password: login.password } : {}),
    },
  };
  if (login.password === undefined) source.rdsIam = { dbInstanceIdentifier: clone.identifier };
  return {
    retrieval: {
      spec: {
        logicalDump: { options: { source, ...(c.dblab.parallelJobs ? { parallelJobs: c.dblab.parallelJobs } : {}) } },
        ...(c.dblab.restoreParallelJobs
          ? { logicalRestore: { options: { parallelJobs: c.dblab.restoreParallelJobs } } }
          : {}),
      },
    },
  };
}

export { writesPassword };

export { retiredPassword };

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** A DNS name (labels of letters, digits, hyphens, underscores) or an IP address, at most 253 characters. */
const HOST =
  /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;
/** The input schema's rule for source.dbName and source.username (src/domain/dblab-config.ts). */
const NAME = boundedString(63).min(1);

/**
 * The non-secret source fields of a GET /admin/config reply (nested, as the projection stores
 * them), each checked against the rules dbops's own input follows: a host name or address, names
 * of at most 63 characters without control characters, an RDS identifier. A field that breaks
 * them makes the whole reply not kept (`read: false` with a note): restore-dblab then writes no
 * source back, rather than one DBLab's reply made up.
 */
const at = (o: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>((x, k) => (x && typeof x === 'object' ? (x as Record<string, unknown>)[k] : undefined), o);
const configSource = (cfg: Record<string, unknown>): unknown =>
  at(cfg, 'retrieval', 'spec', 'logicalDump', 'options', 'source');

export function savedSource(cfg: Record<string, unknown>): SavedSource {
  const source = configSource(cfg);
  const conn = at(source, 'connection');
  const port = at(conn, 'port');
  const out: SavedSource = { read: true };
  const host = str(at(conn, 'host'));
  const dbname = str(at(conn, 'dbname'));
  const username = str(at(conn, 'username'));
  const rdsIamInstance = str(at(source, 'rdsIam', 'dbInstanceIdentifier'));
  const bad: string[] = [];
  if (host !== undefined && !HOST.test(host) && net.isIP(host) === 0) bad.push('host');
  if (dbname !== undefined && !NAME.safeParse(dbname).success) bad.push('dbname');
  if (username !== undefined && !NAME.safeParse(username).success) bad.push('username');
  if (rdsIamInstance !== undefined && !RDS_ID.test(rdsIamInstance)) bad.push('rdsIam.dbInstanceIdentifier');
  if (bad.length)
    return {
      read: false,
      note: `DBLab's source before the refresh had a ${bad.join(', ')} that is not a plain name: not kept`,
    };
  if (host && isRefreshCloneHost(host))
    return {
      read: false,
      note: `DBLab's source before the refresh was another refresh's clone (${host}), not its own source: not kept`,
    };
  if (host) out.host = host;
  if (typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65536) out.port = port;
  if (dbname) out.dbname = dbname;
  if (username) out.username = username;
  if (rdsIamInstance) out.rdsIamInstance = rdsIamInstance;
  return out;
}

/** The POST /admin/config body of restore-dblab. */
export function restoreConfig(plan: RefreshPlan, saved: SavedSource, retired: string): object {
  const connection: Record<string, unknown> = {};
  for (const k of ['host', 'port', 'dbname', 'username'] as const) if (saved[k] !== undefined) connection[k] = saved[k];
  if (writesPassword(plan)) connection.password = retired;
  const source: Record<string, unknown> = { connection };
  if (saved.rdsIamInstance) source.rdsIam = { dbInstanceIdentifier: saved.rdsIamInstance };
  return { retrieval: { spec: { logicalDump: { options: { source } } } } };
}

function restoreDetail(plan: RefreshPlan, saved: SavedSource): string {
  const where = saved.host
    ? `${saved.host}:${saved.port ?? '?'}/${saved.dbname ?? '?'} as ${saved.username ?? '?'}`
    : 'nothing (DBLab showed no source before the refresh)';
  const parts = [`source set back to ${where}`];
  if (!saved.read)
    parts[0] = `${saved.note ?? 'DBLab showed no configuration before the refresh'}: source left on the deleted clone`;
  if (writesPassword(plan)) parts.push('the password dbops wrote replaced (DBLab never returns the original)');
  if (!writesPassword(plan) && !saved.rdsIamInstance)
    parts.push('rdsIam still names the deleted clone (DBLab cannot remove it through its API)');
  return parts.join('; ');
}

export interface WaitResult {
  lastRefresh?: string;
  polls: number;
  transientErrors: number;
}

/**
 * The password configure-dblab posted when prepare-clone gave DBLab its own login on the clone:
 * derived from the token and the clone's name, the first label of the host DBLab's config points
 * at now (read without its sensitive group). Undefined when DBLab logs in with the source's
 * password (kept secret already) or by IAM, or points at no clone.
 */
async function postedClonePassword(
  plan: RefreshPlan,
  c: ReturnType<typeof createDblabClient>,
  deps: DblabDeps,
): Promise<string | undefined> {
  const prep = plan.config.clone.prepare;
  if (!prep || prep.auth === 'iam') return undefined;
  const cfg = await c.readConfig();
  const host = cfg ? str(at(configSource(cfg), 'connection', 'host')) : undefined;
  const id = host?.split('.')[0];
  if (!host || !id || !isRefreshCloneHost(host)) return undefined;
  return derivePassword(await boundDblab(plan, deps).token(), id, 'dblab-user');
}

export function createDblabActivities(
  deps: DblabDeps & {
    cloneLogin: (plan: RefreshPlan, clone: CloneEndpoint) => Promise<{ username: string; password?: string }>;
  },
) {
  return {
    /** Healthy, token valid, and whether a refresh is already running. */
    async dblabCheck(plan: RefreshPlan): Promise<DblabCheck> {
      const c = createDblabClient(plan, deps);
      const health = await c.health();
      const s = await c.status();
      const blocked = refreshBlocker(s);
      return {
        dblab: boundDblab(plan, deps).name,
        version: health.version,
        status: s.retrieving?.status ?? 'unknown',
        busy: isBusy(s),
        lastRefresh: s.retrieving?.lastRefresh,
        ...(blocked ? { blocked: cleanText(blocked) } : {}),
        ...(s.pools?.length
          ? {
              pools: cleanText(
                s.pools.map((p) => `${p.name ?? '?'} ${(p.cloneList ?? []).length} clone(s)`).join(', '),
              ),
            }
          : {}),
      };
    },

    /**
     * Before configure-dblab: the non-secret source settings DBLab has now (host, port, dbname,
     * username, rdsIam instance), for restore-dblab. Never a password: the GET leaves the sensitive
     * group out, and a masked value, if a DBLab ever sent one, is not read.
     */
    async dblabReadSource(plan: RefreshPlan): Promise<SavedSource> {
      const cfg = await createDblabClient(plan, deps).readConfig();
      if (!cfg) return { read: false };
      return savedSource(cfg);
    },

    /**
     * After the refresh, whatever happened: DBLab's logical dump pointed back at the source it had
     * before (what dblabReadSource saw), so it keeps no reference to the deleted clone, and the
     * password configure-dblab wrote (the clone's, or the source password) replaced, since DBLab
     * ignores an empty one and the original is never returned by its API. Idempotent: the same
     * body each time (DBLab reloads only when the config changes).
     */
    async dblabRestoreSource(plan: RefreshPlan, saved: SavedSource, cloneId: string): Promise<{ detail: string }> {
      const dblab = boundDblab(plan, deps);
      const retired = retiredPassword(await dblab.token(), cloneId);
      const c = createDblabClient(plan, deps);
      c.keepSecret(retired);
      await c.configure(restoreConfig(plan, saved, retired));
      return { detail: restoreDetail(plan, saved) };
    },

    /** Dry run: config changes allowed? (an empty change is accepted only when they are). */
    async dblabCheckConfigAccess(plan: RefreshPlan): Promise<void> {
      await createDblabClient(plan, deps).configure({});
    },

    async dblabConfigure(plan: RefreshPlan, clone: CloneEndpoint): Promise<{ detail: string }> {
      const login = await deps.cloneLogin(plan, clone);
      const c = createDblabClient(plan, deps);
      c.keepSecret(login.password);
      await c.configure(sourceConfig(plan, clone, login));
      return {
        detail: `source ${clone.host}:${clone.port}/${plan.config.source.dbName} as ${login.username}${login.password === undefined ? ' (IAM)' : ''}`,
      };
    },

    async dblabFullRefresh(plan: RefreshPlan, triggeredAtIso?: string): Promise<{ detail: string }> {
      const c = createDblabClient(plan, deps);
      c.keepSecret(await boundDblab(plan, deps).sourcePassword());
      const r = await c.fullRefresh(triggeredAtIso ? new Date(triggeredAtIso) : undefined);
      return { detail: r.alreadyRunning ? 'refresh already started by an earlier attempt' : 'full refresh started' };
    },

    /**
     * Polls /status until this refresh finished (or failed), with a short start deadline and the
     * overall timeout. Transient errors and slow replies count as a poll that saw nothing; they
     * never end the wait. `mode` { poll: 'once' }: one poll per attempt (src/activities/poll.ts);
     * what it saw so far (a start, the counts) rides to the next attempt in the heartbeat.
     */
    async dblabWaitRefresh(plan: RefreshPlan, triggeredAtIso: string, mode?: PollMode): Promise<WaitResult> {
      const c = createDblabClient(plan, deps);
      // DBLab's alerts quote pg_dump's errors: the password configure-dblab posted is scrubbed from
      // them, the source's or (prepare-clone) the clone login's, read before the first poll.
      c.keepSecret(await boundDblab(plan, deps).sourcePassword());
      let clonePasswordKept = false;
      const triggeredAt = new Date(triggeredAtIso);
      const startBy = triggeredAt.getTime() + durationMs(plan.startDeadline);
      const prev = previousDetails<{ sawStart: boolean; polls: number; transientErrors: number }>();
      let sawStart = prev.sawStart ?? false;
      // Polled by retry, each attempt is one poll: the attempt number counts them even if a heartbeat was lost.
      let polls = Math.max(prev.polls ?? 0, mode ? attempt() - 1 : 0);
      let transientErrors = prev.transientErrors ?? 0;
      let lastStatus = 'unknown';
      return pollOrCheck(
        mode,
        {
          what: `DBLab at ${plan.dblabHost} to finish the full refresh`,
          interval: plan.pollInterval,
          timeout: plan.timeout,
        },
        async () => {
          polls += 1;
          let reply: StatusReply;
          try {
            if (!clonePasswordKept) {
              c.keepSecret(await postedClonePassword(plan, c, deps));
              clonePasswordKept = true;
            }
            reply = await c.status();
          } catch (err) {
            if (err instanceof ApplicationFailure && err.nonRetryable) throw err;
            transientErrors += 1;
            lastStatus = `error: ${(err as Error).message}`;
            return { done: false, status: lastStatus };
          }
          // A fresh refresh_failed or refresh_skipped alert ends the wait at once (interpretWait).
          const v = interpretWait(reply, c.inDblabClock(triggeredAt), sawStart);
          lastStatus = reply.retrieving?.status ?? 'unknown';
          if (v.kind === 'done') return { done: true, value: { lastRefresh: v.lastRefresh, polls, transientErrors } };
          if (v.kind === 'failed')
            throw ApplicationFailure.nonRetryable(`DBLab refresh failed: ${v.message}`, 'DblabRefreshFailed');
          if (v.kind === 'skipped')
            throw ApplicationFailure.nonRetryable(`DBLab skipped the refresh: ${v.message}`, 'DblabRefreshSkipped', {
              reason: v.message,
            });
          if (v.kind === 'running') sawStart = true;
          if (!sawStart && Date.now() > startBy) {
            throw ApplicationFailure.nonRetryable(
              `DBLab did not start the refresh within ${plan.startDeadline} of the trigger (status still "${lastStatus}", lastRefresh ${reply.retrieving?.lastRefresh ?? 'never'})`,
              'DblabRefreshNotStarted',
            );
          }
          const hint =
            lastStatus === 'renewed'
              ? ' (renewed: waiting for the snapshot; if DBLab has no snapshot job configured it stays here)'
              : '';
          return { done: false, status: `${lastStatus}${hint}` };
        },
        { state: () => ({ sawStart, polls, transientErrors }) },
      );
    },
  };
}
