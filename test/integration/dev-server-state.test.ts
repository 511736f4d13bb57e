/**
 * The embedded dev server's state file names a pid: a file that points at any other process (a
 * reused pid, an edited file) never gets that process stopped; the file is dropped and a fresh
 * server starts.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, startDevServer } from '../../src/temporal/dev-server';
import { ROOT } from '../helpers/stack';

test('a state file naming a process that is not the recorded dev server leaves that process alone', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-state-'));
  const dbFile = path.join(dir, 'temporal.db');
  const stateFile = path.join(dir, 'temporal-dev-server.json');
  const port = await freePort();
  // Mentions what a dev server's command line would, but is not one.
  const bystander = spawn('sleep', ['60'], { stdio: 'ignore' });
  fs.writeFileSync(stateFile, JSON.stringify({ pid: bystander.pid, port, dbFile }));
  try {
    const server = await startDevServer({ cli: path.join(ROOT, '.venv', 'bin', 'temporal'), port, dbFile, stateFile });
    try {
      expect(server.reused).toBeUndefined();
      expect(bystander.exitCode).toBeNull();
      expect(bystander.signalCode).toBeNull();
      expect(JSON.parse(fs.readFileSync(stateFile, 'utf8'))).toMatchObject({ pid: server.pid, port, dbFile });
    } finally {
      await server.stop();
    }
    expect(fs.existsSync(stateFile)).toBe(false);
  } finally {
    bystander.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
