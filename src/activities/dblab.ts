/**
 * DBLab Engine's HTTP API: health, status, admin config and full refresh. Every call has a
 * per-request timeout; 5xx, timeouts and network errors are retryable, a wrong token (401) is not.
 * The token is a reference resolved here; it never leaves this module except in the header.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { RefreshPlan } from '../domain/dblab-config';
import { durationMs } from '../domain/limits';
import { interpretStatus, isBusy, startedSince, type StatusReply } from '../domain/dblab-status';
import type { Authority, BoundDblab } from '../authority';
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
  version?: string;
  status: string;
  busy: boolean;
  lastRefresh?: string | null;
}

export function createDblabClient(plan: Pick<RefreshPlan, 'config' | 'requestTimeoutMs'>, deps: DblabDeps) {
  const dblab = boundDblab(plan, deps);
  const base = dblab.endpoint;
  let token: string | undefined;
  const http = httpService({
    label: 'DBLab',
    unavailableType: 'DblabUnavailable',
    timeoutMs: plan.requestTimeoutMs,
    fetch: deps.fetch,
    secrets: () => [token],
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

  const client = {
    async health(): Promise<{ version?: string }> {
      const res = await call('GET', '/healthz', undefined, false);
      if (!res.ok) throw ApplicationFailure.retryable(`DBLab /healthz: HTTP ${res.status}`, 'DblabUnavailable');
      return (await res.json()) as { version?: string };
    },
    async status(): Promise<StatusReply> {
      const res = await call('GET', '/status');
      if (!res.ok)
        throw ApplicationFailure.retryable(`DBLab /status: HTTP ${res.status}: ${await text(res)}`, 'DblabUnavailable');
      return (await res.json()) as StatusReply;
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
        if (attempt() > 1 && startedSince(await client.status(), triggeredAt)) return { alreadyRunning: true };
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

export interface WaitResult {
  lastRefresh?: string;
  polls: number;
  transientErrors: number;
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
      return {
        version: health.version,
        status: s.retrieving?.status ?? 'unknown',
        busy: isBusy(s),
        lastRefresh: s.retrieving?.lastRefresh,
      };
    },

    /** Dry run: config changes allowed? (an empty change is accepted only when they are). */
    async dblabCheckConfigAccess(plan: RefreshPlan): Promise<void> {
      await createDblabClient(plan, deps).configure({});
    },

    async dblabConfigure(plan: RefreshPlan, clone: CloneEndpoint): Promise<{ detail: string }> {
      const login = await deps.cloneLogin(plan, clone);
      await createDblabClient(plan, deps).configure(sourceConfig(plan, clone, login));
      return {
        detail: `source ${clone.host}:${clone.port}/${plan.config.source.dbName} as ${login.username}${login.password === undefined ? ' (IAM)' : ''}`,
      };
    },

    async dblabFullRefresh(plan: RefreshPlan, triggeredAtIso?: string): Promise<{ detail: string }> {
      const r = await createDblabClient(plan, deps).fullRefresh(triggeredAtIso ? new Date(triggeredAtIso) : undefined);
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
            reply = await c.status();
          } catch (err) {
            if (err instanceof ApplicationFailure && err.nonRetryable) throw err;
            transientErrors += 1;
            lastStatus = `error: ${(err as Error).message}`;
            return { done: false, status: lastStatus };
          }
          const v = interpretStatus(reply, triggeredAt, sawStart);
          lastStatus = reply.retrieving?.status ?? 'unknown';
          if (v.kind === 'done') return { done: true, value: { lastRefresh: v.lastRefresh, polls, transientErrors } };
          if (v.kind === 'failed')
            throw ApplicationFailure.nonRetryable(`DBLab refresh failed: ${v.message}`, 'DblabRefreshFailed');
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
