/**
 * The Aerospike Cloud database side, over its REST API: OAuth2 client credentials, cluster GET,
 * peerings POST/GET (paginated)/DELETE. Credentials are references resolved here, never in history;
 * every request has a timeout; 5xx, timeouts and network errors are retried, 4xx are not.
 */
import crypto from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { PeeringPlan } from '../../domain/peering';
import type { BoundAerospike } from '../../authority';
import type { CustomerVpc, Timing } from '../ec2';
import { stripControl } from '../../domain/text';
import { httpService } from '../http';
import { pollOrCheck, type PollMode } from '../poll';
import type { DatabasePeering, DatabaseSide } from './types';

/** The fields of a listed peering dbops uses, each checked (apiPeering). */
interface ApiPeering {
  vpcId: string;
  status?: string;
  peeringId?: string;
  privateHostedZoneId?: string;
}

export interface AerospikeCloudOptions {
  /** The account as the operator configured it: its keys go only to its token URL. */
  account: BoundAerospike;
  fetch?: typeof fetch;
  requestTimeoutMs?: number;
  pageSize?: number;
}

const tokens = new Map<string, { token: string; expiresAt: number }>();

/** The most peerings a cluster's list is read to (a list that never ends is not the API's contract). */
const MAX_PEERINGS = 10_000;
/** What the API's ids and values look like; a reply field of another shape is refused, not used. */
const PCX = /^pcx-[0-9a-z]{1,32}$/;
const ZONE = /^[A-Z0-9]{1,32}$/;
const VPC = /^vpc-[0-9a-z]{1,32}$/;
const CIDR = /^[0-9.]{7,15}\/\d{1,2}$/;

/**
 * A reply field as dbops keeps it: a string of at most 100 characters, of `shape` when given, or
 * undefined when absent (null or missing). Anything else is a non-retryable CloudApiRejected: the
 * value would reach AWS calls, history and the progress table.
 */
function text(v: unknown, what: string, shape?: RegExp): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length > 100 || stripControl(v) !== v || (shape && !shape.test(v)))
    throw ApplicationFailure.nonRetryable(
      `Aerospike Cloud API reply has a ${what} that is not one (${typeof v === 'string' ? `${v.length} characters` : typeof v}): not used`,
      'CloudApiRejected',
    );
  return v;
}

/** One listed peering, its fields checked (text()). */
function apiPeering(v: unknown): ApiPeering {
  const p = (v && typeof v === 'object' ? v : {}) as Record<string, unknown>;
  return {
    vpcId: text(p.vpcId, 'peering vpcId', VPC) ?? '',
    status: text(p.status, 'peering status'),
    peeringId: text(p.peeringId, 'peering id', PCX),
    privateHostedZoneId: text(p.privateHostedZoneId, 'hosted zone id', ZONE),
  };
}

export function aerospikeCloudSide(plan: Pick<PeeringPlan, 'databaseId'>, o: AerospikeCloudOptions): DatabaseSide {
  const timeoutMs = o.requestTimeoutMs ?? 30_000;
  const pageSize = o.pageSize ?? 100;
  const base = o.account.apiUrl;
  const tokenUrl = o.account.tokenUrl;
  const cluster = `${base}/database/clusters/${encodeURIComponent(plan.databaseId)}`;
  let secrets: string[] = [];

  // No redirects (http.ts): a 307 would re-post the client secret, any redirect would carry the bearer token.
  const http = httpService({
    label: 'Aerospike Cloud API',
    unavailableType: 'CloudApiUnavailable',
    timeoutMs,
    fetch: o.fetch,
    secrets: () => secrets,
  });
  const { send, errorText } = http;

  async function token(force = false): Promise<string> {
    const [clientId, clientSecret] = await Promise.all([o.account.clientId(), o.account.clientSecret()]);
    secrets = [clientId, clientSecret];
    // Keyed by the secret's hash too: a changed secret must not reuse a token from the old one.
    const key = `${tokenUrl}|${clientId}|${crypto.createHash('sha256').update(clientSecret).digest('hex')}`;
    const cached = tokens.get(key);
    if (!force && cached && cached.expiresAt > Date.now() + 60_000) return cached.token;
    const res = await send(
      tokenUrl,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: clientId,
          client_secret: clientSecret,
        }).toString(),
      },
      'token request',
    );
    if (!res.ok) {
      throw ApplicationFailure.nonRetryable(
        `Aerospike Cloud rejected the API credentials (HTTP ${res.status}: ${await errorText(res)})`,
        'CloudAuthFailed',
      );
    }
    const j = await http.json<{ access_token?: string; expires_in?: number }>(res, 'token request');
    if (!j.access_token)
      throw ApplicationFailure.nonRetryable('Aerospike Cloud token reply has no access_token', 'CloudAuthFailed');
    secrets.push(j.access_token);
    tokens.set(key, { token: j.access_token, expiresAt: Date.now() + (j.expires_in ?? 300) * 1000 });
    return j.access_token;
  }

  /** An API call with a bearer token; a 401 refreshes the token once. */
  async function api(method: string, url: string, what: string, body?: unknown): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const t = await token(attempt > 0);
      const res = await send(
        url,
        {
          method,
          headers: {
            Authorization: `Bearer ${t}`,
            Accept: 'application/json',
            ...(body ? { 'Content-Type': 'application/json' } : {}),
          },
          body: body ? JSON.stringify(body) : undefined,
        },
        what,
      );
      if ((res.status === 401 || res.status === 403) && attempt === 0) {
        tokens.clear();
        continue;
      }
      if (res.status === 401 || res.status === 403) {
        throw ApplicationFailure.nonRetryable(
          `Aerospike Cloud API ${what}: not authorised (HTTP ${res.status}: ${await errorText(res)})`,
          'CloudAuthFailed',
        );
      }
      if (res.status === 404 && what.startsWith('get cluster')) {
        throw ApplicationFailure.nonRetryable(
          `database ${plan.databaseId} not found in Aerospike Cloud`,
          'DatabaseNotFound',
        );
      }
      if (res.status === 400 || res.status === 409 || res.status === 422) {
        throw ApplicationFailure.nonRetryable(
          `Aerospike Cloud API ${what} refused: HTTP ${res.status}: ${await errorText(res)}`,
          'CloudApiRejected',
        );
      }
      return res;
    }
  }

  async function getCluster(): Promise<{ infrastructure?: { cidrBlock?: string }; health?: { status?: string } }> {
    const res = await api('GET', cluster, 'get cluster');
    if (!res.ok)
      throw ApplicationFailure.nonRetryable(
        `Aerospike Cloud API get cluster: HTTP ${res.status}: ${await errorText(res)}`,
        'CloudApiRejected',
      );
    const j = await http.json<{ infrastructure?: { cidrBlock?: unknown }; health?: { status?: unknown } }>(
      res,
      'get cluster',
    );
    return {
      infrastructure: { cidrBlock: text(j.infrastructure?.cidrBlock, 'cluster cidrBlock', CIDR) },
      health: { status: text(j.health?.status, 'cluster status') },
    };
  }

  async function listPeerings(): Promise<ApiPeering[]> {
    const all: ApiPeering[] = [];
    for (;;) {
      const res = await api('GET', `${cluster}/vpc-peerings?limit=${pageSize}&offset=${all.length}`, 'list peerings');
      if (!res.ok)
        throw ApplicationFailure.nonRetryable(
          `Aerospike Cloud API list peerings: HTTP ${res.status}: ${await errorText(res)}`,
          'CloudApiRejected',
        );
      const j = await http.json<{ vpcPeerings?: unknown; count?: unknown }>(res, 'list peerings');
      const page = Array.isArray(j.vpcPeerings) ? j.vpcPeerings.map(apiPeering) : [];
      all.push(...page);
      // The server may cap the page below our limit: trust its count when it gives one.
      if (page.length === 0) return all;
      if (typeof j.count === 'number' ? all.length >= j.count : page.length < pageSize) return all;
      if (all.length > MAX_PEERINGS)
        throw ApplicationFailure.nonRetryable(
          `Aerospike Cloud API list peerings: more than ${MAX_PEERINGS} peerings listed, not read further`,
          'CloudApiRejected',
        );
    }
  }

  const toPeering = (p: ApiPeering): DatabasePeering => ({
    peeringId: p.peeringId ?? undefined,
    status: p.status ?? 'unknown',
    hostedZoneId: p.privateHostedZoneId ?? undefined,
  });

  const side: DatabaseSide = {
    async describe() {
      const c = await getCluster();
      const peerings = await listPeerings();
      const zone = peerings.map((p) => p.privateHostedZoneId).find(Boolean) ?? undefined;
      return { cidr: c.infrastructure?.cidrBlock ?? '', status: c.health?.status ?? 'unknown', hostedZoneId: zone };
    },
    async waitReady(timing: Timing & { initiateTimeout: string }, mode?: PollMode) {
      return pollOrCheck(
        mode,
        {
          what: `database ${plan.databaseId} to finish provisioning`,
          interval: timing.pollInterval,
          timeout: timing.initiateTimeout,
        },
        async () => {
          const c = await getCluster();
          const status = c.health?.status ?? 'unknown';
          if (status === 'provisioning' || !c.infrastructure?.cidrBlock) return { done: false, status };
          return { done: true, value: { cidr: c.infrastructure.cidrBlock, status } };
        },
      );
    },
    async findPeering(customer: CustomerVpc) {
      const p = (await listPeerings()).find(
        (x) => x.vpcId === customer.vpcId && !['deleted', 'deleting'].includes(x.status ?? ''),
      );
      return p ? toPeering(p) : undefined;
    },
    async requestPeering(customer: CustomerVpc, secure: boolean) {
      const res = await api('POST', `${cluster}/vpc-peerings`, 'create peering', {
        vpcId: customer.vpcId,
        cidrBlock: customer.cidr,
        accountId: customer.accountId,
        region: customer.region,
        isSecureConnection: secure,
      });
      if (!res.ok)
        throw ApplicationFailure.nonRetryable(
          `Aerospike Cloud API create peering: HTTP ${res.status}: ${await errorText(res)}`,
          'CloudApiRejected',
        );
    },
    async ensureReturnRoute() {
      return { changed: false, detail: 'return route managed by Aerospike Cloud' };
    },
    async removeReturnRoute() {
      return { changed: false, detail: 'return route managed by Aerospike Cloud' };
    },
    async readReturnRoutes() {
      return 'managed' as const;
    },
    async readReturnRoutesVia() {
      return 'managed' as const;
    },
    async deletePeering(_customer: CustomerVpc, peering: DatabasePeering) {
      if (!peering.peeringId) return;
      const res = await api(
        'DELETE',
        `${cluster}/vpc-peerings/${encodeURIComponent(peering.peeringId)}`,
        'delete peering',
      );
      if (!res.ok && res.status !== 404) {
        throw ApplicationFailure.nonRetryable(
          `Aerospike Cloud API delete peering: HTTP ${res.status}: ${await errorText(res)}`,
          'CloudApiRejected',
        );
      }
    },
    async authorizeZone() {
      return { crossAccount: true }; // Aerospike Cloud owns the zone and authorises the association itself
    },
  };
  return side;
}
