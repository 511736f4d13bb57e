/**
 * The sandbox's state file (<data dir>/sandbox/sandbox.json): what the sandbox host process started
 * (pids, ports) and what it seeded. `dbops sandbox` reuses a sandbox whose host is alive and ready;
 * `dbops sandbox stop` stops it; a stale file (host gone) is cleaned up: every process it names that
 * is still this user's and still runs what was recorded is stopped, anything else is left alone.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** One process the sandbox started: `marker` is a word of its command line that shows it is still ours. */
export interface SandboxProcess {
  name: string;
  pid: number;
  marker: string;
  /** Runs as another user (the embedded PostgreSQL as `postgres` when the sandbox runs as root). */
  anyUser?: boolean;
}

export interface SqlServer {
  engine: 'postgres' | 'mysql';
  /** Where it came from: the machine's server, or the embedded PostgreSQL the sandbox runs. */
  origin: 'machine' | 'embedded';
  host: string;
  port: number;
  adminUser: string;
  /** The worker configuration's secret reference for the admin password (file:…), when it has one. */
  adminPasswordRef?: string;
}

export interface SandboxState {
  /** The host process; the sandbox lives while it does. */
  hostPid: number;
  /** The sandbox's folder, <DBOPS_DATA_DIR>/sandbox: this file, logs, configuration, credentials. */
  dataDir: string;
  startedAt: string;
  /** Set by the host once every part runs and is seeded. */
  ready: boolean;
  /** Set by the host when starting failed (it then stops what it started and exits). */
  error?: string;
  processes: SandboxProcess[];
  /** Short random id of this sandbox, in the names it seeds (tenant). */
  id: string;
  temporal?: { address: string; uiUrl: string; namespace: string; taskQueue: string };
  moto?: { endpoint: string };
  dblab?: { url: string };
  region: string;
  peering?: { databaseId: string; vpcId: string; routeTables: string[]; databaseVpcId: string; zoneId: string };
  refresh?: { source: string; snapshot: string; yamlFile: string; jsonFile: string };
  sql: { postgres?: SqlServer; mysql?: SqlServer; unavailable: string[] };
  credentialsDir: string;
  workerConfigFile: string;
  /** Where each part logs. */
  logFiles: Record<string, string>;
}

export function sandboxDir(dataDir: string): string {
  return path.join(dataDir, 'sandbox');
}

export function stateFile(dir: string): string {
  return path.join(dir, 'sandbox.json');
}

export function readState(dir: string): SandboxState | undefined {
  try {
    return JSON.parse(fs.readFileSync(stateFile(dir), 'utf8')) as SandboxState;
  } catch {
    return undefined;
  }
}

export function writeState(dir: string, state: SandboxState): void {
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${stateFile(dir)}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  fs.renameSync(tmp, stateFile(dir));
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function commandLine(pid: number): { args: string[]; uid: number } | undefined {
  try {
    const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    return { args, uid: fs.statSync(`/proc/${pid}`).uid };
  } catch {
    try {
      const out = execFileSync('ps', ['-p', String(pid), '-o', 'uid=', '-o', 'args='], { encoding: 'utf8' }).trim();
      const [uid, ...args] = out.split(/\s+/);
      return { args, uid: Number(uid) };
    } catch {
      return undefined;
    }
  }
}

/** Whether pid is alive, this user's, and still runs what was recorded (its command line has the marker). */
export function isOurs(p: Pick<SandboxProcess, 'pid' | 'marker' | 'anyUser'>): boolean {
  if (!Number.isInteger(p.pid) || p.pid <= 1 || !alive(p.pid)) return false;
  const info = commandLine(p.pid);
  if (!info || (!p.anyUser && process.getuid && info.uid !== process.getuid())) return false;
  return info.args.some((a) => a.includes(p.marker));
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(pid: number, graceMs = 10_000): Promise<void> {
  if (!alive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (alive(pid)) {
    if (Date.now() > deadline) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        return;
      }
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  while (alive(pid)) await new Promise((r) => setTimeout(r, 50));
}

/** The marker of the host process: its script and data dir together. */
export function hostMarker(dir: string): string {
  return `--sandbox-dir=${dir}`;
}
