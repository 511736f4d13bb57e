/**
 * MySQL/MariaDB provisioning steps: check-then-act, tolerant of concurrent runs, passwords sent as
 * hashes where the server allows it (MariaDB), grants with `_`/`%` escaped.
 */
import crypto from 'node:crypto';
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import { ApplicationFailure } from '@temporalio/common';
import type { SqlPlan } from '../../domain/provision';
import { mysqlGrantDatabase, quoteMysqlIdent as q } from '../../domain/sql-names';
import type { AwsClients } from '../aws-clients';
import { claimPassword, credentialsStore } from '../credentials';
import { classifySqlError } from './errors';
import { resolveServer, type ResolvedServer, type SqlDeps, type TlsOptions } from './connection';
import { mysqlNativeHash } from './passwords';
import type { DeprovisionPlan, SqlEngineActivities, StepResult } from './types';

const DB_EXISTS = 1007;
const USER_OP_FAILED = 1396;

interface Session {
  sql: Connection;
  server: ResolvedServer;
  mariadb: boolean;
}

/**
 * mysql2's own TLS options. It ignores `servername` and `checkServerIdentity` (it sets both
 * itself) and checks the host name only with `verifyIdentity`, against the host it connects to;
 * for an IP address it checks nothing, which is why planning refuses verify-full with an IP.
 */
function mysqlSsl(tls: TlsOptions | false) {
  if (tls === false) return undefined;
  return { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.rejectUnauthorized, verifyIdentity: tls.verifyHostname };
}

async function open(server: ResolvedServer, user: string, password: string | undefined, database?: string): Promise<Connection> {
  const conn = await mysql.createConnection({
    host: server.host,
    port: server.port,
    user,
    password,
    database,
    ssl: mysqlSsl(server.tls),
    connectTimeout: 10_000,
    multipleStatements: false,
    ...(typeof server.adminPassword === 'function' && user === server.adminUser
      ? { authPlugins: { mysql_clear_password: () => () => Buffer.from(`${password}\0`) } }
      : {}),
  });
  conn.on('error', () => undefined);
  return conn;
}

/** `'user'@'%'` with the user name escaped as a string literal. */
function account(user: string): string {
  return `${mysql.escape(user)}@'%'`;
}

export function createMysqlActivities(deps: SqlDeps & { aws: AwsClients }): SqlEngineActivities {
  /**
   * Runs `fn` on a dedicated admin connection; every error leaves classified. Steps that change
   * something take a named lock per database first so concurrent runs take turns.
   */
  async function admin<T>(plan: SqlPlan, action: string, fn: (s: Session) => Promise<T>, lock = true): Promise<T> {
    const server = await resolveServer(plan, deps);
    let sql: Connection | undefined;
    try {
      const password = typeof server.adminPassword === 'function' ? await server.adminPassword() : server.adminPassword;
      if (password) server.secrets.push(password);
      sql = await open(server, server.adminUser, password);
      if (lock) {
        const [got] = await sql.query<RowDataPacket[]>('SELECT GET_LOCK(?, 60) AS got', [`dbops:${plan.database}`.slice(0, 64)]);
        if (got[0].got !== 1) throw ApplicationFailure.retryable(`another run holds the lock for ${plan.database}`, 'SqlLockBusy');
      }
      const [v] = await sql.query<RowDataPacket[]>('SELECT VERSION() AS v');
      return await fn({ sql, server, mariadb: /mariadb/i.test(String(v[0].v)) });
    } catch (err) {
      throw classifySqlError(err, { engine: 'mysql', host: plan.server.host, port: plan.server.port, login: server.adminUser, action, secrets: server.secrets, tls: server.tls !== false });
    } finally {
      await sql?.end().catch(() => undefined);
    }
  }

  async function rows(sql: Connection, text: string, params: unknown[] = []): Promise<RowDataPacket[]> {
    const [r] = await sql.query<RowDataPacket[]>(text, params);
    return r;
  }

  async function userExists(sql: Connection, user: string): Promise<boolean> {
    return (await rows(sql, "SELECT 1 FROM mysql.user WHERE User = ? AND Host = '%'", [user])).length > 0;
  }

  async function databaseExists(sql: Connection, db: string): Promise<boolean> {
    return (await rows(sql, 'SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [db])).length > 0;
  }

  /** CREATE/ALTER USER clause setting the password: a hash on MariaDB, the value over the wire on MySQL 8. */
  function identifiedBy(s: Session, password: string): string {
    return s.mariadb ? `IDENTIFIED BY PASSWORD ${mysql.escape(mysqlNativeHash(password))}` : `IDENTIFIED BY ${mysql.escape(password)}`;
  }

  async function loginWorks(server: ResolvedServer, user: string, password: string): Promise<boolean> {
    try {
      const c = await open(server, user, password);
      await c.end();
      return true;
    } catch (err) {
      if ((err as { errno?: number }).errno === 1045) return false;
      throw err;
    }
  }

  return {
    async connect(plan) {
      return admin(plan, 'log in as the admin user', async ({ sql, mariadb }) => {
        const [info] = await rows(sql, 'SELECT VERSION() AS v, CURRENT_USER() AS me');
        const grants = (await rows(sql, 'SHOW GRANTS')).map((r) => String(Object.values(r)[0]));
        const all = grants.some((g) => /^GRANT ALL PRIVILEGES ON \*\.\* TO .* WITH GRANT OPTION/.test(g));
        const canCreateUser = all || grants.some((g) => /ON \*\.\*/.test(g) && /CREATE USER/.test(g) && /GRANT OPTION/.test(g));
        if (!canCreateUser) {
          throw ApplicationFailure.nonRetryable(
            `admin user ${info.me} on mysql server ${plan.server.host}:${plan.server.port} needs CREATE USER, CREATE and GRANT OPTION on *.*`,
            'SqlPermissionDenied',
          );
        }
        if (plan.auth === 'iam') {
          const plugin = await rows(sql, "SELECT PLUGIN_STATUS FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'AWSAuthenticationPlugin'");
          if (plugin.length === 0) {
            throw ApplicationFailure.nonRetryable(
              `IAM database authentication is not available on mysql server ${plan.server.host}:${plan.server.port}: plugin AWSAuthenticationPlugin is not loaded (it needs RDS/Aurora MySQL with IAM authentication enabled)`,
              'SqlIamUnavailable',
            );
          }
        }
        const version = `${mariadb ? 'MariaDB' : 'MySQL'} ${String(info.v).split('-')[0]}`;
        return { serverVersion: version, detail: `${version} as ${info.me}` };
      }, false);
    },

    async ensureDatabase(plan) {
      return admin(plan, `create database ${plan.database}`, async ({ sql }) => {
        if (await databaseExists(sql, plan.database)) return { changed: false, detail: `database ${plan.database} already exists` };
        try {
          await sql.query(`CREATE DATABASE ${q(plan.database)} CHARACTER SET utf8mb4`);
        } catch (err) {
          if ((err as { errno?: number }).errno !== DB_EXISTS) throw err;
          return { changed: false, detail: `database ${plan.database} was created by a concurrent run` };
        }
        return { changed: true, detail: `created database ${plan.database}` };
      });
    },

    async ensureUser(plan) {
      const password = plan.auth === 'password' ? await claimPassword(plan, deps.aws) : undefined;
      return admin(plan, `create user ${plan.user}`, async (s) => {
        const auth = password !== undefined ? identifiedBy(s, password) : "IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'";
        if (!(await userExists(s.sql, plan.user))) {
          try {
            await s.sql.query(`CREATE USER ${account(plan.user)} ${auth}`);
            return { changed: true, detail: `created user ${plan.user}` };
          } catch (err) {
            if ((err as { errno?: number }).errno !== USER_OP_FAILED) throw err; // 1396: created concurrently
          }
        }
        if (password === undefined) return { changed: false, detail: `IAM user ${plan.user} already exists` };
        if (await loginWorks(s.server, plan.user, password)) {
          return { changed: false, detail: `user ${plan.user} already exists with the stored password` };
        }
        await s.sql.query(`ALTER USER ${account(plan.user)} ${auth}`);
        return { changed: true, detail: `user ${plan.user} existed with another password: set the stored one` };
      });
    },

    async grant(plan) {
      return admin(plan, `grant ${plan.database} to ${plan.user}`, async ({ sql }) => {
        const grantDb = mysqlGrantDatabase(plan.database);
        const grants = (await rows(sql, `SHOW GRANTS FOR ${account(plan.user)}`)).map((r) => String(Object.values(r)[0]));
        if (grants.some((g) => g.startsWith(`GRANT ALL PRIVILEGES ON ${grantDb}.*`))) {
          return { changed: false, detail: `${plan.user} already has ALL on ${plan.database}` };
        }
        await sql.query(`GRANT ALL PRIVILEGES ON ${grantDb}.* TO ${account(plan.user)}`);
        return { changed: true, detail: `granted ALL on ${plan.database}.* to ${plan.user}` };
      });
    },

    async verify(plan) {
      if (plan.auth === 'iam') {
        return admin(plan, `check the grants of ${plan.user}`, async ({ sql }) => {
          const grants = (await rows(sql, `SHOW GRANTS FOR ${account(plan.user)}`)).map((r) => String(Object.values(r)[0]));
          if (!grants.some((g) => g.includes(`${mysqlGrantDatabase(plan.database)}.*`))) {
            throw ApplicationFailure.nonRetryable(`user ${plan.user} has no grant on ${plan.database}`, 'VerifyFailed');
          }
          return { changed: false, detail: 'grants checked; login not tried (an IAM token login needs RDS)' };
        }, false);
      }
      const stored = await credentialsStore(plan.credentialsTarget!, deps.aws).read();
      const server = await resolveServer(plan, deps);
      let me: Connection | undefined;
      const table = `dbops_verify_${crypto.randomBytes(6).toString("hex")}`;
      try {
        me = await open(server, plan.user, stored?.password, plan.database);
        await me.query(`CREATE TABLE ${q(table)} (id INT)`);
        await me.query(`DROP TABLE ${q(table)}`);
        const visible = (await rows(me, 'SHOW DATABASES')).map((r) => String(Object.values(r)[0]));
        const foreign = visible.filter((d) => d !== plan.database && d !== 'information_schema');
        if (foreign.length) {
          throw ApplicationFailure.nonRetryable(`user ${plan.user} can see other databases: ${foreign.join(', ')}`, 'VerifyFailed');
        }
      } catch (err) {
        throw classifySqlError(err, {
          engine: 'mysql', host: plan.server.host, port: plan.server.port, login: plan.user, tls: server.tls !== false,
          action: `create a table in ${plan.database} as ${plan.user}`, secrets: [...server.secrets, stored?.password ?? ''],
        });
      } finally {
        await me?.end().catch(() => undefined);
      }
      return { changed: false, detail: `${plan.user} logged in, created a table in ${plan.database} and sees no other database` };
    },

    async dropDatabase(plan: DeprovisionPlan): Promise<StepResult> {
      if (plan.reclaimPolicy === 'retain') return { changed: false, detail: `database ${plan.database} kept (reclaimPolicy retain)` };
      return admin(plan, `drop database ${plan.database}`, async ({ sql }) => {
        if (!(await databaseExists(sql, plan.database))) return { changed: false, detail: `database ${plan.database} does not exist` };
        await sql.query(`DROP DATABASE IF EXISTS ${q(plan.database)}`);
        return { changed: true, detail: `dropped database ${plan.database}` };
      });
    },

    async dropUser(plan: DeprovisionPlan): Promise<StepResult> {
      return admin(plan, `drop user ${plan.user}`, async ({ sql }) => {
        if (!(await userExists(sql, plan.user))) return { changed: false, detail: `user ${plan.user} does not exist` };
        await sql.query(`DROP USER IF EXISTS ${account(plan.user)}`);
        return { changed: true, detail: `dropped user ${plan.user}` };
      });
    },
  };
}
