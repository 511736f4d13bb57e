/** Shared by the benchmarks: a private dev server and moto, a worker, timing helpers. */
import { Client, Connection } from '@temporalio/client';
import {
  bundleWorkflowCode,
  DefaultLogger,
  makeTelemetryFilterString,
  NativeConnection,
  Runtime,
  Worker,
} from '@temporalio/worker';
import path from 'node:path';
import fs from 'node:fs';
import { ensureSearchAttributes } from '../src/temporal/search-attributes';
import { createDbopsWorker } from '../src/worker';
import { SHARED_MODULES } from '../src/temporal/workflow-bundle';
import { startMoto, startTestTemporal, ROOT } from '../test/helpers/stack';

export interface Stack {
  client: Client;
  address: string;
  motoEndpoint: string;
  /** `workflows`: another version's compiled workflows (BENCH_BASELINE), bundled once; default: the product's. */
  makeWorker(taskQueue: string, activities: object, workflows?: BundleSource): Promise<Worker>;
  stop(): Promise<void>;
}

/** Where a worker's workflows come from: their entry file and the modules preloaded once per context. */
export interface BundleSource {
  workflowsPath: string;
  preloadModules: string[];
}

/** `workflowsPath`: the workflows the benchmark's workers run (default: the product's). */
export async function startStack(o: { workflowsPath?: string } = {}): Promise<Stack> {
  // Core's warnings forwarded to the (ERROR-level) logger: stdout stays the benchmark's JSON.
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} } },
  });
  const logs = path.join(ROOT, 'build', 'bench');
  fs.mkdirSync(logs, { recursive: true });
  const [temporal, moto] = await Promise.all([
    startTestTemporal(path.join(logs, 'temporal.log')),
    startMoto(path.join(logs, 'moto.log')),
  ]);
  process.env.DBOPS_TEST_MOTO_ENDPOINT = moto.endpoint;
  const connection = await Connection.connect({ address: temporal.address });
  await ensureSearchAttributes(connection, 'default');
  const { code } = await bundleWorkflowCode({
    workflowsPath: o.workflowsPath ?? path.join(ROOT, 'src', 'workflows', 'index.ts'),
    preloadModules: SHARED_MODULES, // as the worker's own bundle
    logger: new DefaultLogger('ERROR'),
  });
  const client = new Client({ connection });
  const others = new Map<string, Promise<string>>();
  const codeOf = (w?: BundleSource): Promise<string> => {
    if (!w) return Promise.resolve(code);
    if (!others.has(w.workflowsPath))
      others.set(
        w.workflowsPath,
        bundleWorkflowCode({ ...w, logger: new DefaultLogger('ERROR') }).then((b) => b.code),
      );
    return others.get(w.workflowsPath)!;
  };
  return {
    client,
    address: temporal.address,
    motoEndpoint: moto.endpoint,
    makeWorker: async (taskQueue, activities, workflows) =>
      createDbopsWorker({
        connection: await NativeConnection.connect({ address: temporal.address }),
        namespace: 'default',
        taskQueue,
        activities,
        env: {},
        workflowBundle: { code: await codeOf(workflows) },
        shutdownGraceTime: '1s',
      }),
    stop: async () => {
      await connection.close();
      await Promise.all([temporal.stop(), moto.stop()]);
    },
  };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = process.hrtime.bigint();
  const v = await fn();
  return [Number(process.hrtime.bigint() - t0) / 1e6, v];
}

/** Runs a benchmark's main and exits (the stack's child processes would keep the process alive). */
export function runBench(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`${(err as Error).stack}\n`);
      process.exit(1);
    },
  );
}
