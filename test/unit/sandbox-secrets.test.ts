/**
 * The sandbox's secret files: the SQL admin password file is 0600 in a 0700 directory even when a
 * file (0644) or directory (0755) of that name was there before, and a symbolic link at its name is
 * replaced, never written through.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { privateDir, serverFromUrl } from '../../src/sandbox/sql';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

const mode = (p: string) => fs.lstatSync(p).mode & 0o777;

test('an existing readable file and directory become private; a link is replaced, its target untouched', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-sandbox-secrets-'));
  dirs.push(dir);
  const secrets = path.join(dir, 'secrets');
  fs.mkdirSync(secrets, { mode: 0o755 });
  fs.chmodSync(secrets, 0o755);
  fs.writeFileSync(path.join(secrets, 'postgres-admin-password'), 'old', { mode: 0o644 });
  fs.chmodSync(path.join(secrets, 'postgres-admin-password'), 0o644);
  const elsewhere = path.join(dir, 'elsewhere');
  fs.writeFileSync(elsewhere, 'not a secret', { mode: 0o644 });
  fs.symlinkSync(elsewhere, path.join(secrets, 'mysql-admin-password'));

  const pg = serverFromUrl('postgres://admin:s%3Dcret@127.0.0.1:5433/postgres', 'postgres', dir, 'machine');
  const my = serverFromUrl('mysql://root:pw2@127.0.0.1:3307/mysql', 'mysql', dir, 'machine');

  const pgFile = path.join(secrets, 'postgres-admin-password');
  const myFile = path.join(secrets, 'mysql-admin-password');
  expect([pg.adminPasswordRef, my.adminPasswordRef]).toEqual([`file:${pgFile}`, `file:${myFile}`]);
  expect(fs.readFileSync(pgFile, 'utf8')).toBe('s=cret');
  expect(fs.readFileSync(myFile, 'utf8')).toBe('pw2');
  expect({ dir: mode(secrets), pg: mode(pgFile), my: mode(myFile) }).toEqual({ dir: 0o700, pg: 0o600, my: 0o600 });
  expect(fs.lstatSync(myFile).isSymbolicLink()).toBe(false);
  expect([fs.readFileSync(elsewhere, 'utf8'), mode(elsewhere)]).toEqual(['not a secret', 0o644]);
  expect(fs.readdirSync(secrets).sort()).toEqual(['mysql-admin-password', 'postgres-admin-password']); // no temporaries
});

test('the credentials directory: an existing one is made 0700; a link there is refused', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-sandbox-secrets-'));
  dirs.push(dir);
  const creds = path.join(dir, 'credentials');
  fs.mkdirSync(creds, { mode: 0o755 });
  fs.chmodSync(creds, 0o755);
  privateDir(creds);
  expect(mode(creds)).toBe(0o700);
  const other = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-sandbox-other-'));
  dirs.push(other);
  fs.chmodSync(other, 0o755);
  fs.symlinkSync(other, path.join(dir, 'linked'));
  expect(() => privateDir(path.join(dir, 'linked'))).toThrow(/symbolic link/);
  expect(mode(other)).toBe(0o755);
});
