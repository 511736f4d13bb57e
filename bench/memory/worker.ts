/**
 * The memory benchmark's worker process: `node --expose-gc -r probe.js worker.js`, the worker of
 * the build in BENCH_DIST (its createDbopsWorker and its prebuilt dist/workflows.bundle.js, so the
 * same script measures main's build and this one), with the refresh's activities stubbed: a refresh
 * reaches wait-clone at once and waits there (the product's rdsWaitClone over an RDS that always
 * answers "creating"). Tells the benchmark over IPC how many refreshes have checked their clone.
 * With OTEL_EXPORTER_OTLP_ENDPOINT set, traces are on as in the product's worker (its tracing set-up
 * and the traced bundle).
 */
import path from 'node:path';

const dist = path.resolve(process.env.BENCH_DIST ?? 'dist');

const { createDbopsWorker } = require(path.join(dist, 'worker.js')) as typeof import('../../src/worker');
const { createRdsActivities } = require(
  path.join(dist, 'activities', 'rds.js'),
) as typeof import('../../src/activities/rds');
const { cloneName } = require(
  path.join(dist, 'domain', 'dblab-config.js'),
) as typeof import('../../src/domain/dblab-config');
const { tracingSettings } = require(
  path.join(dist, 'temporal', 'tracing.js'),
) as typeof import('../../src/temporal/tracing');
const { DefaultLogger, NativeConnection, Runtime, makeTelemetryFilterString } = require(
  require.resolve('@temporalio/worker', { paths: [dist] }),
) as typeof import('@temporalio/worker');

import type { AwsClients } from '../../src/activities/aws-clients';

async function main(): Promise<void> {
  Runtime.install({
    logger: new DefaultLogger('WARN'),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} } },
  });
  const creating = { send: async () => ({ DBInstances: [{ DBInstanceStatus: 'creating' }] }) };
  const rds = createRdsActivities({ aws: { rds: () => creating } as unknown as AwsClients });
  const checked = new Set<string>();
  const activities = {
    dblabCheck: async () => ({ status: 'OK', busy: false }),
    rdsFindSnapshot: async () => ({ id: 'rds:src-1', createdAt: '2026-11-22T03:00:00.000Z', type: 'automated' }),
    refreshCloneName: async (o: { startedAt: string; runId: string }) => cloneName(new Date(o.startedAt), o.runId),
    rdsCreateClone: async () => ({ changed: true, detail: 'restoring' }),
    rdsWaitClone: (...args: Parameters<typeof rds.rdsWaitClone>) => {
      checked.add(args[1]);
      return rds.rdsWaitClone(...args);
    },
    rdsDeleteClone: async (...args: unknown[]) => {
      checked.delete(args[1] as string);
      return { changed: true, detail: 'deleted' };
    },
    rdsListRefreshClones: async () => [],
  };
  const env = process.env;
  const traces = tracingSettings(env);
  const tracing = traces
    ? (
        require(path.join(dist, 'temporal', 'tracing-sdk.js')) as typeof import('../../src/temporal/tracing-sdk')
      ).startTracing(traces, 'bench')
    : undefined;
  const worker = await createDbopsWorker({
    tracing,
    connection: await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS ?? '' }),
    namespace: 'default',
    taskQueue: env.BENCH_TASK_QUEUE ?? 'bench-memory',
    activities,
    env: {},
    shutdownGraceTime: '1s',
    ...(env.DBOPS_MAX_CACHED_WORKFLOWS ? { maxCachedWorkflows: Number(env.DBOPS_MAX_CACHED_WORKFLOWS) } : {}),
    ...(env.DBOPS_REUSE_V8_CONTEXT ? { reuseV8Context: env.DBOPS_REUSE_V8_CONTEXT === 'true' } : {}),
    log: (line) => process.send?.({ type: 'log', line }),
  });
  process.on('message', (m: { type?: string }) => {
    if (m?.type === 'checked') process.send?.({ type: 'checked', count: checked.size });
  });
  process.once('disconnect', () => worker.shutdown());
  process.send?.({ type: 'ready' });
  await worker.run();
  await tracing?.shutdown();
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
