/**
 * Environment → typed settings, shared by the worker and the client. Temporal connection settings
 * come from @temporalio/envconfig (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
 * TEMPORAL_TLS_*, TEMPORAL_PROFILE and the config file), exactly like the Temporal CLI reads them.
 */
import path from 'node:path';
import { z } from 'zod';
import { loadClientConnectConfig, type ClientConnectConfig } from '@temporalio/envconfig';
import type { Duration } from '@temporalio/common';
import { DEFAULT_TASK_QUEUE } from './api';

export const PROJECT_ROOT = path.resolve(__dirname, '..');

const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:9464');

const EnvSchema = z.object({
  DBOPS_TASK_QUEUE: z.string().min(1).default(DEFAULT_TASK_QUEUE),
  DBOPS_DATA_DIR: z.string().min(1).optional(),
  DBOPS_METRICS_ADDRESS: hostPort.optional(),
  DBOPS_DEV_SERVER_PORT: z.coerce.number().int().min(1).max(65535).default(7233),
  DBOPS_DEV_SERVER_UI_PORT: z.coerce.number().int().min(1).max(65535).default(8233),
  DBOPS_TEMPORAL_CLI: z.string().min(1).optional(),
  DBOPS_SHUTDOWN_GRACE: z
    .string()
    .regex(/^\d+(ms|s|m|h)$/, 'expected a duration like 30s or 2m')
    .default('30s'),
  DBOPS_MAX_CONCURRENT_ACTIVITIES: z.coerce.number().int().min(1).max(10_000).default(500),
  DBOPS_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).max(100_000).optional(),
  DBOPS_LOG_LEVEL: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']).default('INFO'),
  DBOPS_LOG_FORMAT: z.enum(['text', 'json']).default('text'),
});

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
  /** Workflow sandboxes kept in memory (SDK default when unset): lower trades memory for replays. */
  maxCachedWorkflows?: number;
  /** Connection settings from envconfig; `address` undefined means "use the embedded dev server". */
  temporal: ClientConnectConfig & { explicitAddress: boolean };
}

export class ConfigError extends Error {}

export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid environment: ${problems}`);
  }
  const e = parsed.data;
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
    temporal: { ...temporal, explicitAddress: Boolean(temporal.connectionOptions.address) },
  };
}
