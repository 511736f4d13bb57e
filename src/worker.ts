/**
 * The dbops worker. `npm start` runs it. Without TEMPORAL_ADDRESS (and no envconfig profile
 * address) it first starts the embedded Temporal dev server with state in DBOPS_DATA_DIR.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DefaultLogger, NativeConnection, Runtime, Worker, makeTelemetryFilterString } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { DEFAULT_MAX_CACHED_WORKFLOWS, loadSettings, PROJECT_ROOT, type Settings } from './config';
import { createActivities } from './activities';
import { SqlPools } from './activities/sql/admin-pools';
import { startDevServer, type DevServer } from './temporal/dev-server';
import { ensureSearchAttributes } from './temporal/search-attributes';
import { loadPayloadCodecs } from './temporal/codec-config';
import { logFunction, type LogFormat } from './temporal/log-format';
import { workflowBundleForWorker } from './temporal/workflow-bundle';
import { describeTracing, TracingConfigError, tracingSettings, type WorkerTracing } from './temporal/tracing';
import { describeConfig, loadWorkerConfig, readCloneCa, WorkerConfigError } from './worker-config';
import { CLONE_LIFETIME_BUCKETS, REFRESH_METRICS, STAGE_BUCKETS } from './domain/refresh-metrics';

let logFormat: LogFormat = 'text';
function log(msg: string): void {
  if (logFormat === 'json') {
    process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'INFO', message: msg })}\n`);
  } else process.stdout.write(`[dbops-worker] ${msg}\n`);
}

async function resolveServer(settings: Settings): Promise<{ address: string; devServer?: DevServer }> {
  const configured = settings.temporal.connectionOptions.address;
  if (configured) return { address: configured };
  const dbFile = path.join(settings.dataDir, 'temporal.db');
  log(`TEMPORAL_ADDRESS is not set: starting the embedded Temporal dev server (state in ${dbFile})`);
  const devServer = await startDevServer({
    cli: settings.devServer.cli,
    port: settings.devServer.port,
    uiPort: settings.devServer.uiPort,
    dbFile,
    logFile: path.join(settings.dataDir, 'temporal-dev-server.log'),
    stateFile: path.join(settings.dataDir, 'temporal-dev-server.json'),
  });
  if (devServer.reused) log(`reusing the dev server an earlier worker left running (pid ${devServer.pid})`);
  log(`Temporal dev server on ${devServer.address}; Web UI: ${devServer.uiUrl}`);
  return { address: devServer.address, devServer };
}

export interface DbopsWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  activities: object;
  env: NodeJS.ProcessEnv;
  shutdownGraceTime?: Settings['shutdownGrace'];
  maxConcurrentActivities?: number;
  /** Runs kept in the workflow cache; default DEFAULT_MAX_CACHED_WORKFLOWS (src/config.ts). */
  maxCachedWorkflows?: number;
  /** One V8 context per workflow thread shared by its runs (default true, as in the SDK). */
  reuseV8Context?: boolean;
  /**
   * Pre-built workflow bundle (tests share one); default: dist/workflows.bundle.js when it matches
   * the files it was built from, else the workflows bundled now.
   */
  workflowBundle?: { codePath: string } | { code: string };
  /** Gets the one line saying which bundle the worker runs (when workflowBundle is not given). */
  log?: (line: string) => void;
  /**
   * Traces on (src/temporal/tracing-sdk.ts): the activity interceptors and the workflow spans'
   * sink, and the traced bundle (dist/workflows.otel.bundle.js) unless workflowBundle is given.
   */
  tracing?: WorkerTracing;
}

/** The worker with everything dbops registers: workflows, activities, payload codec. */
export async function createDbopsWorker(o: DbopsWorkerOptions): Promise<Worker> {
  const workflowBundle =
    o.workflowBundle ??
    (await workflowBundleForWorker(
      __dirname,
      Runtime.instance().logger,
      o.log ?? (() => {}),
      o.tracing ? 'traced' : 'plain',
    ));
  return Worker.create({
    connection: o.connection,
    namespace: o.namespace,
    taskQueue: o.taskQueue,
    workflowBundle,
    activities: o.activities,
    dataConverter: { payloadCodecs: loadPayloadCodecs(o.env) },
    shutdownGraceTime: o.shutdownGraceTime ?? '30s',
    maxConcurrentActivityTaskExecutions: o.maxConcurrentActivities ?? 500,
    maxCachedWorkflows: o.maxCachedWorkflows ?? DEFAULT_MAX_CACHED_WORKFLOWS,
    reuseV8Context: o.reuseV8Context ?? true,
    ...(o.tracing ? { interceptors: { activity: o.tracing.activityInterceptors }, sinks: o.tracing.sinks } : {}),
  });
}

/** Traces when the OTEL_ variables turn them on (the OpenTelemetry SDK is loaded only then). */
async function startTracing(env: NodeJS.ProcessEnv): Promise<WorkerTracing | undefined> {
  const settings = tracingSettings(env);
  log(describeTracing(settings));
  if (!settings) return undefined;
  const { version } = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as {
    version: string;
  };
  return (await import('./temporal/tracing-sdk')).startTracing(settings, version);
}

export async function main(): Promise<void> {
  const settings = loadSettings();
  logFormat = settings.logFormat;
  // What runs may use and where: checked before anything starts, so a bad entry stops the worker.
  const config = loadWorkerConfig(process.env, settings.dataDir);
  const cloneCa = readCloneCa(config);
  if (!process.env.DBOPS_CONFIG) {
    // The default keeps credentials files here only: make it, private to the worker's user.
    fs.mkdirSync(path.join(settings.dataDir, 'credentials'), { recursive: true, mode: 0o700 });
  }
  log(`configuration: ${config.source}: ${describeConfig(config)}`);
  Runtime.install({
    logger: new DefaultLogger(settings.logLevel, logFunction(settings.logFormat)),
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} },
      ...(settings.metricsAddress
        ? {
            metrics: {
              prometheus: {
                bindAddress: settings.metricsAddress,
                // The refresh's own histograms are in seconds, from a second to hours (refresh-metrics.ts).
                histogramBucketOverrides: {
                  [REFRESH_METRICS.stageSeconds]: STAGE_BUCKETS,
                  [REFRESH_METRICS.cloneLifetimeSeconds]: CLONE_LIFETIME_BUCKETS,
                },
              },
            },
          }
        : {}),
    },
  });
  if (settings.metricsAddress) log(`Prometheus metrics on http://${settings.metricsAddress}/metrics`);
  const tracing = await startTracing(process.env);

  const { address, devServer } = await resolveServer(settings);
  const namespace = settings.temporal.namespace ?? 'default';
  try {
    const connectionOptions = { ...settings.temporal.connectionOptions, address };
    const admin = await Connection.connect(connectionOptions as Parameters<typeof Connection.connect>[0]);
    const added = await ensureSearchAttributes(admin, namespace);
    log(added.length ? `registered search attributes: ${added.join(', ')}` : 'search attributes already registered');
    // Activities that ask Temporal about runs (the clone janitor) use this client.
    const temporalClient = new Client({
      connection: admin,
      namespace,
      dataConverter: { payloadCodecs: loadPayloadCodecs(process.env) },
    });

    const connection = await NativeConnection.connect(connectionOptions);
    // One bounded admin pool per SQL server, shared by all runs; closed once the worker has stopped.
    const sqlPools = new SqlPools(settings.sqlPool);
    const worker = await createDbopsWorker({
      connection,
      namespace,
      taskQueue: settings.taskQueue,
      activities: createActivities({
        env: process.env,
        temporal: temporalClient,
        config,
        cloneCa,
        sqlPools,
        awsCallSpans: tracing?.awsCallSpans,
      }),
      shutdownGraceTime: settings.shutdownGrace,
      maxConcurrentActivities: settings.maxConcurrentActivities,
      maxCachedWorkflows: settings.maxCachedWorkflows,
      reuseV8Context: settings.reuseV8Context,
      env: process.env,
      log,
      tracing,
    });
    log(
      `polling task queue "${settings.taskQueue}" in namespace "${namespace}" on ${address}; Ctrl-C stops gracefully`,
    );
    try {
      await worker.run();
    } finally {
      await sqlPools.close();
    }
    log('worker stopped');
    await connection.close();
    await admin.close();
  } finally {
    if (tracing) {
      // Sends the spans still buffered (the batch processor's last batch).
      await tracing.shutdown().catch((err: Error) => log(`traces: the last spans were not sent: ${err.message}`));
    }
    if (devServer) {
      log('stopping the embedded dev server');
      await devServer.stop();
    }
  }
}

if (require.main === module) {
  main().catch((err) => {
    const what =
      err instanceof WorkerConfigError || err instanceof TracingConfigError ? 'invalid configuration' : 'fatal';
    process.stderr.write(`[dbops-worker] ${what}: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
