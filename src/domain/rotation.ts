/**
 * Credential rotation input and its pure planning: the tenant is named as for provisioning, the
 * two logins of the alternating-users strategy are `<user>` and `<user>_b` (both bound by the
 * engine's name rules), and which one is current is read from the credentials target by an
 * activity, never decided here. Pure; used by the workflow and the client.
 */
import { z } from 'zod';
import { boundedString, DURATION, durationMs, durationString } from './limits';
import { commonPlan, credentialsTargetSchema, fail, tenantFields, type SqlPlan } from './provision';
import { NAME_LIMITS, nameProblem, reservedNameProblem, type Engine } from './sql-names';

export const DEFAULT_GRACE = '1h';
export const MIN_GRACE_MS = 1000;
export const MAX_GRACE_MS = 7 * 86_400_000;

/** Built for each validation and not kept, like every input schema (provision.ts). */
export function rotateInputSchema() {
  return z
    .object({
      ...tenantFields(boundedString(200).optional()),
      credentialsTarget: credentialsTargetSchema(),
      /** How long the previous login keeps working after the switch (1s .. 7d; default 1h). */
      gracePeriod: durationString(DURATION, 'must be a duration like 30s, 10m, 4h or 2d').optional(),
    })
    .strict();
}

export type RotateInput = z.input<ReturnType<typeof rotateInputSchema>>;

export interface RotationPlan extends SqlPlan {
  credentialsTarget: NonNullable<SqlPlan['credentialsTarget']>;
  /** The tenant's two logins: `primary` is the provisioned user, `standby` its `_b` twin. */
  logins: { primary: string; standby: string };
  gracePeriod: string;
  graceMs: number;
}

/** The second login of a tenant: `<user>_b`. */
export function standbyName(user: string): string {
  return `${user}_b`;
}

/** The login a rotation switches to, given the one the target names now. */
export function otherLogin(plan: Pick<RotationPlan, 'logins'>, current: string): string {
  const { primary, standby } = plan.logins;
  if (current === primary) return standby;
  if (current === standby) return primary;
  throw new Error(`login ${current} is neither ${primary} nor ${standby}`);
}

function standbyProblem(engine: Engine, user: string): string | undefined {
  const standby = standbyName(user);
  const limit = NAME_LIMITS[engine].user;
  if (standby.length > limit)
    return `user "${user}" leaves no room for its rotation twin "${standby}" (${standby.length} bytes; ${engine} allows ${limit}): rotation needs a user of at most ${limit - 2} bytes`;
  const p = nameProblem(standby) ?? reservedNameProblem(standby, engine, 'user');
  return p ? `rotation twin "${standby}" ${p}` : undefined;
}

/** Validates a rotation input into a plan; every problem is reported at once. */
export function planRotation(raw: unknown): RotationPlan {
  const { input, plan } = commonPlan(rotateInputSchema(), raw);
  const problems: string[] = [];
  const grace = input.gracePeriod ?? DEFAULT_GRACE;
  const graceMs = durationMs(grace);
  if (graceMs < MIN_GRACE_MS || graceMs > MAX_GRACE_MS) problems.push(`gracePeriod ${grace} must be between 1s and 7d`);
  const twin = standbyProblem(plan.engine, plan.user);
  if (twin) problems.push(twin);
  if (standbyName(plan.user) === plan.server.adminUser.toLowerCase())
    problems.push(`rotation twin "${standbyName(plan.user)}" is the server's admin user (server.adminUser)`);
  if (problems.length) fail(problems);
  return {
    ...plan,
    auth: 'password',
    credentialsTarget: input.credentialsTarget,
    logins: { primary: plan.user, standby: standbyName(plan.user) },
    gracePeriod: grace,
    graceMs,
  };
}

export function rotateWorkflowId(plan: Pick<SqlPlan, 'engine' | 'server' | 'database'>): string {
  return `rotate-db:${plan.engine}:${plan.server.host}:${plan.database}`;
}
