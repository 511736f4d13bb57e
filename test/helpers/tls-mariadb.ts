/**
 * A throw-away MariaDB that only accepts TLS (require_secure_transport), for the MySQL TLS tests:
 * its own CA, a server certificate for "localhost" and a second one for another name that a test
 * can switch to (FLUSH SSL), started with the machine's mariadbd on a free port. Returns a reason
 * instead (the tests say why they skip) when the binaries or openssl are missing.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { freePort, waitForPort } from '../../src/temporal/dev-server';
import { makeTestCertificates } from './tls-postgres';
import { which } from './server-binaries';

export interface TlsMariadb {
  port: number;
  caFile: string;
  otherCaFile: string;
  /** Serves the certificate for `db.other.invalid` (true) or for `localhost` (false). */
  useOtherName(other: boolean): Promise<void>;
  stop(): Promise<void>;
}

export function tlsMariadbUnavailable(): string | undefined {
  if (!which('mariadbd') || !which('mariadb-install-db'))
    return 'MariaDB server binaries (mariadbd, mariadb-install-db) are not installed';
  if (!which('openssl')) return 'openssl is not installed';
  return undefined;
}

export async function startTlsMariadb(): Promise<TlsMariadb> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-tlsmy-'));
  const data = path.join(dir, 'data');
  makeTestCertificates(dir, { server: 'localhost', other: 'db.other.invalid' });
  const user = os.userInfo().username;
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
  const cert = path.join(dir, 'active.pem');
  const key = path.join(dir, 'active.key');
  fs.copyFileSync(path.join(dir, 'server.pem'), cert);
  fs.copyFileSync(path.join(dir, 'server.key'), key);
  const proc: ChildProcess = spawn(
    'mariadbd',
    [
      '--no-defaults',
      `--datadir=${data}`,
      `--user=${user}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--socket=${path.join(dir, 'sock')}`,
      `--pid-file=${path.join(dir, 'pid')}`,
      `--log-error=${path.join(dir, 'error.log')}`,
      '--skip-log-bin',
      '--innodb-buffer-pool-size=16M',
      // absolute paths: mariadbd changes into the data directory
      `--ssl-ca=${path.join(dir, 'ca.pem')}`,
      `--ssl-cert=${cert}`,
      `--ssl-key=${key}`,
      '--require-secure-transport=ON',
    ],
    { stdio: 'ignore' },
  );
  try {
    await waitForPort('127.0.0.1', port, 30_000);
  } catch (err) {
    proc.kill('SIGKILL');
    const log = fs.existsSync(path.join(dir, 'error.log'))
      ? fs.readFileSync(path.join(dir, 'error.log'), 'utf8').slice(-2000)
      : '';
    throw new Error(`the TLS MariaDB did not start: ${(err as Error).message}\n${log}`);
  }
  const root = () =>
    mysql.createConnection({ host: '127.0.0.1', port, user: 'root', ssl: { rejectUnauthorized: false } });
  return {
    port,
    caFile: path.join(dir, 'ca.pem'),
    otherCaFile: path.join(dir, 'other-ca.pem'),
    useOtherName: async (other) => {
      const name = other ? 'other' : 'server';
      fs.copyFileSync(path.join(dir, `${name}.pem`), cert);
      fs.copyFileSync(path.join(dir, `${name}.key`), key);
      const c = await root();
      try {
        await c.query('FLUSH SSL');
      } finally {
        await c.end();
      }
    },
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((res) => proc.once('exit', res));
        proc.kill('SIGKILL');
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
