/**
 * Plan mode and reconcile inputs of the SQL workflows (issue 14): the `plan` / `expectPlan` fields
 * of provisionDatabase and deprovisionDatabase, and reconcileDatabase's input (provisionDatabase's
 * plus `reportOnly`). Each is validated here, beside the workflow's own schema, and refused
 * (InvalidInput) before anything is looked at. Pure; used by the workflows and the client.
 */
import { z } from 'zod';
import { invalidInput } from './limits';
import { expectPlanSchema, type ExpectPlan } from './plan';
import {
  fail,
  planDeprovision,
  planProvision,
  type DeprovisionInput,
  type ProvisionInput,
  type SqlPlan,
} from './provision';

/** The fields a plan run or a checked apply adds to a workflow's input. */
export interface PlanFields {
  /** Run the read-only checks only and return what an apply would change. */
  plan?: boolean;
  /** Apply only while the live state still matches this plan (its fingerprint, and its changes to name what differs). */
  expectPlan?: ExpectPlan;
}

export type ProvisionRunInput = ProvisionInput & PlanFields;
export type DeprovisionRunInput = DeprovisionInput & PlanFields;
export type ReconcileDatabaseInput = ProvisionInput & {
  /** Report the drift only: change nothing. */
  reportOnly?: boolean;
};

/** How a run goes: an ordinary apply, a plan, or an apply checked against a plan. */
export interface RunMode {
  plan: boolean;
  expectPlan?: ExpectPlan;
}

/** Whether a raw input carries a plan field (only such runs ask the plan patch, so other runs' histories stay as they were). */
export function hasPlanFields(raw: unknown): boolean {
  return typeof raw === 'object' && raw !== null && ('plan' in raw || 'expectPlan' in raw);
}

function planFieldsSchema() {
  return z.object({ plan: z.boolean().optional(), expectPlan: expectPlanSchema().optional() }).strict();
}

/** Splits `plan` / `expectPlan` off a raw input and validates them; the rest goes to the workflow's schema. */
function splitMode(raw: unknown, keys: readonly string[]): { rest: unknown; mode: RunMode } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { rest: raw, mode: { plan: false } };
  const picked: Record<string, unknown> = {};
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) (keys.includes(k) ? picked : rest)[k] = v;
  const parsed = planFieldsSchema().safeParse(picked);
  if (!parsed.success) throw invalidInput(parsed.error, 'invalid input', 'input');
  if (parsed.data.plan && parsed.data.expectPlan)
    fail(['plan and expectPlan go apart: plan first (plan: true), then apply with expectPlan set to what it returned']);
  return {
    rest,
    mode: {
      plan: parsed.data.plan ?? false,
      ...(parsed.data.expectPlan ? { expectPlan: parsed.data.expectPlan } : {}),
    },
  };
}

const PLAN_KEYS = ['plan', 'expectPlan'] as const;

/** provisionDatabase's input with its plan fields: the SQL plan and the run's mode. */
export function planProvisionRun(raw: unknown): { sql: SqlPlan; mode: RunMode } {
  const { rest, mode } = splitMode(raw, PLAN_KEYS);
  return { sql: planProvision(rest), mode };
}

/** deprovisionDatabase's input with its plan fields. */
export function planDeprovisionRun(raw: unknown): {
  sql: ReturnType<typeof planDeprovision>;
  mode: RunMode;
} {
  const { rest, mode } = splitMode(raw, PLAN_KEYS);
  return { sql: planDeprovision(rest), mode };
}

/** reconcileDatabase's input: provisionDatabase's, plus `reportOnly`; plan fields are refused. */
export function planReconcileDatabase(raw: unknown): SqlPlan & { reportOnly: boolean } {
  const split: Record<string, unknown> = {};
  let reportOnly: unknown = false;
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    for (const [k, v] of Object.entries(raw)) {
      if (k === 'reportOnly') reportOnly = v;
      else split[k] = v;
    }
  }
  const r = z.boolean().safeParse(reportOnly);
  if (!r.success) fail(['reportOnly must be true or false']);
  const sql = planProvision(typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? split : raw);
  if (sql.auth !== 'password' && sql.auth !== 'iam') fail(['auth must be password or iam']);
  return { ...sql, reportOnly: r.data ?? false };
}

export function reconcileDatabaseWorkflowId(plan: Pick<SqlPlan, 'engine' | 'server' | 'database'>): string {
  return `reconcile-db:${plan.engine}:${plan.server.host}:${plan.database}`;
}
