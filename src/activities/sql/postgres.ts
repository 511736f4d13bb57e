/**
 * PostgreSQL provisioning steps. Each checks the catalog first and acts only when something is
 * missing, so every step is safe to re-run, and tolerates a concurrent run creating the same thing.
 *
 * Ownership: every database and role dbops makes carries its mark in its comment
 * (`COMMENT ON DATABASE/ROLE … IS '{"managedBy":"dbops","database":…,"user":…}'`, the role's also
 * naming its credentials target). A step changes, adopts or drops only what carries the mark for
 * the plan's own database and user (or, with adopt on the server, takes over an unmarked one), and
 * never the admin login, a privileged role or a system database. `connect` checks all of it,
 * read-only, before anything is created; each step checks again against the live catalog.
 */
import crypto from 'node:crypto';
import { escapeLiteral, type ClientBase } from 'pg';
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { SqlPlan } from '../../domain/provision';
import { sha256Hex } from '../../domain/hash';
import { quotePgIdent as q } from '../../domain/sql-names';
import type { AwsClients } from '../aws-clients';
import { claimPassword, inspectCredentialsTarget, readCredentials, targetRef } from '../credentials';
import { classifySqlError } from './errors';
import { SqlPools } from './admin-pools';
import { resolveServer, serverPolicy, type ResolvedServer, type SqlDeps } from './connection';
import { pgClient, pgServerKey, withPgAdmin } from './postgres-pool';
import { scramMatches, scramVerifier } from './passwords';
import { rotationActivities, type RotationOps } from './rotation';
import { standbyName, type RotationPlan } from '../../domain/rotation';
import { generatePassword } from '../credentials';
import {
  credentialsMismatch,
  isDeprovision,
  judgeOwnership,
  makeMark,
  NOT_OWNED,
  notMadeByRun,
  parseMark,
  judgeTwins,
  twinBase,
  type DeprovisionPlan,
  type TwinFacts,
  type ObjectFacts,
  type Ownership,
  type SqlEngineActivities,
  type RepairResult,
  type StepResult,
  type TenantPlan,
  type TenantPlanRequest,
  requireOurs,
  requireMarkedTarget,
} from './types';
import { change, type PlannedChange } from '../../domain/plan';
import { BEYOND, credentialFacts, dropCredentialsChanges, repairPassword, requireTenantOurs } from './tenant-plan';

const ALREADY_EXISTS = new Set(['42P04', '42710', '23505']);
const DUPLICATE_DATABASE = '42P04';

interface Session {
  sql: ClientBase;
  server: ResolvedServer;
  plan: SqlPlan;
  /** The admin's own role name, as the server knows it. */
  me: string;
}

interface PgFacts {
  database: ObjectFacts & { oid?: string };
  user: ObjectFacts;
}

/**
 * Where a tenant's database is created before it carries dbops's mark: `_dbops_pending_<hash>`.
 * Input names start with a letter, so no run can name (or adopt) it.
 */
export function pendingDatabaseName(database: string): string {
  return `_dbops_pending_${sha256Hex(`dbops:${database}`).slice(0, 16)}`;
}

export function createPostgresActivities(
  deps: SqlDeps & { aws: AwsClients; pools?: SqlPools; temporal?: Client },
): SqlEngineActivities {
  const pools = deps.pools ?? new SqlPools();

  /**
   * Runs `fn` as the admin, on a connection of the worker's pool for the server (admin-pools.ts),
   * or, inside a tenant's database, on a short-lived connection of its own; every error leaves
   * classified. Steps that change something hold session advisory locks first (per database, and
   * per user where a user is changed), so concurrent runs take turns (catalog updates on the same
   * row would otherwise fail with "tuple concurrently updated"); they are released before the
   * connection goes back to the pool, and go with it when it is closed after an error.
   */
  async function admin<T>(
    plan: SqlPlan,
    action: string,
    fn: (s: Session) => Promise<T>,
    database?: string,
    locks: Array<'database' | 'user'> = ['database'],
  ): Promise<T> {
    const server = await resolveServer(plan, deps);
    const db = database ?? server.adminDatabase;
    // Who the admin is, and the locks, in one round trip (the database's first: always this order).
    const open = async (sql: ClientBase): Promise<string> => {
      const keys = [
        ...(locks.includes('database') ? [`dbops:${plan.database}`] : []),
        ...(locks.includes('user') ? [`dbops:user:${plan.user}`] : []),
      ];
      const lock = keys.map((_, i) => `, pg_advisory_lock(hashtext($${i + 1}))`).join('');
      return (await one<{ me: string }>(sql, `select current_user as me${lock}`, keys))!.me;
    };
    try {
      if (db === server.adminDatabase) {
        return await withPgAdmin(pools, server, db, open, async (sql, me) => {
          const v = await fn({ sql, server, plan, me });
          if (locks.length) await sql.query('select pg_advisory_unlock_all()');
          return v;
        });
      }
      // Inside a tenant's database (rare: before PostgreSQL 15, and deprovisioning): its own connection.
      return await pools.shortLived(pgServerKey(server), async () => {
        const sql = pgClient(server, server.adminUser, server.adminPassword, db);
        try {
          await sql.connect();
          return await fn({ sql, server, plan, me: await open(sql) });
        } finally {
          await sql.end().catch(() => undefined);
        }
      });
    } catch (err) {
      throw classifySqlError(err, {
        engine: 'postgres',
        host: plan.server.host,
        port: plan.server.port,
        login: server.adminUser,
        action,
        secrets: server.secrets,
      });
    }
  }

  async function one<T>(sql: ClientBase, text: string, params: unknown[] = []): Promise<T | undefined> {
    return (await sql.query(text, params)).rows[0] as T | undefined;
  }

  /**
   * Runs statements in one transaction (CREATE ROLE and its mark commit together or not at all),
   * sent as one query: PostgreSQL runs the statements of one simple query as a single transaction,
   * rolled back whole when one fails.
   */
  async function tx(sql: ClientBase, statements: string[]): Promise<void> {
    await sql.query(statements.join(';\n'));
  }

  /** Whether the tenant's database holds no table, view, sequence or function of its own yet. */
  async function isEmpty(plan: SqlPlan): Promise<boolean> {
    return admin(
      plan,
      `look inside database ${plan.database}`,
      async ({ sql }) => {
        const n = await one<{ n: string }>(
          sql,
          `select (select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
                  where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_toast%'
                    and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f'))
              + (select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                  where n.nspname not in ('pg_catalog', 'information_schema')) as n`,
        );
        return Number(n?.n ?? 0) === 0;
      },
      plan.database,
      [],
    );
  }

  async function isSuperuser(sql: ClientBase): Promise<boolean> {
    return (
      (await one<{ s: boolean }>(sql, 'select rolsuper as s from pg_roles where rolname = current_user'))?.s ?? false
    );
  }

  /** On RDS the admin is not superuser: it must be a member of a role to hand objects to it. */
  async function ensureMembership(sql: ClientBase, role: string, superuser?: boolean): Promise<void> {
    if (superuser ?? (await isSuperuser(sql))) return;
    const m = await one<{ m: boolean }>(sql, "select pg_has_role(current_user, $1, 'MEMBER') as m", [role]);
    if (!m?.m) await sql.query(`GRANT ${q(role)} TO CURRENT_USER`);
  }

  async function roleExists(sql: ClientBase, role: string): Promise<boolean> {
    return Boolean(await one(sql, 'select 1 from pg_roles where rolname = $1', [role]));
  }

  /**
   * What the live catalog says about the plan's database and role: whether they exist, their
   * dbops mark, and what makes them untouchable (privileged role, template or system database) or
   * not adoptable (a role that reaches beyond the tenant's database).
   */
  async function facts(sql: ClientBase, plan: SqlPlan): Promise<PgFacts> {
    // One round trip: the database and the role (each row null when absent), the role's
    // memberships both ways, and how much it owns or holds outside the tenant's database.
    const f = (await one<{
      db_oid: string | null;
      template: boolean;
      allowconn: boolean;
      db_c: string | null;
      role_oid: string | null;
      su: boolean;
      crole: boolean;
      repl: boolean;
      bypass: boolean;
      cdb: boolean;
      role_c: string | null;
      member_of: string[];
      members: string[];
      reach: string;
    }>(
      sql,
      `select d.oid::text as db_oid, d.datistemplate as template, d.datallowconn as allowconn,
              shobj_description(d.oid, 'pg_database') as db_c,
              r.oid::text as role_oid, r.rolsuper as su, r.rolcreaterole as crole, r.rolreplication as repl,
              r.rolbypassrls as bypass, r.rolcreatedb as cdb, shobj_description(r.oid, 'pg_authid') as role_c,
              array(select g.rolname::text from pg_auth_members m join pg_roles g on g.oid = m.roleid
                     where m.member = r.oid and g.rolname <> 'rds_iam' order by 1) as member_of,
              array(select g.rolname::text from pg_auth_members m join pg_roles g on g.oid = m.member
                     where m.roleid = r.oid and g.rolname <> current_user order by 1) as members,
              (select count(*) from pg_shdepend s
                where s.refclassid = 'pg_authid'::regclass and s.refobjid = r.oid
                  and not (d.oid is not null and (s.dbid = d.oid
                       or (s.dbid = 0 and s.classid = 'pg_database'::regclass and s.objid = d.oid))))::text as reach
         from (select 1) as one
         left join pg_database d on d.datname = $1
         left join pg_roles r on r.rolname = $2`,
      [plan.database, plan.user],
    ))!;
    const database: PgFacts['database'] = { exists: f.db_oid !== null };
    if (f.db_oid !== null) {
      database.oid = f.db_oid;
      database.mark = parseMark(f.db_c);
      if (f.template) database.protectedReason = 'it is a template database';
      else if (!f.allowconn) database.protectedReason = 'it does not allow connections (a system database)';
    }
    const user: ObjectFacts = { exists: f.role_oid !== null };
    if (f.role_oid !== null) {
      user.mark = parseMark(f.role_c);
      const attrs = [
        f.su && 'SUPERUSER',
        f.crole && 'CREATEROLE',
        f.repl && 'REPLICATION',
        f.bypass && 'BYPASSRLS',
        f.cdb && 'CREATEDB',
      ].filter(Boolean);
      if (attrs.length) user.protectedReason = `it is a privileged role (${attrs.join(', ')})`;
      const { member_of: memberOf, members } = f;
      const blockers = [
        memberOf.length && `it is a member of ${memberOf.join(', ')}`,
        members.length && `${members.join(', ')} ${members.length === 1 ? 'is a member' : 'are members'} of it`,
        Number(f.reach) > 0 && `it owns objects or holds privileges outside database ${plan.database}`,
      ].filter(Boolean);
      if (blockers.length) user.adoptBlocker = blockers.join('; ');
    }
    return { database, user };
  }

  /** The roles around the plan's user: `<x>` when it is `<x>_b`, and its own twin `<user>_b` (types.ts). */
  async function twinFacts(sql: ClientBase, plan: SqlPlan): Promise<TwinFacts> {
    const role = async (name: string) => ({ name, ...(await facts(sql, { ...plan, user: name })).user });
    const base = twinBase(plan.user);
    return { base: base !== undefined ? await role(base) : undefined, twin: await role(standbyName(plan.user)) };
  }

  /** Whether `password` already works for the role (checked without changing anything). */
  async function passwordMatches(s: Session, password: string): Promise<boolean> {
    if (await isSuperuser(s.sql)) {
      const row = await one<{ p: string | null }>(s.sql, 'select rolpassword as p from pg_authid where rolname = $1', [
        s.plan.user,
      ]);
      return scramMatches(password, row?.p);
    }
    return pools.shortLived(pgServerKey(s.server), async () => {
      const probe = pgClient(s.server, s.plan.user, password, s.plan.database);
      try {
        await probe.connect();
        return true;
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === '28P01' || code === '28000') return false;
        throw err;
      } finally {
        await probe.end().catch(() => undefined);
      }
    });
  }

  /**
   * A user dbops made keeps the password in the target its mark names. A run naming another
   * target would set a new password (breaking the first connection string), so it is refused
   * unless that target already holds the password the user has. `password`: what the run's target
   * holds (undefined: nothing yet).
   */
  async function checkCredentialsContinuity(
    s: Session,
    user: ObjectFacts,
    ownership: Ownership,
    ref: string,
    password: string | undefined,
  ): Promise<void> {
    const markRef = user.mark?.credentials;
    if (s.plan.auth !== 'password' || ownership !== 'ours' || !markRef || markRef === ref) return;
    if (password === undefined) {
      throw credentialsMismatch(
        s.plan,
        markRef,
        ref,
        `${ref} holds nothing yet, so this run would give the user a new password and the connection string in ${markRef} would stop working`,
      );
    }
    if (!(await passwordMatches(s, password))) {
      throw credentialsMismatch(s.plan, markRef, ref, `${ref} holds another password than the one the user has`);
    }
  }

  const markSql = (kind: 'DATABASE' | 'ROLE', name: string, mark: object) =>
    `COMMENT ON ${kind} ${q(name)} IS ${escapeLiteral(JSON.stringify(mark))}`;

  const needsOurs = (plan: SqlPlan, kind: string, name: string, o: Ownership) =>
    requireOurs('postgres', plan, kind, name, o);

  /**
   * Drops a tenant's rotation twin: its sessions ended, what it owns handed to the admin (in the
   * tenant's database too while it is there, as with reclaimPolicy retain), then the role.
   */
  async function dropRole(s: Session, role: string): Promise<void> {
    const { sql, plan } = s;
    await ensureMembership(sql, role);
    await sql.query('select pg_terminate_backend(pid) from pg_stat_activity where usename = $1', [role]);
    if (await one(sql, 'select 1 from pg_database where datname = $1', [plan.database]))
      await admin(
        plan,
        `reassign objects of ${role} in ${plan.database}`,
        async ({ sql: inDb }) => {
          await inDb.query(`REASSIGN OWNED BY ${q(role)} TO CURRENT_USER`);
          await inDb.query(`DROP OWNED BY ${q(role)}`);
        },
        plan.database,
        [],
      );
    await sql.query(`REASSIGN OWNED BY ${q(role)} TO CURRENT_USER`);
    await sql.query(`DROP OWNED BY ${q(role)}`);
    await sql.query(`DROP ROLE IF EXISTS ${q(role)}`);
  }

  /**
   * Rotation (rotation.ts). The second login `<user>_b` is a member of `<user>` (the database's
   * owner) with `role` set to it, so its sessions act as `<user>`: what either login creates
   * belongs to `<user>`, and the two see the same objects. Its mark names itself as the user.
   */
  async function ownLogin(s: Session, plan: RotationPlan, login: string, need: 'ours' | 'ours-or-absent') {
    const asLogin = { ...plan, user: login };
    const f = await facts(s.sql, asLogin);
    // The database carries the tenant's mark (its primary user), each login its own.
    const db = judgeOwnership(plan, s.server, { database: f.database }, 'rotate', [s.me]).database;
    needsOurs(plan, 'database', plan.database, db);
    const user = judgeOwnership(asLogin, s.server, { user: f.user }, 'rotate', [s.me]).user;
    if (need === 'ours') needsOurs(asLogin, 'user', login, user);
    return user;
  }
  const rotationOps: RotationOps = {
    async checkLogins(plan) {
      return admin(
        plan,
        `check the logins of ${plan.database}`,
        async (s) => {
          await ownLogin(s, plan, plan.logins.primary, 'ours');
          requireMarkedTarget(
            plan,
            targetRef(plan.credentialsTarget),
            (await facts(s.sql, { ...plan, user: plan.logins.primary })).user.mark?.credentials,
          );
          const standby = await ownLogin(s, plan, plan.logins.standby, 'ours-or-absent');
          return standby === 'ours'
            ? `${plan.logins.primary} and ${plan.logins.standby} are this tenant's`
            : `${plan.logins.primary} is this tenant's`;
        },
        undefined,
        [],
      );
    },
    async setPassword(plan, login, password) {
      const ref = targetRef(plan.credentialsTarget);
      await admin(
        plan,
        `set a new password on ${login}`,
        async (s) => {
          const { sql } = s;
          await ownLogin(s, plan, plan.logins.primary, 'ours');
          const own = await ownLogin(s, plan, login, login === plan.logins.primary ? 'ours' : 'ours-or-absent');
          const verifier = escapeLiteral(scramVerifier(password));
          if (login === plan.logins.primary) {
            await sql.query(`ALTER ROLE ${q(login)} WITH LOGIN PASSWORD ${verifier}`);
            return;
          }
          const primary = q(plan.logins.primary);
          await ensureMembership(sql, plan.logins.primary);
          if (own === 'absent') {
            await tx(sql, [
              `CREATE ROLE ${q(login)} LOGIN PASSWORD ${verifier} IN ROLE ${primary}`,
              markSql('ROLE', login, makeMark({ database: plan.database, user: login }, ref, plan.runId)),
              `ALTER ROLE ${q(login)} SET role = ${escapeLiteral(plan.logins.primary)}`,
            ]);
            return;
          }
          await tx(sql, [
            `ALTER ROLE ${q(login)} WITH LOGIN PASSWORD ${verifier}`,
            `GRANT ${primary} TO ${q(login)}`,
            `ALTER ROLE ${q(login)} SET role = ${escapeLiteral(plan.logins.primary)}`,
          ]);
        },
        undefined,
        ['database', 'user'],
      );
    },
    async loginWorks(plan, login, password) {
      const server = await resolveServer(plan, deps);
      return pools.shortLived(pgServerKey(server), async () => {
        const probe = pgClient(server, login, password, plan.database);
        try {
          await probe.connect();
          await probe.query('select 1');
          return true;
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (code === '28P01' || code === '28000') return false;
          throw classifySqlError(err, {
            engine: 'postgres',
            host: plan.server.host,
            port: plan.server.port,
            login,
            action: `log in to ${plan.database} as ${login}`,
            secrets: [...server.secrets, password],
          });
        } finally {
          await probe.end().catch(() => undefined);
        }
      });
    },
    async retire(plan, login) {
      await admin(
        plan,
        `retire ${login}`,
        async (s) => {
          await ownLogin(s, plan, login, 'ours');
          // A random verifier nobody keeps, and NOLOGIN: the old password stops working for new logins.
          const verifier = escapeLiteral(scramVerifier(generatePassword()));
          await s.sql.query(`ALTER ROLE ${q(login)} WITH NOLOGIN PASSWORD ${verifier}`);
        },
        undefined,
        ['database', 'user'],
      );
    },
    async endSessions(plan, login) {
      return admin(
        plan,
        `end the sessions of ${login}`,
        async (s) => {
          await ownLogin(s, plan, login, 'ours');
          await ensureMembership(s.sql, login); // signalling a role's backends needs its privileges (RDS: not superuser)
          // Sessions logged in as this login only: usename is the login, whatever role a session set.
          const r = await s.sql.query<{ ok: boolean }>(
            'select pg_terminate_backend(pid) as ok from pg_stat_activity where usename = $1 and pid <> pg_backend_pid()',
            [login],
          );
          return { ended: r.rows.filter((x) => x.ok).length };
        },
        undefined,
        ['database', 'user'],
      );
    },
  };
  const rotation = rotationActivities(rotationOps, deps);

  const acts: SqlEngineActivities = {
    rotateCheck: rotation.check,
    rotateSwitch: rotation.switchTo,
    rotateRetire: rotation.retire,
    async connect(plan) {
      const mode = isDeprovision(plan) ? 'deprovision' : 'provision';
      // The credentials target first: an unusable or foreign one is refused before any SQL.
      const target = plan.credentialsTarget ? await inspectCredentialsTarget(plan, deps) : undefined;
      return admin(
        plan,
        'log in as the admin user',
        async (s) => {
          const { sql } = s;
          const r = (await one<{ v: string; num: string; su: boolean; cdb: boolean; crole: boolean; me: string }>(
            sql,
            `select version() as v, current_setting('server_version_num') as num, r.rolsuper as su, r.rolcreatedb as cdb,
                  r.rolcreaterole as crole, current_user as me
             from pg_roles r where r.rolname = current_user`,
          ))!;
          if (!r.su && !(r.cdb && r.crole)) {
            throw ApplicationFailure.nonRetryable(
              `admin user ${r.me} on postgres server ${plan.server.host}:${plan.server.port} needs CREATEDB and CREATEROLE (or superuser)`,
              'SqlPermissionDenied',
            );
          }
          if (plan.auth === 'iam' && !(await roleExists(sql, 'rds_iam'))) {
            throw ApplicationFailure.nonRetryable(
              `IAM database authentication is not available on postgres server ${plan.server.host}:${plan.server.port}: role "rds_iam" does not exist (it needs RDS/Aurora PostgreSQL)`,
              'SqlIamUnavailable',
            );
          }
          // Read-only: what exists, whose it is, and whether this run may touch it.
          const f = await facts(sql, plan);
          const twin = judgeTwins(plan, await twinFacts(sql, plan), mode);
          const own = judgeOwnership(plan, s.server, f, mode, [s.me]);
          if (mode === 'provision' && target)
            await checkCredentialsContinuity(
              s,
              f.user,
              own.user,
              target.ref,
              target.state === 'ours' ? target.stored.password : undefined,
            );
          const version = r.v.split(' ').slice(0, 2).join(' ');
          const found = [
            own.database !== 'absent' &&
              `database ${plan.database}: ${own.database === 'ours' ? "dbops's" : 'to adopt'}`,
            own.user !== 'absent' && `user ${plan.user}: ${own.user === 'ours' ? "dbops's" : 'to adopt'}`,
            twin && `rotation twin ${standbyName(plan.user)}: dbops's`,
          ].filter(Boolean);
          return {
            serverVersion: version,
            detail: `${version} as ${r.me}${r.su ? ' (superuser)' : ''}${found.length ? `; ${found.join(', ')}` : ''}`,
          };
        },
        undefined,
        [],
      );
    },

    async ensureDatabase(plan) {
      return admin(plan, `create database ${plan.database}`, async (s) => {
        const { sql } = s;
        for (let attempt = 0; ; attempt++) {
          const f = await facts(sql, plan);
          const own = judgeOwnership(plan, s.server, { database: f.database }, 'provision', [s.me]).database;
          if (own === 'ours')
            return { changed: false, detail: `database ${plan.database} already exists (made by dbops)` };
          if (own === 'adopt') {
            await sql.query(markSql('DATABASE', plan.database, makeMark(plan)));
            return {
              changed: true,
              detail: `adopted database ${plan.database} (adopt is on for this server): marked as dbops's`,
            };
          }
          // CREATE DATABASE cannot run in a transaction with its mark, so the database is made under
          // a pending name no input can give, then marked and renamed in one transaction: a crash
          // in between leaves the pending database, which the next attempt finishes.
          const pending = pendingDatabaseName(plan.database);
          // Created, or found made by an earlier attempt (the CREATE fails as a whole): one round trip either way.
          const pendingExists = await sql.query(`CREATE DATABASE ${q(pending)}`).then(
            () => false,
            (err: { code?: string }) => {
              if (err.code === DUPLICATE_DATABASE) return true;
              throw err;
            },
          );
          try {
            await tx(sql, [
              markSql('DATABASE', pending, makeMark(plan, undefined, plan.runId)),
              `ALTER DATABASE ${q(pending)} RENAME TO ${q(plan.database)}`,
            ]);
          } catch (err) {
            // Someone else made it between the check and the rename: judge it again (unmarked: refused).
            if (ALREADY_EXISTS.has((err as { code?: string }).code ?? '') && attempt === 0) continue;
            throw err;
          }
          return {
            changed: true,
            detail: `created database ${plan.database}${pendingExists ? ' (finished what an earlier attempt began)' : ''}`,
          };
        }
      });
    },

    async ensureUser(plan) {
      // Names that are never a tenant's are refused before a password is claimed for them.
      judgeOwnership(plan, serverPolicy(plan, deps), { user: { exists: false } }, 'provision');
      const password = plan.auth === 'password' ? await claimPassword(plan, deps) : undefined;
      const ref = plan.credentialsTarget ? targetRef(plan.credentialsTarget) : undefined;
      return admin(
        plan,
        `create user ${plan.user}`,
        async (s) => {
          const { sql } = s;
          const changes: string[] = [];
          judgeTwins(plan, await twinFacts(sql, plan), 'provision');
          for (let attempt = 0; ; attempt++) {
            const f = await facts(sql, plan);
            const own = judgeOwnership(plan, s.server, { user: f.user }, 'provision', [s.me]).user;
            const login = password !== undefined ? `LOGIN PASSWORD ${escapeLiteral(scramVerifier(password))}` : 'LOGIN';
            if (own === 'absent') {
              try {
                // The role and its mark in one transaction: there is never an unmarked role of dbops's.
                // With IAM, rds_iam too: on a server without IAM support nothing is left behind.
                await tx(sql, [
                  `CREATE ROLE ${q(plan.user)} ${login}`,
                  markSql('ROLE', plan.user, makeMark(plan, ref, plan.runId)),
                  ...(plan.auth === 'iam' ? [`GRANT rds_iam TO ${q(plan.user)}`] : []),
                ]);
                changes.push(`created user ${plan.user}`);
                break;
              } catch (err) {
                if (ALREADY_EXISTS.has((err as { code?: string }).code ?? '') && attempt === 0) continue; // made concurrently: judge again
                throw err;
              }
            }
            if (own === 'adopt') {
              await tx(sql, [
                `ALTER ROLE ${q(plan.user)} WITH ${login}`,
                markSql('ROLE', plan.user, makeMark(plan, ref)),
              ]);
              changes.push(
                `adopted user ${plan.user} (adopt is on for this server): ${password !== undefined ? 'set the stored password, ' : ''}marked as dbops's`,
              );
              break;
            }
            // ours
            if (ref && password !== undefined) await checkCredentialsContinuity(s, f.user, own, ref, password);
            if (password !== undefined) {
              const canLogin = (
                await one<{ l: boolean }>(sql, 'select rolcanlogin as l from pg_roles where rolname = $1', [plan.user])
              )?.l;
              if (!(canLogin && (await passwordMatches(s, password)))) {
                await sql.query(`ALTER ROLE ${q(plan.user)} WITH ${login}`);
                changes.push(`user ${plan.user} existed with another password: set the stored one`);
              }
            }
            if (ref && f.user.mark?.credentials !== ref) {
              await sql.query(markSql('ROLE', plan.user, makeMark(plan, ref, f.user.mark?.run)));
              changes.push(`its credentials are now recorded at ${ref}`);
            }
            break;
          }
          if (plan.auth === 'iam') {
            const m = await one<{ m: boolean }>(sql, "select pg_has_role($1, 'rds_iam', 'MEMBER') as m", [plan.user]);
            if (!m?.m) {
              await sql.query(`GRANT rds_iam TO ${q(plan.user)}`);
              changes.push(`made ${plan.user} a member of rds_iam`);
            }
          }
          return changes.length
            ? { changed: true, detail: changes.join('; ') }
            : {
                changed: false,
                detail: `user ${plan.user} already exists${password !== undefined ? ' with the stored password' : ''}`,
              };
        },
        undefined,
        ['database', 'user'],
      );
    },

    async grant(plan) {
      const changes: string[] = [];
      const version = await admin(
        plan,
        `grant ${plan.database} to ${plan.user}`,
        async (s) => {
          const { sql } = s;
          const own = judgeOwnership(plan, s.server, await facts(sql, plan), 'provision', [s.me]);
          needsOurs(plan, 'database', plan.database, own.database);
          needsOurs(plan, 'user', plan.user, own.user);
          const db = (await one<{ owner: string; public: boolean; version: string; su: boolean }>(
            sql,
            `select pg_get_userbyid(d.datdba) as owner,
                  exists(select 1 from aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a where a.grantee = 0) as public,
                  current_setting('server_version_num') as version,
                  (select rolsuper from pg_roles where rolname = current_user) as su
             from pg_database d where d.datname = $1`,
            [plan.database],
          ))!;
          const statements: string[] = [];
          if (db.owner !== plan.user) {
            // A database dbops made belongs to the admin until this step (or to the user after it).
            // Owned by anyone else, it is handed over only when the operator allows adopting here:
            // its comment alone (which its owner can rewrite) is not enough to take it from that owner.
            if (db.owner !== s.me && !s.server.adopt) {
              throw ApplicationFailure.nonRetryable(
                `database ${plan.database} on postgres server ${plan.server.host}:${plan.server.port} is owned by role ${db.owner}, neither ${plan.user} nor the admin; dbops does not take it from its owner unless the operator sets adopt: true on this server in DBOPS_CONFIG`,
                NOT_OWNED,
              );
            }
            await ensureMembership(sql, plan.user, db.su);
            statements.push(`ALTER DATABASE ${q(plan.database)} OWNER TO ${q(plan.user)}`);
            changes.push(`owner ${db.owner} → ${plan.user}`);
          }
          if (db.public) {
            statements.push(`REVOKE ALL ON DATABASE ${q(plan.database)} FROM PUBLIC`);
            changes.push('revoked PUBLIC access');
          }
          if (statements.length) await tx(sql, statements);
          return Number(db.version);
        },
        undefined,
        ['database', 'user'],
      );
      if (version < 150000) {
        // Before PostgreSQL 15 everyone may create in schema public: take that away.
        await admin(
          plan,
          `restrict schema public in ${plan.database}`,
          async ({ sql }) => {
            const open = await one(
              sql,
              `select 1 from pg_namespace n, aclexplode(n.nspacl) a where n.nspname = 'public' and a.grantee = 0 and a.privilege_type = 'CREATE'`,
            );
            if (open) {
              await sql.query('REVOKE CREATE ON SCHEMA public FROM PUBLIC');
              changes.push('revoked CREATE on schema public from PUBLIC');
            }
          },
          plan.database,
        );
      }
      return changes.length
        ? { changed: true, detail: changes.join('; ') }
        : { changed: false, detail: `${plan.user} already owns ${plan.database}; PUBLIC has no access` };
    },

    async verify(plan) {
      const others = await admin(
        plan,
        `check the privileges of ${plan.user}`,
        async ({ sql }) => {
          // By oid, not name: a database another run renames meanwhile (its pending name) is not an error.
          const r = (await one<{ su: boolean; cdb: boolean; crole: boolean; others: string[] }>(
            sql,
            `select rolsuper as su, rolcreatedb as cdb, rolcreaterole as crole,
                    array(select datname::text from pg_database
                           where not datistemplate and datname <> $2 and has_database_privilege($1, oid, 'CONNECT')
                           order by datname) as others
               from pg_roles where rolname = $1`,
            [plan.user, plan.database],
          ))!;
          if (r.su || r.cdb || r.crole) {
            throw ApplicationFailure.nonRetryable(
              `user ${plan.user} has server-wide privileges (superuser, CREATEDB or CREATEROLE)`,
              'VerifyFailed',
            );
          }
          return r.others;
        },
        undefined,
        [],
      );
      if (plan.auth === 'iam') {
        return {
          changed: false,
          detail: `privileges checked; login not tried (an IAM token login needs RDS)${others.length ? `; may also connect to: ${others.join(', ')}` : ''}`,
        };
      }
      const stored = await readCredentials(plan, deps);
      const server = await resolveServer(plan, deps);
      const table = `dbops_verify_${crypto.randomBytes(6).toString('hex')}`;
      try {
        await pools.shortLived(pgServerKey(server), async () => {
          const me = pgClient(server, plan.user, stored?.password, plan.database);
          try {
            await me.connect();
            // In a transaction that is rolled back (one round trip): a connection cut halfway leaves no probe table.
            await me.query(`BEGIN; CREATE TABLE ${q(table)} (id int); ROLLBACK`);
            // Reading another tenant's database is refused by its REVOKE ... FROM PUBLIC.
          } finally {
            await me.end().catch(() => undefined);
          }
        });
      } catch (err) {
        throw classifySqlError(err, {
          engine: 'postgres',
          host: plan.server.host,
          port: plan.server.port,
          login: plan.user,
          action: `create a table in ${plan.database} as ${plan.user}`,
          secrets: [...server.secrets, stored?.password ?? ''],
        });
      }
      const note = others.length ? `; it may also connect to (PUBLIC CONNECT): ${others.join(', ')}` : '';
      return { changed: false, detail: `${plan.user} logged in and created a table in ${plan.database}${note}` };
    },

    async dropDatabase(plan: DeprovisionPlan): Promise<StepResult> {
      if (plan.reclaimPolicy === 'delete') {
        return admin(plan, `drop database ${plan.database}`, async (s) => {
          const { sql } = s;
          const f = await facts(sql, plan);
          // Only a database carrying this tenant's mark is dropped (adopt never applies here), and
          // only when its user is this tenant's too (or gone).
          const own = judgeOwnership(plan, s.server, f, 'deprovision', [s.me]);
          if (own.database === 'absent') return { changed: false, detail: `database ${plan.database} does not exist` };
          const kept = notMadeByRun(plan, 'database', plan.database, f.database.mark);
          if (kept) return { changed: false, detail: kept };
          if (plan.madeByRun !== undefined && !(await isEmpty(plan)))
            return { changed: false, detail: `database ${plan.database} kept: it holds data already` };
          if (own.user === 'ours') await ensureMembership(sql, plan.user).catch(() => undefined);
          await sql.query(`DROP DATABASE IF EXISTS ${q(plan.database)} WITH (FORCE)`);
          return { changed: true, detail: `dropped database ${plan.database}` };
        });
      }
      // retain: keep the data, hand it to the admin so the login can go.
      const changed = await admin(
        plan,
        `take over database ${plan.database}`,
        async (s) => {
          const { sql } = s;
          const own = judgeOwnership(plan, s.server, await facts(sql, plan), 'deprovision', [s.me]);
          if (own.database === 'absent') return false;
          const owner = (await one<{ o: string }>(
            sql,
            'select pg_get_userbyid(datdba) as o from pg_database where datname = $1',
            [plan.database],
          ))!.o;
          if (owner !== plan.user || own.user === 'absent') return false;
          await ensureMembership(sql, plan.user);
          await sql.query(`ALTER DATABASE ${q(plan.database)} OWNER TO CURRENT_USER`);
          return true;
        },
        undefined,
        ['database', 'user'],
      );
      if (changed) {
        await admin(
          plan,
          `reassign objects in ${plan.database}`,
          async (s) => {
            const { sql } = s;
            const own = judgeOwnership(plan, s.server, { user: (await facts(sql, plan)).user }, 'deprovision', [
              s.me,
            ]).user;
            if (own === 'ours') {
              await sql.query(`REASSIGN OWNED BY ${q(plan.user)} TO CURRENT_USER`);
              await sql.query(`DROP OWNED BY ${q(plan.user)}`);
            }
          },
          plan.database,
        );
      }
      return changed
        ? {
            changed: true,
            detail: `kept database ${plan.database}; its objects now belong to ${plan.server.adminUser}`,
          }
        : { changed: false, detail: `database ${plan.database} kept (not owned by ${plan.user})` };
    },

    async dropUser(plan: DeprovisionPlan): Promise<StepResult> {
      return admin(
        plan,
        `drop user ${plan.user}`,
        async (s) => {
          const { sql } = s;
          // Only a role carrying this tenant's mark is reassigned and dropped (adopt never applies here).
          const { user } = await facts(sql, plan);
          const own = judgeOwnership(plan, s.server, { user }, 'deprovision', [s.me]).user;
          if (own === 'absent') return { changed: false, detail: `user ${plan.user} does not exist` };
          const kept = notMadeByRun(plan, 'user', plan.user, user.mark);
          if (kept) return { changed: false, detail: kept };
          // Its rotation twin goes first (it is a member of the user); an undo leaves what another run made.
          const twins = await twinFacts(sql, plan);
          const twin = plan.madeByRun === undefined ? judgeTwins(plan, twins, 'deprovision') : false;
          if (twin) await dropRole(s, twins.twin.name);
          await ensureMembership(sql, plan.user);
          if (
            plan.madeByRun !== undefined &&
            (await one(sql, 'select 1 from pg_database where datname = $1', [plan.database]))
          ) {
            // The undo of a cancelled run runs before the database is dropped (or kept, holding data):
            // what the user made in it goes to the admin first, as deprovisioning with retain does.
            await admin(
              plan,
              `reassign objects in ${plan.database}`,
              async ({ sql: inDb }) => {
                await inDb.query(`REASSIGN OWNED BY ${q(plan.user)} TO CURRENT_USER`);
                await inDb.query(`DROP OWNED BY ${q(plan.user)}`);
              },
              plan.database,
              [],
            );
          }
          await sql.query('select pg_terminate_backend(pid) from pg_stat_activity where usename = $1', [plan.user]);
          await sql.query(`REASSIGN OWNED BY ${q(plan.user)} TO CURRENT_USER`);
          await sql.query(`DROP OWNED BY ${q(plan.user)}`);
          await sql.query(`DROP ROLE IF EXISTS ${q(plan.user)}`);
          return {
            changed: true,
            detail: `dropped user ${plan.user}${twin ? ` and its rotation twin ${twins.twin.name}` : ''}`,
          };
        },
        undefined,
        ['database', 'user'],
      );
    },

    async planProvision(plan: TenantPlanRequest): Promise<TenantPlan> {
      const st = await tenantState(plan);
      return { changes: st.changes, database: st.own.database, user: st.own.user };
    },

    async planDeprovision(plan: DeprovisionPlan): Promise<TenantPlan> {
      return planDrop(plan);
    },

    async repairTenant(plan: SqlPlan): Promise<RepairResult> {
      const st = await tenantState({ ...plan, purpose: 'reconcile' });
      requireTenantOurs(plan, st.own);
      const done: string[] = [];
      if (st.ownerWrong || st.publicDb) {
        const r = await acts.grant(plan); // the provisioning grant step: owner, REVOKE ALL … FROM PUBLIC
        if (r.changed) done.push(r.detail);
      }
      const u = q(plan.user);
      if (st.otherDbAcls.some((a) => !a.system) || st.memberships.length) {
        await admin(
          plan,
          `revoke what ${plan.user} holds beyond ${plan.database}`,
          async (s) => {
            // Checked again under the locks: only this tenant's own dbops-marked role is changed.
            const own = judgeOwnership(plan, s.server, await facts(s.sql, plan), 'provision', [s.me]);
            requireTenantOurs(plan, own);
            for (const a of st.otherDbAcls.filter((x) => !x.system)) {
              await s.sql.query(`REVOKE ALL ON DATABASE ${q(a.db)} FROM ${u}`);
              done.push(`revoked ${a.privs.join(', ')} on database ${a.db} from ${plan.user}`);
            }
            for (const r of st.memberships) {
              await s.sql.query(`REVOKE ${q(r)} FROM ${u}`);
              done.push(`revoked membership of ${plan.user} in ${r}`);
            }
          },
          undefined,
          ['database', 'user'],
        );
      }
      for (const o of st.otherObjects.filter((x) => !x.system)) {
        const n = await admin(
          plan,
          `revoke the privileges of ${plan.user} in database ${o.db}`,
          async ({ sql }) => {
            const acl = (
              await sql.query<{ stmt: string | null }>(
                `select case s.classid
                          when 'pg_class'::regclass then
                            'REVOKE ALL ON ' || case c.relkind when 'S' then 'SEQUENCE ' else 'TABLE ' end || (s.objid::regclass)::text
                          when 'pg_namespace'::regclass then 'REVOKE ALL ON SCHEMA ' || quote_ident(n.nspname)
                          when 'pg_proc'::regclass then 'REVOKE ALL ON ROUTINE ' || (s.objid::regprocedure)::text -- functions and procedures
                        end as stmt
                   from pg_shdepend s
                   left join pg_class c on s.classid = 'pg_class'::regclass and c.oid = s.objid
                   left join pg_namespace n on s.classid = 'pg_namespace'::regclass and n.oid = s.objid
                  where s.dbid = (select oid from pg_database where datname = current_database())
                    and s.refclassid = 'pg_authid'::regclass and s.deptype = 'a'
                    and s.refobjid = (select oid from pg_roles where rolname = $1)`,
                [plan.user],
              )
            ).rows;
            let count = 0;
            for (const { stmt } of acl) {
              if (!stmt) continue; // another kind of object: left for people (it stays in the drift)
              await sql.query(`${stmt} FROM ${u}`);
              count++;
            }
            return count;
          },
          o.db,
          [],
        );
        if (n) done.push(`revoked the privileges of ${plan.user} on ${n} objects in database ${o.db}`);
      }
      if (st.schemaOpen) {
        await admin(
          plan,
          `restrict schema public in ${plan.database}`,
          async ({ sql }) => {
            await sql.query('REVOKE CREATE ON SCHEMA public FROM PUBLIC');
          },
          plan.database,
          [],
        );
        done.push(`revoked CREATE on schema public in ${plan.database} from PUBLIC`);
      }
      if (st.login && !st.login.works && st.login.repairable)
        done.push(await repairPassword(rotation, plan, st.login.name));
      return {
        changed: done.length > 0,
        repaired: done,
        detail: done.length ? done.join('; ') : 'nothing to repair',
      };
    },
  };
  return acts;

  /**
   * Plan mode and reconcile: what the live catalog says about the tenant, read-only (no DDL, no
   * lock, no write to the credentials target), as the changes an apply would make. For
   * provisionDatabase it first runs connect's checks, so a plan refuses what the apply refuses.
   */
  async function tenantState(plan: TenantPlanRequest): Promise<PgTenantState> {
    if (plan.purpose !== 'reconcile') await acts.connect(plan);
    const st = await admin(
      plan,
      `plan ${plan.database}`,
      async (s): Promise<PgTenantState> => {
        const { sql } = s;
        const f = await facts(sql, plan);
        const own = judgeOwnership(plan, s.server, f, 'provision', [s.me]);
        const c: PlannedChange[] = [];
        const db = plan.database;
        const user = plan.user;
        const beyond = BEYOND(plan);
        const version = Number((await one<{ v: string }>(sql, "select current_setting('server_version_num') as v"))!.v);
        const state: PgTenantState = {
          own,
          changes: c,
          version,
          ownerWrong: false,
          publicDb: false,
          schemaOpen: false,
          otherDbAcls: [],
          otherObjects: [],
          ownedElsewhere: [],
          memberships: [],
          ...(f.user.mark?.credentials ? { markRef: f.user.mark.credentials } : {}),
        };
        if (own.database === 'absent') c.push(change('ensure-database', 'create', `database ${db}`, 'missing'));
        if (own.database === 'adopt')
          c.push(change('ensure-database', 'change', `database ${db}`, "adopt: mark it as dbops's (adopt is on)"));
        if (own.user === 'absent') c.push(change('ensure-user', 'create', `user ${user}`, 'missing'));
        if (own.user === 'adopt')
          c.push(change('ensure-user', 'change', `user ${user}`, "adopt: set the stored password, mark it as dbops's"));
        if (own.database === 'absent' || own.user === 'absent') {
          const after = `after ${own.database === 'absent' ? 'ensure-database' : 'ensure-user'} creates it`;
          c.push(change('grant', 'change', `owner of database ${db}`, `${after}: → ${user}`));
          c.push(change('grant', 'change', `REVOKE ALL ON DATABASE ${db} FROM PUBLIC`, after));
          if (version < 150000)
            c.push(change('grant', 'change', `REVOKE CREATE ON SCHEMA public FROM PUBLIC in ${db}`, after));
          if (plan.auth === 'iam' && own.user === 'absent')
            c.push(change('ensure-user', 'change', `membership of ${user} in rds_iam`, 'after ensure-user creates it'));
          return state;
        }
        const d = (await one<{ owner: string; public: boolean }>(
          sql,
          `select pg_get_userbyid(d.datdba) as owner,
                  exists(select 1 from aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a where a.grantee = 0) as public
             from pg_database d where d.datname = $1`,
          [db],
        ))!;
        if (d.owner !== user) {
          if (d.owner !== s.me && !s.server.adopt) {
            throw ApplicationFailure.nonRetryable(
              `database ${db} on postgres server ${plan.server.host}:${plan.server.port} is owned by role ${d.owner}, neither ${user} nor the admin; dbops does not take it from its owner unless the operator sets adopt: true on this server in DBOPS_CONFIG`,
              NOT_OWNED,
            );
          }
          state.ownerWrong = true;
          c.push(change('grant', 'change', `owner of database ${db}`, `${d.owner} → ${user}`));
        }
        if (d.public) {
          state.publicDb = true;
          c.push(change('grant', 'change', `REVOKE ALL ON DATABASE ${db} FROM PUBLIC`, 'PUBLIC may connect'));
        }
        const r = (await one<{ oid: string; iam: boolean }>(
          sql,
          `select r.oid::text as oid,
                  exists(select 1 from pg_auth_members m join pg_roles g on g.oid = m.roleid
                          where m.member = r.oid and g.rolname = 'rds_iam') as iam
             from pg_roles r where r.rolname = $1`,
          [user],
        ))!;
        if (plan.auth === 'iam' && !r.iam)
          c.push(change('ensure-user', 'change', `membership of ${user} in rds_iam`, 'missing'));
        // What the role holds beyond its own database: privileges on other databases, ACL entries
        // on objects in other databases (pg_shdepend knows them all), ownership there, memberships.
        state.otherDbAcls = (
          await sql.query<{ db: string; system: boolean; privs: string[] }>(
            `select d.datname::text as db, (d.datistemplate or not d.datallowconn) as system,
                    array_agg(distinct a.privilege_type::text order by a.privilege_type::text) as privs
               from pg_database d, aclexplode(d.datacl) a
              where a.grantee = $1::oid and d.datname <> $2
              group by d.datname, d.datistemplate, d.datallowconn order by 1`,
            [r.oid, db],
          )
        ).rows;
        const shdep = (
          await sql.query<{ db: string; system: boolean; kind: string; n: number }>(
            `select d.datname::text as db, (d.datistemplate or not d.datallowconn) as system, s.deptype::text as kind,
                    count(*)::int as n
               from pg_shdepend s join pg_database d on d.oid = s.dbid
              where s.refclassid = 'pg_authid'::regclass and s.refobjid = $1::oid and s.deptype in ('a', 'o')
                and d.datname <> $2
              group by 1, 2, 3 order by 1, 3`,
            [r.oid, db],
          )
        ).rows;
        state.otherObjects = shdep.filter((x) => x.kind === 'a');
        state.ownedElsewhere = shdep.filter((x) => x.kind === 'o');
        state.memberships = (
          await sql.query<{ r: string }>(
            `select g.rolname::text as r from pg_auth_members m join pg_roles g on g.oid = m.roleid
              where m.member = $1::oid and g.rolname <> 'rds_iam' order by 1`,
            [r.oid],
          )
        ).rows.map((x) => x.r);
        const leave = 'a system database: dbops never changes it; revoke it by hand';
        for (const a of state.otherDbAcls)
          c.push(
            change(
              'grant',
              'change',
              `revoke ${a.privs.join(', ')} on database ${a.db} from ${user}`,
              a.system ? leave : `a privilege outside database ${db}${beyond}`,
            ),
          );
        for (const o of state.otherObjects)
          c.push(
            change(
              'grant',
              'change',
              `revoke the privileges of ${user} on ${o.n} objects in database ${o.db}`,
              o.system ? leave : `privileges outside database ${db}${beyond}`,
            ),
          );
        for (const o of state.ownedElsewhere)
          c.push(
            change(
              'grant',
              'change',
              `${o.n} objects owned by ${user} in database ${o.db}`,
              'dbops does not move them: reassign or drop them by hand',
            ),
          );
        for (const m of state.memberships)
          c.push(change('grant', 'change', `revoke membership of ${user} in ${m}`, `a role beyond its own${beyond}`));
        return state;
      },
      undefined,
      [],
    );
    if (
      st.own.database === 'ours' &&
      st.own.user !== 'absent' &&
      (plan.purpose === 'reconcile' || st.version < 150000)
    ) {
      // Before PostgreSQL 15 everyone may create in schema public (the apply takes it away); a
      // reconcile also finds it granted again on a later version.
      st.schemaOpen = await admin(
        plan,
        `look at schema public in ${plan.database}`,
        async ({ sql }) =>
          Boolean(
            await one(
              sql,
              `select 1 from pg_namespace n, aclexplode(n.nspacl) a where n.nspname = 'public' and a.grantee = 0 and a.privilege_type = 'CREATE'`,
            ),
          ),
        plan.database,
        [],
      );
      if (st.schemaOpen)
        st.changes.push(
          change(
            'grant',
            'change',
            `REVOKE CREATE ON SCHEMA public FROM PUBLIC in ${plan.database}`,
            'PUBLIC may create there',
          ),
        );
    }
    const cred = await credentialFacts(
      plan,
      st.own.user,
      deps,
      (login, password) => rotationOps.loginWorks(plan as RotationPlan, login, password),
      st.markRef,
    );
    st.changes.push(...cred.changes);
    st.login = cred.login;
    return st;
  }

  /** deprovisionDatabase's plan: what it would drop or hand over, refused as the apply refuses. */
  async function planDrop(plan: DeprovisionPlan): Promise<TenantPlan> {
    await acts.connect(plan);
    const found = await admin(
      plan,
      `plan the removal of ${plan.database}`,
      async (s) => {
        const f = await facts(s.sql, plan);
        const own = judgeOwnership(plan, s.server, f, 'deprovision', [s.me]);
        const twin = standbyName(plan.user);
        const t = await facts(s.sql, { ...plan, user: twin });
        const twinOurs = t.user.exists && t.user.mark?.database === plan.database && t.user.mark.user === twin;
        const owner =
          own.database === 'absent'
            ? undefined
            : (await one<{ o: string }>(
                s.sql,
                'select pg_get_userbyid(datdba) as o from pg_database where datname = $1',
                [plan.database],
              ))!.o;
        return { own, twinOurs, owner };
      },
      undefined,
      [],
    );
    const c: PlannedChange[] = [];
    if (found.own.database !== 'absent') {
      if (plan.reclaimPolicy === 'delete') {
        const n = await admin(
          plan,
          `count the tables in ${plan.database}`,
          async ({ sql }) =>
            Number(
              (await one<{ n: string }>(
                sql,
                `select count(*) as n from pg_class c join pg_namespace n on n.oid = c.relnamespace
                  where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_toast%'
                    and c.relkind in ('r', 'p')`,
              ))!.n,
            ),
          plan.database,
          [],
        );
        c.push(change('drop-database', 'delete', `database ${plan.database}`, `${n} tables, with their data`));
      } else if (found.owner === plan.user && found.own.user !== 'absent') {
        c.push(
          change(
            'drop-database',
            'change',
            `owner of database ${plan.database}`,
            `${plan.user} → ${plan.server.adminUser}; the data stays`,
          ),
        );
      }
    }
    if (found.own.user !== 'absent') c.push(change('drop-user', 'delete', `user ${plan.user}`));
    if (found.twinOurs) c.push(change('drop-user', 'delete', `user ${standbyName(plan.user)}`, 'its rotation twin'));
    c.push(...(await dropCredentialsChanges(plan, deps)));
    return { changes: c, database: found.own.database, user: found.own.user };
  }
}

interface PgTenantState {
  own: { database: Ownership; user: Ownership };
  changes: PlannedChange[];
  /** server_version_num */
  version: number;
  ownerWrong: boolean;
  publicDb: boolean;
  schemaOpen: boolean;
  otherDbAcls: Array<{ db: string; system: boolean; privs: string[] }>;
  otherObjects: Array<{ db: string; system: boolean; n: number }>;
  ownedElsewhere: Array<{ db: string; system: boolean; n: number }>;
  memberships: string[];
  login?: { name: string; works: boolean; repairable: boolean };
  /** The credentials target the user's mark names. */
  markRef?: string;
}
