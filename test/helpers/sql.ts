/** The real PostgreSQL and MariaDB/MySQL servers the SQL tests use (see scripts/test.sh). */
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import mysql from 'mysql2/promise';
import type { Engine } from '../../src/domain/sql-names';
import { ROOT } from './stack';

export const PG_URL = process.env.DBOPS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const MYSQL_URL = process.env.DBOPS_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/mysql';

/** What scripts/check-sql-servers.js found; when it did not run, assume the servers are there. */
export function sqlAvailable(engine: Engine): boolean {
  const file = path.join(ROOT, 'test-results', 'sql-servers.json');
  if (!fs.existsSync(file)) return true;
  const report = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, { ok: boolean }>;
  return report[engine].ok;
}

export interface AdminUrl {
  host: string;
  port: number;
  user: string;
  password: string;
}

export function adminUrl(engine: Engine): AdminUrl {
  const u = new URL(engine === 'postgres' ? PG_URL : MYSQL_URL);
  return {
    host: u.hostname,
    port: Number(u.port || (engine === 'postgres' ? 5432 : 3306)),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
  };
}

/** A small admin handle for assertions and clean-up, the same for both engines. */
export interface SqlAdmin {
  databaseExists(db: string): Promise<boolean>;
  userExists(user: string): Promise<boolean>;
  exec(sql: string): Promise<void>;
  cleanup(db: string, user: string): Promise<void>;
  close(): Promise<void>;
}

export async function sqlAdmin(engine: Engine): Promise<SqlAdmin> {
  if (engine === 'postgres') {
    const c = new Client({ connectionString: PG_URL });
    await c.connect();
    return {
      databaseExists: async (db) =>
        (await c.query('select 1 from pg_database where datname = $1', [db])).rowCount === 1,
      userExists: async (u) => (await c.query('select 1 from pg_roles where rolname = $1', [u])).rowCount === 1,
      exec: async (sql) => void (await c.query(sql)),
      cleanup: async (db, user) => {
        await c.query(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
        if ((await c.query('select 1 from pg_roles where rolname = $1', [user])).rowCount) {
          await c.query(`DROP OWNED BY "${user}"`);
          await c.query(`DROP ROLE IF EXISTS "${user}"`);
        }
      },
      close: () => c.end(),
    };
  }
  const c = await mysql.createConnection({ uri: MYSQL_URL });
  return {
    databaseExists: async (db) =>
      ((await c.query('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [db]))[0] as unknown[])
        .length === 1,
    userExists: async (u) =>
      ((await c.query("SELECT 1 FROM mysql.user WHERE User = ? AND Host = '%'", [u]))[0] as unknown[]).length === 1,
    exec: async (sql) => void (await c.query(sql)),
    cleanup: async (db, user) => {
      await c.query(`DROP DATABASE IF EXISTS \`${db}\``);
      await c.query(`DROP USER IF EXISTS ?@'%'`, [user]);
    },
    close: () => c.end(),
  };
}

/** Connects with a kine-format connection string through the real driver; returns a query function. */
export async function connectWith(
  connectionString: string,
): Promise<{ query(sql: string): Promise<unknown[]>; close(): Promise<void> }> {
  if (connectionString.startsWith('postgres://')) {
    const c = new Client({ connectionString });
    await c.connect();
    return { query: async (s) => (await c.query(s)).rows, close: () => c.end() };
  }
  const m = /^mysql:\/\/([^:@]+):([^@]*)@tcp\(([^)]+):(\d+)\)\/([^?]+)/.exec(connectionString);
  if (!m) throw new Error(`not a kine mysql connection string: ${connectionString.replace(/:[^@]*@/, ':***@')}`);
  const c = await mysql.createConnection({
    user: decodeURIComponent(m[1]),
    password: decodeURIComponent(m[2]),
    host: m[3],
    port: Number(m[4]),
    database: decodeURIComponent(m[5]),
  });
  return { query: async (s) => (await c.query(s))[0] as unknown[], close: () => c.end() };
}
