/**
 * The refresh configuration: the reference tool's config (source, clone, dblab, aws; same field
 * names; durations as "30s"/"4h") with secrets as references, validated into a plan. Pure.
 */
import { z } from 'zod';
import { sha256Hex } from './hash';
import { parseSecretRef } from './secret-refs';

const DURATION = /^(\d+)(ms|s|m|h|d)$/;

export function durationMs(text: string): number {
  const m = DURATION.exec(text);
  if (!m) throw new Error(`bad duration ${text}`);
  const n = Number(m[1]);
  return n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
}

const duration = z.string().regex(DURATION, 'must be a duration like 30s, 10m, 4h or 2d');
const secretRef = z.string().superRefine((v, ctx) => {
  try {
    parseSecretRef(v, 'value');
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message.replace(/^value /, '') });
  }
});
const RDS_ID = /^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,62}(?<!-)$/;

export const RefreshConfigSchema = z.object({
  source: z.object({
    type: z.enum(['rds', 'aurora-cluster']),
    identifier: z.string().regex(RDS_ID, 'must be an RDS identifier (letters, digits, hyphens; starts with a letter)'),
    snapshotIdentifier: z.string().optional(),
    /** Which snapshots "latest" considers: automated (the reference default), manual, or any. */
    snapshotType: z.enum(['automated', 'manual', 'any']).optional(),
    dbName: z.string().min(1).max(63),
    username: z.string().min(1).max(63).optional(),
    password: secretRef.optional(),
  }).strict(),
  clone: z.object({
    instanceClass: z.string().regex(/^db\.[a-z0-9]+\.[a-z0-9]+$/, 'must be an instance class like db.t3.medium'),
    subnetGroup: z.string().optional(),
    securityGroups: z.array(z.string().regex(/^sg-[0-9a-f]{8,17}$/, 'must be security group ids like sg-0123abcd')).optional(),
    publiclyAccessible: z.boolean().optional(),
    enableIAMAuth: z.boolean().optional(),
    parameterGroup: z.string().optional(),
    storageType: z.string().optional(),
    tags: z.record(z.string(), z.string()).optional(),
    maxAge: duration.optional(),
    /**
     * Reset the clone's master password and create a read-only user for DBLab on the clone, so
     * production credentials are never needed (PostgreSQL).
     */
    prepare: z.object({
      dblabUser: z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, 'must be a PostgreSQL role name'),
      /** password: a password derived per clone; iam: GRANT rds_iam and DBLab logs in with IAM. */
      auth: z.enum(['password', 'iam']).optional(),
    }).strict().optional(),
  }).strict(),
  dblab: z.object({
    apiEndpoint: z.string().url(),
    token: secretRef,
    pollInterval: duration.optional(),
    timeout: duration.optional(),
    /** How long after the trigger the refresh must be seen starting. */
    startDeadline: duration.optional(),
    requestTimeout: duration.optional(),
    parallelJobs: z.number().int().min(1).max(64).optional(),
    restoreParallelJobs: z.number().int().min(1).max(64).optional(),
  }).strict(),
  aws: z.object({ region: z.string().regex(/^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/, 'must be an AWS region like us-east-1') }).strict(),
  dryRun: z.boolean().optional(),
  /** How long to wait for the clone to become available. */
  cloneTimeout: duration.optional(),
}).strict();

export type RefreshConfig = z.input<typeof RefreshConfigSchema>;

export interface RefreshPlan {
  config: z.infer<typeof RefreshConfigSchema>;
  aurora: boolean;
  dblabHost: string;
  pollInterval: string;
  timeout: string;
  startDeadline: string;
  requestTimeoutMs: number;
  cloneTimeout: string;
  maxAgeMs: number;
  dryRun: boolean;
}

export class InvalidRefreshConfig extends Error {}

export const MANAGED_BY = 'dbops-dblab-refresh';
export const CLONE_PREFIX = 'dblab-refresh-';
/** The tag naming the run that owns a clone: only that run adopts or deletes it. */
export const RUN_ID_TAG = 'dbops:run-id';

export function planRefresh(raw: unknown): RefreshPlan {
  const r = RefreshConfigSchema.safeParse(raw);
  if (!r.success) {
    throw new InvalidRefreshConfig(`invalid config: ${r.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`).join('; ')}`);
  }
  const c = r.data;
  const problems: string[] = [];
  const timeout = c.dblab.timeout ?? '4h';
  const startDeadline = c.dblab.startDeadline ?? '15m';
  if (durationMs(startDeadline) > durationMs(timeout)) problems.push(`dblab.startDeadline (${startDeadline}) is longer than dblab.timeout (${timeout})`);
  if (durationMs(c.dblab.pollInterval ?? '30s') > durationMs(startDeadline)) problems.push('dblab.pollInterval is longer than dblab.startDeadline');
  if (c.clone.prepare && c.source.type !== 'rds' && c.source.type !== 'aurora-cluster') problems.push('clone.prepare needs an RDS or Aurora source');
  if (problems.length) throw new InvalidRefreshConfig(`invalid config: ${problems.join('; ')}`);
  return {
    config: c,
    aurora: c.source.type === 'aurora-cluster',
    dblabHost: new URL(c.dblab.apiEndpoint).host,
    pollInterval: c.dblab.pollInterval ?? '30s',
    timeout,
    startDeadline,
    requestTimeoutMs: durationMs(c.dblab.requestTimeout ?? '30s'),
    cloneTimeout: c.cloneTimeout ?? '2h',
    maxAgeMs: durationMs(c.clone.maxAge ?? '48h'),
    dryRun: c.dryRun ?? false,
  };
}

/**
 * `dblab-refresh-<UTC yyyymmdd-hhmmss>-<10 hex of a hash of the run id>`: unique per run, valid
 * for RDS. A hash, not a slice: Temporal run ids are UUIDv7, whose leading digits are a timestamp,
 * so runs started in the same second (two DBLabs on one cron) share them.
 */
export function cloneName(startedAt: Date, runId: string): string {
  const iso = startedAt.toISOString();
  const stamp = `${iso.slice(0, 10).replace(/-/g, '')}-${iso.slice(11, 19).replace(/:/g, '')}`;
  return `${CLONE_PREFIX}${stamp}-${sha256Hex(runId).slice(0, 10)}`;
}

export function refreshWorkflowId(plan: Pick<RefreshPlan, 'dblabHost'>): string {
  return `refresh-dblab:${plan.dblabHost}`;
}

/** Id of the runs a schedule starts (the schedule appends a timestamp); see scheduledRefreshDblab. */
export function scheduledRefreshWorkflowId(plan: Pick<RefreshPlan, 'dblabHost'>): string {
  return `scheduled-refresh-dblab:${plan.dblabHost}`;
}

/** The DBLab host of a not yet validated input, for the progress target ("unknown" if unreadable). */
export function refreshTarget(input: unknown): string {
  try {
    return new URL((input as { dblab?: { apiEndpoint?: string } })?.dblab?.apiEndpoint ?? '').host;
  } catch {
    return 'unknown';
  }
}

/** Tags of a clone: the reference's three (under our ManagedBy) plus who owns it, plus the user's. */
export function cloneTags(o: { workflowId: string; runId: string; createdAt: Date; maxAgeMs: number; extra?: Record<string, string> }): Array<{ Key: string; Value: string }> {
  const deleteAfter = new Date(o.createdAt.getTime() + o.maxAgeMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return [
    ...Object.entries(o.extra ?? {}).map(([Key, Value]) => ({ Key, Value })),
    { Key: 'ManagedBy', Value: MANAGED_BY },
    { Key: 'AutoDelete', Value: 'true' },
    { Key: 'DeleteAfter', Value: deleteAfter },
    { Key: 'dbops:workflow-id', Value: o.workflowId },
    { Key: RUN_ID_TAG, Value: o.runId },
  ];
}
