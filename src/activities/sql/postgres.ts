/**
 * PostgreSQL provisioning steps. Each checks the catalog first and acts only when something is
 * missing, so every step is safe to re-run, and tolerates a concurrent run creating the same thing.
 */
import crypto from 'node:crypto';
import { Client, escapeLiteral } from 'pg';
import { ApplicationFailure } from '@temporalio/common';
import type { SqlPlan } from '../../domain/provision';
import { quotePgIdent as q } from '../../domain/sql-names';
import type { AwsClients } from '../aws-clients';
import { claimPassword, credentialsStore } from '../credentials';
import { classifySqlError } from './errors';
import { resolveServer, type ResolvedServer, type SqlDeps } from './connection';
import { scramMatches, scramVerifier } from './passwords';
import type { DeprovisionPlan, SqlEngineActivities, StepResult } from './types';

const ALREADY_EXISTS = new Set(['42P04', '42710', '23505']);

interface Session {
  sql: Client;
  server: ResolvedServer;
  plan: SqlPlan;
}

function clientFor(server: ResolvedServer, user: string, password: ResolvedServer['adminPassword'], database: string): Client {
  return new Client({
    host: server.host,
    port: server.port,
    user,
    password: password as string | (() => Promise<string>) | undefined,
    database,
    ssl: server.tls === false ? false : server.tls,
    connectionTimeoutMillis: 10_000,
    statement_timeout: 120_000,
    application_name: 'dbops',
  });
}

export function createPostgresActivities(deps: SqlDeps & { aws: AwsClients }): SqlEngineActivities {
  /**
   * Runs `fn` on a dedicated admin connection; every error leaves classified. Steps that change
   * something hold a session advisory lock per database first, so concurrent runs for the same
   * tenant take turns (catalog updates on the same row would otherwise fail with "tuple
   * concurrently updated"); the lock goes with the connection.
   */
  async function admin<T>(plan: SqlPlan, action: string, fn: (s: Session) => Promise<T>, database?: string, lock = true): Promise<T> {
    const server = await resolveServer(plan, deps);
    const sql = clientFor(server, server.adminUser, server.adminPassword, database ?? plan.server.adminDatabase ?? 'postgres');
    sql.on('error', () => undefined); // a dropped idle connection must not crash the worker
    try {
      await sql.connect();
      if (lock) await sql.query("select pg_advisory_lock(hashtext('dbops:' || $1))", [plan.database]);
      return await fn({ sql, server, plan });
    } catch (err) {
      throw classifySqlError(err, { engine: 'postgres', host: plan.server.host, port: plan.server.port, login: server.adminUser, action, secrets: server.secrets });
    } finally {
      await sql.end().catch(() => undefined);
    }
  }

  async function one<T>(sql: Client, text: string, params: unknown[] = []): Promise<T | undefined> {
    return (await sql.query(text, params)).rows[0] as T | undefined;
  }

  async function isSuperuser(sql: Client): Promise<boolean> {
    return (await one<{ s: boolean }>(sql, 'select rolsuper as s from pg_roles where rolname = current_user'))?.s ?? false;
  }

  /** On RDS the admin is not superuser: it must be a member of a role to hand objects to it. */
  async function ensureMembership(sql: Client, role: string): Promise<void> {
    if (await isSuperuser(sql)) return;
    const m = await one<{ m: boolean }>(sql, "select pg_has_role(current_user, $1, 'MEMBER') as m", [role]);
    if (!m?.m) await sql.query(`GRANT ${q(role)} TO CURRENT_USER`);
  }

  async function roleExists(sql: Client, role: string): Promise<boolean> {
    return Boolean(await one(sql, 'select 1 from pg_roles where rolname = $1', [role]));
  }

  async function databaseExists(sql: Client, db: string): Promise<boolean> {
    return Boolean(await one(sql, 'select 1 from pg_database where datname = $1', [db]));
  }

  /** Whether the stored password already works for the role (checked without changing anything). */
  async function passwordMatches(s: Session, password: string): Promise<boolean> {
    if (await isSuperuser(s.sql)) {
      const row = await one<{ p: string | null }>(s.sql, 'select rolpassword as p from pg_authid where rolname = $1', [s.plan.user]);
      return scramMatches(password, row?.p);
    }
    const probe = clientFor(s.server, s.plan.user, password, s.plan.database);
    probe.on('error', () => undefined);
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
  }

  return {
    async connect(plan) {
      return admin(plan, 'log in as the admin user', async ({ sql }) => {
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
        const version = r.v.split(' ').slice(0, 2).join(' ');
        return { serverVersion: version, detail: `${version} as ${r.me}${r.su ? ' (superuser)' : ''}` };
      }, undefined, false);
    },

    async ensureDatabase(plan) {
      return admin(plan, `create database ${plan.database}`, async ({ sql }) => {
        if (await databaseExists(sql, plan.database)) return { changed: false, detail: `database ${plan.database} already exists` };
        try {
          await sql.query(`CREATE DATABASE ${q(plan.database)}`);
        } catch (err) {
          if (!ALREADY_EXISTS.has((err as { code?: string }).code ?? '')) throw err;
          return { changed: false, detail: `database ${plan.database} was created by a concurrent run` };
        }
        return { changed: true, detail: `created database ${plan.database}` };
      });
    },

    async ensureUser(plan) {
      const password = plan.auth === 'password' ? await claimPassword(plan, deps.aws) : undefined;
      return admin(plan, `create user ${plan.user}`, async (s) => {
        const { sql } = s;
        let created = false;
        if (!(await roleExists(sql, plan.user))) {
          const login = password !== undefined ? `LOGIN PASSWORD ${escapeLiteral(scramVerifier(password))}` : 'LOGIN';
          try {
            await sql.query(`CREATE ROLE ${q(plan.user)} ${login}`);
            created = true;
          } catch (err) {
            if (!ALREADY_EXISTS.has((err as { code?: string }).code ?? '')) throw err;
          }
        }
        if (plan.auth === 'iam') {
          const m = await one<{ m: boolean }>(sql, "select pg_has_role($1, 'rds_iam', 'MEMBER') as m", [plan.user]);
          if (!m?.m) {
            await sql.query(`GRANT rds_iam TO ${q(plan.user)}`);
            return { changed: true, detail: `${created ? 'created' : 'updated'} IAM user ${plan.user} (member of rds_iam)` };
          }
          return { changed: created, detail: created ? `created IAM user ${plan.user}` : `IAM user ${plan.user} already exists` };
        }
        if (created) return { changed: true, detail: `created user ${plan.user}` };
        const canLogin = (await one<{ l: boolean }>(sql, 'select rolcanlogin as l from pg_roles where rolname = $1', [plan.user]))?.l;
        if (canLogin && (await passwordMatches(s, password!))) {
          return { changed: false, detail: `user ${plan.user} already exists with the stored password` };
        }
        await sql.query(`ALTER ROLE ${q(plan.user)} WITH LOGIN PASSWORD ${escapeLiteral(scramVerifier(password!))}`);
        return { changed: true, detail: `user ${plan.user} existed with another password: set the stored one` };
      });
    },

    async grant(plan) {
      const changes: string[] = [];
      const version = await admin(plan, `grant ${plan.database} to ${plan.user}`, async ({ sql }) => {
        const db = (await one<{ owner: string; public: boolean }>(
          sql,
          `select pg_get_userbyid(d.datdba) as owner,
                  exists(select 1 from aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a where a.grantee = 0) as public
             from pg_database d where d.datname = $1`,
          [plan.database],
        ))!;
        if (db.owner !== plan.user) {
          await ensureMembership(sql, plan.user);
          await sql.query(`ALTER DATABASE ${q(plan.database)} OWNER TO ${q(plan.user)}`);
          changes.push(`owner ${db.owner} → ${plan.user}`);
        }
        if (db.public) {
          await sql.query(`REVOKE ALL ON DATABASE ${q(plan.database)} FROM PUBLIC`);
          changes.push('revoked PUBLIC access');
        }
        return Number((await one<{ n: string }>(sql, "select current_setting('server_version_num') as n"))!.n);
      });
      if (version < 150000) {
        // Before PostgreSQL 15 everyone may create in schema public: take that away.
        await admin(plan, `restrict schema public in ${plan.database}`, async ({ sql }) => {
          const open = await one(sql, `select 1 from pg_namespace n, aclexplode(n.nspacl) a where n.nspname = 'public' and a.grantee = 0 and a.privilege_type = 'CREATE'`);
          if (open) {
            await sql.query('REVOKE CREATE ON SCHEMA public FROM PUBLIC');
            changes.push('revoked CREATE on schema public from PUBLIC');
          }
        }, plan.database);
      }
      return changes.length
        ? { changed: true, detail: changes.join('; ') }
        : { changed: false, detail: `${plan.user} already owns ${plan.database}; PUBLIC has no access` };
    },

    async verify(plan) {
      const others = await admin(plan, `check the privileges of ${plan.user}`, async ({ sql }) => {
        const r = (await one<{ su: boolean; cdb: boolean; crole: boolean }>(
          sql,
          'select rolsuper as su, rolcreatedb as cdb, rolcreaterole as crole from pg_roles where rolname = $1',
          [plan.user],
        ))!;
        if (r.su || r.cdb || r.crole) {
          throw ApplicationFailure.nonRetryable(`user ${plan.user} has server-wide privileges (superuser, CREATEDB or CREATEROLE)`, 'VerifyFailed');
        }
        const rows = await sql.query<{ datname: string }>(
          `select datname from pg_database
            where not datistemplate and datname <> $2 and has_database_privilege($1, datname, 'CONNECT') order by datname`,
          [plan.user, plan.database],
        );
        return rows.rows.map((x) => x.datname);
      }, undefined, false);
      if (plan.auth === 'iam') {
        return { changed: false, detail: `privileges checked; login not tried (an IAM token login needs RDS)${others.length ? `; may also connect to: ${others.join(', ')}` : ''}` };
      }
      const stored = await credentialsStore(plan.credentialsTarget!, deps.aws).read();
      const server = await resolveServer(plan, deps);
      const me = clientFor(server, plan.user, stored?.password, plan.database);
      me.on('error', () => undefined);
      const table = `dbops_verify_${crypto.randomBytes(6).toString("hex")}`;
      try {
        await me.connect();
        await me.query(`CREATE TABLE ${q(table)} (id int)`);
        await me.query(`DROP TABLE ${q(table)}`);
        // Reading another tenant's database is refused by its REVOKE ... FROM PUBLIC.
      } catch (err) {
        throw classifySqlError(err, {
          engine: 'postgres', host: plan.server.host, port: plan.server.port, login: plan.user,
          action: `create a table in ${plan.database} as ${plan.user}`, secrets: [...server.secrets, stored?.password ?? ''],
        });
      } finally {
        await me.end().catch(() => undefined);
      }
      const note = others.length ? `; it may also connect to (PUBLIC CONNECT): ${others.join(', ')}` : '';
      return { changed: false, detail: `${plan.user} logged in and created a table in ${plan.database}${note}` };
    },

    async dropDatabase(plan: DeprovisionPlan): Promise<StepResult> {
      if (plan.reclaimPolicy === 'delete') {
        return admin(plan, `drop database ${plan.database}`, async ({ sql }) => {
          if (!(await databaseExists(sql, plan.database))) return { changed: false, detail: `database ${plan.database} does not exist` };
          await ensureMembership(sql, plan.user).catch(() => undefined);
          await sql.query(`DROP DATABASE IF EXISTS ${q(plan.database)} WITH (FORCE)`);
          return { changed: true, detail: `dropped database ${plan.database}` };
        });
      }
      // retain: keep the data, hand it to the admin so the login can go.
      const changed = await admin(plan, `take over database ${plan.database}`, async ({ sql }) => {
        if (!(await databaseExists(sql, plan.database))) return false;
        const owner = (await one<{ o: string }>(sql, 'select pg_get_userbyid(datdba) as o from pg_database where datname = $1', [plan.database]))!.o;
        if (owner !== plan.user) return false;
        await ensureMembership(sql, plan.user);
        await sql.query(`ALTER DATABASE ${q(plan.database)} OWNER TO CURRENT_USER`);
        return true;
      });
      if (changed) {
        await admin(plan, `reassign objects in ${plan.database}`, async ({ sql }) => {
          if (await roleExists(sql, plan.user)) {
            await sql.query(`REASSIGN OWNED BY ${q(plan.user)} TO CURRENT_USER`);
            await sql.query(`DROP OWNED BY ${q(plan.user)}`);
          }
        }, plan.database);
      }
      return changed
        ? { changed: true, detail: `kept database ${plan.database}; its objects now belong to ${plan.server.adminUser}` }
        : { changed: false, detail: `database ${plan.database} kept (not owned by ${plan.user})` };
    },

    async dropUser(plan: DeprovisionPlan): Promise<StepResult> {
      return admin(plan, `drop user ${plan.user}`, async ({ sql }) => {
        if (!(await roleExists(sql, plan.user))) return { changed: false, detail: `user ${plan.user} does not exist` };
        await ensureMembership(sql, plan.user);
        await sql.query('select pg_terminate_backend(pid) from pg_stat_activity where usename = $1', [plan.user]);
        await sql.query(`REASSIGN OWNED BY ${q(plan.user)} TO CURRENT_USER`);
        await sql.query(`DROP OWNED BY ${q(plan.user)}`);
        await sql.query(`DROP ROLE IF EXISTS ${q(plan.user)}`);
        return { changed: true, detail: `dropped user ${plan.user}` };
      });
    },
  };
}
