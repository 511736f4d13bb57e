/**
 * Traces (README, "Traces"): the worker as users run it (`node dist/worker.js`), pointed at an
 * in-process OTLP/HTTP receiver by OTEL_EXPORTER_OTLP_ENDPOINT, runs a peerVpc against moto and,
 * once stopped, has sent one trace linking the workflow to its activities and their AWS calls,
 * with stage names and AWS request ids, and none of its secrets. Without the variable it loads no
 * OpenTelemetry code and sends nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DescribeVpcsCommand } from '@aws-sdk/client-ec2';
import { motoEndpoint } from '../helpers/activities';
import { fixtureAws, makeAwsDatabase, makeCustomerVpc } from '../helpers/aws-fixtures';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver';
import { formatFailures, replayAndCompare } from '../helpers/replay-check';
import { ROOT } from '../helpers/stack';
import { openTestEnv, testAddress, uniqueName, type TestEnv } from '../helpers/temporal';
import { spawnWorker, until, type WorkerProcess } from '../helpers/worker-process';
import { PEER_STAGES } from '../../src/workflows/peer-vpc';

const PRELOAD = path.join(ROOT, 'test', 'fixtures', 'report-otel-modules.js');
/** What the worker must never send anywhere: its AWS secret key and the collector's token. */
const AWS_SECRET = `aws-secret-${uniqueName('k')}`;
const COLLECTOR_TOKEN = `collector-token-${uniqueName('t')}`;
const fx = fixtureAws();
let runs = 0;

let t: TestEnv;
let receiver: OtlpReceiver;
const dataDirs: string[] = [];
beforeAll(async () => {
  t = await openTestEnv();
  receiver = await startOtlpReceiver();
});
afterAll(async () => {
  await t.close();
  await receiver.close();
  for (const d of dataDirs) fs.rmSync(d, { recursive: true, force: true });
});

function workerEnv(taskQueue: string, extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-otel-'));
  dataDirs.push(dataDir);
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TEMPORAL_ADDRESS: testAddress(),
    DBOPS_TASK_QUEUE: taskQueue,
    DBOPS_DATA_DIR: dataDir,
    DBOPS_SHUTDOWN_GRACE: '2s',
    AWS_ENDPOINT_URL: motoEndpoint(),
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: AWS_SECRET,
    ...extra,
  };
}

async function stop(w: WorkerProcess): Promise<number | null> {
  if (w.child.exitCode !== null) return w.child.exitCode;
  const exited = new Promise<number | null>((resolve) => w.child.once('exit', (code) => resolve(code)));
  w.child.kill('SIGINT');
  return exited;
}

/** Starts a worker process, runs one peerVpc on moto through it, stops it; returns its output. */
async function peerThroughWorker(extra: NodeJS.ProcessEnv): Promise<{ log: string; workflowId: string }> {
  const taskQueue = uniqueName('otel');
  const worker = spawnWorker(workerEnv(taskQueue, extra), ['-r', PRELOAD]);
  const workflowId = uniqueName('otel-peer');
  try {
    await until(() => /polling task queue/.test(worker.log()) || worker.child.exitCode !== null, 'the worker to poll');
    expect(worker.child.exitCode).toBeNull();
    const customer = await makeCustomerVpc(fx);
    const database = await makeAwsDatabase(fx, {
      databaseId: uniqueName('otel'),
      region: 'us-east-1',
      cidr: `10.${200 + runs++}.0.0/19`,
    });
    const result = await t.client.workflow.execute('peerVpc', {
      workflowId,
      taskQueue,
      args: [
        {
          databaseId: database.databaseId,
          region: 'us-east-1',
          vpcId: customer.vpcId,
          cloud: { kind: 'aws' },
          timing: { pollInterval: '200ms' },
        },
      ],
    });
    expect(result).toMatchObject({ peeringId: expect.stringMatching(/^pcx-/) });
  } finally {
    // The worker sends its last spans when it stops (SIGINT: graceful stop, then the exporter's flush).
    expect({ code: await stop(worker), log: '' }).toEqual({
      code: 0,
      log: worker.child.exitCode === 0 ? '' : worker.log(),
    });
  }
  return { log: worker.log(), workflowId };
}

const str = (s: ReceivedSpan, key: string): string | undefined => s.attributes[key] as string | undefined;

test('a traced worker sends one trace: the workflow, its activities with their stages, their AWS calls with request ids, no secret', async () => {
  const { log, workflowId } = await peerThroughWorker({
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer ${COLLECTOR_TOKEN}`,
  });
  expect(log).toContain(`traces: OTLP/HTTP to ${receiver.endpoint}/v1/traces as service "dbops-worker"`);
  expect(log).toMatch(/workflows: prebuilt bundle \S+workflows\.otel\.bundle\.js/);
  expect(log).toMatch(/opentelemetry modules loaded: [1-9]/);

  // Exports came as OTLP/HTTP JSON with the configured header; the header's token is nowhere else.
  const exports = receiver.requests.filter((r) => r.path === '/v1/traces');
  expect(exports.length).toBeGreaterThan(0);
  for (const r of exports) {
    expect(r.method).toBe('POST');
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers.authorization).toBe(`Bearer ${COLLECTOR_TOKEN}`);
  }
  const everything = receiver.requests.map((r) => r.body).join('\n');
  for (const secret of [AWS_SECRET, COLLECTOR_TOKEN]) {
    expect(everything).not.toContain(secret);
    expect(log).not.toContain(secret);
  }

  const spans = receiver.spans();
  const run = spans.filter((s) => s.name === 'RunWorkflow:peerVpc' && str(s, 'workflowId') === workflowId);
  expect(run).toHaveLength(1);
  const [root] = run;
  expect(root.resource['service.name']).toBe('dbops-worker');
  expect(root.attributes).toMatchObject({ workflowType: 'peerVpc', namespace: 'default' });
  // The workflow span carries the run's ids, not its memo, search attributes or input.
  expect(Object.keys(root.attributes).sort()).toEqual(
    ['attempt', 'namespace', 'runId', 'taskQueue', 'workflowId', 'workflowType'].sort(),
  );
  const trace = spans.filter((s) => s.traceId === root.traceId);
  const byId = new Map(trace.map((s) => [s.spanId, s]));

  // Each activity: StartActivity (the workflow's) → RunActivity (the worker's), both with the stage.
  const ran = trace.filter((s) => s.name.startsWith('RunActivity:'));
  expect(ran.length).toBeGreaterThanOrEqual(4);
  for (const a of ran) {
    const started = byId.get(a.parentSpanId ?? '');
    expect(started?.name).toBe(a.name.replace('RunActivity:', 'StartActivity:'));
    expect(str(a, 'temporalWorkflowId')).toBe(workflowId);
    expect(PEER_STAGES).toContain(str(a, 'dbops.stage'));
    expect(str(started!, 'dbops.stage')).toBe(str(a, 'dbops.stage'));
  }
  // Every stage that called an activity is named on one.
  expect(new Set(ran.map((a) => str(a, 'dbops.stage')))).toEqual(
    new Set(['prepare', 'initiate', 'accept', 'route', 'associate-dns']),
  );

  // AWS calls: children of the activity span they were made in, with moto's request ids.
  const motoId = (await fx.ec2('us-east-1').send(new DescribeVpcsCommand({ MaxResults: 5 }))).$metadata.requestId!;
  expect(motoId).toMatch(/^[A-Za-z0-9]{52}$/); // moto's form: 52 random characters per reply
  const calls = trace.filter((s) => s.attributes['rpc.system'] === 'aws-api');
  expect(calls.map((c) => c.name)).toEqual(
    expect.arrayContaining(['ec2.DescribeVpcs', 'ec2.CreateVpcPeeringConnection']),
  );
  for (const c of calls) {
    expect(byId.get(c.parentSpanId ?? '')?.name).toMatch(/^RunActivity:/);
    expect(c.name).toBe(`${str(c, 'aws.service')}.${str(c, 'aws.operation')}`);
    expect(str(c, 'aws.request_id')).toMatch(/^[A-Za-z0-9]{52}$/);
    expect(c.attributes['http.response.status_code']).toBe(200);
    expect(c.attributes['cloud.region']).toBe('us-east-1');
  }
  expect(new Set(calls.map((c) => str(c, 'aws.request_id'))).size).toBe(calls.length);

  // Traces turned off again: the traced run's history replays, untraced and traced, sending the same.
  const history = await t.client.workflow.getHandle(workflowId).fetchHistory();
  for (const kind of ['plain', 'traced'] as const) {
    expect(formatFailures(await replayAndCompare([{ name: workflowId, history }], kind))).toBeUndefined();
  }
});

test('without OTEL_EXPORTER_OTLP_ENDPOINT the worker loads no OpenTelemetry code and sends nothing', async () => {
  const before = receiver.requests.length;
  // Exporter settings without an endpoint do not turn traces on.
  const { log } = await peerThroughWorker({
    OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer ${COLLECTOR_TOKEN}`,
    OTEL_SERVICE_NAME: 'dbops-untraced',
  });
  expect(log).toContain('traces: off (set OTEL_EXPORTER_OTLP_ENDPOINT to send them)');
  expect(log).toMatch(/workflows: prebuilt bundle \S+[\\/]workflows\.bundle\.js/);
  expect(log).toContain('[test] opentelemetry modules loaded: 0');
  expect(receiver.requests.length).toBe(before);
  expect(log).not.toContain(COLLECTOR_TOKEN);
});
