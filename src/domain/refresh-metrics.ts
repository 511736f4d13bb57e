/**
 * The numbers a team watches on its refreshes, from a run's own stage timestamps (the workflow
 * clock, so the same on replay): seconds per stage and the clone's lifetime. Pure; workflow code.
 */
import type { StageProgress } from '../api';

/** Metric names the refresh records (src/workflows/refresh-dblab.ts) and the worker buckets (src/worker.ts). */
export const REFRESH_METRICS = {
  stageSeconds: 'dbops_refresh_stage_seconds',
  cloneLifetimeSeconds: 'dbops_refresh_clone_lifetime_seconds',
  lastSuccess: 'dbops_refresh_last_success_timestamp_seconds',
  runs: 'dbops_refresh_runs_total',
} as const;

/** Histogram buckets (seconds): a stage lasts from a second to hours; a clone lives minutes to a day. */
export const STAGE_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 21600];
export const CLONE_LIFETIME_BUCKETS = [300, 900, 1800, 3600, 7200, 10800, 14400, 21600, 28800, 43200, 86400, 172800];

function seconds(from: string | undefined, to: string | undefined): number | undefined {
  const a = from ? Date.parse(from) : NaN;
  const b = to ? Date.parse(to) : NaN;
  return Number.isNaN(a) || Number.isNaN(b) || b < a ? undefined : (b - a) / 1000;
}

/** Seconds each stage that ran took (started and finished: done, failed or found done); not the ones never run. */
export function stageSeconds(stages: readonly StageProgress[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of stages) {
    const d = seconds(s.startedAt, s.finishedAt);
    if (d !== undefined && s.status !== 'pending' && s.status !== 'running') out[s.name] = d;
  }
  return out;
}

/**
 * How long the clone existed, as far as the run knows: from the start of create-clone to the end
 * of a delete-clone that succeeded. Undefined when no clone was made or it is not (yet) deleted.
 */
export function cloneLifetimeSeconds(stages: readonly StageProgress[]): number | undefined {
  const create = stages.find((s) => s.name === 'create-clone');
  const del = stages.find((s) => s.name === 'delete-clone');
  if (!create?.startedAt || del?.status !== 'done') return undefined;
  return seconds(create.startedAt, del.finishedAt);
}
