/**
 * A throw-away PostgreSQL that only accepts TLS, for the TLS tests: its own CA and a server
 * certificate for "localhost", started with the machine's PostgreSQL binaries on a free port.
 * Returns undefined (and the tests say why they skip) when the binaries or openssl are missing.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from '../../src/temporal/dev-server';

export interface TlsPostgres {
  port: number;
  caFile: string;
  otherCaFile: string;
  stop(): Promise<void>;
}

function pgBin(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!fs.existsSync(base)) return undefined;
  const v = fs.readdirSync(base).sort().pop();
  const bin = v && path.join(base, v, 'bin');
  return bin && fs.existsSync(path.join(bin, 'initdb')) ? bin : undefined;
}

export function tlsPostgresUnavailable(): string | undefined {
  if (!pgBin()) return 'PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are not installed';
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    return 'openssl is not installed';
  }
  if (process.getuid?.() === 0) {
    try {
      execFileSync('id', ['postgres'], { stdio: 'ignore' });
    } catch {
      return 'running as root without a postgres user to run initdb as';
    }
  }
  return undefined;
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
    ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=dbops test ${ca}`, '-keyout', `${ca}.key`, '-out', `${ca}.pem`], dir);
  }
  for (const [file, name] of Object.entries(servers)) {
    ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${file}.key`, '-out', `${file}.csr`], dir);
    fs.writeFileSync(path.join(dir, `${file}.ext`), `subjectAltName=DNS:${name}\n`);
    ssl(['x509', '-req', '-in', `${file}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', `${file}.ext`, '-out', `${file}.pem`], dir);
  }
}

export async function startTlsPostgres(): Promise<TlsPostgres> {
  const bin = pgBin()!;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-tlspg-'));
  const data = path.join(dir, 'data');
  // Two CAs: the one that signed the server certificate, and an unrelated one.
  makeTestCertificates(dir);

  const asPostgres = process.getuid?.() === 0;
  const run = (cmd: string, args: string[]) =>
    asPostgres ? execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { stdio: 'ignore' }) : execFileSync(cmd, args, { stdio: 'ignore' });
  if (asPostgres) execFileSync('chown', ['-R', 'postgres', dir]);
  fs.chmodSync(dir, 0o755);
  run(path.join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres']);
  fs.copyFileSync(path.join(dir, 'server.pem'), path.join(data, 'server.crt'));
  fs.copyFileSync(path.join(dir, 'server.key'), path.join(data, 'server.key'));
  fs.chmodSync(path.join(data, 'server.key'), 0o600);
  if (asPostgres) execFileSync('chown', ['postgres', path.join(data, 'server.crt'), path.join(data, 'server.key')]);
  const port = await freePort();
  fs.appendFileSync(
    path.join(data, 'postgresql.conf'),
    `\nport = ${port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${dir}'\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n`,
  );
  // TLS only: a plain connection finds no pg_hba line ("no encryption").
  fs.writeFileSync(path.join(data, 'pg_hba.conf'), 'local all all trust\nhostssl all all 127.0.0.1/32 trust\n');
  run(path.join(bin, 'pg_ctl'), ['-D', data, '-l', path.join(dir, 'log'), '-w', 'start']);
  await waitForPort('127.0.0.1', port, 30_000);
  return {
    port,
    caFile: path.join(dir, 'ca.pem'),
    otherCaFile: path.join(dir, 'other-ca.pem'),
    stop: async () => {
      try {
        run(path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', 'stop']);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
