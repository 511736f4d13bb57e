/**
 * CLI latency: wall time of `dbops status <id>` (a new process each time, as a user runs it) next
 * to `temporal workflow describe` (the Temporal CLI, a Go binary: the plain baseline), plus
 * `dbops --help`. Uses hyperfine when it is on PATH or in .venv/bin, else spawns each command
 * BENCH_RUNS times (after 2 warm-ups) and reports median, min and max.
 *
 * `dbops status` is measured by turns (one run of each variant, then again, so all see the same
 * load): this build without the SDK (the default, src/client/light/status.ts), this build through
 * the SDK (DBOPS_STATUS_SDK=1), each with the compile cache off and on, and the build before.
 *
 *   BENCH_CLI_BEFORE=<dir with client/cli.js>   also measure that build (e.g. main's code)
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, VENV_BIN } from '../test/helpers/stack';
import { median, runBench, startStack } from './common';

const RUNS = Number(process.env.BENCH_RUNS ?? 20);

interface Figures {
  command: string;
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  tool: 'hyperfine' | 'spawn';
  /** CPU time (user + sys) of the command, median: less disturbed by other load than wall time. */
  cpuMedianMs?: number;
}

function hyperfine(): string | undefined {
  const onPath = spawnSync('sh', ['-c', 'command -v hyperfine'], { encoding: 'utf8' }).stdout.trim();
  if (onPath) return onPath;
  const venv = path.join(VENV_BIN, 'hyperfine');
  return fs.existsSync(venv) ? venv : undefined;
}

const TIME = '/usr/bin/time';
const cpuFile = path.join(os.tmpdir(), `bench-cli-cpu-${process.pid}`);

/** Wall ms; with /usr/bin/time also the CPU ms (user + sys) of the command, steadier on a busy machine. */
function runOnce(argv: string[], env: NodeJS.ProcessEnv, cpu: number[]): Promise<number> {
  const timed = fs.existsSync(TIME);
  const cmd = timed ? [TIME, '-f', '%U %S', '-o', cpuFile, ...argv] : argv;
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd[0], cmd.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code === 0) {
        if (timed)
          cpu.push(
            fs
              .readFileSync(cpuFile, 'utf8')
              .trim()
              .split(/\s+/)
              .map(Number)
              .reduce((a, b) => a + b) * 1000,
          );
        resolve(ms);
      } else reject(new Error(`${argv.join(' ')} exited ${code}: ${err}`));
    });
  });
}

async function measure(label: string, argv: string[], env: NodeJS.ProcessEnv): Promise<Figures> {
  const hf = hyperfine();
  if (hf) {
    const json = path.join(os.tmpdir(), `bench-cli-${process.pid}.json`);
    const quoted = argv.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
    // Asynchronous: the worker in this process must keep answering the progress query.
    await new Promise<void>((resolve, reject) => {
      const child = spawn(hf, ['-N', '-w', '2', '-r', String(RUNS), '--export-json', json, quoted], {
        env,
        stdio: 'ignore',
      });
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`hyperfine exited ${code}`))));
    });
    const r = JSON.parse(fs.readFileSync(json, 'utf8')).results[0] as { times: number[] };
    const ms = r.times.map((s) => s * 1000);
    return figures(label, ms, 'hyperfine');
  }
  for (let i = 0; i < 2; i++) await runOnce(argv, env, []);
  const ms: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < RUNS; i++) ms.push(await runOnce(argv, env, cpu));
  return { ...figures(label, ms, 'spawn'), ...(cpu.length ? { cpuMedianMs: Math.round(median(cpu)) } : {}) };
}

/**
 * Variants of a command (their own argv and env), run by turns (a, b, c, a, b, c, …) so all see
 * the same load; two warm-ups each first (which also fill the compile cache where it is on).
 */
async function interleaved(label: string, variants: Array<[string, string[], NodeJS.ProcessEnv]>) {
  for (const [, argv, env] of variants) for (let i = 0; i < 2; i++) await runOnce(argv, env, []);
  const ms = variants.map(() => [] as number[]);
  const cpu = variants.map(() => [] as number[]);
  for (let i = 0; i < RUNS; i++) {
    for (const [v, [, argv, env]] of variants.entries()) ms[v].push(await runOnce(argv, env, cpu[v]));
  }
  return variants.map(([name], v) => ({
    ...figures(`${label} (${name}, interleaved)`, ms[v], 'spawn'),
    ...(cpu[v].length ? { cpuMedianMs: Math.round(median(cpu[v])) } : {}),
    cpuMinMs: cpu[v].length ? Math.round(Math.min(...cpu[v])) : undefined,
    cpuMaxMs: cpu[v].length ? Math.round(Math.max(...cpu[v])) : undefined,
  }));
}

function figures(command: string, ms: number[], tool: Figures['tool']): Figures {
  const r = (x: number) => Math.round(x);
  return {
    command,
    runs: ms.length,
    medianMs: r(median(ms)),
    minMs: r(Math.min(...ms)),
    maxMs: r(Math.max(...ms)),
    tool,
  };
}

async function main(): Promise<void> {
  const stack = await startStack({ workflowsPath: path.join(ROOT, 'test', 'fixtures', 'workflows', 'index.ts') });
  const taskQueue = 'bench-cli';
  const worker = await stack.makeWorker(taskQueue, {});
  const env = { PATH: process.env.PATH, TEMPORAL_ADDRESS: stack.address, TEMPORAL_NAMESPACE: 'default' };
  const out: Record<string, unknown> = { loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))) };
  await worker.runUntil(async () => {
    const id = `bench-cli-${Date.now()}`;
    const h = await stack.client.workflow.start('twoStage', { workflowId: id, taskQueue, args: [{ target: 'b' }] });
    for (;;) {
      const p = await h.query<{ stages: Array<{ status: string }> }>('progress').catch(() => undefined);
      if (p?.stages[1].status === 'running') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const node = process.execPath;
    const builds: Array<[string, string]> = [['this build', path.join(ROOT, 'dist')]];
    if (process.env.BENCH_CLI_BEFORE) builds.unshift(['before', path.resolve(process.env.BENCH_CLI_BEFORE)]);
    const results: Figures[] = [];
    const temporal = path.join(VENV_BIN, 'temporal');
    results.push(
      await measure(
        'temporal workflow describe',
        [temporal, 'workflow', 'describe', '-w', id, '--address', stack.address],
        env,
      ),
    );
    const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-cli-cache-'));
    const status = (dir: string) => [node, path.join(dir, 'client', 'cli.js'), 'status', id];
    const off = { ...env, DBOPS_COMPILE_CACHE: 'off' };
    const on = { ...env, DBOPS_COMPILE_CACHE_DIR: cacheDir };
    const here = path.join(ROOT, 'dist');
    results.push(
      ...(await interleaved('dbops status', [
        ...builds
          .filter(([name]) => name === 'before')
          .map(([name, dir]): [string, string[], NodeJS.ProcessEnv] => [`${name}, compile cache on`, status(dir), on]),
        ['this build, no SDK, compile cache off', status(here), off],
        ['this build, no SDK, compile cache on', status(here), on],
        ['this build, SDK (DBOPS_STATUS_SDK=1), compile cache on', status(here), { ...on, DBOPS_STATUS_SDK: '1' }],
      ])),
    );
    fs.rmSync(cacheDir, { recursive: true, force: true });
    for (const [name, dir] of builds) {
      const cli = path.join(dir, 'client', 'cli.js');
      results.push(await measure(`dbops --help (${name})`, [node, cli, '--help'], env));
      results.push(await measure(`dbops peer-vpc --help (${name})`, [node, cli, 'peer-vpc', '--help'], env));
    }
    out.results = results;
    await h.signal('release', {});
    await h.result();
  });
  out.loadAverageAfter = os.loadavg().map((l) => Number(l.toFixed(2)));
  await stack.stop();
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

runBench(main);
