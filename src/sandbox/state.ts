/**
 * The sandbox's state file (<data dir>/sandbox/sandbox.json): what the sandbox host process started
 * (pids, ports) and what it seeded. `dbops sandbox` reuses a sandbox whose host is alive and ready;
 * `dbops sandbox stop` stops it; a stale file (host gone) is cleaned up: every process it names that
 * is still the one the sandbox started (owner, start time, and the command line computed for that
 * part: isOurs) is stopped, anything else is left alone.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { processInfo } from '../temporal/dev-server';

/**
 * One process the sandbox started. Nothing here is trusted on its own: before a signal, the code
 * checks the process's command line against what it computes for that part from the sandbox dir and
 * the recorded ports (never a pattern read from this file), its owner, and its start time.
 */
export interface SandboxProcess {
  name: 'moto' | 'temporal' | 'postgres' | 'worker';
  pid: number;
  /** When it started (startTime(pid), read at spawn): a pid reused by another process differs. */
  started?: string;
  /** The port it was started on (moto, temporal, postgres). */
  port?: number;
  /** The Web UI port (temporal). */
  uiPort?: number;
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
  /** The host's start time (startTime()). */
  hostStarted?: string;
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

/**
 * When pid started: field 22 of /proc/<pid>/stat (clock ticks since boot), else what ps says;
 * undefined when the process is gone.
 */
export function startTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The fields after "(comm)" start at field 3; comm itself may hold spaces and parentheses.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] || undefined;
  } catch {
    try {
      return execFileSync('ps', ['-p', String(pid), '-o', 'lstart='], { encoding: 'utf8' }).trim() || undefined;
    } catch {
      return undefined;
    }
  }
}

/** Whether `args` has `flag` immediately followed by `value`. */
function hasPair(args: string[], flag: string, value: string | number | undefined): boolean {
  if (value === undefined) return false;
  return args.some((a, i) => a === flag && args[i + 1] === String(value));
}

/** What the command line of each part must hold, computed from the sandbox dir and the recorded ports. */
function runsOurPart(dir: string, p: SandboxProcess, args: string[]): boolean {
  switch (p.name) {
    case 'moto':
      return (
        args.some((a) => a.endsWith('/moto_server')) && hasPair(args, '-H', '127.0.0.1') && hasPair(args, '-p', p.port)
      );
    case 'temporal':
      return args.includes('start-dev') && hasPair(args, '--port', p.port) && hasPair(args, '--ui-port', p.uiPort);
    case 'postgres':
      return hasPair(args, '-D', path.join(dir, 'postgres')) && hasPair(args, '-p', p.port);
    case 'worker':
      return args.some((a) => a.endsWith('/worker.js')) && args.includes(workerMarker(dir));
    default:
      return false;
  }
}

/** Whether pid is alive, started when recorded, and is owned and run as `ok` says. */
function same(
  pid: number,
  started: string | undefined,
  ok: (info: { args: string[]; uid: number }) => boolean,
): boolean {
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid || !started || !alive(pid)) return false;
  const info = processInfo(pid);
  return !!info && startTime(pid) === started && ok(info);
}

const ownUid = () => (process.getuid ? process.getuid() : -1);

/**
 * Whether the process is still the part of the sandbox in `dir` that it was recorded as: alive,
 * this user's (the embedded PostgreSQL: the owner of its data dir, the postgres user under root),
 * the same start time, and the command line that part has here.
 */
export function isOurs(dir: string, p: SandboxProcess): boolean {
  return same(p.pid, p.started, (info) => {
    let owner = ownUid();
    if (p.name === 'postgres' && info.uid !== owner) {
      try {
        owner = fs.statSync(path.join(dir, 'postgres')).uid;
      } catch {
        return false;
      }
    }
    return info.uid === owner && runsOurPart(dir, p, info.args);
  });
}

/** Whether the state's host is alive, this user's, started when recorded, and the host of `dir`. */
export function hostIsOurs(dir: string, s: Pick<SandboxState, 'hostPid' | 'hostStarted'>): boolean {
  return same(s.hostPid, s.hostStarted, (info) => info.uid === ownUid() && info.args.includes(hostMarker(dir)));
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(pid: number, graceMs = 10_000, started?: string): Promise<void> {
  if (!alive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (alive(pid)) {
    if (Date.now() > deadline) {
      // Not a process that took the pid over while this one stopped.
      if (started !== undefined && startTime(pid) !== started) return;
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

/** The argument that names the sandbox dir on the host's command line. */
export function hostMarker(dir: string): string {
  return `--sandbox-dir=${dir}`;
}

/** The argument that names the sandbox dir on the worker's command line (the worker ignores it). */
export function workerMarker(dir: string): string {
  return `--sandbox-worker=${dir}`;
}
