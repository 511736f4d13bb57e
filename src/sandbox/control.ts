/**
 * Starting, finding and stopping the sandbox from the CLI. The sandbox is the host process
 * (host.ts, detached, so it outlives `dbops sandbox demo`) and what it started, all named in the
 * state file: a live ready host is reused; a host still starting is waited for; a stale file is
 * cleaned up (its processes stopped when they are still ours) and a new sandbox started.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { canConnect } from '../temporal/dev-server';
import {
  alive,
  hostIsOurs,
  hostMarker,
  isOurs,
  readState,
  sandboxDir,
  stateFile,
  stopProcess,
  type SandboxState,
} from './state';

export interface SandboxOptions {
  dataDir: string;
  port: number;
  uiPort: number;
  /** Progress lines (to stderr). */
  say: (line: string) => void;
  env: NodeJS.ProcessEnv;
  /** Told the pid of a host this start spawns (so a Ctrl-C while it starts can stop it). */
  spawned?: (pid: number) => void;
}

function hostAlive(dir: string, s: SandboxState): boolean {
  return hostIsOurs(dir, s);
}

/**
 * Stops everything a state file names that is still ours (isOurs: checked against what the code
 * expects of each part in this sandbox dir, never a pattern from the file), and removes the file.
 */
export async function stopSandbox(dataDir: string, say: (line: string) => void): Promise<boolean> {
  const dir = sandboxDir(dataDir);
  const s = readState(dir);
  if (!s) return false;
  if (hostAlive(dir, s)) {
    say(`stopping the sandbox (host pid ${s.hostPid})`);
    await stopProcess(s.hostPid, 60_000, s.hostStarted);
  }
  // What a host that died left running (and anything its stop missed).
  for (const p of [...(Array.isArray(s.processes) ? s.processes : [])].reverse()) {
    if (isOurs(dir, p)) {
      say(`stopping ${p.name} (pid ${p.pid}), left by an earlier sandbox`);
      await stopProcess(p.pid, 10_000, p.started);
    }
  }
  fs.rmSync(stateFile(dir), { force: true });
  return true;
}

async function waitReady(dir: string, say: (line: string) => void, ms: number): Promise<SandboxState> {
  const deadline = Date.now() + ms;
  let shown = '';
  for (;;) {
    const s = readState(dir);
    if (s?.error) throw new Error(`the sandbox did not start: ${s.error} (log: ${path.join(dir, 'sandbox.log')})`);
    if (s?.ready) return s;
    if (s && !alive(s.hostPid)) {
      throw new Error(`the sandbox host exited while starting (log: ${path.join(dir, 'sandbox.log')})`);
    }
    const step = s ? s.processes.map((p) => p.name).join(', ') || 'starting' : 'starting';
    if (step !== shown) {
      say(`sandbox: ${step}…`);
      shown = step;
    }
    if (Date.now() > deadline)
      throw new Error(`the sandbox was not ready after ${ms / 1000} s (log: ${path.join(dir, 'sandbox.log')})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The running sandbox, or a new one. */
export async function ensureSandbox(o: SandboxOptions): Promise<SandboxState & { reused: boolean }> {
  const dir = sandboxDir(o.dataDir);
  const s = readState(dir);
  if (s && hostAlive(dir, s)) {
    if (s.ready) {
      const [host, port] = s.temporal!.address.split(':');
      if (await canConnect(host!, Number(port))) {
        o.say(`reusing the sandbox started ${s.startedAt} (host pid ${s.hostPid})`);
        const ui = new URL(s.temporal!.uiUrl).port;
        if (Number(port) !== o.port || Number(ui) !== o.uiPort) {
          o.say(
            `  it runs on ports ${port} and ${ui}; to move it: dbops sandbox stop, then start it with --port/--ui-port`,
          );
        }
        return { ...s, reused: true };
      }
    } else if (!s.error) {
      o.say(`a sandbox is starting (host pid ${s.hostPid}); waiting for it`);
      return { ...(await waitReady(dir, o.say, 180_000)), reused: true };
    }
  }
  if (s) {
    o.say('replacing a stale sandbox');
    await stopSandbox(o.dataDir, o.say);
  }
  const hostJs = path.join(__dirname, 'host.js');
  if (!fs.existsSync(hostJs)) throw new Error(`${hostJs} not found: run "npm run build"`);
  fs.mkdirSync(dir, { recursive: true });
  const out = fs.openSync(path.join(dir, 'sandbox.log'), 'a');
  const env = { ...o.env };
  for (const k of Object.keys(env)) if (k.startsWith('TEMPORAL_') || k.startsWith('AWS_')) delete env[k];
  const host = spawn(process.execPath, [hostJs, hostMarker(dir), `--port=${o.port}`, `--ui-port=${o.uiPort}`], {
    detached: true,
    stdio: ['ignore', out, out],
    env,
  });
  host.unref();
  if (host.pid) o.spawned?.(host.pid);
  fs.closeSync(out);
  o.say(`starting the sandbox (host pid ${host.pid}; log ${path.join(dir, 'sandbox.log')})`);
  try {
    return { ...(await waitReady(dir, o.say, 180_000)), reused: false };
  } catch (err) {
    // Only what this start made: a state file naming another host (a start racing this one) is left.
    if (readState(dir)?.hostPid === host.pid) await stopSandbox(o.dataDir, () => {});
    else if (host.pid) await stopProcess(host.pid);
    throw err;
  }
}
