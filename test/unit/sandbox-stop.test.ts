/**
 * `dbops sandbox stop` (and a stale sandbox's replacement) signals only what the sandbox started:
 * a state file naming the pid of another process, whatever the file says about it (the marker and
 * anyUser fields of earlier versions included), leaves that process running. A process counts as the
 * sandbox's only with the command line the code computes for that part from the sandbox dir and the
 * recorded ports, this user's, and the start time recorded when it was spawned. Real processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../../src/client/cli';
import { stopSandbox } from '../../src/sandbox/control';
import { alive, sandboxDir, startTime, stateFile, writeState, type SandboxState } from '../../src/sandbox/state';
import { readySandboxState } from '../helpers/sandbox-state';

const children: ChildProcess[] = [];
const dirs: string[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A process whose command line holds `args` (node ignores them). */
async function proc(args: string[]): Promise<number> {
  const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)', '--', ...args], { stdio: 'ignore' });
  children.push(c);
  await new Promise((r) => c.once('spawn', r));
  // Until node has exec'd, /proc shows the forking jest process's command line.
  for (let i = 0; i < 100 && !fs.readFileSync(`/proc/${c.pid}/cmdline`, 'utf8').includes('setInterval'); i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  return c.pid!;
}

test('stop leaves alone every process the file names that is not the sandbox’s own; stops those that are', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-sandbox-stop-'));
  dirs.push(dataDir);
  const dir = sandboxDir(dataDir);
  fs.mkdirSync(path.join(dir, 'postgres'), { recursive: true });
  const moto = ['/x/.venv/bin/moto_server', '-H', '127.0.0.1', '-p'];

  // Not ours: the words earlier versions looked for, but not this sandbox's ports or dir.
  const words = await proc(['moto_server', 'postgres', 'start-dev', '/x/dist/worker.js', `--sandbox-dir=${dir}x`]);
  // Not ours: the right command line, another start time (a pid reused, or a forged file).
  const reused = await proc([...moto, '45556']);
  // Not ours: a PostgreSQL of another data dir; a dev server on other ports.
  const otherPg = await proc(['-D', path.join(dataDir, 'other', 'postgres'), '-p', '45557']);
  const otherTemporal = await proc(['server', 'start-dev', '--port', '45558', '--ui-port', '45559']);
  // Not ours: a host of another sandbox dir (its name starts with this one's).
  const otherHost = await proc([`--sandbox-dir=${dir}2`, '--port=1', '--ui-port=2']);
  // Ours: each part's command line here, started when recorded.
  const ourMoto = await proc([...moto, '45560']);
  const ourPg = await proc(['-D', path.join(dir, 'postgres'), '-p', '45561']);
  const ourTemporal = await proc(['server', 'start-dev', '--port', '45562', '--ui-port', '45563']);
  const ourWorker = await proc(['/x/dist/worker.js', `--sandbox-worker=${dir}`]);

  // Every one of them runs (none exited by itself), so what stop leaves or ends is stop's doing.
  for (const pid of [words, reused, otherPg, otherTemporal, otherHost, ourMoto, ourPg, ourTemporal, ourWorker]) {
    expect({ pid, alive: alive(pid) }).toEqual({ pid, alive: true });
  }
  const legacy = { marker: '', anyUser: true }; // what an earlier version's file (or a forged one) holds
  const state = {
    hostPid: otherHost,
    hostStarted: startTime(otherHost),
    dataDir: dir,
    startedAt: new Date().toISOString(),
    ready: true,
    id: 'ab12',
    region: 'us-east-1',
    sql: { unavailable: [] },
    credentialsDir: path.join(dir, 'credentials'),
    workerConfigFile: path.join(dir, 'worker.yaml'),
    logFiles: {},
    processes: [
      { name: 'moto', pid: words, started: startTime(words), port: 45555, ...legacy },
      { name: 'postgres', pid: words, started: startTime(words), port: 45555, ...legacy },
      { name: 'temporal', pid: words, started: startTime(words), port: 45555, uiPort: 45555, ...legacy },
      { name: 'worker', pid: words, started: startTime(words), ...legacy },
      { name: 'moto', pid: reused, started: String(Number(startTime(reused)) - 1), port: 45556 },
      { name: 'moto', pid: reused, port: 45556, ...legacy }, // no start time recorded
      { name: 'postgres', pid: otherPg, started: startTime(otherPg), port: 45557 },
      { name: 'temporal', pid: otherTemporal, started: startTime(otherTemporal), port: 17233, uiPort: 18233 },
      { name: 'shell', pid: words, started: startTime(words), ...legacy },
      { name: 'moto', pid: ourMoto, started: startTime(ourMoto), port: 45560 },
      { name: 'postgres', pid: ourPg, started: startTime(ourPg), port: 45561 },
      { name: 'temporal', pid: ourTemporal, started: startTime(ourTemporal), port: 45562, uiPort: 45563 },
      { name: 'worker', pid: ourWorker, started: startTime(ourWorker) },
    ],
  } as unknown as SandboxState;
  writeState(dir, state);

  const said: string[] = [];
  expect(await stopSandbox(dataDir, (l) => said.push(l))).toBe(true);

  const left = { words, reused, otherPg, otherTemporal, otherHost };
  const stopped = { ourMoto, ourPg, ourTemporal, ourWorker };
  expect(Object.fromEntries(Object.entries(left).map(([k, pid]) => [k, alive(pid)]))).toEqual({
    words: true,
    reused: true,
    otherPg: true,
    otherTemporal: true,
    otherHost: true,
  });
  expect(Object.fromEntries(Object.entries(stopped).map(([k, pid]) => [k, alive(pid)]))).toEqual({
    ourMoto: false,
    ourPg: false,
    ourTemporal: false,
    ourWorker: false,
  });
  expect(said.filter((l) => l.startsWith('stopping')).sort()).toEqual(
    [
      `stopping moto (pid ${ourMoto}), left by an earlier sandbox`,
      `stopping postgres (pid ${ourPg}), left by an earlier sandbox`,
      `stopping temporal (pid ${ourTemporal}), left by an earlier sandbox`,
      `stopping worker (pid ${ourWorker}), left by an earlier sandbox`,
    ].sort(),
  );
  expect(fs.existsSync(stateFile(dir))).toBe(false);
}, 60_000);

test('a host is stopped only when it is this sandbox dir’s, started when recorded', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-sandbox-stop-'));
  dirs.push(dataDir);
  const dir = sandboxDir(dataDir);
  const host = await proc([`--sandbox-dir=${dir}`, '--port=1', '--ui-port=2']);
  const base = { dataDir: dir, processes: [], ready: true } as unknown as SandboxState;
  writeState(dir, { ...base, hostPid: host, hostStarted: String(Number(startTime(host)) - 1) });
  await stopSandbox(dataDir, () => {});
  expect(alive(host)).toBe(true);
  writeState(dir, { ...base, hostPid: host, hostStarted: startTime(host) });
  await stopSandbox(dataDir, () => {});
  expect(alive(host)).toBe(false);
}, 60_000);

/** A ready sandbox's state whose host is gone (a pid no process has), as `dbops sandbox stop` reads it. */
function readyState(dataDir: string): SandboxState {
  const s = readySandboxState(sandboxDir(dataDir), { hostPid: 2 ** 22 + 1, id: 'cd34' }); // above pid_max
  fs.mkdirSync(s.credentialsDir, { recursive: true });
  return s;
}

async function stopCli(dataDir: string): Promise<{ code: number; out: string }> {
  let out = '';
  const io = { out: { write: (c: string) => ((out += c), true) }, err: { write: () => true } };
  const code = await runCli(['sandbox', 'stop'], io as never, { ...process.env, DBOPS_DATA_DIR: dataDir });
  return { code, out };
}

test('sandbox stop prints the deprovision line of a tenant the sandbox left (its credentials file is there), and stops a damaged sandbox all the same', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-sandbox-stop-'));
  dirs.push(dataDir);
  const s = readyState(dataDir);
  writeState(sandboxDir(dataDir), s);
  const none = await stopCli(dataDir);
  expect(none).toEqual({ code: 0, out: 'sandbox stopped\n' }); // nothing provisioned: nothing to remove
  expect(fs.existsSync(stateFile(sandboxDir(dataDir)))).toBe(false);

  writeState(sandboxDir(dataDir), s);
  fs.writeFileSync(path.join(s.credentialsDir, 'sandbox-cd34-postgres.json'), '{}');
  const left = await stopCli(dataDir);
  expect(left.code).toBe(0);
  expect(left.out).toMatch(
    /^sandbox stopped\n\n# .*while a sandbox runs.*:\n\S+ npx dbops db deprovision --engine postgres .*--tenant sandbox-cd34 /,
  );

  writeState(sandboxDir(dataDir), s);
  fs.rmSync(s.refresh!.jsonFile); // a damaged sandbox dir: the list cannot be made
  expect(await stopCli(dataDir)).toEqual({ code: 0, out: 'sandbox stopped\n' });
  expect(fs.existsSync(stateFile(sandboxDir(dataDir)))).toBe(false);
});
