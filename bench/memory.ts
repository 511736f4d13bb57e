/**
 * Memory benchmark (issue 11: a light workflow sandbox). Starts a worker process
 * (bench/memory/worker.ts: the build's own createDbopsWorker and prebuilt workflow bundle, the
 * measured workflows' activities stubbed) and opens runs of one type that wait, holding no
 * activity slot, only their place in the workflow cache: BENCH_MEMORY_WORKFLOW, refreshDblab (the
 * default; waits in wait-clone, polled by retry), peerVpc (waits in initiate for a peering id,
 * polled by retry) or rotateDatabaseCredentials (waits in its grace timer). First
 * BENCH_MEMORY_STEPS[0] (200), then up to [1] (1,000). At each point (idle, each step, after the
 * runs were cancelled and closed) it samples BENCH_SAMPLES (5) times, a second apart, after a
 * forced GC: the worker's RSS, its main-thread heap and its workflow thread's heap (and the runs
 * cached in the workflow thread's sandbox). BENCH_MEMORY_BEFORE=<dist dir> measures that build first
 * (e.g. main's; BENCH_MEMORY_THIS=0 measures only that one). BENCH_MEMORY_TRACES=1 measures this
 * build a second time with traces on (the traced bundle and the OpenTelemetry SDK, exporting to a
 * local receiver that discards). Each build gets a fresh worker process and its own task queue.
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { ensureSearchAttributes } from '../src/temporal/search-attributes';
import { ROOT, startTestTemporal } from '../test/helpers/stack';
import { median, runBench } from './common';
import type { ThreadSample } from './memory/probe';

const STEPS = (process.env.BENCH_MEMORY_STEPS ?? '200,1000').split(',').map(Number);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 5);
/** Longest wait for the runs of a step to reach wait-clone, or to close. */
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 15 * 60_000);

/** The input of the i-th run of each measured workflow type (each run its own target). */
const INPUTS: Record<string, (i: number) => object> = {
  refreshDblab: () => ({
    source: { type: 'rds', identifier: 'app-prod', dbName: 'app' },
    clone: { instanceClass: 'db.t3.medium' },
    dblab: { apiEndpoint: 'http://dblab.example.internal:2345', token: 'env:DBLAB_TOKEN' },
    aws: { region: 'us-east-1' },
    cloneTimeout: '2h',
  }),
  peerVpc: (i) => ({
    databaseId: `bench-db-${i}`,
    region: 'us-east-1',
    vpcId: 'vpc-0123abcd',
    cloud: { kind: 'aerospike-cloud', account: 'bench' },
    timing: { pollInterval: '30s', initiateTimeout: '2h' },
  }),
  rotateDatabaseCredentials: (i) => ({
    engine: 'postgres',
    server: { host: 'db.example.internal', adminUser: 'admin', adminPasswordRef: 'env:PG_ADMIN_PASSWORD' },
    tenant: `bench${i}`,
    credentialsTarget: { kind: 'file', path: `/var/lib/dbops/bench${i}.json` },
    gracePeriod: '2h',
  }),
};
const WORKFLOW = process.env.BENCH_MEMORY_WORKFLOW ?? 'refreshDblab';
if (!INPUTS[WORKFLOW]) throw new Error(`BENCH_MEMORY_WORKFLOW: one of ${Object.keys(INPUTS).join(', ')}`);

interface Sample {
  rssMiB: number;
  mainHeapUsedMiB: number;
  workflowThreads: ThreadSample[];
}

/** Progress on stderr (stdout is the result). */
const progress = (line: string) => process.stderr.write(`[bench memory] ${new Date().toISOString()} ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (n: number) => Math.round(n * 100) / 100;
const stat = (xs: number[]) => ({
  median: round(median(xs)),
  min: round(Math.min(...xs)),
  max: round(Math.max(...xs)),
});

class WorkerProcess {
  private readonly child: ChildProcess;
  private readonly waiters = new Map<string, Array<(m: unknown) => void>>();
  readonly logs: string[] = [];

  private exitCode?: number | null;

  constructor(dist: string, env: NodeJS.ProcessEnv) {
    const here = path.join(__dirname, 'memory');
    this.child = fork(path.join(here, 'worker.js'), [], {
      execArgv: ['--expose-gc', '-r', path.join(here, 'probe.js')],
      env: { ...env, BENCH_DIST: dist },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const output = (d: Buffer) => {
      this.logs.push(d.toString());
      if (process.env.BENCH_VERBOSE) process.stderr.write(d);
    };
    this.child.stdout?.on('data', output);
    this.child.stderr?.on('data', output);
    this.child.once('exit', (code) => {
      this.exitCode = code;
      for (const list of this.waiters.values()) list.splice(0).forEach((f) => f(undefined));
    });
    this.child.on('message', (m: { type: string; line?: string }) => {
      if (m.type === 'log' && m.line) this.logs.push(m.line);
      this.waiters.get(m.type)?.shift()?.(m);
    });
  }

  next<T>(type: string, send?: object): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.exitCode !== undefined)
        return reject(new Error(`worker exited ${this.exitCode}: ${this.logs.join('')}`));
      const list = this.waiters.get(type) ?? [];
      list.push((m) => (m === undefined ? reject(new Error(`worker exited: ${this.logs.join('')}`)) : resolve(m as T)));
      this.waiters.set(type, list);
      if (send) this.child.send(send);
    });
  }

  async checked(): Promise<number> {
    return (await this.next<{ count: number }>('checked', { type: 'checked' })).count;
  }

  async samples() {
    const s: Sample[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      s.push(await this.next<Sample>('sample', { type: 'sample' }));
      await sleep(1000);
    }
    // A sample the workflow thread did not answer (60 s) counts for RSS and the main heap only.
    const answered = s.filter((x) => x.workflowThreads.length > 0);
    const wf = (f: (t: ThreadSample) => number) => answered.map((x) => x.workflowThreads.reduce((a, t) => a + f(t), 0));
    return {
      rssMiB: stat(s.map((x) => x.rssMiB)),
      mainHeapUsedMiB: stat(s.map((x) => x.mainHeapUsedMiB)),
      workflowHeapUsedMiB: stat(wf((t) => t.heapUsedMiB)),
      workflowSamples: answered.length,
      workflowThreads: answered[answered.length - 1]?.workflowThreads.length ?? 0,
      cachedRuns: answered[answered.length - 1]?.workflowThreads.map((t) => t.cachedRuns) ?? [],
    };
  }

  async stop(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.disconnect();
    await Promise.race([exited, sleep(20_000)]);
    this.child.kill('SIGKILL');
  }
}

async function measure(
  client: Client,
  address: string,
  name: string,
  dist: string,
  extraEnv: NodeJS.ProcessEnv = {},
): Promise<object> {
  const taskQueue = `bench-memory-${name.replace(/\W+/g, '-')}-${Date.now()}`;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    TEMPORAL_ADDRESS: address,
    BENCH_TASK_QUEUE: taskQueue,
    ...extraEnv,
  };
  for (const k of ['DBOPS_MAX_CACHED_WORKFLOWS', 'DBOPS_REUSE_V8_CONTEXT']) if (process.env[k]) env[k] = process.env[k];
  const w = new WorkerProcess(dist, env);
  await w.next('ready');
  await sleep(3000);
  const points: Array<Record<string, unknown>> = [];
  const point = async (what: string, extra: object = {}) => {
    const loadAverage = os.loadavg()[0];
    const p: Record<string, unknown> & Awaited<ReturnType<WorkerProcess['samples']>> = {
      what,
      ...extra,
      ...(await w.samples()),
      loadAverage: round(loadAverage),
    };
    points.push(p);
    return p;
  };
  const idle = await point('idle worker');
  const handles: WorkflowHandle[] = [];
  for (const target of STEPS) {
    const t0 = Date.now();
    while (handles.length < target) {
      const batch = Array.from({ length: Math.min(50, target - handles.length) }, (_, i) =>
        client.workflow.start(WORKFLOW, {
          workflowId: `${taskQueue}-${handles.length + i}`,
          taskQueue,
          args: [INPUTS[WORKFLOW](handles.length + i)],
        }),
      );
      handles.push(...(await Promise.all(batch)));
    }
    let waiting = 0;
    while (Date.now() - t0 < SETTLE_MS && (waiting = await w.checked()) < target) {
      progress(`${name}: ${waiting}/${target} runs waiting`);
      await sleep(5000);
    }
    const p = await point(`${target} runs open`, {
      runsWaiting: waiting,
      openedInS: Math.round((Date.now() - t0) / 1000),
    });
    // Workflow-thread heap grown per run cached (every run cached: what one cached run costs).
    const cached = p.cachedRuns.reduce<number>((a, n) => a + (n ?? 0), 0);
    if (cached) p.perCachedRunMiB = round((p.workflowHeapUsedMiB.median - idle.workflowHeapUsedMiB.median) / cached);
  }
  const t0 = Date.now();
  await Promise.all(handles.map((h) => h.cancel().catch(() => undefined)));
  const query = `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'`;
  let running = handles.length;
  while (Date.now() - t0 < SETTLE_MS && (running = (await client.workflow.count(query)).count) > 0) {
    progress(`${name}: ${running} runs still running`);
    await sleep(5000);
  }
  await sleep(5000);
  await point('after the runs closed', { stillRunning: running, closedInS: Math.round((Date.now() - t0) / 1000) });
  const bundleLine = w.logs.find((l) => l.includes('workflows:')) ?? '(no bundle line)';
  await w.stop();
  return { build: name, dist, workflow: WORKFLOW, bundleLine: bundleLine.trim(), points };
}

async function main(): Promise<void> {
  const logs = path.join(ROOT, 'build', 'bench');
  fs.mkdirSync(logs, { recursive: true });
  const temporal = await startTestTemporal(path.join(logs, 'temporal-memory.log'));
  const connection = await Connection.connect({ address: temporal.address });
  await ensureSearchAttributes(connection, 'default');
  const client = new Client({ connection });
  const builds: Array<[string, string, NodeJS.ProcessEnv?]> =
    process.env.BENCH_MEMORY_THIS === '0' ? [] : [['this build', path.join(ROOT, 'dist')]];
  if (process.env.BENCH_MEMORY_BEFORE) builds.unshift(['before', path.resolve(process.env.BENCH_MEMORY_BEFORE)]);
  // Traces on: spans go to a local receiver that answers and discards them.
  const sink = http.createServer((req, res) => req.resume().on('end', () => res.end('{}')));
  if (process.env.BENCH_MEMORY_TRACES) {
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
    const endpoint = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;
    builds.push(['this build, traces on', path.join(ROOT, 'dist'), { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint }]);
  }
  const out: Record<string, unknown> = {
    benchmark: 'memory',
    workflow: WORKFLOW,
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
    steps: STEPS,
    samplesPerPoint: SAMPLES,
  };
  const results = [];
  for (const [name, dist, extraEnv] of builds)
    results.push(await measure(client, temporal.address, name, dist, extraEnv));
  out.results = results;
  sink.close();
  await connection.close();
  await temporal.stop();
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

runBench(main);
