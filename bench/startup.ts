/**
 * Worker cold start: wall time from `node <dist>/worker.js` to its "polling task queue" line, a
 * new process each time, against a running dev server. BENCH_STARTUP_BEFORE=<dist dir> also
 * measures that build (e.g. main's code, which bundles the workflows at every start).
 * BENCH_STARTUP_TRACES=1 also measures this build with traces on (OTEL_EXPORTER_OTLP_ENDPOINT set:
 * the traced bundle and the OpenTelemetry SDK; nothing is sent before a run makes spans).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, startTestTemporal } from '../test/helpers/stack';
import { median, runBench } from './common';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);

function startOnce(
  workerJs: string,
  address: string,
  dataDir: string,
  extraEnv: NodeJS.ProcessEnv = {},
): Promise<{ ms: number; bundleLine: string }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, [workerJs], {
      env: {
        PATH: process.env.PATH,
        TEMPORAL_ADDRESS: address,
        DBOPS_DATA_DIR: dataDir,
        DBOPS_TASK_QUEUE: `bench-startup-${process.pid}`,
        ...extraEnv,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('polling task queue')) {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        child.once('exit', () => resolve({ ms, bundleLine: /workflows: .*/.exec(out)?.[0] ?? '(no bundle line)' }));
        child.kill('SIGINT');
      }
    });
    child.on('exit', (code) => {
      if (!out.includes('polling task queue')) reject(new Error(`worker exited ${code}: ${err}${out}`));
    });
  });
}

async function main(): Promise<void> {
  const logs = path.join(ROOT, 'build', 'bench');
  fs.mkdirSync(logs, { recursive: true });
  const temporal = await startTestTemporal(path.join(logs, 'temporal-startup.log'));
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-startup-'));
  const builds: Array<[string, string, NodeJS.ProcessEnv?]> = [['this build', path.join(ROOT, 'dist')]];
  if (process.env.BENCH_STARTUP_BEFORE) builds.unshift(['before', path.resolve(process.env.BENCH_STARTUP_BEFORE)]);
  if (process.env.BENCH_STARTUP_TRACES)
    builds.push([
      'this build, traces on',
      path.join(ROOT, 'dist'),
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' },
    ]);
  const out: Record<string, unknown> = { loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))) };
  const results = [];
  for (const [name, dir, extraEnv] of builds) {
    await startOnce(path.join(dir, 'worker.js'), temporal.address, dataDir, extraEnv); // warm-up (file cache)
    const ms: number[] = [];
    let bundleLine = '';
    for (let i = 0; i < RUNS; i++) {
      const r = await startOnce(path.join(dir, 'worker.js'), temporal.address, dataDir, extraEnv);
      ms.push(r.ms);
      bundleLine = r.bundleLine;
    }
    results.push({
      build: name,
      runs: ms.length,
      medianMs: Math.round(median(ms)),
      minMs: Math.round(Math.min(...ms)),
      maxMs: Math.round(Math.max(...ms)),
      bundleLine,
    });
  }
  out.results = results;
  out.loadAverageAfter = os.loadavg().map((l) => Number(l.toFixed(2)));
  await temporal.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

runBench(main);
