/**
 * A throw-away PostgreSQL that only accepts TLS, for the TLS tests: its own CA and a server
 * certificate for "localhost" (or another name), started with the machine's PostgreSQL binaries on
 * a free port.
 * Returns undefined (and the tests say why they skip) when the binaries or openssl are missing.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from '../../src/temporal/dev-server';
import { pgBin, postgresRunner, postgresUnavailable, which } from './server-binaries';

export interface TlsPostgres {
  port: number;
  caFile: string;
  otherCaFile: string;
  /** The DNS name in the server certificate. */
  serverName: string;
  stop(): Promise<void>;
}

export interface TlsPostgresOptions {
  /** The DNS name the server certificate is for (default "localhost"). */
  serverName?: string;
  /**
   * Password logins (scram-sha-256) instead of trust, so a login proves its password; the
   * superuser "postgres" then has the password "postgres".
   */
  passwordAuth?: boolean;
}

export function tlsPostgresUnavailable(): string | undefined {
  if (!which('openssl')) return 'openssl is not installed';
  return postgresUnavailable();
}

function ssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'ignore' });
}

/**
 * Writes ca.pem (the CA that signs), other-ca.pem (an unrelated CA) and, for each name, a
 * `<file>.pem`/`<file>.key` server certificate whose only subjectAltName is that DNS name.
 */
export function makeTestCertificates(dir: string, servers: Record<string, string> = { server: 'localhost' }): void {
  for (const ca of ['ca', 'other-ca']) {
    ssl(
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '2',
        '-subj',
        `/CN=dbops test ${ca}`,
        '-keyout',
        `${ca}.key`,
        '-out',
        `${ca}.pem`,
      ],
      dir,
    );
  }
  for (const [file, name] of Object.entries(servers)) {
    // A CN holds at most 64 characters (an RDS endpoint name can be longer); the name that counts is the subjectAltName.
    const cn = name.length <= 64 ? name : 'dbops test server';
    ssl(
      ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${file}.key`, '-out', `${file}.csr`],
      dir,
    );
    fs.writeFileSync(path.join(dir, `${file}.ext`), `subjectAltName=DNS:${name}\n`);
    ssl(
      [
        'x509',
        '-req',
        '-in',
        `${file}.csr`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-days',
        '2',
        '-extfile',
        `${file}.ext`,
        '-out',
        `${file}.pem`,
      ],
      dir,
    );
  }
}

export async function startTlsPostgres(opts: TlsPostgresOptions = {}): Promise<TlsPostgres> {
  const serverName = opts.serverName ?? 'localhost';
  const bin = pgBin()!;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-tlspg-'));
  const data = path.join(dir, 'data');
  // Two CAs: the one that signed the server certificate, and an unrelated one.
  makeTestCertificates(dir, { server: serverName });

  const { run, own } = postgresRunner(dir);
  own();
  fs.chmodSync(dir, 0o755);
  if (opts.passwordAuth) {
    fs.writeFileSync(path.join(dir, 'pwfile'), 'postgres\n');
    own(path.join(dir, 'pwfile'));
  }
  run(path.join(bin, 'initdb'), [
    '-D',
    data,
    '-A',
    'trust',
    '-U',
    'postgres',
    ...(opts.passwordAuth ? ['--pwfile', path.join(dir, 'pwfile')] : []),
  ]);
  fs.copyFileSync(path.join(dir, 'server.pem'), path.join(data, 'server.crt'));
  fs.copyFileSync(path.join(dir, 'server.key'), path.join(data, 'server.key'));
  fs.chmodSync(path.join(data, 'server.key'), 0o600);
  own(path.join(data, 'server.crt'), path.join(data, 'server.key'));
  const port = await freePort();
  fs.appendFileSync(
    path.join(data, 'postgresql.conf'),
    `\nport = ${port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${dir}'\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n` +
      'password_encryption = scram-sha-256\n',
  );
  // TLS only: a plain connection finds no pg_hba line ("no encryption").
  const auth = opts.passwordAuth ? 'scram-sha-256' : 'trust';
  fs.writeFileSync(path.join(data, 'pg_hba.conf'), `local all all trust\nhostssl all all 127.0.0.1/32 ${auth}\n`);
  run(path.join(bin, 'pg_ctl'), ['-D', data, '-l', path.join(dir, 'log'), '-w', 'start']);
  await waitForPort('127.0.0.1', port, 30_000);
  return {
    port,
    caFile: path.join(dir, 'ca.pem'),
    otherCaFile: path.join(dir, 'other-ca.pem'),
    serverName,
    stop: async () => {
      try {
        run(path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', 'stop']);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
