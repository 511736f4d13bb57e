/**
 * Environment → typed settings, shared by the worker and the client. Temporal connection settings
 * come from @temporalio/envconfig (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
 * TEMPORAL_TLS_*, TEMPORAL_PROFILE and the config file), exactly like the Temporal CLI reads them.
 */
import path from 'node:path';
import { loadClientConnectConfig, type ClientConnectConfig } from '@temporalio/envconfig';
import type { Duration } from '@temporalio/common';
import { DEFAULT_TASK_QUEUE } from './api';

export const PROJECT_ROOT = path.resolve(__dirname, '..');

/**
 * The DBOPS_* variables, checked by hand rather than with zod: the CLI reads them for every
 * command, and loading zod would cost `dbops status` a sixth of its time.
 */
class EnvReader {
  readonly problems: string[] = [];
  constructor(private readonly env: NodeJS.ProcessEnv) {}

  string(key: string, check?: { pattern: RegExp; message: string }): string | undefined {
    const v = this.env[key];
    if (v === undefined) return undefined;
    if (v === '') this.problems.push(`${key}: must not be empty`);
    else if (check && !check.pattern.test(v)) this.problems.push(`${key}: ${check.message}`);
    return v;
  }

  int(key: string, min: number, max: number): number | undefined {
    const v = this.env[key];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      this.problems.push(`${key}: expected a whole number from ${min} to ${max}`);
    }
    return n;
  }

  oneOf<T extends string>(key: string, values: readonly T[]): T | undefined {
    const v = this.env[key];
    if (v !== undefined && !(values as readonly string[]).includes(v)) {
      this.problems.push(`${key}: expected one of ${values.join(', ')}`);
    }
    return v as T | undefined;
  }
}

/**
 * Runs the worker keeps in its workflow cache (the SDK's default grows with the heap limit: about
 * 1,000-2,000). A cached run costs about 0.6 MiB of workflow-thread heap (bench/RESULTS.md,
 * "memory"); a run that is not cached is replayed from its history when it next has work, which
 * for a waiting run (its wait polls by retry, on the server) is when the wait ends. With 100, a
 * worker with 1,000 runs waiting stays near 410 MiB RSS (2 GiB with every run cached).
 */
export const DEFAULT_MAX_CACHED_WORKFLOWS = 100;

const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'] as const;

/** The worker's SQL admin pools (src/activities/sql/admin-pools.ts): size and idle time (seconds). */
export function sqlPoolSettings(env: NodeJS.ProcessEnv): { max: number; idleSeconds: number } {
  const r = new EnvReader(env);
  const pool = {
    max: r.int('DBOPS_SQL_POOL_MAX', 1, 1000) ?? 10,
    idleSeconds: r.int('DBOPS_SQL_POOL_IDLE', 1, 86_400) ?? 30,
  };
  if (r.problems.length) throw new ConfigError(`invalid environment: ${r.problems.join('; ')}`);
  return pool;
}

export interface Settings {
  taskQueue: string;
  dataDir: string;
  metricsAddress?: string;
  devServer: { port: number; uiPort: number; cli: string };
  shutdownGrace: Duration;
  logLevel: 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  /** text: one line per entry for people; json: one object per line for log pipelines. */
  logFormat: 'text' | 'json';
  /** Activities one worker runs at once; waits (refresh, peering) hold a slot while they poll. */
  maxConcurrentActivities: number;
  /** Runs kept in the worker's workflow cache (DEFAULT_MAX_CACHED_WORKFLOWS): lower trades memory for replays. */
  maxCachedWorkflows: number;
  /** Runs share one V8 context per workflow thread (the SDK's reuseV8Context; default true). */
  reuseV8Context: boolean;
  /** One admin pool per SQL server on this worker: connections at most, idle seconds before one closes. */
  sqlPool: { max: number; idleSeconds: number };
  /** Connection settings from envconfig; `address` undefined means "use the embedded dev server". */
  temporal: ClientConnectConfig & { explicitAddress: boolean };
}

export class ConfigError extends Error {}

export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const r = new EnvReader(env);
  const e = {
    DBOPS_TASK_QUEUE: r.string('DBOPS_TASK_QUEUE') ?? DEFAULT_TASK_QUEUE,
    DBOPS_DATA_DIR: r.string('DBOPS_DATA_DIR'),
    DBOPS_METRICS_ADDRESS: r.string('DBOPS_METRICS_ADDRESS', {
      pattern: /^[^\s:]+:\d{1,5}$/,
      message: 'expected host:port, e.g. 127.0.0.1:9464',
    }),
    DBOPS_DEV_SERVER_PORT: r.int('DBOPS_DEV_SERVER_PORT', 1, 65535) ?? 7233,
    DBOPS_DEV_SERVER_UI_PORT: r.int('DBOPS_DEV_SERVER_UI_PORT', 1, 65535) ?? 8233,
    DBOPS_TEMPORAL_CLI: r.string('DBOPS_TEMPORAL_CLI'),
    DBOPS_SHUTDOWN_GRACE:
      r.string('DBOPS_SHUTDOWN_GRACE', {
        pattern: /^\d+(ms|s|m|h)$/,
        message: 'expected a duration like 30s or 2m',
      }) ?? '30s',
    DBOPS_MAX_CONCURRENT_ACTIVITIES: r.int('DBOPS_MAX_CONCURRENT_ACTIVITIES', 1, 10_000) ?? 500,
    DBOPS_MAX_CACHED_WORKFLOWS: r.int('DBOPS_MAX_CACHED_WORKFLOWS', 0, 100_000) ?? DEFAULT_MAX_CACHED_WORKFLOWS,
    DBOPS_REUSE_V8_CONTEXT: r.oneOf('DBOPS_REUSE_V8_CONTEXT', ['true', 'false'] as const) ?? 'true',
    DBOPS_LOG_LEVEL: r.oneOf('DBOPS_LOG_LEVEL', LOG_LEVELS) ?? 'INFO',
    DBOPS_LOG_FORMAT: r.oneOf('DBOPS_LOG_FORMAT', ['text', 'json'] as const) ?? 'text',
  };
  let sqlPool: Settings['sqlPool'] = { max: 10, idleSeconds: 30 };
  try {
    sqlPool = sqlPoolSettings(env);
  } catch (err) {
    r.problems.push((err as Error).message.replace(/^invalid environment: /, ''));
  }
  if (r.problems.length) throw new ConfigError(`invalid environment: ${r.problems.join('; ')}`);
  const overrideEnvVars = Object.fromEntries(
    Object.entries(env).filter((kv): kv is [string, string] => kv[0].startsWith('TEMPORAL_') && kv[1] !== undefined),
  );
  const temporal = loadClientConnectConfig({ overrideEnvVars });
  return {
    taskQueue: e.DBOPS_TASK_QUEUE,
    dataDir: e.DBOPS_DATA_DIR ?? path.join(PROJECT_ROOT, '.dbops'),
    metricsAddress: e.DBOPS_METRICS_ADDRESS,
    devServer: {
      port: e.DBOPS_DEV_SERVER_PORT,
      uiPort: e.DBOPS_DEV_SERVER_UI_PORT,
      cli: e.DBOPS_TEMPORAL_CLI ?? path.join(PROJECT_ROOT, '.venv', 'bin', 'temporal'),
    },
    shutdownGrace: e.DBOPS_SHUTDOWN_GRACE as Duration,
    logLevel: e.DBOPS_LOG_LEVEL,
    logFormat: e.DBOPS_LOG_FORMAT,
    maxConcurrentActivities: e.DBOPS_MAX_CONCURRENT_ACTIVITIES,
    maxCachedWorkflows: e.DBOPS_MAX_CACHED_WORKFLOWS,
    reuseV8Context: e.DBOPS_REUSE_V8_CONTEXT === 'true',
    sqlPool,
    temporal: { ...temporal, explicitAddress: Boolean(temporal.connectionOptions.address) },
  };
}
