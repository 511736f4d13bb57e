/**
 * The product's first README command, as a user runs it: `node dist/worker.js` with no
 * TEMPORAL_ADDRESS starts the embedded dev server (Web UI reachable), registers the search
 * attributes, serves metrics, stops gracefully on SIGINT, and a second start keeps the first one's runs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { Client, Connection } from '@temporalio/client';
import { freePort } from '../../src/temporal/dev-server';
import { ROOT } from '../helpers/stack';
import { spawnWorker, until, writeWorkerConfig, type WorkerProcess } from '../helpers/worker-process';

const WORKER = path.join(ROOT, 'dist', 'worker.js');

async function waitForOutput(r: WorkerProcess, pattern: RegExp, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(r.log())) {
    if (r.child.exitCode !== null) throw new Error(`worker exited (${r.child.exitCode}):\n${r.log()}`);
    if (Date.now() > deadline) throw new Error(`no ${pattern} in worker output:\n${r.log()}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

function stop(r: WorkerProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (r.child.exitCode !== null) return resolve(r.child.exitCode);
    r.child.once('exit', (code) => resolve(code));
    r.child.kill('SIGINT');
  });
}

test('npm start: embedded dev server with Web UI, metrics, graceful stop, state kept across restarts', async () => {
  expect(fs.existsSync(WORKER)).toBe(true); // built by scripts/setup.sh (npm test)
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-data-'));
  const [port, uiPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DBOPS_DATA_DIR: dataDir,
    DBOPS_DEV_SERVER_PORT: String(port),
    DBOPS_DEV_SERVER_UI_PORT: String(uiPort),
    DBOPS_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
    DBOPS_SHUTDOWN_GRACE: '2s',
  };
  const first = spawnWorker(env);
  try {
    await waitForOutput(first, /polling task queue "dbops"/);
    expect(first.log()).toContain('TEMPORAL_ADDRESS is not set: starting the embedded Temporal dev server');
    // No DBOPS_CONFIG: the local-development default, said at start-up, with its credentials directory made.
    expect(first.log()).toContain(
      'configuration: the built-in local-development default (no DBOPS_CONFIG): 0 DBLab instance(s); 0 database server(s) + unlisted loopback servers without secrets',
    );
    expect(fs.statSync(path.join(dataDir, 'credentials')).mode & 0o777).toBe(0o700);
    expect(first.log()).toContain(`Web UI: http://localhost:${uiPort}`);
    expect(first.log()).toContain('registered search attributes: DbopsOperation, DbopsTarget, DbopsStage');

    const ui = await fetch(`http://127.0.0.1:${uiPort}/`);
    expect(ui.status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/temporal_/);

    // A run that stays open (nobody polls its task queue) so the restart must keep it.
    const connection = await Connection.connect({ address: `127.0.0.1:${port}` });
    const client = new Client({ connection });
    await client.workflow.start('someWorkflow', {
      workflowId: 'kept-across-restart',
      taskQueue: 'nobody-polls',
      args: [{}],
    });
    await connection.close();
  } finally {
    const code = await stop(first);
    // On failure, show why the worker did not stop cleanly (its last output lines).
    expect({ code, log: code === 0 ? '' : first.log().split('\n').slice(-15).join('\n') }).toEqual({
      code: 0,
      log: '',
    });
  }
  expect(first.log()).toContain('worker stopped');
  expect(first.log()).toContain('stopping the embedded dev server');
  expect(fs.existsSync(path.join(dataDir, 'temporal.db'))).toBe(true);

  const second = spawnWorker(env);
  try {
    await waitForOutput(second, /polling task queue "dbops"/);
    expect(second.log()).toContain('search attributes already registered');
    const connection = await Connection.connect({ address: `127.0.0.1:${port}` });
    const client = new Client({ connection });
    const desc = await client.workflow.getHandle('kept-across-restart').describe();
    expect(desc.status.name).toBe('RUNNING');
    await client.workflow.getHandle('kept-across-restart').terminate('test done');
    await connection.close();
  } finally {
    expect(await stop(second)).toBe(0);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('a crashed worker leaves its dev server to the next start, which reuses it; SIGTERM to npm start stops both', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-data-'));
  const [port, uiPort] = [await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DBOPS_DATA_DIR: dataDir,
    DBOPS_DEV_SERVER_PORT: String(port),
    DBOPS_DEV_SERVER_UI_PORT: String(uiPort),
    DBOPS_SHUTDOWN_GRACE: '2s',
  };
  const stateFile = path.join(dataDir, 'temporal-dev-server.json');
  let serverPid = 0;
  try {
    const crashed = spawnWorker(env);
    await waitForOutput(crashed, /polling task queue "dbops"/);
    serverPid = (JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { pid: number }).pid;
    crashed.child.kill('SIGKILL'); // no chance to stop its dev server
    await new Promise((res) => crashed.child.once('exit', res));
    expect(alive(serverPid)).toBe(true);

    // As a supervisor runs it: npm start, then SIGTERM to npm.
    const npm = spawn('npm', ['start'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    npm.stdout!.on('data', (c) => (out += c));
    npm.stderr!.on('data', (c) => (out += c));
    const next: WorkerProcess = { child: npm, log: () => out };
    await waitForOutput(next, /polling task queue "dbops"/);
    expect(out).toContain(`reusing the dev server an earlier worker left running (pid ${serverPid})`);
    const connection = await Connection.connect({ address: `127.0.0.1:${port}` });
    await connection.workflowService.getSystemInfo({}); // the reused server answers
    await connection.close();

    const code = await new Promise((res) => {
      npm.once('exit', res);
      npm.kill('SIGTERM');
    });
    await until(() => !alive(serverPid), 'the dev server to stop', 15_000);
    expect(out).toContain('worker stopped');
    expect(out).toContain('stopping the embedded dev server');
    expect(fs.existsSync(stateFile)).toBe(false);
    expect(code === 0 || code === 143 || code === null).toBe(true); // npm reports the signal its child got
  } finally {
    if (serverPid && alive(serverPid)) process.kill(serverPid, 'SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('DBOPS_LOG_FORMAT=json: every line the worker writes is one JSON object', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-data-'));
  const [port, uiPort] = [await freePort(), await freePort()];
  const r = spawnWorker({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DBOPS_DATA_DIR: dataDir,
    DBOPS_DEV_SERVER_PORT: String(port),
    DBOPS_DEV_SERVER_UI_PORT: String(uiPort),
    DBOPS_SHUTDOWN_GRACE: '2s',
    DBOPS_LOG_FORMAT: 'json',
  });
  try {
    await waitForOutput(r, /"message":"polling task queue \\"dbops\\"/);
  } finally {
    expect(await stop(r)).toBe(0);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  const lines = r
    .log()
    .split('\n')
    .filter((l) => l.trim() !== '');
  expect(lines.length).toBeGreaterThan(5);
  const notJson = lines.filter((l) => {
    try {
      return typeof (JSON.parse(l) as { message?: unknown }).message !== 'string';
    } catch {
      return true;
    }
  });
  expect(notJson).toEqual([]);
});

test('a bad setting stops the worker with a message naming the variable', async () => {
  const r = spawnWorker({ PATH: process.env.PATH, DBOPS_METRICS_ADDRESS: 'not an address' });
  const code = await new Promise((res) => r.child.once('exit', res));
  expect(code).toBe(1);
  expect(r.log()).toMatch(/fatal: invalid environment: DBOPS_METRICS_ADDRESS: expected host:port/);
});

test('a bad worker configuration stops the worker with a message naming the entry', async () => {
  const file = writeWorkerConfig({
    dblab: { staging: { endpoint: 'https://dblab.example.com', token: 'my-literal-token', sources: ['us-east-1:db'] } },
  });
  const r = spawnWorker({ PATH: process.env.PATH, DBOPS_CONFIG: file });
  const code = await new Promise((res) => r.child.once('exit', res));
  expect(code).toBe(1);
  expect(r.log()).toContain(
    `invalid configuration: DBOPS_CONFIG ${file}: dblab.staging.token: must be a secret reference`,
  );
  expect(r.log()).not.toContain('my-literal-token');
});
