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

/** A run's time by kind, from its history (ms); counts of activity and workflow tasks. */
export interface Breakdown {
  runMs: number;
  activities: number;
  activityQueueMs: number;
  activityExecMs: number;
  workflowTasks: number;
  workflowTaskQueueMs: number;
  workflowTaskExecMs: number;
}

export type HistoryEvent = {
  eventId?: unknown;
  eventTime?: { seconds?: unknown; nanos?: number | null } | null;
  [k: string]: unknown;
};

function eventMs(e: HistoryEvent): number {
  return Number(e.eventTime?.seconds ?? 0) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;
}

/** Each workflow task's execution (started → completed), in history order (ms). */
export function workflowTaskTimes(events: HistoryEvent[]): number[] {
  const at = new Map<number, number>(events.map((e) => [Number(e.eventId), eventMs(e)]));
  return events
    .filter((e) => e.workflowTaskCompletedEventAttributes)
    .map((e) => {
      const wc = e.workflowTaskCompletedEventAttributes as { startedEventId?: unknown };
      return Math.round((eventMs(e) - (at.get(Number(wc.startedEventId)) ?? eventMs(e))) * 10) / 10;
    });
}

/** One run's breakdown: queue waits (scheduled → started) and executions (started → completed) of its tasks. */
export function breakdownOf(events: HistoryEvent[]): Breakdown {
  const at = new Map<number, number>(events.map((e) => [Number(e.eventId), eventMs(e)]));
  const b: Breakdown = {
    runMs: eventMs(events[events.length - 1]) - eventMs(events[0]),
    activities: 0,
    activityQueueMs: 0,
    activityExecMs: 0,
    workflowTasks: 0,
    workflowTaskQueueMs: 0,
    workflowTaskExecMs: 0,
  };
  for (const e of events) {
    const as = e.activityTaskStartedEventAttributes as { scheduledEventId?: unknown } | undefined;
    const ac = e.activityTaskCompletedEventAttributes as { startedEventId?: unknown } | undefined;
    const ws = e.workflowTaskStartedEventAttributes as { scheduledEventId?: unknown } | undefined;
    const wc = e.workflowTaskCompletedEventAttributes as { startedEventId?: unknown } | undefined;
    if (as) b.activityQueueMs += eventMs(e) - (at.get(Number(as.scheduledEventId)) ?? eventMs(e));
    if (ac) {
      b.activities += 1;
      b.activityExecMs += eventMs(e) - (at.get(Number(ac.startedEventId)) ?? eventMs(e));
    }
    if (ws) b.workflowTaskQueueMs += eventMs(e) - (at.get(Number(ws.scheduledEventId)) ?? eventMs(e));
    if (wc) {
      b.workflowTasks += 1;
      b.workflowTaskExecMs += eventMs(e) - (at.get(Number(wc.startedEventId)) ?? eventMs(e));
    }
  }
  return b;
}

export function medianBreakdown(bs: Breakdown[]): Breakdown | undefined {
  if (!bs.length) return undefined;
  const keys = Object.keys(bs[0]) as Array<keyof Breakdown>;
  return Object.fromEntries(keys.map((k) => [k, Math.round(median(bs.map((b) => b[k])))])) as unknown as Breakdown;
}
