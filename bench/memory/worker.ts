/**
 * The memory benchmark's worker process: `node --expose-gc -r probe.js worker.js`, the worker of
 * the build in BENCH_DIST (its createDbopsWorker and its prebuilt dist/workflows.bundle.js, so the
 * same script measures main's build and this one), with the activities of the measured workflow
 * types stubbed so each run reaches a wait at once and stays there:
 * - refreshDblab waits in wait-clone (the product's rdsWaitClone over an RDS that always answers
 *   "creating", polled by retry);
 * - peerVpc waits in initiate (the database side never reports a peering id: the product's
 *   one-check poll, pollOrCheck, over a check that always says "initiating-request", polled by
 *   retry; prepare's reads answer at once);
 * - rotateDatabaseCredentials waits in its grace timer (check-ownership and the switch answer at once).
 * Tells the benchmark over IPC how many runs have reached their wait.
 * With OTEL_EXPORTER_OTLP_ENDPOINT set, traces are on as in the product's worker (its tracing set-up
 * and the traced bundle).
 */
import path from 'node:path';

const dist = path.resolve(process.env.BENCH_DIST ?? 'dist');

const { createDbopsWorker } = require(path.join(dist, 'worker.js')) as typeof import('../../src/worker');
const { createRdsActivities } = require(
  path.join(dist, 'activities', 'rds.js'),
) as typeof import('../../src/activities/rds');
const { pollOrCheck } = require(path.join(dist, 'activities', 'poll.js')) as typeof import('../../src/activities/poll');
const { Context } = require(
  require.resolve('@temporalio/activity', { paths: [dist] }),
) as typeof import('@temporalio/activity');
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
import type { PollMode } from '../../src/activities/poll';

async function main(): Promise<void> {
  Runtime.install({
    logger: new DefaultLogger('WARN'),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} } },
  });
  const creating = { send: async () => ({ DBInstances: [{ DBInstanceStatus: 'creating' }] }) };
  const rds = createRdsActivities({ aws: { rds: () => creating } as unknown as AwsClients });
  const checked = new Set<string>();
  /** The run of the activity being called (its wait is reached). */
  const reached = () => checked.add(Context.current().info.workflowExecution?.workflowId ?? '');
  const customer = {
    vpcId: 'vpc-0123abcd',
    region: 'us-east-1',
    accountId: '111111111111',
    cidr: '10.20.0.0/16',
    cidrBlocks: ['10.20.0.0/16'],
  };
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
    // peerVpc: prepare finds the VPC and a database without a peering; initiate never gets an id.
    resolveCustomerVpc: async () => customer,
    databaseDescribe: async () => ({ database: { cidr: '10.128.0.0/19', status: 'active' } }),
    // the same in one activity (runs with patch peer-vpc-fewer-round-trips)
    lookUpPeering: async () => ({ customer, database: { cidr: '10.128.0.0/19', status: 'active' } }),
    databaseInitiate: (_plan: unknown, _customer: unknown, _runId?: string, mode?: PollMode) => {
      reached();
      return pollOrCheck(mode, { what: 'a peering id', interval: '30s', timeout: '2h' }, async () => ({
        done: false as const,
        status: 'initiating-request',
      }));
    },
    // rotateDatabaseCredentials: the target names the primary login; the switch is done at once.
    postgresRotateCheck: async (plan: { logins: { primary: string; standby: string } }) => ({
      current: plan.logins.primary,
      next: plan.logins.standby,
      detail: 'stub',
    }),
    postgresRotateSwitch: async () => {
      reached();
      return { changed: true, detail: 'stub' };
    },
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
