/**
 * Plans and drift, shared by every workflow that changes something (issue 14).
 *
 * A plan is the list of changes a run would make, found by its read-only checks alone: per stage,
 * what it would create, change or delete. The same list is drift when a reconcile finds it on
 * something dbops already made (a route deleted out of band is a `create` a re-apply would make).
 *
 * The fingerprint is the SHA-256 of the changes in a canonical order, so two plans of the same
 * live state have the same fingerprint whatever order the checks ran in. An apply that carries a
 * plan's fingerprint computes its plan again first and refuses (PlanOutdated) when they differ,
 * naming the changes that differ when the plan's own list came with it.
 *
 * Pure and workflow-safe (no Node built-ins): the workflows compare and render plans.
 */
import { z } from 'zod';
import { sha256Hex } from './hash';
import { boundedString } from './limits';
import { stripControl, truncate } from './text';

export const PLAN_ACTIONS = ['create', 'change', 'delete'] as const;
export type PlanAction = (typeof PLAN_ACTIONS)[number];

/** One change a run would make. */
export interface PlannedChange {
  /** The stage that would make it (one of the workflow's stage names). */
  stage: string;
  action: PlanAction;
  /** What, in the user's terms: "route 10.20.0.0/16 in rtb-0abc via the peering". Identifies the change. */
  what: string;
  /** Why, or what it would change from and to ("missing", "points at pcx-old"). Not part of the identity. */
  detail?: string;
}

/** What a plan run returns: `plan: true`, the changes (empty: nothing to do) and their fingerprint. */
export interface PlanResult {
  plan: true;
  changes: PlannedChange[];
  fingerprint: string;
}

/** Bounds of a change's texts (each comes from live state, shown in tables and search). */
export const MAX_CHANGE_TEXT = 300;
/** The most changes a plan carries (a plan longer than this is cut and its fingerprint still covers all). */
export const MAX_PLAN_CHANGES = 200;

const FINGERPRINT_PREFIX = 'plan-v1:';
const FINGERPRINT = /^plan-v1:[0-9a-f]{64}$/;

/**
 * The schema of a plan an apply brings back (`expectPlan` in a workflow's input), built for each
 * validation and not kept: a module-level schema stays in memory as long as a cached run does
 * (bench/RESULTS.md, "memory").
 */
export function expectPlanSchema() {
  return z
    .object({
      /** A plan run's whole result may be given back as it is. */
      plan: z.literal(true).optional(),
      // plan-v1: and 64 hex; bounded like every input string (test/unit/input-schemas.test.ts)
      fingerprint: boundedString(72).regex(FINGERPRINT, 'a fingerprint as a plan run returned it (plan-v1:<64 hex>)'),
      /** The plan's changes, optional: only used to name what differs; must match the fingerprint. */
      changes: z
        .array(
          z
            .object({
              stage: z.string().min(1).max(64),
              action: z.enum(PLAN_ACTIONS),
              what: z.string().min(1).max(MAX_CHANGE_TEXT),
              detail: z.string().max(MAX_CHANGE_TEXT).optional(),
            })
            .strict(),
        )
        .max(MAX_PLAN_CHANGES)
        .optional(),
    })
    .strict()
    .refine((p) => p.changes === undefined || planFingerprint(p.changes) === p.fingerprint, {
      message: 'the changes do not match the fingerprint (give them as the plan run returned them, or none)',
      path: ['changes'],
    });
}
export type ExpectPlan = z.infer<ReturnType<typeof expectPlanSchema>>;

/** A change with bounded, control-free texts (live state can hold anything). */
export function change(stage: string, action: PlanAction, what: string, detail?: string): PlannedChange {
  const clean = (t: string) => truncate(stripControl(t), MAX_CHANGE_TEXT);
  return detail === undefined
    ? { stage, action, what: clean(what) }
    : { stage, action, what: clean(what), detail: clean(detail) };
}

const identity = (c: PlannedChange): string => JSON.stringify([c.stage, c.action, c.what]);

/** The changes in canonical order, without duplicates. */
function canonical(changes: readonly PlannedChange[]): PlannedChange[] {
  const seen = new Map<string, PlannedChange>();
  for (const c of changes) if (!seen.has(identity(c))) seen.set(identity(c), c);
  return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, c]) => c);
}

/** `plan-v1:<sha256>` of the changes' identities (stage, action, what) in canonical order; details are not covered. */
export function planFingerprint(changes: readonly PlannedChange[]): string {
  return FINGERPRINT_PREFIX + sha256Hex(JSON.stringify(canonical(changes).map((c) => [c.stage, c.action, c.what])));
}

/** A plan result: the changes in canonical order (at most MAX_PLAN_CHANGES) and the fingerprint of all of them. */
export function planResult(changes: readonly PlannedChange[]): PlanResult {
  const all = canonical(changes);
  return { plan: true, changes: all.slice(0, MAX_PLAN_CHANGES), fingerprint: planFingerprint(all) };
}

/** What differs between the plan an apply brought and the live one. */
export interface PlanDifference {
  /** In the live plan, not in the expected one. */
  added: PlannedChange[];
  /** In the expected plan, no longer in the live one. */
  gone: PlannedChange[];
}

/**
 * Compares the live changes with the plan an apply brought: undefined when they match (same
 * fingerprint), else what differs (both lists empty when the expected plan came without its
 * changes: only the fingerprint is known).
 */
export function planDifference(expected: ExpectPlan, live: readonly PlannedChange[]): PlanDifference | undefined {
  if (planFingerprint(live) === expected.fingerprint) return undefined;
  if (!expected.changes) return { added: [], gone: [] };
  const want = new Set(expected.changes.map(identity));
  const have = new Set(live.map(identity));
  return {
    added: canonical(live.filter((c) => !want.has(identity(c)))),
    gone: canonical(expected.changes.filter((c) => !have.has(identity(c)))),
  };
}

const line = (c: PlannedChange): string => `${c.action} ${c.what}${c.detail ? ` (${c.detail})` : ''}`;

/** The message of a PlanOutdated refusal: what differs, or the live plan when only a fingerprint came. */
export function planOutdatedMessage(
  expected: ExpectPlan,
  live: readonly PlannedChange[],
  diff: PlanDifference,
): string {
  const parts = [`the live state no longer matches plan ${expected.fingerprint}; nothing was changed`];
  if (!expected.changes) {
    parts.push(`now planned: ${live.length ? canonical(live).map(line).join('; ') : 'nothing'}`);
  } else {
    if (diff.added.length) parts.push(`now also: ${diff.added.map(line).join('; ')}`);
    if (diff.gone.length) parts.push(`no longer: ${diff.gone.map(line).join('; ')}`);
  }
  parts.push('plan again and apply the new fingerprint');
  return truncate(parts.join('. '), 2000);
}

/** One stage's changes as a progress detail: "would create route …; would delete …" or "no change". */
export function stagePlanDetail(changes: readonly PlannedChange[], stage: string): string {
  const mine = changes.filter((c) => c.stage === stage);
  if (!mine.length) return 'no change';
  return truncate(mine.map((c) => `would ${line(c)}`).join('; '), 500);
}

/** The plan as a text table (stage, action, what, detail), for the CLI and the result's readers. */
export function planTable(changes: readonly PlannedChange[]): string {
  if (!changes.length) return 'no changes: the live state is as planned';
  const rows = changes.map((c) => [c.stage, c.action, c.what, c.detail ?? '']);
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length), ['stage', 'action', 'what'][i].length));
  const fmt = (r: string[]) =>
    r
      .map((cell, i) => (i < 3 ? cell.padEnd(widths[i]) : cell))
      .join('  ')
      .trimEnd();
  return [fmt(['stage', 'action', 'what', 'detail']), ...rows.map(fmt)].join('\n');
}

/** Metric names the reconcile workflows record (both halves use these, identically). */
export const DRIFT_METRICS = { drift: 'dbops_drift_total', runs: 'dbops_reconcile_runs_total' } as const;

/** The DbopsDrift value of a reconcile run from what it found, repaired and left. */
export function driftOutcome(
  drift: readonly PlannedChange[],
  remaining: readonly PlannedChange[],
  reportOnly: boolean,
): 'none' | 'repaired' | 'reported' | 'unrepaired' {
  if (!drift.length) return 'none';
  if (reportOnly) return 'reported';
  return remaining.length ? 'unrepaired' : 'repaired';
}
