/**
 * MySQL/MariaDB provisioning steps: check-then-act, tolerant of concurrent runs, passwords sent as
 * hashes where the server allows it (MariaDB), grants with `_`/`%` escaped.
 *
 * Ownership: MariaDB has no comments on users and MySQL 8 none on databases, so dbops keeps its
 * marks in a registry no tenant can reach: the table `_dbops`.`objects` (a database name no input
 * can give, since names start with a letter), one row per database and user it made:
 * (kind, name, db, user, credentials, state, created_at). A row is written as `pending` before
 * the CREATE and turned `created` after it, so a crash in between is resolved safely on the next
 * run: a pending database that exists is completed only while it is still empty, a pending user
 * only if it accepts the password claimed in the credentials target; anything else is refused.
 * A step changes, adopts or drops only what is marked for the plan's own database and user (or,
 * with adopt on the server, takes over an unmarked one), and never the admin login, an account
 * with global privileges or a system database. `connect` checks all of it, read-only, first.
 */
import crypto from 'node:crypto';
import mysql, { type Connection, type ResultSetHeader, type RowDataPacket } from 'mysql2/promise';
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { SqlPlan } from '../../domain/provision';
import { mysqlGrantDatabase, quoteMysqlIdent as q } from '../../domain/sql-names';
import type { AwsClients } from '../aws-clients';
import { claimPassword, inspectCredentialsTarget, readCredentials, targetRef } from '../credentials';
import { classifySqlError } from './errors';
import { SqlPools } from './admin-pools';
import { resolveServer, serverPolicy, type ResolvedServer, type SqlDeps } from './connection';
import { mysqlConnection as open, mysqlServerKey, withMysqlAdmin } from './mysql-pool';
import { mysqlNativeHash } from './passwords';
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
  judgeTwins,
  twinBase,
  type DeprovisionPlan,
  type TwinFacts,
  type ObjectFacts,
  type Ownership,
  type OwnershipMark,
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

const DB_EXISTS = 1007;
const USER_OP_FAILED = 1396;
const NO_SUCH_TABLE = 1146;
const UNKNOWN_DATABASE = 1049;
const DUPLICATE_COLUMN = 1060;
const UNKNOWN_THREAD = 1094;
const NOT_THREAD_OWNER = 1095;

/** The registry of what dbops made on this server. */
const REGISTRY_DB = '_dbops';
const REGISTRY = '`_dbops`.`objects`';

interface Session {
  sql: Connection;
  server: ResolvedServer;
  mariadb: boolean;
  /** The admin's own user name, as the server knows it (CURRENT_USER() without the host). */
  me: string;
}

/** A registry row's facts: the mark, and whether it is still `pending` (made, not yet confirmed). */
type MyFacts = ObjectFacts & { pending?: boolean };

/** `'user'@'%'` with the user name escaped as a string literal. */
function account(user: string): string {
  return `${mysql.escape(user)}@'%'`;
}

/** An identifier as SHOW GRANTS prints it (`a``b` → a`b). */
function unquote(ident: string): string {
  return ident.startsWith('`') ? ident.slice(1, -1).replace(/``/g, '`') : ident;
}

/**
 * Reads SHOW GRANTS lines of an account: what makes it untouchable (global privileges, PROXY,
 * roles) and what keeps it from being adopted for `database` (privileges anywhere else).
 */
export function classifyMysqlGrants(
  lines: string[],
  database: string,
): { protectedReason?: string; adoptBlocker?: string } {
  const globals: string[] = [];
  const elsewhere: string[] = [];
  const escaped = database.replace(/\\/g, '\\\\').replace(/[_%]/g, (c) => `\\${c}`);
  for (const line of lines) {
    if (/^GRANT PROXY ON /i.test(line)) {
      globals.push('PROXY');
      continue;
    }
    const m =
      /^GRANT (.+?) ON (?:(?:PROCEDURE|FUNCTION|PACKAGE BODY|PACKAGE) )?(`(?:[^`]|``)*`|\*)\.(`(?:[^`]|``)*`|\*) TO /i.exec(
        line,
      );
    if (!m) {
      if (/^GRANT /i.test(line) && !/ ON /i.test(line))
        globals.push('a role'); // GRANT `role` TO `u`@`%`
      else elsewhere.push(line.slice(0, 80));
      continue;
    }
    const [, privs, db, table] = m;
    if (db === '*') {
      if (privs.trim().toUpperCase() !== 'USAGE' || /WITH GRANT OPTION/i.test(line))
        globals.push(`${privs.trim()} ON *.*`);
      continue;
    }
    const name = unquote(db);
    const same = table === '*' ? name === escaped : name === database;
    if (!same) elsewhere.push(`${privs.trim()} ON ${db}.${table}`);
  }
  return {
    ...(globals.length ? { protectedReason: `it has server-wide privileges (${globals.join('; ')})` } : {}),
    ...(elsewhere.length
      ? { adoptBlocker: `it has privileges outside database ${database} (${elsewhere.join('; ')})` }
      : {}),
  };
}

/** One privilege line of SHOW GRANTS on a database, table or routine: what, on what, and whether WITH GRANT OPTION. */
export interface MysqlGrant {
  privs: string;
  /** As SHOW GRANTS prints it: `db`.*, `db`.`t`, PROCEDURE `db`.`p`. */
  on: string;
  db: string;
  table: string;
  grantOption: boolean;
}

/** The database-, table- and routine-level grants in SHOW GRANTS lines (global ones, PROXY and roles are not). */
export function mysqlGrants(lines: string[]): MysqlGrant[] {
  const out: MysqlGrant[] = [];
  for (const line of lines) {
    const m =
      /^GRANT (.+?) ON ((?:(?:PROCEDURE|FUNCTION|PACKAGE BODY|PACKAGE) )?(`(?:[^`]|``)*`)\.(`(?:[^`]|``)*`|\*)) TO /i.exec(
        line,
      );
    if (!m) continue;
    out.push({
      privs: m[1].trim(),
      on: m[2],
      db: unquote(m[3]),
      table: m[4] === '*' ? '*' : unquote(m[4]),
      grantOption: /WITH GRANT OPTION/i.test(line),
    });
  }
  return out;
}

/** Whether a grant is on the tenant's own database (its `_`/`%` escaped at database level, as dbops grants it). */
export function onDatabase(g: MysqlGrant, database: string): boolean {
  const escaped = database.replace(/\\/g, '\\\\').replace(/[_%]/g, (c) => `\\${c}`);
  return g.table === '*' ? g.db === escaped : g.db === database;
}

/** Whether a grant's database pattern (`_` and `%` wildcards, `\\` escapes) covers `database`: a PUBLIC grant reaches it so. */
export function reachesDatabase(g: MysqlGrant, database: string): boolean {
  if (g.table !== '*') return g.db === database;
  let re = '';
  for (let i = 0; i < g.db.length; i++) {
    const c = g.db[i];
    if (c === '\\' && i + 1 < g.db.length) re += g.db[++i].replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else if (c === '_') re += '.';
    else if (c === '%') re += '.*';
    else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 'i').test(database);
}

/**
 * Whether a PUBLIC grant that reaches `database` names it alone: a table or routine in it, or a
 * database pattern that spells its name (`\\` escapes and `_` read as themselves, no `%`). A
 * pattern such as `shared%` also serves other databases: it is the operator's, never dbops's to
 * revoke.
 */
export function namesOnlyDatabase(g: MysqlGrant, database: string): boolean {
  if (g.table !== '*') return g.db === database;
  let name = '';
  for (let i = 0; i < g.db.length; i++) {
    const c = g.db[i];
    if (c === '\\' && i + 1 < g.db.length) name += g.db[++i];
    else if (c === '%') return false;
    else name += c;
  }
  return name === database;
}

export function createMysqlActivities(
  deps: SqlDeps & { aws: AwsClients; pools?: SqlPools; temporal?: Client },
): SqlEngineActivities {
  const pools = deps.pools ?? new SqlPools();

  /**
   * Runs `fn` as the admin on a connection of the worker's pool for the server (admin-pools.ts;
   * an IAM login on a short-lived connection of its own); every error leaves classified. Steps
   * that change something take named locks first (per database, and per user where a user is
   * changed) so concurrent runs take turns; they are released before the connection goes back to
   * the pool, and go with it when it is closed after an error.
   */
  async function admin<T>(
    plan: SqlPlan,
    action: string,
    fn: (s: Session) => Promise<T>,
    locks: Array<'database' | 'user'> = ['database'],
  ): Promise<T> {
    const server = await resolveServer(plan, deps);
    const keys = locks.map((l) =>
      (l === 'database' ? `dbops:${plan.database}` : `dbops:user:${plan.user}`).slice(0, 64),
    );
    // Who the admin is and the locks, in one round trip (the database's first: always this order).
    const begin = async (sql: Connection): Promise<Session> => {
      const lock = keys.map((_, i) => `, GET_LOCK(?, 60) AS l${i}`).join('');
      const [r] = await rows(sql, `SELECT VERSION() AS v, CURRENT_USER() AS me${lock}`, keys);
      if (keys.some((_, i) => r[`l${i}`] !== 1))
        throw ApplicationFailure.retryable(`another run holds the lock for ${plan.database}`, 'SqlLockBusy');
      return { sql, server, mariadb: /mariadb/i.test(String(r.v)), me: String(r.me).replace(/@[^@]*$/, '') };
    };
    try {
      const iam = typeof server.adminPassword === 'function';
      const password = typeof server.adminPassword === 'function' ? await server.adminPassword() : server.adminPassword;
      if (password) server.secrets.push(password);
      if (!iam) {
        return await withMysqlAdmin(pools, server, password, begin, async (sql, s) => {
          const v = await fn(s);
          if (keys.length) await sql.query(`SELECT ${keys.map(() => 'RELEASE_LOCK(?)').join(', ')}`, keys);
          return v;
        });
      }
      return await pools.shortLived(mysqlServerKey(server), async () => {
        const sql = await open(server, server.adminUser, password);
        try {
          return await fn(await begin(sql));
        } finally {
          await sql.end().catch(() => undefined);
        }
      });
    } catch (err) {
      throw classifySqlError(err, {
        engine: 'mysql',
        host: plan.server.host,
        port: plan.server.port,
        login: server.adminUser,
        action,
        secrets: server.secrets,
        tls: server.tls !== false,
      });
    }
  }

  async function rows(sql: Connection, text: string, params: unknown[] = []): Promise<RowDataPacket[]> {
    const [r] = await sql.query<RowDataPacket[]>(text, params);
    return r;
  }

  async function exec(sql: Connection, text: string, params: unknown[] = []): Promise<ResultSetHeader> {
    const [r] = await sql.query<ResultSetHeader>(text, params);
    return r;
  }

  async function databaseEmpty(sql: Connection, db: string): Promise<boolean> {
    const [n] = await rows(
      sql,
      `SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?) + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?) AS n`,
      [db, db],
    );
    return Number(n.n) === 0;
  }

  async function databaseExists(sql: Connection, db: string): Promise<boolean> {
    return (await rows(sql, 'SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [db])).length > 0;
  }

  /** The registry, made by the admin on first use (before anything it will record). */
  async function ensureRegistry(sql: Connection): Promise<void> {
    // Already there, with its newest column (every run after the server's first): one round trip instead of three.
    if (await hasRunColumn(sql)) return;
    await sql.query(`CREATE DATABASE IF NOT EXISTS ${q(REGISTRY_DB)} CHARACTER SET utf8mb4`);
    await sql.query(
      `CREATE TABLE IF NOT EXISTS ${REGISTRY} (
         kind VARCHAR(16) NOT NULL, name VARCHAR(64) NOT NULL, db VARCHAR(64) NOT NULL, \`user\` VARCHAR(64) NOT NULL,
         credentials TEXT NULL, state VARCHAR(16) NOT NULL, created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
         run_id VARCHAR(64) NULL,
         PRIMARY KEY (kind, name)
       ) ENGINE=InnoDB`,
    );
    // Registries made before rows named their run get the column (a concurrent run may add it first).
    if (!(await hasRunColumn(sql))) {
      await sql.query(`ALTER TABLE ${REGISTRY} ADD COLUMN run_id VARCHAR(64) NULL`).catch((err: { errno?: number }) => {
        if (err.errno !== DUPLICATE_COLUMN) throw err;
      });
    }
  }

  /** Whether the registry table exists with its `run_id` column. */
  async function hasRunColumn(sql: Connection): Promise<boolean> {
    const [has] = await rows(
      sql,
      "SELECT COUNT(*) AS n FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'objects' AND COLUMN_NAME = 'run_id'",
      [REGISTRY_DB],
    );
    return Number(has.n) > 0;
  }

  /** A registry row; `run_id` is absent in registries made before rows named their run. */
  interface RegistryRow {
    kind: string;
    name: string;
    db: string;
    user: string;
    credentials: string | null;
    state: string;
    run_id?: string | null;
  }

  /** The registry rows for the plan's database and user (none when there is no registry yet). */
  async function registry(sql: Connection, plan: SqlPlan): Promise<{ database?: RegistryRow; user?: RegistryRow }> {
    let found: RegistryRow[];
    try {
      found = (await rows(
        sql,
        `SELECT * FROM ${REGISTRY} WHERE (kind = 'database' AND name = ?) OR (kind = 'user' AND name = ?)`,
        [plan.database, plan.user],
      )) as unknown as RegistryRow[];
    } catch (err) {
      const errno = (err as { errno?: number }).errno;
      if (errno === NO_SUCH_TABLE || errno === UNKNOWN_DATABASE) return {};
      throw err;
    }
    return { database: found.find((r) => r.kind === 'database'), user: found.find((r) => r.kind === 'user') };
  }

  const markOf = (r: RegistryRow): OwnershipMark =>
    makeMark({ database: r.db, user: r.user }, r.credentials ?? undefined, r.run_id ?? undefined);

  /**
   * What the live catalog and the registry say about the plan's database and user. `password`:
   * the user's password from its credentials target, to recognise a user an interrupted run made.
   */
  async function facts(s: Session, plan: SqlPlan, password?: string): Promise<{ database: MyFacts; user: MyFacts }> {
    const { sql } = s;
    const reg = await registry(sql, plan);
    const database: MyFacts = { exists: await databaseExists(sql, plan.database) };
    if (database.exists && reg.database) {
      if (reg.database.state === 'created') database.mark = markOf(reg.database);
      else {
        // Made by a run that stopped before confirming it: ours only while nothing is in it yet.
        const [n] = await rows(
          sql,
          `SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?) + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?) AS n`,
          [plan.database, plan.database],
        );
        if (Number(n.n) === 0) {
          database.mark = markOf(reg.database);
          database.pending = true;
        } else database.note = 'a dbops run was interrupted while creating it, and it is no longer empty';
      }
    }
    const hosts = (await rows(sql, 'SELECT Host AS h FROM mysql.user WHERE User = ?', [plan.user])).map((r) =>
      String(r.h),
    );
    const user: MyFacts = { exists: hosts.length > 0 };
    const others = hosts.filter((h) => h !== '%');
    if (others.length) {
      user.protectedReason = `${others.map((h) => (h === '' ? 'a role of that name' : `account ${plan.user}@${h}`)).join(', ')} exist${others.length === 1 ? 's' : ''}; dbops only manages ${plan.user}@'%'`;
    } else if (user.exists) {
      const grants = (await rows(sql, `SHOW GRANTS FOR ${account(plan.user)}`)).map((r) => String(Object.values(r)[0]));
      Object.assign(user, classifyMysqlGrants(grants, plan.database));
      if (reg.user) {
        if (reg.user.state === 'created') user.mark = markOf(reg.user);
        else if (password !== undefined && (await loginWorks(s.server, plan.user, password))) {
          // Made by a run that stopped before confirming it: it has the password dbops claimed.
          user.mark = markOf(reg.user);
          user.pending = true;
        } else
          user.note =
            'a dbops run was interrupted while creating it, and it does not have the password that run stored';
      }
    }
    return { database, user };
  }

  /** The accounts around the plan's user: `<x>` when it is `<x>_b`, and its own twin `<user>_b` (types.ts). */
  async function twinFacts(s: Session, plan: SqlPlan): Promise<TwinFacts> {
    const login = async (name: string) => ({ name, ...(await facts(s, { ...plan, user: name })).user });
    const base = twinBase(plan.user);
    return { base: base !== undefined ? await login(base) : undefined, twin: await login(standbyName(plan.user)) };
  }

  /** CREATE/ALTER USER clause setting the password: a hash on MariaDB, the value over the wire on MySQL 8. */
  function identifiedBy(s: Session, password: string): string {
    return s.mariadb
      ? `IDENTIFIED BY PASSWORD ${mysql.escape(mysqlNativeHash(password))}`
      : `IDENTIFIED BY ${mysql.escape(password)}`;
  }

  async function loginWorks(server: ResolvedServer, user: string, password: string): Promise<boolean> {
    return pools.shortLived(mysqlServerKey(server), async () => {
      try {
        const c = await open(server, user, password);
        await c.end();
        return true;
      } catch (err) {
        if ((err as { errno?: number }).errno === 1045) return false;
        throw err;
      }
    });
  }

  /** Records a mark (pending or created) for an object that does not exist or is being adopted. */
  async function record(
    sql: Connection,
    kind: 'database' | 'user',
    plan: SqlPlan,
    state: 'pending' | 'created',
    credentials: string | null,
    run: string | null,
  ): Promise<void> {
    await sql.query(
      `REPLACE INTO ${REGISTRY} (kind, name, db, \`user\`, credentials, state, run_id) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      [kind, kind === 'database' ? plan.database : plan.user, plan.database, plan.user, credentials, state, run],
    );
  }

  /** Turns this run's own pending row `created`; fails if the row is no longer this tenant's. */
  async function confirm(sql: Connection, kind: 'database' | 'user', plan: SqlPlan): Promise<void> {
    const r = await exec(
      sql,
      `UPDATE ${REGISTRY} SET state = 'created' WHERE kind = ? AND name = ? AND db = ? AND \`user\` = ?`,
      [kind, kind === 'database' ? plan.database : plan.user, plan.database, plan.user],
    );
    if (r.affectedRows !== 1) {
      throw ApplicationFailure.nonRetryable(
        `the dbops registry row for ${kind} ${kind === 'database' ? plan.database : plan.user} changed while it was being made`,
        NOT_OWNED,
      );
    }
  }

  async function forget(sql: Connection, kind: 'database' | 'user', plan: SqlPlan): Promise<void> {
    try {
      await sql.query(`DELETE FROM ${REGISTRY} WHERE kind = ? AND name = ? AND db = ? AND \`user\` = ?`, [
        kind,
        kind === 'database' ? plan.database : plan.user,
        plan.database,
        plan.user,
      ]);
    } catch (err) {
      const errno = (err as { errno?: number }).errno;
      if (errno !== NO_SUCH_TABLE && errno !== UNKNOWN_DATABASE) throw err;
    }
  }

  const needsOurs = (plan: SqlPlan, kind: string, name: string, o: Ownership) =>
    requireOurs('mysql', plan, kind, name, o);

  /** As in postgres.ts: another credentials target than the mark's must hold the user's current password. */
  async function checkCredentialsContinuity(
    s: Session,
    plan: SqlPlan,
    user: MyFacts,
    ownership: Ownership,
    ref: string,
    password: string | undefined,
  ): Promise<void> {
    const markRef = user.mark?.credentials;
    if (plan.auth !== 'password' || ownership !== 'ours' || !markRef || markRef === ref) return;
    if (password === undefined) {
      throw credentialsMismatch(
        plan,
        markRef,
        ref,
        `${ref} holds nothing yet, so this run would give the user a new password and the connection string in ${markRef} would stop working`,
      );
    }
    if (!(await loginWorks(s.server, plan.user, password))) {
      throw credentialsMismatch(plan, markRef, ref, `${ref} holds another password than the one the user has`);
    }
  }

  /**
   * Rotation (rotation.ts). The second login `<user>_b`@'%' gets the same grant as `<user>`
   * (ALL on the tenant's database) and its own registry row; MariaDB 10.11 has no dual
   * passwords (MySQL 8.0.14+'s RETAIN CURRENT PASSWORD), so both engines alternate users.
   */
  async function ownLogin(s: Session, plan: RotationPlan, login: string, need: 'ours' | 'ours-or-absent') {
    const asLogin = { ...plan, user: login };
    const f = await facts(s, asLogin);
    const db = judgeOwnership(plan, s.server, { database: f.database }, 'rotate', [s.me]).database;
    needsOurs(plan, 'database', plan.database, db);
    let pendingRow = false;
    if (f.user.exists && !f.user.mark && !f.user.protectedReason) {
      // Made by a rotation that stopped between CREATE USER and confirming its row: still ours.
      const [row] = await rows(
        s.sql,
        `SELECT state FROM ${REGISTRY} WHERE kind = 'user' AND name = ? AND db = ? AND \`user\` = ?`,
        [login, plan.database, login],
      ).catch(() => [] as RowDataPacket[]);
      if (row?.state === 'pending') {
        f.user.mark = makeMark({ database: plan.database, user: login });
        pendingRow = true;
      }
    }
    const user = judgeOwnership(asLogin, s.server, { user: f.user }, 'rotate', [s.me]).user;
    if (need === 'ours') needsOurs(asLogin, 'user', login, user);
    return { user, pending: Boolean(f.user.pending) || pendingRow };
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
            (await facts(s, { ...plan, user: plan.logins.primary })).user.mark?.credentials,
          );
          const standby = await ownLogin(s, plan, plan.logins.standby, 'ours-or-absent');
          return standby.user === 'ours'
            ? `${plan.logins.primary} and ${plan.logins.standby} are this tenant's`
            : `${plan.logins.primary} is this tenant's`;
        },
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
          await ensureRegistry(sql);
          await ownLogin(s, plan, plan.logins.primary, 'ours');
          const asLogin = { ...plan, user: login };
          const own = await ownLogin(s, plan, login, login === plan.logins.primary ? 'ours' : 'ours-or-absent');
          if (own.user === 'absent') {
            await record(sql, 'user', asLogin, 'pending', ref, plan.runId ?? null);
            await sql.query(`CREATE USER ${account(login)} ${identifiedBy(s, password)}`);
          } else {
            await sql.query(`ALTER USER ${account(login)} ${identifiedBy(s, password)} ACCOUNT UNLOCK`);
          }
          await sql.query(`GRANT ALL PRIVILEGES ON ${mysqlGrantDatabase(plan.database)}.* TO ${account(login)}`);
          if (own.user === 'absent' || own.pending) await confirm(sql, 'user', asLogin);
        },
        ['database', 'user'],
      );
    },
    async loginWorks(plan, login, password) {
      const server = await resolveServer(plan, deps);
      return pools.shortLived(mysqlServerKey(server), async () => {
        try {
          const c = await open(server, login, password, plan.database);
          await c.end();
          return true;
        } catch (err) {
          const errno = (err as { errno?: number }).errno;
          if (errno === 1045 || errno === 4151) return false; // access denied; account locked
          throw classifySqlError(err, {
            engine: 'mysql',
            host: plan.server.host,
            port: plan.server.port,
            login,
            tls: server.tls !== false,
            action: `log in to ${plan.database} as ${login}`,
            secrets: [...server.secrets, password],
          });
        }
      });
    },
    async retire(plan, login) {
      await admin(
        plan,
        `retire ${login}`,
        async (s) => {
          await ownLogin(s, plan, login, 'ours');
          // A random password nobody keeps: the old one stops working for new logins.
          await s.sql.query(`ALTER USER ${account(login)} ${identifiedBy(s, generatePassword())}`);
        },
        ['database', 'user'],
      );
    },
    async endSessions(plan, login) {
      return admin(
        plan,
        `end the sessions of ${login}`,
        async (s) => {
          await ownLogin(s, plan, login, 'ours');
          const ids = (
            await rows(
              s.sql,
              'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ? AND ID <> CONNECTION_ID()',
              [login],
            )
          ).map((r) => Number(r.id));
          let ended = 0;
          for (const id of ids) {
            try {
              await s.sql.query(`KILL CONNECTION ${id}`);
              ended++;
            } catch (err) {
              const errno = (err as { errno?: number }).errno;
              if (errno === UNKNOWN_THREAD) continue; // it closed meanwhile
              if (errno === NOT_THREAD_OWNER)
                return {
                  ended,
                  note: `${ids.length - ended} session(s) still open with it not ended: admin user ${s.me} may not kill other users' connections (CONNECTION_ADMIN or SUPER; on RDS mysql.rds_kill)`,
                };
              throw err;
            }
          }
          return { ended };
        },
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
      const stored = target?.state === 'ours' ? target.stored.password : undefined;
      return admin(
        plan,
        'log in as the admin user',
        async (s) => {
          const { sql, mariadb } = s;
          const [info] = await rows(sql, 'SELECT VERSION() AS v, CURRENT_USER() AS me');
          const grants = (await rows(sql, 'SHOW GRANTS')).map((r) => String(Object.values(r)[0]));
          const all = grants.some((g) => /^GRANT ALL PRIVILEGES ON \*\.\* TO .* WITH GRANT OPTION/.test(g));
          const canCreateUser =
            all || grants.some((g) => /ON \*\.\*/.test(g) && /CREATE USER/.test(g) && /GRANT OPTION/.test(g));
          if (!canCreateUser) {
            throw ApplicationFailure.nonRetryable(
              `admin user ${info.me} on mysql server ${plan.server.host}:${plan.server.port} needs CREATE USER, CREATE and GRANT OPTION on *.*`,
              'SqlPermissionDenied',
            );
          }
          if (plan.auth === 'iam') {
            const plugin = await rows(
              sql,
              "SELECT PLUGIN_STATUS FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'AWSAuthenticationPlugin'",
            );
            if (plugin.length === 0) {
              throw ApplicationFailure.nonRetryable(
                `IAM database authentication is not available on mysql server ${plan.server.host}:${plan.server.port}: plugin AWSAuthenticationPlugin is not loaded (it needs RDS/Aurora MySQL with IAM authentication enabled)`,
                'SqlIamUnavailable',
              );
            }
          }
          // Read-only: what exists, whose it is, and whether this run may touch it.
          const f = await facts(s, plan, stored);
          const twin = judgeTwins(plan, await twinFacts(s, plan), mode);
          const own = judgeOwnership(plan, s.server, f, mode, [s.me]);
          if (mode === 'provision' && target)
            await checkCredentialsContinuity(s, plan, f.user, own.user, target.ref, stored);
          const version = `${mariadb ? 'MariaDB' : 'MySQL'} ${String(info.v).split('-')[0]}`;
          const found = [
            own.database !== 'absent' &&
              `database ${plan.database}: ${own.database === 'ours' ? "dbops's" : 'to adopt'}`,
            own.user !== 'absent' && `user ${plan.user}: ${own.user === 'ours' ? "dbops's" : 'to adopt'}`,
            twin && `rotation twin ${standbyName(plan.user)}: dbops's`,
          ].filter(Boolean);
          return {
            serverVersion: version,
            detail: `${version} as ${info.me}${found.length ? `; ${found.join(', ')}` : ''}`,
          };
        },
        [],
      );
    },

    async ensureDatabase(plan) {
      return admin(plan, `create database ${plan.database}`, async (s) => {
        const { sql } = s;
        await ensureRegistry(sql);
        for (let attempt = 0; ; attempt++) {
          const f = await facts(s, plan);
          const own = judgeOwnership(plan, s.server, { database: f.database }, 'provision', [s.me]).database;
          if (own === 'ours') {
            if (!f.database.pending)
              return { changed: false, detail: `database ${plan.database} already exists (made by dbops)` };
            await confirm(sql, 'database', plan);
            return {
              changed: true,
              detail: `database ${plan.database} was made by an interrupted run (still empty): confirmed`,
            };
          }
          if (own === 'adopt') {
            await record(sql, 'database', plan, 'created', null, null);
            return {
              changed: true,
              detail: `adopted database ${plan.database} (adopt is on for this server): recorded as dbops's`,
            };
          }
          // Recorded before it exists, confirmed after: a crash in between is resolved by the next run.
          await record(sql, 'database', plan, 'pending', null, plan.runId ?? null);
          try {
            await sql.query(`CREATE DATABASE ${q(plan.database)} CHARACTER SET utf8mb4`);
          } catch (err) {
            if ((err as { errno?: number }).errno === DB_EXISTS && attempt === 0) continue; // made by someone else meanwhile: judge again
            throw err;
          }
          await confirm(sql, 'database', plan);
          return { changed: true, detail: `created database ${plan.database}` };
        }
      });
    },

    async ensureUser(plan) {
      // Names that are never a tenant's are refused before a password is claimed for them.
      judgeOwnership(plan, serverPolicy(plan, deps), { user: { exists: false } }, 'provision');
      const password = plan.auth === 'password' ? await claimPassword(plan, deps) : undefined;
      const ref = plan.credentialsTarget ? targetRef(plan.credentialsTarget) : null;
      return admin(
        plan,
        `create user ${plan.user}`,
        async (s) => {
          const { sql } = s;
          await ensureRegistry(sql);
          const auth =
            password !== undefined ? identifiedBy(s, password) : "IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'";
          const changes: string[] = [];
          judgeTwins(plan, await twinFacts(s, plan), 'provision');
          for (let attempt = 0; ; attempt++) {
            const f = await facts(s, plan, password);
            const own = judgeOwnership(plan, s.server, { user: f.user }, 'provision', [s.me]).user;
            if (own === 'absent') {
              await record(sql, 'user', plan, 'pending', ref, plan.runId ?? null);
              try {
                await sql.query(`CREATE USER ${account(plan.user)} ${auth}`);
              } catch (err) {
                if ((err as { errno?: number }).errno === USER_OP_FAILED && attempt === 0) continue; // made concurrently: judge again
                throw err;
              }
              await confirm(sql, 'user', plan);
              return { changed: true, detail: `created user ${plan.user}` };
            }
            if (own === 'adopt') {
              await sql.query(`ALTER USER ${account(plan.user)} ${auth}`);
              await record(sql, 'user', plan, 'created', ref, null);
              return {
                changed: true,
                detail: `adopted user ${plan.user} (adopt is on for this server): set the stored credentials, recorded as dbops's`,
              };
            }
            // ours
            if (ref && password !== undefined) await checkCredentialsContinuity(s, plan, f.user, own, ref, password);
            if (f.user.pending) {
              await confirm(sql, 'user', plan);
              changes.push(`user ${plan.user} was made by an interrupted run (it has the stored password): confirmed`);
            }
            if (password !== undefined && !(await loginWorks(s.server, plan.user, password))) {
              await sql.query(`ALTER USER ${account(plan.user)} ${auth}`);
              changes.push(`user ${plan.user} existed with another password: set the stored one`);
            }
            if (ref && f.user.mark?.credentials !== ref) {
              await sql.query(
                `UPDATE ${REGISTRY} SET credentials = ? WHERE kind = 'user' AND name = ? AND db = ? AND \`user\` = ?`,
                [ref, plan.user, plan.database, plan.user],
              );
              changes.push(`its credentials are now recorded at ${ref}`);
            }
            break;
          }
          if (changes.length) return { changed: true, detail: changes.join('; ') };
          return {
            changed: false,
            detail:
              password === undefined
                ? `IAM user ${plan.user} already exists`
                : `user ${plan.user} already exists with the stored password`,
          };
        },
        ['database', 'user'],
      );
    },

    async grant(plan) {
      return admin(
        plan,
        `grant ${plan.database} to ${plan.user}`,
        async (s) => {
          const { sql } = s;
          const own = judgeOwnership(plan, s.server, await facts(s, plan), 'provision', [s.me]);
          needsOurs(plan, 'database', plan.database, own.database);
          needsOurs(plan, 'user', plan.user, own.user);
          const grantDb = mysqlGrantDatabase(plan.database);
          const grants = (await rows(sql, `SHOW GRANTS FOR ${account(plan.user)}`)).map((r) =>
            String(Object.values(r)[0]),
          );
          if (grants.some((g) => g.startsWith(`GRANT ALL PRIVILEGES ON ${grantDb}.*`))) {
            return { changed: false, detail: `${plan.user} already has ALL on ${plan.database}` };
          }
          await sql.query(`GRANT ALL PRIVILEGES ON ${grantDb}.* TO ${account(plan.user)}`);
          return { changed: true, detail: `granted ALL on ${plan.database}.* to ${plan.user}` };
        },
        ['database', 'user'],
      );
    },

    async verify(plan) {
      if (plan.auth === 'iam') {
        return admin(
          plan,
          `check the grants of ${plan.user}`,
          async ({ sql }) => {
            const grants = (await rows(sql, `SHOW GRANTS FOR ${account(plan.user)}`)).map((r) =>
              String(Object.values(r)[0]),
            );
            if (!grants.some((g) => g.includes(`${mysqlGrantDatabase(plan.database)}.*`))) {
              throw ApplicationFailure.nonRetryable(
                `user ${plan.user} has no grant on ${plan.database}`,
                'VerifyFailed',
              );
            }
            return { changed: false, detail: 'grants checked; login not tried (an IAM token login needs RDS)' };
          },
          [],
        );
      }
      const stored = await readCredentials(plan, deps);
      const server = await resolveServer(plan, deps);
      // One name per run (DDL commits at once in MySQL): a probe that a cut connection left behind
      // is dropped by the run's next attempt instead of staying in the tenant's database. No tenant
      // table has this name (it carries a hash of the run id).
      const table = `dbops_verify_${crypto
        .createHash('sha256')
        .update(plan.runId ?? crypto.randomBytes(16).toString('hex'))
        .digest('hex')
        .slice(0, 12)}`;
      try {
        await pools.shortLived(mysqlServerKey(server), async () => {
          let me: Connection | undefined;
          try {
            me = await open(server, plan.user, stored?.password, plan.database);
            await me.query(`DROP TABLE IF EXISTS ${q(table)}`);
            await me.query(`CREATE TABLE ${q(table)} (id INT)`);
            await me.query(`DROP TABLE ${q(table)}`);
            const visible = (await rows(me, 'SHOW DATABASES')).map((r) => String(Object.values(r)[0]));
            const foreign = visible.filter((d) => d !== plan.database && d !== 'information_schema');
            if (foreign.length) {
              throw ApplicationFailure.nonRetryable(
                `user ${plan.user} can see other databases: ${foreign.join(', ')}`,
                'VerifyFailed',
              );
            }
          } finally {
            await me?.end().catch(() => undefined);
          }
        });
      } catch (err) {
        throw classifySqlError(err, {
          engine: 'mysql',
          host: plan.server.host,
          port: plan.server.port,
          login: plan.user,
          tls: server.tls !== false,
          action: `create a table in ${plan.database} as ${plan.user}`,
          secrets: [...server.secrets, stored?.password ?? ''],
        });
      }
      return {
        changed: false,
        detail: `${plan.user} logged in, created a table in ${plan.database} and sees no other database`,
      };
    },

    async dropDatabase(plan: DeprovisionPlan): Promise<StepResult> {
      return admin(
        plan,
        `${plan.reclaimPolicy === 'delete' ? 'drop' : 'keep'} database ${plan.database}`,
        async (s) => {
          const { sql } = s;
          // Only a database marked for this tenant is dropped (adopt never applies here).
          const f = await facts(s, plan);
          const own = judgeOwnership(plan, s.server, f, 'deprovision', [s.me]).database;
          if (plan.reclaimPolicy === 'retain')
            return { changed: false, detail: `database ${plan.database} kept (reclaimPolicy retain)` };
          if (own === 'absent') {
            await forget(sql, 'database', plan); // a stale row of a database someone dropped
            return { changed: false, detail: `database ${plan.database} does not exist` };
          }
          const kept = notMadeByRun(plan, 'database', plan.database, f.database.mark);
          if (kept) return { changed: false, detail: kept };
          if (plan.madeByRun !== undefined && !(await databaseEmpty(sql, plan.database)))
            return { changed: false, detail: `database ${plan.database} kept: it holds data already` };
          await sql.query(`DROP DATABASE IF EXISTS ${q(plan.database)}`);
          await forget(sql, 'database', plan);
          return { changed: true, detail: `dropped database ${plan.database}` };
        },
      );
    },

    async dropUser(plan: DeprovisionPlan): Promise<StepResult> {
      return admin(
        plan,
        `drop user ${plan.user}`,
        async (s) => {
          const { sql } = s;
          // Only a user marked for this tenant is dropped (adopt never applies here).
          const { user } = await facts(s, plan);
          const own = judgeOwnership(plan, s.server, { user }, 'deprovision', [s.me]).user;
          if (own === 'absent') {
            await forget(sql, 'user', plan);
            return { changed: false, detail: `user ${plan.user} does not exist` };
          }
          const kept = notMadeByRun(plan, 'user', plan.user, user.mark);
          if (kept) return { changed: false, detail: kept };
          // Its rotation twin goes with it; an undo leaves what another run made.
          const twins = await twinFacts(s, plan);
          const twin = plan.madeByRun === undefined ? judgeTwins(plan, twins, 'deprovision') : false;
          if (twin) {
            await sql.query(`DROP USER IF EXISTS ${account(twins.twin.name)}`);
            await forget(sql, 'user', { ...plan, user: twins.twin.name });
          }
          await sql.query(`DROP USER IF EXISTS ${account(plan.user)}`);
          await forget(sql, 'user', plan);
          return {
            changed: true,
            detail: `dropped user ${plan.user}${twin ? ` and its rotation twin ${twins.twin.name}` : ''}`,
          };
        },
        ['database', 'user'],
      );
    },

    async planProvision(plan: TenantPlanRequest): Promise<TenantPlan> {
      const st = await tenantState(plan);
      return { changes: st.changes, database: st.own.database, user: st.own.user };
    },

    async planDeprovision(plan: DeprovisionPlan): Promise<TenantPlan> {
      await acts.connect(plan);
      const found = await admin(
        plan,
        `plan the removal of ${plan.database}`,
        async (s) => {
          const f = await facts(s, plan);
          const own = judgeOwnership(plan, s.server, f, 'deprovision', [s.me]);
          const twin = standbyName(plan.user);
          const t = await facts(s, { ...plan, user: twin });
          const twinOurs = t.user.exists && t.user.mark?.database === plan.database && t.user.mark.user === twin;
          const [n] =
            own.database !== 'absent'
              ? await rows(s.sql, 'SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?', [
                  plan.database,
                ])
              : [{ n: 0 }];
          return { own, twinOurs, tables: Number(n.n) };
        },
        [],
      );
      const c: PlannedChange[] = [];
      if (found.own.database !== 'absent' && plan.reclaimPolicy === 'delete')
        c.push(
          change('drop-database', 'delete', `database ${plan.database}`, `${found.tables} tables, with their data`),
        );
      if (found.own.user !== 'absent') c.push(change('drop-user', 'delete', `user ${plan.user}`));
      if (found.twinOurs) c.push(change('drop-user', 'delete', `user ${standbyName(plan.user)}`, 'its rotation twin'));
      c.push(...(await dropCredentialsChanges(plan, deps)));
      return { changes: c, database: found.own.database, user: found.own.user };
    },

    async repairTenant(plan: SqlPlan): Promise<RepairResult> {
      const st = await tenantState({ ...plan, purpose: 'reconcile' });
      requireTenantOurs(plan, st.own);
      const done: string[] = [];
      if (st.missingAll) {
        const r = await acts.grant(plan); // the provisioning grant step
        if (r.changed) done.push(r.detail);
      }
      if (st.extra.length || st.publicGrants.length) {
        await admin(
          plan,
          `revoke what ${plan.user} holds beyond ${plan.database}`,
          async (s) => {
            // Checked again under the locks: only this tenant's own dbops-marked account is changed.
            requireTenantOurs(plan, judgeOwnership(plan, s.server, await facts(s, plan), 'provision', [s.me]));
            for (const g of st.extra) {
              await s.sql.query(`REVOKE ${g.privs} ON ${g.on} FROM ${account(plan.user)}`);
              if (g.grantOption) await s.sql.query(`REVOKE GRANT OPTION ON ${g.on} FROM ${account(plan.user)}`);
              done.push(`revoked ${g.privs} on ${g.on} from ${plan.user}`);
            }
            // Only PUBLIC's grants on this database alone: a pattern reaching others stays (in the drift).
            for (const g of st.publicGrants.filter((x) => namesOnlyDatabase(x, plan.database))) {
              await s.sql.query(`REVOKE ${g.privs} ON ${g.on} FROM PUBLIC`);
              done.push(`revoked ${g.privs} on ${g.on} from PUBLIC`);
            }
          },
          ['database', 'user'],
        );
      }
      if (st.login && !st.login.works && st.login.repairable)
        done.push(await repairPassword(rotation, plan, st.login.name));
      return { changed: done.length > 0, repaired: done, detail: done.length ? done.join('; ') : 'nothing to repair' };
    },
  };
  return acts;

  /**
   * Plan mode and reconcile: what the catalog and the registry say about the tenant, read-only
   * (no DDL, no lock, the registry not even created), as the changes an apply would make. For
   * provisionDatabase it first runs connect's checks, so a plan refuses what the apply refuses.
   */
  async function tenantState(plan: TenantPlanRequest): Promise<MyTenantState> {
    if (plan.purpose !== 'reconcile') await acts.connect(plan);
    const st = await admin(
      plan,
      `plan ${plan.database}`,
      async (s): Promise<MyTenantState> => {
        const f = await facts(s, plan);
        const own = judgeOwnership(plan, s.server, f, 'provision', [s.me]);
        const c: PlannedChange[] = [];
        const state: MyTenantState = {
          own,
          changes: c,
          missingAll: false,
          extra: [],
          publicGrants: [],
          ...(f.user.mark?.credentials ? { markRef: f.user.mark.credentials } : {}),
        };
        const db = plan.database;
        const user = plan.user;
        const beyond = BEYOND(plan);
        if (own.database === 'absent') c.push(change('ensure-database', 'create', `database ${db}`, 'missing'));
        if (own.database === 'adopt')
          c.push(change('ensure-database', 'change', `database ${db}`, "adopt: record it as dbops's (adopt is on)"));
        if (own.database === 'ours' && f.database.pending)
          c.push(
            change(
              'ensure-database',
              'change',
              `database ${db}`,
              'made by an interrupted run (still empty): confirm it',
            ),
          );
        if (own.user === 'absent') c.push(change('ensure-user', 'create', `user ${user}`, 'missing'));
        if (own.user === 'adopt')
          c.push(
            change('ensure-user', 'change', `user ${user}`, "adopt: set the stored password, record it as dbops's"),
          );
        const grantAll = `GRANT ALL ON ${db}.* TO ${user}`;
        if (own.user === 'absent' || own.database === 'absent') {
          c.push(
            change(
              'grant',
              'change',
              grantAll,
              `after ${own.database === 'absent' ? 'ensure-database' : 'ensure-user'} creates it`,
            ),
          );
        } else {
          const lines = (await rows(s.sql, `SHOW GRANTS FOR ${account(user)}`)).map((r) => String(Object.values(r)[0]));
          const grants = mysqlGrants(lines);
          state.missingAll = !grants.some((g) => g.privs === 'ALL PRIVILEGES' && g.table === '*' && onDatabase(g, db));
          if (state.missingAll) c.push(change('grant', 'change', grantAll, 'missing'));
          state.extra = grants.filter((g) => !onDatabase(g, db));
          for (const g of state.extra)
            c.push(
              change(
                'grant',
                'change',
                `revoke ${g.privs} on ${g.on} from ${user}`,
                `a privilege outside database ${db}${beyond}`,
              ),
            );
        }
        if (own.database !== 'absent' && s.mariadb) {
          // MariaDB 10.11+ grants to PUBLIC too: nobody but the tenant reaches its database.
          const pub = await rows(s.sql, 'SHOW GRANTS FOR PUBLIC').catch(() => [] as RowDataPacket[]);
          state.publicGrants = mysqlGrants(pub.map((r) => String(Object.values(r)[0]))).filter((g) =>
            reachesDatabase(g, db),
          );
          for (const g of state.publicGrants)
            c.push(
              change(
                'grant',
                'change',
                `REVOKE ${g.privs} ON ${g.on} FROM PUBLIC`,
                namesOnlyDatabase(g, db)
                  ? 'PUBLIC reaches the database'
                  : 'PUBLIC reaches the database through a pattern that covers other databases too: dbops never changes it; narrow or revoke it by hand',
              ),
            );
        }
        return state;
      },
      [],
    );
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
}

interface MyTenantState {
  own: { database: Ownership; user: Ownership };
  changes: PlannedChange[];
  /** The tenant's ALL on its database is missing. */
  missingAll: boolean;
  /** Its grants on anything else. */
  extra: MysqlGrant[];
  /** PUBLIC's grants on its database (MariaDB). */
  publicGrants: MysqlGrant[];
  login?: { name: string; works: boolean; repairable: boolean };
  /** The credentials target the user's mark names. */
  markRef?: string;
}
