/**
 * What the throw-away test servers share: finding the machine's PostgreSQL and MariaDB binaries,
 * and running PostgreSQL's as the `postgres` OS user when the tests run as root (initdb refuses root).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export function which(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The newest /usr/lib/postgresql/<v>/bin that has initdb. */
export function pgBin(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!fs.existsSync(base)) return undefined;
  const v = fs.readdirSync(base).sort().pop();
  const bin = v && path.join(base, v, 'bin');
  return bin && fs.existsSync(path.join(bin, 'initdb')) ? bin : undefined;
}

/** Why a throw-away PostgreSQL cannot be started here, or undefined. */
export function postgresUnavailable(): string | undefined {
  if (!pgBin()) return 'PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are not installed';
  if (process.getuid?.() === 0) {
    try {
      execFileSync('id', ['postgres'], { stdio: 'ignore' });
    } catch {
      return 'running as root without a postgres user to run initdb as';
    }
  }
  return undefined;
}

/** Runs PostgreSQL's commands for a data directory under `dir`, as `postgres` when we are root. */
export function postgresRunner(dir: string): { run(cmd: string, args: string[]): void; own(...paths: string[]): void } {
  const asPostgres = process.getuid?.() === 0;
  return {
    run: (cmd, args) =>
      void (asPostgres
        ? execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { stdio: 'ignore' })
        : execFileSync(cmd, args, { stdio: 'ignore' })),
    own: (...paths) => {
      if (asPostgres) execFileSync('chown', ['-R', 'postgres', ...(paths.length ? paths : [dir])]);
    },
  };
}
