/**
 * Throw-away servers with real password logins, for the tests that must see a password work or
 * fail (the machine's own servers trust local logins): a PostgreSQL with scram-sha-256 on TCP and
 * a superuser password, and a MariaDB whose root accounts have a password. Each on a free port,
 * with its data in a temporary directory removed by stop(). Started once per test file.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { Client } from 'pg';
import { freePort, waitForPort } from '../../src/temporal/dev-server';
import { pgBin, postgresRunner, postgresUnavailable, which } from './server-binaries';

export interface PasswordServer {
  engine: 'postgres' | 'mysql';
  host: '127.0.0.1';
  port: number;
  adminUser: string;
  adminPassword: string;
  stop(): Promise<void>;
}

/** Why a password server of this engine cannot be started here, or undefined. */
export function passwordServerUnavailable(engine: 'postgres' | 'mysql'): string | undefined {
  if (engine === 'postgres') return postgresUnavailable();
  if (!which('mariadbd') || !which('mariadb-install-db'))
    return 'MariaDB server binaries (mariadbd, mariadb-install-db) are not installed';
  return undefined;
}

const newPassword = () => `pw-${crypto.randomBytes(18).toString('base64url')}`;

/** PostgreSQL: initdb with scram-sha-256 everywhere, `host all all 127.0.0.1/32 scram-sha-256` only. */
export async function startPasswordPostgres(): Promise<PasswordServer> {
  const bin = pgBin()!;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-pwpg-'));
  const data = path.join(dir, 'data');
  const adminPassword = newPassword();
  const { run, own } = postgresRunner(dir);
  const pwfile = path.join(dir, 'pw');
  fs.writeFileSync(pwfile, `${adminPassword}\n`, { mode: 0o600 });
  own();
  fs.chmodSync(dir, 0o755);
  run(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pwfile}`]);
  fs.rmSync(pwfile);
  const port = await freePort();
  fs.appendFileSync(
    path.join(data, 'postgresql.conf'),
    `\nport = ${port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${dir}'\npassword_encryption = 'scram-sha-256'\nfsync = off\n`,
  );
  fs.writeFileSync(path.join(data, 'pg_hba.conf'), 'host all all 127.0.0.1/32 scram-sha-256\n');
  run(path.join(bin, 'pg_ctl'), ['-D', data, '-l', path.join(dir, 'log'), '-w', 'start']);
  await waitForPort('127.0.0.1', port, 30_000);
  return {
    engine: 'postgres',
    host: '127.0.0.1',
    port,
    adminUser: 'postgres',
    adminPassword,
    stop: async () => {
      try {
        run(path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', 'stop']);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** MariaDB: mariadb-install-db, mariadbd on a free port, then a password on every root account. */
export async function startPasswordMariadb(): Promise<PasswordServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-pwmy-'));
  const data = path.join(dir, 'data');
  const user = os.userInfo().username;
  const socket = path.join(dir, 'sock');
  execFileSync(
    'mariadb-install-db',
    [
      '--no-defaults',
      `--datadir=${data}`,
      `--user=${user}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
    ],
    { stdio: 'ignore' },
  );
  const port = await freePort();
  const proc: ChildProcess = spawn(
    'mariadbd',
    [
      '--no-defaults',
      `--datadir=${data}`,
      `--user=${user}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--socket=${socket}`,
      `--pid-file=${path.join(dir, 'pid')}`,
      `--log-error=${path.join(dir, 'error.log')}`,
      '--skip-log-bin',
      '--innodb-buffer-pool-size=16M',
    ],
    { stdio: 'ignore' },
  );
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((res) => proc.once('exit', res));
      proc.kill('SIGKILL');
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort('127.0.0.1', port, 30_000);
    const adminPassword = newPassword();
    // Before the password is set only the socket lets root in.
    const c = await mysql.createConnection({ socketPath: socket, user: 'root' });
    try {
      const [all] = await c.query<mysql.RowDataPacket[]>(
        "SELECT User, Host FROM mysql.user WHERE User IN ('root', '') AND is_role = 'N'",
      );
      for (const r of all) {
        // Anonymous accounts would match any user name from localhost.
        if (r.User === '') await c.query('DROP USER ?@?', ['', r.Host]);
        else await c.query('ALTER USER ?@? IDENTIFIED BY ?', ['root', r.Host, adminPassword]);
      }
    } finally {
      await c.end();
    }
    return { engine: 'mysql', host: '127.0.0.1', port, adminUser: 'root', adminPassword, stop };
  } catch (err) {
    const log = fs.existsSync(path.join(dir, 'error.log'))
      ? fs.readFileSync(path.join(dir, 'error.log'), 'utf8').slice(-2000)
      : '';
    await stop();
    throw new Error(`the password MariaDB did not start: ${(err as Error).message}\n${log}`);
  }
}

export function startPasswordServer(engine: 'postgres' | 'mysql'): Promise<PasswordServer> {
  return engine === 'postgres' ? startPasswordPostgres() : startPasswordMariadb();
}

/** A small admin handle on a password server, for arranging and asserting. */
export interface ServerAdmin {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

export async function serverAdmin(s: PasswordServer, database?: string): Promise<ServerAdmin> {
  if (s.engine === 'postgres') {
    const c = new Client({
      host: s.host,
      port: s.port,
      user: s.adminUser,
      password: s.adminPassword,
      database: database ?? 'postgres',
    });
    c.on('error', () => undefined);
    await c.connect();
    return { query: async (sql, params) => (await c.query(sql, params)).rows, close: () => c.end() };
  }
  const c = await mysql.createConnection({
    host: s.host,
    port: s.port,
    user: s.adminUser,
    password: s.adminPassword,
    database,
  });
  c.on('error', () => undefined);
  return {
    query: async <T>(sql: string, params?: unknown[]) => (await c.query(sql, params))[0] as T[],
    close: () => c.end(),
  };
}

/**
 * A session of a tenant's own login on a password server (its stored credentials), or undefined
 * when the server refuses the login (wrong password, no such login).
 */
export async function loginAs(
  s: PasswordServer,
  c: { user: string; password: string; database: string },
): Promise<ServerAdmin | undefined> {
  if (s.engine === 'postgres') {
    const cl = new Client({ host: s.host, port: s.port, user: c.user, password: c.password, database: c.database });
    cl.on('error', () => undefined);
    try {
      await cl.connect();
    } catch (err) {
      await cl.end().catch(() => undefined);
      if (['28P01', '28000'].includes((err as { code?: string }).code ?? '')) return undefined;
      throw err;
    }
    return { query: async (sql, params) => (await cl.query(sql, params)).rows, close: () => cl.end() };
  }
  let m: mysql.Connection;
  try {
    m = await mysql.createConnection({
      host: s.host,
      port: s.port,
      user: c.user,
      password: c.password,
      database: c.database,
    });
  } catch (err) {
    if ((err as { errno?: number }).errno === 1045) return undefined;
    throw err;
  }
  m.on('error', () => undefined);
  return {
    query: async <T>(sql: string, params?: unknown[]) => (await m.query(sql, params))[0] as T[],
    close: () => m.end(),
  };
}

/** Whether `user` logs in to `database` on the server with `password` (false: refused; anything else throws). */
export async function logsIn(s: PasswordServer, user: string, password: string, database: string): Promise<boolean> {
  const c = await loginAs(s, { user, password, database });
  if (!c) return false;
  try {
    await c.query('SELECT 1');
    return true;
  } finally {
    await c.close().catch(() => undefined);
  }
}
