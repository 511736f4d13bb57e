/**
 * The real local stack for tests: a Temporal dev server and a moto server on free loopback ports,
 * started once per test run by global-setup.ts, and the shared workflow bundle.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, startDevServer, waitForPort, type DevServer } from '../../src/temporal/dev-server';

/** The project root: the nearest folder up with requirements-dev.txt (works compiled, too). */
function findRoot(from: string): string {
  let dir = from;
  while (!fs.existsSync(path.join(dir, 'requirements-dev.txt'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`project root not found above ${from}`);
    dir = up;
  }
  return dir;
}

export const ROOT = findRoot(__dirname);
export const VENV_BIN = path.join(ROOT, '.venv', 'bin');
export const STATE_DIR = path.join(ROOT, 'test-results');

export interface Moto {
  endpoint: string;
  stop(): Promise<void>;
}

export async function startMoto(logFile: string): Promise<Moto> {
  const port = await freePort();
  const bin = path.join(VENV_BIN, 'moto_server');
  if (!fs.existsSync(bin)) throw new Error(`moto_server not found at ${bin}: run "npm run setup"`);
  const out = fs.openSync(logFile, 'a');
  const child: ChildProcess = spawn(bin, ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', out, out] });
  await waitForPort('127.0.0.1', port, 60_000, child);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export async function startTestTemporal(logFile: string): Promise<DevServer> {
  return startDevServer({ cli: path.join(VENV_BIN, 'temporal'), port: await freePort(), logFile });
}
