import { ApplicationFailure } from '@temporalio/common';
import type { SqlPlan } from '../../domain/provision';
import type { ResolvedServer } from './connection';
import { reservedNameProblem } from '../../domain/sql-names';
import type { RotationPlan } from '../../domain/rotation';
import type { RetirePlan, RotationState, SwitchPlan } from './rotation';
import type { PlannedChange } from '../../domain/plan';

export interface StepResult {
  changed: boolean;
  detail: string;
}

/**
 * What a plan activity (read-only: no DDL, no write to a credentials target) found: the changes an
 * apply would make, per stage, and whose the database and user are.
 */
export interface TenantPlan {
  changes: PlannedChange[];
  database: Ownership;
  user: Ownership;
}

/** Why a tenant plan is made: for provisionDatabase (its checks exactly), or for a reconcile (drift on a tenant dbops made, rotated logins too). */
export type TenantPlanRequest = SqlPlan & { purpose?: 'provision' | 'reconcile' };

/** What a reconcile's repair did: one line per repair, and what it left for people to do. */
export interface RepairResult {
  changed: boolean;
  repaired: string[];
  detail: string;
}

export type DeprovisionPlan = SqlPlan & {
  reclaimPolicy: 'delete' | 'retain';
  /** Undo of a cancelled run: drop only what carries this run id in its mark (a database only while empty). */
  madeByRun?: string;
};

/** The same steps for every engine; the worker registers them as <engine><Step> activities. */
export interface SqlEngineActivities {
  connect(plan: SqlPlan): Promise<{ serverVersion: string; detail: string }>;
  ensureDatabase(plan: SqlPlan): Promise<StepResult>;
  ensureUser(plan: SqlPlan): Promise<StepResult>;
  grant(plan: SqlPlan): Promise<StepResult>;
  verify(plan: SqlPlan): Promise<StepResult>;
  dropDatabase(plan: DeprovisionPlan): Promise<StepResult>;
  dropUser(plan: DeprovisionPlan): Promise<StepResult>;
  /** Credential rotation (rotation.ts): read-only check, the switch, the retirement of the previous login. */
  rotateCheck(plan: RotationPlan): Promise<RotationState>;
  rotateSwitch(plan: SwitchPlan): Promise<StepResult>;
  rotateRetire(plan: RetirePlan): Promise<StepResult>;
  /** Plan mode and reconcile (issue 14): read-only; refuses what the apply would refuse, as it would. */
  planProvision(plan: TenantPlanRequest): Promise<TenantPlan>;
  planDeprovision(plan: DeprovisionPlan): Promise<TenantPlan>;
  /** Reconcile: re-grants, revokes what reaches beyond the tenant's database, restores a working password. */
  repairTenant(plan: SqlPlan): Promise<RepairResult>;
}

/**
 * The SQL activities as the worker registers them, one name per engine and step, spelled out so a
 * stage's activity can be found by its name (`postgresEnsureDatabase`, `mysqlGrant`, …).
 */
export function sqlActivityRegistry(postgres: SqlEngineActivities, mysql: SqlEngineActivities) {
  return {
    postgresConnect: postgres.connect,
    postgresEnsureDatabase: postgres.ensureDatabase,
    postgresEnsureUser: postgres.ensureUser,
    postgresGrant: postgres.grant,
    postgresVerify: postgres.verify,
    postgresDropDatabase: postgres.dropDatabase,
    postgresDropUser: postgres.dropUser,
    postgresRotateCheck: postgres.rotateCheck,
    postgresRotateSwitch: postgres.rotateSwitch,
    postgresRotateRetire: postgres.rotateRetire,
    postgresPlanProvision: postgres.planProvision,
    postgresPlanDeprovision: postgres.planDeprovision,
    postgresRepairTenant: postgres.repairTenant,
    mysqlConnect: mysql.connect,
    mysqlEnsureDatabase: mysql.ensureDatabase,
    mysqlEnsureUser: mysql.ensureUser,
    mysqlGrant: mysql.grant,
    mysqlVerify: mysql.verify,
    mysqlDropDatabase: mysql.dropDatabase,
    mysqlDropUser: mysql.dropUser,
    mysqlRotateCheck: mysql.rotateCheck,
    mysqlRotateSwitch: mysql.rotateSwitch,
    mysqlRotateRetire: mysql.rotateRetire,
    mysqlPlanProvision: mysql.planProvision,
    mysqlPlanDeprovision: mysql.planDeprovision,
    mysqlRepairTenant: mysql.repairTenant,
  };
}

export function isDeprovision(plan: SqlPlan): plan is DeprovisionPlan {
  return (plan as Partial<DeprovisionPlan>).reclaimPolicy !== undefined;
}

/*
 * Ownership. Anyone who may start a workflow decides a run's input, so before dbops changes,
 * adopts or drops a database or user it checks, against the live catalog, that the object is one
 * dbops made for this same tenant (its mark), and never touches the admin login, privileged
 * accounts or system databases at all.
 */

/** A run's input names an object dbops did not make for this tenant. */
export const NOT_OWNED = 'NotOwnedByDbops';
/** A run's input names the admin login, a privileged account or a system database. */
export const PROTECTED = 'ProtectedObject';
/** A re-run for an existing user names another credentials target (its password would change). */
export const CREDENTIALS_TARGET_MISMATCH = 'CredentialsTargetMismatch';

/**
 * What dbops writes on (PostgreSQL: the comment of) every database and user it makes:
 * `{"managedBy":"dbops","database":"<db>","user":"<user>"}`, and on a user also
 * `"credentials":"<reference of its credentials target>"` (file:/path or aws-sm:[region:]name).
 */
export interface OwnershipMark {
  managedBy: 'dbops';
  database: string;
  user: string;
  credentials?: string;
  /** The run that created it (not set on what was adopted, or made before marks named runs). */
  run?: string;
}

export function makeMark(plan: Pick<SqlPlan, 'database' | 'user'>, credentials?: string, run?: string): OwnershipMark {
  return {
    managedBy: 'dbops',
    database: plan.database,
    user: plan.user,
    ...(credentials !== undefined ? { credentials } : {}),
    ...(run !== undefined ? { run } : {}),
  };
}

/**
 * For the undo of a cancelled run (`madeByRun`): why an object that is dbops's is kept, or
 * undefined when this run made it. Only meaningful for an object judged 'ours'.
 */
export function notMadeByRun(
  plan: SqlPlan,
  kind: string,
  name: string,
  mark: OwnershipMark | undefined,
): string | undefined {
  const run = (plan as Partial<DeprovisionPlan>).madeByRun;
  if (run === undefined || mark?.run === run) return undefined;
  return `${kind} ${name} kept: this run did not create it`;
}

/** The mark in a comment, or undefined when the comment is not one (no comment, or anything else). */
export function parseMark(text: string | null | undefined): OwnershipMark | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as Partial<OwnershipMark>;
    if (v && v.managedBy === 'dbops' && typeof v.database === 'string' && typeof v.user === 'string') {
      return makeMark(
        { database: v.database, user: v.user },
        typeof v.credentials === 'string' ? v.credentials : undefined,
        typeof v.run === 'string' ? v.run : undefined,
      );
    }
  } catch {
    // not JSON: someone else's comment
  }
  return undefined;
}

/** What the catalog says about one object the plan names. */
export interface ObjectFacts {
  exists: boolean;
  /** dbops's mark, when it has one. */
  mark?: OwnershipMark;
  /** Why dbops must never touch it (privileged account, system object), whatever the mark says. */
  protectedReason?: string;
  /** Why it cannot be adopted although adopt is on (it reaches beyond the tenant's database). */
  adoptBlocker?: string;
  /** Extra words for an unmarked object (e.g. an interrupted run left it). */
  note?: string;
}

/** What a step may do with an object: nothing there yet, dbops's own, or to be taken over (adopt). */
export type Ownership = 'absent' | 'ours' | 'adopt';

function where(plan: SqlPlan): string {
  return `${plan.engine} server ${plan.server.host}:${plan.server.port}`;
}

function adoptHint(server: Pick<ResolvedServer, 'entryName'>): string {
  return server.entryName
    ? `if it is this tenant's, the worker's operator can set adopt: true on databaseServers.${server.entryName} in DBOPS_CONFIG`
    : "if it is this tenant's, the worker's operator can list this server under databaseServers in DBOPS_CONFIG with adopt: true";
}

function describeMark(m: OwnershipMark): string {
  return `database ${m.database}, user ${m.user}`;
}

/**
 * Decides, for each object the step touches, whether it may go on; throws the refusal otherwise.
 * `mode` provision allows adopting an unmarked object when the operator set adopt on the server;
 * deprovision never does (adopt is for provisioning only). Pure.
 */
export function judgeOwnership(
  plan: SqlPlan,
  server: Pick<ResolvedServer, 'adminUser' | 'adminDatabase' | 'adopt' | 'entryName'>,
  facts: { database?: ObjectFacts; user?: ObjectFacts },
  mode: 'provision' | 'deprovision' | 'rotate',
  extraAdmins: string[] = [],
): { database: Ownership; user: Ownership } {
  const at = where(plan);
  const protectedObject = (what: string, why: string) =>
    ApplicationFailure.nonRetryable(
      `refusing to touch ${what} on ${at}: ${why}; dbops never changes, adopts or drops it`,
      PROTECTED,
    );

  // What is never a tenant's, checked even when it does not exist here.
  if (facts.database) {
    const db = plan.database.toLowerCase();
    const reservedDb = reservedNameProblem(db, plan.engine, 'database');
    if (reservedDb) throw protectedObject(`database ${plan.database}`, `it ${reservedDb}`);
    if (plan.engine === 'postgres' && db === server.adminDatabase.toLowerCase())
      throw protectedObject(`database ${plan.database}`, 'it is the database the admin connects to');
    if (!/^[a-z]/.test(db)) throw protectedObject(`database ${plan.database}`, 'tenant names start with a letter');
  }
  if (facts.user) {
    const u = plan.user.toLowerCase();
    const admins = [server.adminUser, ...extraAdmins].map((a) => a.toLowerCase());
    if (admins.includes(u)) throw protectedObject(`user ${plan.user}`, 'it is the admin login dbops works with');
    const reserved = reservedNameProblem(plan.user, plan.engine, 'user');
    if (reserved) throw protectedObject(`user ${plan.user}`, `it ${reserved}`);
    if (!/^[a-z]/.test(u)) throw protectedObject(`user ${plan.user}`, 'tenant names start with a letter');
  }
  if (facts.database?.exists && facts.database.protectedReason)
    throw protectedObject(`database ${plan.database}`, facts.database.protectedReason);
  if (facts.user?.exists && facts.user.protectedReason)
    throw protectedObject(`user ${plan.user}`, facts.user.protectedReason);

  const decide = (kind: 'database' | 'user', name: string, f: ObjectFacts | undefined): Ownership => {
    if (!f || !f.exists) return 'absent';
    const m = f.mark;
    if (m && m.database === plan.database && m.user === plan.user) return 'ours';
    if (m) {
      throw ApplicationFailure.nonRetryable(
        `${kind} ${name} on ${at} belongs to another dbops tenant (${describeMark(m)}), not database ${plan.database} with user ${plan.user}; dbops never hands one tenant's ${kind} to another`,
        NOT_OWNED,
      );
    }
    const note = f.note ? ` (${f.note})` : '';
    if (mode === 'deprovision') {
      throw ApplicationFailure.nonRetryable(
        `refusing to drop ${kind} ${name} on ${at}: it has no dbops mark${note}, so dbops did not make it for this tenant (adopt: true on the server does not apply to deprovisioning)`,
        NOT_OWNED,
      );
    }
    if (mode === 'rotate') {
      throw ApplicationFailure.nonRetryable(
        `refusing to rotate the credentials of ${kind} ${name} on ${at}: it has no dbops mark${note}, so dbops did not make it for this tenant (rotation never adopts)`,
        NOT_OWNED,
      );
    }
    if (!server.adopt) {
      throw ApplicationFailure.nonRetryable(
        `${kind} ${name} already exists on ${at} but was not made by dbops for this tenant (it has no dbops mark)${note}; dbops does not take over existing objects: ${adoptHint(server)}`,
        NOT_OWNED,
      );
    }
    if (f.adoptBlocker) throw protectedObject(`${kind} ${name}`, `it cannot be adopted: ${f.adoptBlocker}`);
    return 'adopt';
  };
  return { database: decide('database', plan.database, facts.database), user: decide('user', plan.user, facts.user) };
}

/**
 * A re-run for a user that dbops made with its credentials in one target, naming another target:
 * refused unless the other target already holds the password the user has (a copy).
 */
export function credentialsMismatch(plan: SqlPlan, markRef: string, planRef: string, why: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    `user ${plan.user} already exists on ${where(plan)} with credentials stored elsewhere (${markRef}); ${why}: give the same credentialsTarget (${markRef}), or copy those credentials to the new target first; dbops never changes the password silently`,
    CREDENTIALS_TARGET_MISMATCH,
  );
}

/**
 * A rotation (or a repair) writes a tenant's new password only to the credentials target its
 * user's mark names (`markRef`, kept when provisioning stored it there): through another allowed
 * target, a stale copy say, the copy would get the new password while the tenant's own target
 * keeps the old one, which stops working when the grace ends.
 */
export function requireMarkedTarget(plan: SqlPlan, planRef: string, markRef: string | undefined): void {
  if (markRef && markRef !== planRef)
    throw credentialsMismatch(
      plan,
      markRef,
      planRef,
      `a rotation through ${planRef} would leave the connection string in ${markRef} with a password that stops working after the grace`,
    );
}

/** Throws unless an earlier ensure stage made and marked the object (grant and verify need it so). */
export function requireOurs(
  engine: 'postgres' | 'mysql',
  plan: SqlPlan,
  kind: string,
  name: string,
  o: Ownership,
): void {
  if (o === 'ours') return;
  const where = `${engine} server ${plan.server.host}:${plan.server.port}`;
  throw ApplicationFailure.nonRetryable(
    o === 'absent'
      ? `${kind} ${name} does not exist on ${where}; the ensure stages make it first`
      : `${kind} ${name} on ${where} has no dbops mark yet; the ensure stages mark it first`,
    o === 'absent' ? 'SqlError' : NOT_OWNED,
  );
}

/*
 * Rotation twins. A tenant's credential rotation alternates its login `<user>` with `<user>_b`
 * (domain/rotation.ts), made by the rotation and marked for the tenant's database with itself as
 * the user. Provisioning and deprovisioning keep out of that name space: a user `<x>_b` whose
 * `<x>` is a dbops login is never provisioned, adopted or dropped as a tenant of its own, and a
 * user whose `<user>_b` is already another dbops tenant's is not provisioned (its rotation could
 * never run). Deprovisioning a tenant drops its twin with it.
 */

/** What a step knows about the names around the plan's user; each absent when it does not apply. */
export interface TwinFacts {
  /** When the plan's user is `<x>_b`: login `<x>`. */
  base?: ObjectFacts & { name: string };
  /** Login `<user>_b`. */
  twin: ObjectFacts & { name: string };
}

/** `<x>` when `user` is `<x>_b`. */
export function twinBase(user: string): string | undefined {
  return user.length > 2 && user.endsWith('_b') ? user.slice(0, -2) : undefined;
}

/**
 * Refuses a plan whose user is another login's rotation twin, or (provisioning) whose twin name
 * another dbops tenant holds; returns whether `<user>_b` is this tenant's own twin (marked for its
 * database, not a protected account), which deprovisioning drops with the user. Pure.
 */
export function judgeTwins(plan: SqlPlan, f: TwinFacts, mode: 'provision' | 'deprovision'): boolean {
  const at = where(plan);
  const baseMark = f.base?.exists ? f.base.mark : undefined;
  if (f.base && baseMark) {
    const hint =
      mode === 'deprovision'
        ? `deprovisioning database ${baseMark.database} with user ${f.base.name} removes both`
        : 'give another user';
    throw ApplicationFailure.nonRetryable(
      `user ${plan.user} on ${at} is the rotation twin of dbops login ${f.base.name} (${describeMark(baseMark)}): dbops keeps that name for the credential rotation of ${f.base.name} and never ${mode === 'deprovision' ? 'drops' : 'provisions or adopts'} it as a tenant's own user; ${hint}`,
      NOT_OWNED,
    );
  }
  const m = f.twin.exists ? f.twin.mark : undefined;
  const own = Boolean(m && m.database === plan.database && m.user === f.twin.name && !f.twin.protectedReason);
  if (mode === 'provision' && m && !own)
    throw ApplicationFailure.nonRetryable(
      `user ${plan.user} on ${at} would need ${f.twin.name} for its credential rotation, but ${f.twin.name} belongs to another dbops tenant (${describeMark(m)}); give another user`,
      NOT_OWNED,
    );
  return own;
}
