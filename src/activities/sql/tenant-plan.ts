/**
 * The engine-neutral half of plan mode and reconcile (issue 14): what a tenant's credentials
 * target and stored password say, read-only, and the repair of a password that no longer works,
 * through the rotation's own switch (rotation.ts: a fresh password, a login with it, then the
 * target written), never a second password path. The engine halves are in postgres.ts and mysql.ts.
 */
import { ApplicationFailure } from '@temporalio/common';
import { durationMs } from '../../domain/limits';
import { change, type PlannedChange } from '../../domain/plan';
import type { SqlPlan } from '../../domain/provision';
import { DEFAULT_GRACE, standbyName, type RotationPlan } from '../../domain/rotation';
import { planCredentialsTarget, targetRef, type CredentialsDeps } from '../credentials';
import type { rotationActivities } from './rotation';
import { NOT_OWNED, type DeprovisionPlan, type Ownership, type TenantPlanRequest } from './types';

/**
 * A provisioning run's grant step does not revoke what the tenant holds beyond its database (its
 * verify reports it); a reconcile does. The plan row says which.
 */
export const BEYOND = (plan: TenantPlanRequest): string =>
  plan.purpose === 'reconcile' ? '' : ': provisionDatabase leaves it, reconcileDatabase revokes it';

/** What the credentials target says about the tenant's login. */
export interface CredentialFacts {
  changes: PlannedChange[];
  /**
   * The login the target names and whether its stored password logs in (only when the user is
   * dbops's); `repairable`: the target is the one the user's mark names, so a fresh password may go there.
   */
  login?: { name: string; works: boolean; repairable: boolean };
}

/** The logins a target may name: the provisioned user only for provisionDatabase, either of the two for a reconcile. */
export function targetLogins(plan: TenantPlanRequest): string[] {
  return plan.purpose === 'reconcile' ? [plan.user, standbyName(plan.user)] : [plan.user];
}

/**
 * The store-credentials stage's changes and the stored password's check: a login attempt with the
 * stored credentials (allowed in a plan: it changes nothing), only for a user dbops made.
 */
export async function credentialFacts(
  plan: TenantPlanRequest,
  user: Ownership,
  deps: CredentialsDeps,
  loginWorks: (login: string, password: string) => Promise<boolean>,
  /** The credentials target the user's dbops mark names (where its password is kept), when it names one. */
  markRef?: string,
): Promise<CredentialFacts> {
  if (!plan.credentialsTarget) return { changes: [] };
  const t = await planCredentialsTarget(plan, targetLogins(plan), deps);
  if (t.state === 'absent') {
    return {
      changes: [
        change('store-credentials', 'create', `credentials in ${t.label}`, `connection string of ${plan.user}`),
      ],
    };
  }
  const changes: PlannedChange[] = [];
  if (plan.purpose !== 'reconcile' && !t.upToDate)
    changes.push(
      change('store-credentials', 'change', `connection string in ${t.label}`, 'written with the full record'),
    );
  if (plan.auth !== 'password' || user !== 'ours') return { changes };
  const works = await loginWorks(t.stored.user, t.stored.password);
  // As provisioning's continuity check: the password lives in the target the mark names. A fresh
  // one written to another (a stale copy) would break the connection string kept there.
  const repairable = !markRef || markRef === targetRef(plan.credentialsTarget);
  if (!works)
    changes.push(
      change(
        'ensure-user',
        'change',
        `password of ${t.stored.user}`,
        repairable
          ? `the password stored in ${t.label} no longer logs in`
          : `the password stored in ${t.label} no longer logs in, but ${plan.user}'s dbops mark keeps its credentials in ${markRef}: dbops sets no password for another target; reconcile with that one`,
      ),
    );
  return { changes, login: { name: t.stored.user, works, repairable } };
}

/** A reconcile acts only on a tenant dbops made: its database and user both carry this tenant's mark. */
export function requireTenantOurs(plan: SqlPlan, own: { database: Ownership; user: Ownership }): void {
  const missing = (['database', 'user'] as const).filter((k) => own[k] !== 'ours');
  if (!missing.length) return;
  const what = missing
    .map(
      (k) =>
        `${k} ${k === 'database' ? plan.database : plan.user} ${own[k] === 'absent' ? 'does not exist' : 'has no dbops mark'}`,
    )
    .join('; ');
  throw ApplicationFailure.nonRetryable(
    `refusing to reconcile ${plan.database} on ${plan.engine} server ${plan.server.host}:${plan.server.port}: ${what}; a reconcile checks and repairs only a tenant dbops provisioned (run provisionDatabase first)`,
    NOT_OWNED,
  );
}

/** The rotation plan of a provisioned tenant (its two logins), for the password repair. */
function rotationPlan(plan: SqlPlan): RotationPlan {
  if (!plan.credentialsTarget)
    throw ApplicationFailure.nonRetryable('no credentials target in the plan', 'InvalidInput');
  return {
    ...plan,
    auth: 'password',
    credentialsTarget: plan.credentialsTarget,
    logins: { primary: plan.user, standby: standbyName(plan.user) },
    gracePeriod: DEFAULT_GRACE,
    graceMs: durationMs(DEFAULT_GRACE), // not used by the switch
  };
}

/**
 * The password repair: the rotation's switch from the login the target names to itself, so that
 * login gets a fresh password, logs in with it, and only then is it written to the target.
 */
export async function repairPassword(
  rotation: ReturnType<typeof rotationActivities>,
  plan: SqlPlan,
  login: string,
): Promise<string> {
  const r = await rotation.switchTo({ ...rotationPlan(plan), from: login, to: login });
  return r.changed ? `${login} has a fresh password, logged in with it, and the target holds it` : r.detail;
}

/** deprovisionDatabase's remove-credentials stage: the tenant's record goes (either login's, after a rotation). */
export async function dropCredentialsChanges(plan: DeprovisionPlan, deps: CredentialsDeps): Promise<PlannedChange[]> {
  if (!plan.credentialsTarget) return [];
  const t = await planCredentialsTarget(plan, [plan.user, standbyName(plan.user)], deps, true);
  return t.state === 'ours' ? [change('remove-credentials', 'delete', `credentials in ${t.label}`)] : [];
}
