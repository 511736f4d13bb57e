/**
 * The worker's configuration: what runs may use and where (the operator's counterpart of
 * Crossplane's ProviderConfig). Anyone who may start a workflow in the namespace decides a run's
 * input; only this file decides where the worker's secrets may go and what a run may touch.
 *
 *   DBOPS_CONFIG=/etc/dbops/worker.yaml   (YAML or JSON)
 *
 * Every secret reference in it is bound to the one destination it is written under: a DBLab token
 * to that DBLab endpoint, a database admin password to that server, Aerospike Cloud keys to that
 * account's URLs. A run's input can name an entry, or repeat its destination (then any reference it
 * gives must be the entry's own); nothing in an input can send a secret anywhere else.
 *
 * With no configuration the worker runs with LOCAL_DEVELOPMENT_CONFIG (below): loopback database
 * servers with no password, credentials files under <data dir>/credentials, the worker's own AWS
 * identity, and no secret reference resolved at all.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { CONFIG_NAME, httpUrl, region, secretRefString } from './domain/limits';
import { API_FAMILIES, DEFAULT_RATE_LIMITS, type ApiFamily, type RateLimit } from './activities/aws-rate-limit';

const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
const secretRef = secretRefString();
const entryName = z.string().regex(CONFIG_NAME, 'entry names are a-z, 0-9 and -, starting with a letter');

const DblabEntry = z
  .object({
    /** The DBLab Engine API, e.g. https://dblab.example.com:2345 */
    endpoint: httpUrl(),
    /** The verification token, sent only to `endpoint`. */
    token: secretRef,
    /** A password DBLab may receive for its login to the source (refresh `source.password`). */
    sourcePassword: secretRef.optional(),
    /**
     * The RDS instances / Aurora clusters a refresh of this DBLab may clone, as
     * `<region>:<identifier>`; `*` matches any characters (e.g. `us-east-1:production-db`,
     * `eu-west-1:analytics-*`). A run naming another source is refused before anything is created.
     */
    sources: z
      .array(
        z
          .string()
          .max(128)
          .regex(/^[a-z0-9*-]+:[A-Za-z0-9*-]+$/, 'must be <region>:<identifier>, * as a wildcard'),
      )
      .min(1)
      .max(100),
    /** Let refreshes make their clone publicly accessible (clone.publiclyAccessible; default false). */
    allowPublicClone: z.boolean().optional(),
  })
  .strict();

const DatabaseServerEntry = z
  .object({
    engine: z.enum(['postgres', 'mysql']),
    host: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[A-Za-z0-9.\-:[\]_]+$/, 'must be a host name or IP address'),
    port: z.number().int().min(1).max(65535).optional(),
    adminUser: z.string().min(1).max(128),
    /** Sent only to this server, over the TLS settings below. Omit only for servers that trust the worker. */
    adminPassword: secretRef.optional(),
    adminDatabase: z.string().min(1).max(63).optional(),
    tls: z
      .object({
        mode: z.enum(['disable', 'require', 'verify-ca', 'verify-full']),
        ca: secretRef.optional(),
        cert: secretRef.optional(),
        key: secretRef.optional(),
      })
      .strict()
      .optional(),
    iam: z.object({ region: region() }).strict().optional(),
    /** Let runs take over an existing database or user that has no dbops mark (default false). */
    adopt: z.boolean().optional(),
  })
  .strict();

const RateLimitEntry = z
  .object({
    /** Sustained calls per second. */
    perSecond: z.number().positive().max(10_000),
    /** Calls that may go at once after a quiet time. */
    burst: z.number().int().min(1).max(10_000),
  })
  .strict();

/** The worker's own AWS rate limits (src/activities/aws-rate-limit.ts), per API family. */
const RateLimits = z
  .object({
    ...(Object.fromEntries(API_FAMILIES.map((f) => [f, RateLimitEntry.optional()])) as Record<
      ApiFamily,
      z.ZodOptional<typeof RateLimitEntry>
    >),
    /**
     * Longest the calls of one activity attempt wait for their turn, in all, before failing
     * (retryable AwsClientRateLimit); default: as long as the attempt's timeouts leave it time to finish.
     */
    maxWaitSeconds: z.number().positive().max(600).optional(),
  })
  .strict();

const AerospikeEntry = z
  .object({
    apiUrl: httpUrl(),
    tokenUrl: httpUrl(),
    /** Sent only to tokenUrl. */
    clientId: secretRef,
    clientSecret: secretRef,
  })
  .strict();

export const WorkerConfigSchema = z
  .object({
    dblab: z.record(entryName, DblabEntry).optional(),
    databaseServers: z.record(entryName, DatabaseServerEntry).optional(),
    aerospikeCloud: z.record(entryName, AerospikeEntry).optional(),
    aws: z
      .object({
        /** IAM roles runs may assume (peering `cloud.roleArn`, network `roleArn`). */
        assumeRoles: z.array(z.string().regex(ROLE_ARN, 'must be an IAM role ARN')).max(1000).optional(),
        /**
         * Let peering runs replace a route to the database CIDR that points elsewhere
         * (forceRouteCreation). Off by default: a run could otherwise redirect any VPC's traffic.
         */
        allowForceRouteCreation: z.boolean().optional(),
        /**
         * DNS suffixes of the private hosted zones createDatabaseNetwork may create (and peering
         * associates with the customer VPC); default db.internal. A zone named like a real domain
         * would shadow that name inside the VPC.
         */
        privateZoneSuffixes: z
          .array(
            z
              .string()
              .min(1)
              .max(253)
              .regex(/^([a-z0-9-]+\.)*[a-z0-9-]+$/, 'must be a DNS suffix like db.internal'),
          )
          .max(100)
          .optional(),
        /**
         * Client-side rate limits of the worker's AWS calls per (account, region, API family);
         * defaults about 90% of AWS's published rates (README, "AWS rate limits").
         */
        rateLimits: RateLimits.optional(),
      })
      .strict()
      .optional(),
    credentials: z
      .object({
        /** Directories where provisioning may write credentials files (absolute). */
        directories: z.array(z.string().max(4096).startsWith('/', 'must be an absolute path')).max(100).optional(),
        /** Secrets Manager name prefixes provisioning may create and delete secrets under. */
        secretsManagerPrefixes: z
          .array(
            z
              .string()
              .min(1)
              .max(256)
              .regex(/^[A-Za-z0-9/_+=.@-]+$/, 'may only contain A-Z a-z 0-9 / _ + = . @ -'),
          )
          .max(100)
          .optional(),
        /** Recovery window for Secrets Manager deletes (7-30 days). */
        recoveryWindowDays: z.number().int().min(7).max(30).optional(),
      })
      .strict()
      .optional(),
    refresh: z
      .object({
        /** PEM file of the CA that signs the RDS clones' certificates (default: the RDS CA bundle). */
        cloneCaFile: z.string().max(4096).startsWith('/', 'must be an absolute path').optional(),
      })
      .strict()
      .optional(),
    /**
     * Local development: allow database servers on loopback addresses (127.0.0.0/8, ::1,
     * localhost) that are not listed, as long as the run gives no secret for them.
     */
    allowLoopbackDatabases: z.boolean().optional(),
  })
  .strict();

export type WorkerConfigInput = z.input<typeof WorkerConfigSchema>;

export interface WorkerConfig {
  dblab: Record<string, z.infer<typeof DblabEntry>>;
  databaseServers: Record<string, z.infer<typeof DatabaseServerEntry>>;
  aerospikeCloud: Record<string, z.infer<typeof AerospikeEntry>>;
  assumeRoles: string[];
  allowForceRouteCreation: boolean;
  privateZoneSuffixes: string[];
  /** AWS client-side rate limits: the defaults with the configuration's families replaced. */
  awsRateLimits: Record<ApiFamily, RateLimit>;
  /** Cap on an attempt's wait for its turn; default none (the attempt's own timeouts bound it). */
  awsRateLimitMaxWaitMs?: number;
  credentials: { directories: string[]; secretsManagerPrefixes: string[]; recoveryWindowDays: number };
  cloneCaFile?: string;
  allowLoopbackDatabases: boolean;
  /** Where it came from, for start-up messages. */
  source: string;
}

export type DblabEntry = WorkerConfig['dblab'][string];
export type DatabaseServerEntry = WorkerConfig['databaseServers'][string];
export type AerospikeEntry = WorkerConfig['aerospikeCloud'][string];

export class WorkerConfigError extends Error {}

/** Validates a parsed configuration; every problem names its entry (e.g. `dblab.staging.token`). */
export function workerConfig(raw: unknown, source: string): WorkerConfig {
  const r = WorkerConfigSchema.safeParse(raw ?? {});
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`);
    throw new WorkerConfigError(`${source}: ${problems.join('; ')}`);
  }
  const c = r.data;
  const problems: string[] = [];
  for (const [name, s] of Object.entries(c.databaseServers ?? {})) {
    const mode = s.tls?.mode;
    if ((mode === 'verify-ca' || mode === 'verify-full') && !s.tls?.ca)
      problems.push(`databaseServers.${name}.tls.ca is required with mode ${mode}`);
    if (Boolean(s.tls?.cert) !== Boolean(s.tls?.key))
      problems.push(`databaseServers.${name}.tls: cert and key go together`);
    if (s.adminPassword && s.iam) problems.push(`databaseServers.${name}: adminPassword and iam are exclusive`);
  }
  const seen = new Map<string, string>();
  for (const [name, s] of Object.entries(c.databaseServers ?? {})) {
    const key = serverKey(s.engine, s.host, s.port ?? defaultPort(s.engine));
    const other = seen.get(key);
    if (other) problems.push(`databaseServers.${name}: the same server as databaseServers.${other}`);
    seen.set(key, name);
  }
  const endpoints = new Map<string, string>();
  for (const [name, d] of Object.entries(c.dblab ?? {})) {
    const key = normaliseUrl(d.endpoint);
    const other = endpoints.get(key);
    if (other) problems.push(`dblab.${name}: the same endpoint as dblab.${other}`);
    endpoints.set(key, name);
  }
  if (problems.length) throw new WorkerConfigError(`${source}: ${problems.join('; ')}`);
  return {
    dblab: c.dblab ?? {},
    databaseServers: c.databaseServers ?? {},
    aerospikeCloud: c.aerospikeCloud ?? {},
    assumeRoles: c.aws?.assumeRoles ?? [],
    allowForceRouteCreation: c.aws?.allowForceRouteCreation ?? false,
    privateZoneSuffixes: c.aws?.privateZoneSuffixes ?? ['db.internal'],
    awsRateLimits: { ...DEFAULT_RATE_LIMITS, ...withoutMaxWait(c.aws?.rateLimits) },
    awsRateLimitMaxWaitMs:
      c.aws?.rateLimits?.maxWaitSeconds === undefined ? undefined : c.aws.rateLimits.maxWaitSeconds * 1000,
    credentials: {
      directories: (c.credentials?.directories ?? []).map((d) => path.resolve(d)),
      secretsManagerPrefixes: c.credentials?.secretsManagerPrefixes ?? [],
      recoveryWindowDays: c.credentials?.recoveryWindowDays ?? 7,
    },
    cloneCaFile: c.refresh?.cloneCaFile,
    allowLoopbackDatabases: c.allowLoopbackDatabases ?? false,
    source,
  };
}

function withoutMaxWait(r: z.infer<typeof RateLimits> | undefined): Partial<Record<ApiFamily, RateLimit>> {
  const { maxWaitSeconds: _, ...families } = r ?? {};
  return Object.fromEntries(Object.entries(families).filter(([, v]) => v)) as Partial<Record<ApiFamily, RateLimit>>;
}

/**
 * The default with no configuration file: local development only. No secret reference is
 * resolved (none is bound), so no run can obtain a worker secret; SQL only on loopback servers
 * that need no password; credentials files only under <dataDir>/credentials; no role assumed.
 */
export function localDevelopmentConfig(dataDir: string): WorkerConfig {
  return workerConfig(
    { allowLoopbackDatabases: true, credentials: { directories: [path.join(dataDir, 'credentials')] } },
    'the built-in local-development default (no DBOPS_CONFIG)',
  );
}

/** DBOPS_CONFIG (a YAML or JSON file), or the local-development default. */
export function loadWorkerConfig(env: NodeJS.ProcessEnv, dataDir: string): WorkerConfig {
  const file = env.DBOPS_CONFIG;
  if (!file) return localDevelopmentConfig(dataDir);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new WorkerConfigError(
      `DBOPS_CONFIG ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  let raw: unknown;
  try {
    raw = parseYaml(text); // YAML is a superset of JSON
  } catch (err) {
    throw new WorkerConfigError(`DBOPS_CONFIG ${file}: not valid YAML/JSON (${(err as Error).message.split('\n')[0]})`);
  }
  return workerConfig(raw, `DBOPS_CONFIG ${file}`);
}

export function defaultPort(engine: 'postgres' | 'mysql'): number {
  return engine === 'postgres' ? 5432 : 3306;
}

export function serverKey(engine: string, host: string, port: number): string {
  const h = host.toLowerCase();
  // Brackets only as a pair around an IPv6 address ([::1] and ::1 are one host).
  const bare = /^\[[0-9a-f:.]+\]$/.test(h) ? h.slice(1, -1) : h;
  return `${engine}://${bare}:${port}`;
}

/** scheme://host:port/path without a trailing slash, for comparing endpoints. */
export function normaliseUrl(u: string): string {
  const url = new URL(u);
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return `${url.protocol}//${url.hostname.toLowerCase()}:${port}${url.pathname.replace(/\/+$/, '')}`;
}

/** A one-line summary of what the configuration allows, for the worker's start-up log. */
export function describeConfig(c: WorkerConfig): string {
  const n = (o: object) => Object.keys(o).length;
  return [
    `${n(c.dblab)} DBLab instance(s)`,
    `${n(c.databaseServers)} database server(s)${c.allowLoopbackDatabases ? ' + unlisted loopback servers without secrets' : ''}`,
    `${n(c.aerospikeCloud)} Aerospike Cloud account(s)`,
    `${c.assumeRoles.length} assumable role(s)`,
    `credentials in ${[...c.credentials.directories, ...c.credentials.secretsManagerPrefixes.map((p) => `aws-sm:${p}*`)].join(', ') || 'nowhere'}`,
  ].join('; ');
}

/** The PEM the configuration names for RDS clone certificates (refresh.cloneCaFile), read at start-up. */
export function readCloneCa(c: WorkerConfig): string | undefined {
  if (!c.cloneCaFile) return undefined;
  try {
    return fs.readFileSync(c.cloneCaFile, 'utf8');
  } catch (err) {
    throw new WorkerConfigError(
      `${c.source}: refresh.cloneCaFile ${c.cloneCaFile}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
}
