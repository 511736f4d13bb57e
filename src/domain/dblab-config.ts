/**
 * The refresh configuration: the reference tool's config (source, clone, dblab, aws; same field
 * names; durations as "30s"/"4h") with secrets as references, validated into a plan. Pure.
 */
import { z } from 'zod';
import { sha256Hex } from './hash';
import {
  boundedRecord,
  boundedString,
  configName,
  DURATION,
  durationMs,
  durationString,
  httpUrl,
  invalidInput,
  region,
  secretRefString,
} from './limits';
import { reservedNameProblem } from './sql-names';
import { InvalidInput } from './errors';

export const RDS_ID = /^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,62}(?<!-)$/;
/**
 * A parameter or option group name: a letter, then letters, digits and hyphens, plus the `.` and
 * `:` of AWS's default groups (`default.postgres16`, `default:mysql-8-0`); empty is "not set", as
 * the reference tool reads it.
 */
const GROUP_NAME = /^$|^[A-Za-z][A-Za-z0-9.:_-]{0,254}$/;
const KEY_ID = '(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})';
const ALIAS = 'alias/[A-Za-z0-9/_-]{1,250}';
/** A KMS key id, alias, key ARN or alias ARN (another account's key: its ARN). */
const KMS_KEY = new RegExp(
  `^(?:${KEY_ID}|${ALIAS}|arn:aws[a-z-]*:kms:[a-z0-9-]{1,32}:\\d{12}:(?:key/${KEY_ID}|${ALIAS}))$`,
);
const groupName = (what: string) =>
  boundedString(255).regex(GROUP_NAME, `must be ${what} name (a letter, then letters, digits, hyphens)`);

/** Tag keys dbops sets on every clone itself (and AWS's own prefix): a config may not set them. */
const RESERVED_TAG_KEY = /^(ManagedBy|AutoDelete|DeleteAfter)$|^(dbops:|aws:)/i;
/** AWS allows 50 tags per resource; dbops adds five of its own (cloneTags). */
export const MAX_CLONE_TAGS = 45;

/**
 * The refresh input's schema, built for each validation and not kept: the SDK evaluates workflow
 * modules once per cached run, and a schema kept at module level stayed in memory for as long as
 * its run did (a waiting refresh holds it for hours; bench/RESULTS.md, "memory").
 */
export function refreshConfigSchema() {
  const duration = durationString(DURATION, 'must be a duration like 30s, 10m, 4h or 2d');
  const secretRef = secretRefString();
  /** How DBLab is reached and how long to wait for it; shared by the named and the inline form. */
  const dblabTiming = {
    pollInterval: duration.optional(),
    timeout: duration.optional(),
    /** How long after the trigger the refresh must be seen starting. */
    startDeadline: duration.optional(),
    requestTimeout: duration.optional(),
    parallelJobs: z.number().int().min(1).max(64).optional(),
    restoreParallelJobs: z.number().int().min(1).max(64).optional(),
  };

  const dblabInstance = configName('a DBLab instance of the worker configuration');

  /**
   * `dblab`: the name of an operator-configured DBLab instance (`"staging"`), an object naming one
   * (`{ instance, …timing }`), or the DBLab given inline (`{ apiEndpoint, token, …timing }`). The
   * named and inline forms are exclusive.
   */
  const DblabObjectSchema = z
    .object({
      instance: dblabInstance.optional(),
      apiEndpoint: httpUrl().optional(),
      token: secretRef.optional(),
      ...dblabTiming,
    })
    .strict()
    .superRefine((v, ctx) => {
      if (v.instance !== undefined) {
        const inline = (['apiEndpoint', 'token'] as const).filter((k) => v[k] !== undefined);
        if (inline.length)
          ctx.addIssue({
            code: 'custom',
            message: `give either instance (a configured DBLab) or apiEndpoint and token, not both (${inline.join(' and ')} given with instance)`,
          });
        return;
      }
      for (const k of ['apiEndpoint', 'token'] as const) {
        if (v[k] === undefined)
          ctx.addIssue({ code: 'custom', path: [k], message: 'is required unless instance names a configured DBLab' });
      }
    });

  const DblabSchema = z.union([dblabInstance, DblabObjectSchema], {
    error: (iss) =>
      iss.input === undefined
        ? 'is required'
        : 'must be the name of a configured DBLab instance, { instance, … } or { apiEndpoint, token, … }',
  });

  return z
    .object({
      source: z
        .object({
          type: z.enum(['rds', 'aurora-cluster']),
          identifier: boundedString(63).regex(
            RDS_ID,
            'must be an RDS identifier (letters, digits, hyphens; starts with a letter)',
          ),
          /** A snapshot id or ARN (a shared snapshot); empty or absent: the latest. */
          snapshotIdentifier: boundedString(512).optional(),
          /** Which snapshots "latest" considers: automated (the reference default), manual, or any. */
          snapshotType: z.enum(['automated', 'manual', 'any']).optional(),
          dbName: boundedString(63).min(1),
          username: boundedString(63).min(1).optional(),
          password: secretRef.optional(),
        })
        .strict(),
      clone: z
        .object({
          instanceClass: boundedString(64).regex(
            /^db\.[a-z0-9]+\.[a-z0-9]+$/,
            'must be an instance class like db.t3.medium',
          ),
          subnetGroup: boundedString(255).optional(),
          securityGroups: z
            .array(boundedString(20).regex(/^sg-[0-9a-f]{8,17}$/, 'must be security group ids like sg-0123abcd'))
            .max(5, 'must name at most 5 security groups')
            .optional(),
          publiclyAccessible: z.boolean().optional(),
          enableIAMAuth: z.boolean().optional(),
          /** RDS: a DB parameter group; Aurora: a DB cluster parameter group. Applied after restore if the restore ignored it. */
          parameterGroup: groupName('a parameter group').optional(),
          /** dbops only: the option group the clone gets. */
          optionGroup: groupName('an option group').optional(),
          /**
           * dbops only: how the clone is made. `snapshot` (the default): restore a snapshot.
           * `copy-on-write` (Aurora only): clone the live cluster (RestoreDBClusterToPointInTime,
           * RestoreType copy-on-write, latest restorable time): minutes, and only changed pages are paid for.
           */
          method: z.enum(['snapshot', 'copy-on-write']).optional(),
          /**
           * dbops only, Aurora: the KMS key the clone's storage is encrypted with (default: the
           * snapshot's or the source's). An RDS instance restored from a snapshot keeps the snapshot's key.
           */
          kmsKeyId: boundedString(2048)
            .regex(KMS_KEY, 'must be a KMS key id, alias/<name>, or a key or alias ARN')
            .optional(),
          storageType: boundedString(32).optional(),
          tags: boundedRecord(
            boundedString(128)
              .min(1, 'tag keys must not be empty')
              .refine(
                (k) => !RESERVED_TAG_KEY.test(k),
                'is a tag key dbops sets itself (ManagedBy, AutoDelete, DeleteAfter, dbops:*) or AWS reserves (aws:*)',
              ),
            boundedString(256),
            MAX_CLONE_TAGS,
            `tags (AWS allows 50 per resource and dbops adds 5)`,
          ).optional(),
          maxAge: duration.optional(),
          /**
           * Reset the clone's master password and create a read-only user for DBLab on the clone, so
           * production credentials are never needed (PostgreSQL).
           */
          prepare: z
            .object({
              dblabUser: boundedString(63)
                .regex(/^[a-z][a-z0-9_]{0,62}$/, 'must be a PostgreSQL role name')
                .superRefine((v, ctx) => {
                  const reserved = reservedNameProblem(v, 'postgres', 'user');
                  if (reserved) ctx.addIssue({ code: 'custom', message: reserved });
                }),
              /** password: a password derived per clone; iam: GRANT rds_iam and DBLab logs in with IAM. */
              auth: z.enum(['password', 'iam']).optional(),
            })
            .strict()
            .optional(),
        })
        .strict(),
      dblab: DblabSchema,
      aws: z.object({ region: region() }).strict(),
      dryRun: z.boolean().optional(),
      /** How long to wait for the clone to become available. */
      cloneTimeout: duration.optional(),
    })
    .strict();
}

/** The `dblab` settings once normalised: a named instance (`instance`) or the inline endpoint and token. */
export interface DblabSettings {
  /** An operator-configured DBLab instance (worker configuration); absent in the inline form. */
  instance?: string;
  /** The DBLab Engine API; absent when `instance` names it. */
  apiEndpoint?: string;
  /** The verification token's reference; absent when `instance` names it. */
  token?: string;
  pollInterval?: string;
  timeout?: string;
  startDeadline?: string;
  requestTimeout?: string;
  parallelJobs?: number;
  restoreParallelJobs?: number;
}

type RefreshConfigSchema = ReturnType<typeof refreshConfigSchema>;
type ParsedConfig = z.infer<RefreshConfigSchema>;

/** The refresh input (JSON or the reference YAML read by the client). */
export type RefreshConfig = z.input<RefreshConfigSchema>;

/** The validated config, with `dblab` always an object. */
export type ValidRefreshConfig = Omit<ParsedConfig, 'dblab'> & { dblab: DblabSettings };

export interface RefreshPlan {
  config: ValidRefreshConfig;
  aurora: boolean;
  /** The instance name when named, else the host:port of apiEndpoint; the one-refresh-at-a-time key. */
  dblabHost: string;
  /** The operator-configured DBLab instance, when the config names one. */
  dblabInstance?: string;
  pollInterval: string;
  timeout: string;
  startDeadline: string;
  requestTimeoutMs: number;
  cloneTimeout: string;
  maxAgeMs: number;
  dryRun: boolean;
}

export const MANAGED_BY = 'dbops-dblab-refresh';
export const CLONE_PREFIX = 'dblab-refresh-';

/** A host whose first label is a refresh clone's name (cloneName): an RDS/Aurora clone dbops made for a refresh. */
export function isRefreshCloneHost(host: string): boolean {
  return host.split('.')[0].toLowerCase().startsWith(CLONE_PREFIX);
}

/** configure-dblab writes a password into DBLab's config (else DBLab logs in with RDS IAM). */
export function writesPassword(plan: Pick<RefreshPlan, 'config'>): boolean {
  const prep = plan.config.clone.prepare;
  return prep ? prep.auth !== 'iam' : plan.config.source.password !== undefined;
}
/** The tag naming the run that owns a clone: only that run adopts or deletes it. */
export const RUN_ID_TAG = 'dbops:run-id';

/** 15 m, but at least one poll interval and at most the overall timeout. */
function defaultStartDeadline(pollInterval: string, timeout: string): string {
  const ms = Math.min(Math.max(15 * 60_000, durationMs(pollInterval)), durationMs(timeout));
  return ms === 15 * 60_000 ? '15m' : `${ms}ms`;
}

export function planRefresh(raw: unknown): RefreshPlan {
  const r = refreshConfigSchema().safeParse(raw);
  if (!r.success) {
    throw invalidInput(r.error, 'invalid config', 'config');
  }
  const dblab: DblabSettings = typeof r.data.dblab === 'string' ? { instance: r.data.dblab } : r.data.dblab;
  const c: ValidRefreshConfig = { ...r.data, dblab };
  const problems: string[] = [];
  const timeout = c.dblab.timeout ?? '4h';
  const pollInterval = c.dblab.pollInterval ?? '30s';
  // startDeadline is dbops's own: its default fits whatever timeout and pollInterval the reference
  // tool's config has (15 m, at least one poll interval, at most the timeout); only a value the
  // user set can conflict with them.
  const startDeadline = c.dblab.startDeadline ?? defaultStartDeadline(pollInterval, timeout);
  if (c.dblab.startDeadline !== undefined && durationMs(startDeadline) > durationMs(timeout))
    problems.push(`dblab.startDeadline (${startDeadline}) is longer than dblab.timeout (${timeout})`);
  if (c.dblab.startDeadline !== undefined && durationMs(pollInterval) > durationMs(startDeadline))
    problems.push('dblab.pollInterval is longer than dblab.startDeadline');
  if (c.clone.prepare && c.source.type !== 'rds' && c.source.type !== 'aurora-cluster')
    problems.push('clone.prepare needs an RDS or Aurora source');
  if (c.clone.method === 'copy-on-write') {
    if (c.source.type !== 'aurora-cluster')
      problems.push('clone.method copy-on-write needs an Aurora source (source.type aurora-cluster)');
    for (const k of ['snapshotIdentifier', 'snapshotType'] as const)
      if (c.source[k])
        problems.push(`source.${k} is for snapshot restores; clone.method copy-on-write clones the live cluster`);
  }
  if (c.clone.kmsKeyId && c.source.type === 'rds')
    problems.push(
      "clone.kmsKeyId is for Aurora clones: an RDS instance restored from a snapshot keeps the snapshot's key",
    );
  if (problems.length) throw new InvalidInput(`invalid config: ${problems.join('; ')}`);
  return {
    config: c,
    aurora: c.source.type === 'aurora-cluster',
    dblabHost: dblab.instance ?? new URL(dblab.apiEndpoint!).host,
    ...(dblab.instance !== undefined ? { dblabInstance: dblab.instance } : {}),
    pollInterval,
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

/**
 * The DBLab of a not yet validated input, for the progress target: the instance name (string or
 * `instance`), else the host of apiEndpoint; "unknown" if unreadable.
 */
export function refreshTarget(input: unknown): string {
  const dblab = (input as { dblab?: unknown } | null | undefined)?.dblab;
  if (typeof dblab === 'string') return dblab;
  const o = (typeof dblab === 'object' && dblab !== null ? dblab : {}) as { instance?: unknown; apiEndpoint?: unknown };
  if (typeof o.instance === 'string') return o.instance;
  try {
    return new URL(typeof o.apiEndpoint === 'string' ? o.apiEndpoint : '').host || 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Tags of a clone: the reference's three (under our ManagedBy) plus who owns it, plus the user's. */
export function cloneTags(o: {
  workflowId: string;
  runId: string;
  createdAt: Date;
  maxAgeMs: number;
  extra?: Record<string, string>;
}): Array<{ Key: string; Value: string }> {
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
