/** The product's worker as a separate process (`node dist/worker.js`), as users run it. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { ROOT } from './stack';

export interface WorkerProcess {
  child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  log(): string;
}

/** `nodeArgs` go before the script (e.g. `-r` a preload). */
export function spawnWorker(env: NodeJS.ProcessEnv, nodeArgs: string[] = []): WorkerProcess {
  const child = spawn(process.execPath, [...nodeArgs, path.join(ROOT, 'dist', 'worker.js')], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.on('data', (c) => (log += c));
  child.stderr!.on('data', (c) => (log += c));
  return { child, log: () => log };
}

/** Polls `cond` every 100 ms until it is truthy (errors count as not yet). */
export async function until(cond: () => Promise<unknown> | unknown, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (
    !(await Promise.resolve()
      .then(cond)
      .catch(() => false))
  ) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A worker configuration file (YAML, for DBOPS_CONFIG) in a new temporary directory; returns its path. */
export function writeWorkerConfig(config: object): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-config-')), 'worker.yaml');
  fs.writeFileSync(file, YAML.stringify(config));
  return file;
}
