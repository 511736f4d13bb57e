/**
 * Malformed input through the real Temporal server: a misspelt option and a 100 000-character id
 * each fail the run at validation, quickly, with a non-retryable InvalidInput failure naming the
 * field, and no activity runs. (A target computed from such an input used to exceed the server's
 * search attribute limit, and the server terminated the run before validation could fail it.)
 */
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Worker } from '@temporalio/worker';
import type { Progress } from '../../src/api';
import { makeWorker, openTestEnv, uniqueName, type TestEnv } from '../helpers/temporal';

const HUGE = 'x'.repeat(100_000);

/** Stubs for the first activity each workflow would call: any call is recorded (and fails). */
const calls: string[] = [];
const stub = (name: string) => async () => {
  calls.push(name);
  throw ApplicationFailure.nonRetryable(`stub ${name} called`, 'StubCalled');
};
const STUBBED = [
  'rdsListRefreshClones',
  'workflowRunStatus',
  'rdsDeleteClone',
  'postgresConnect',
  'mysqlConnect',
  'checkCredentialsTarget',
  'postgresConnectAndCheck',
  'mysqlConnectAndCheck',
  'resolveCustomerVpc',
  'databaseDescribe',
  'lookUpPeering',
  'findDatabaseNetwork',
  'describeInUse',
  'inspectDatabaseNetwork',
  'dblabCheck',
  'dblabCheckConfigAccess',
  'rdsValidate',
  'rdsFindSnapshot',
];
const activities = Object.fromEntries(STUBBED.map((n) => [n, stub(n)]));

let t: TestEnv;
let worker: Worker;
let running: Promise<void>;
beforeAll(async () => {
  t = await openTestEnv();
  worker = await makeWorker(t, activities);
  running = worker.run();
});
afterAll(async () => {
  worker?.shutdown();
  await running;
  await t?.close();
});

const refresh = {
  source: {
    type: 'rds',
    identifier: 'production-db',
    dbName: 'postgres',
    username: 'postgres',
    password: 'env:SRC_PW',
  },
  clone: { instanceClass: 'db.t3.medium' },
  dblab: { apiEndpoint: 'https://dblab.example.com:2345', token: 'env:DBLAB_TOKEN' },
  aws: { region: 'us-east-1' },
};
const provision = {
  engine: 'postgres',
  server: { host: 'db.example.com', adminUser: 'admin', adminPasswordRef: 'env:PG_ADMIN_PASSWORD' },
  tenant: 'acme',
  credentialsTarget: { kind: 'file', path: '/tmp/dbops-input-validation.json' },
};
const peer = { databaseId: 'db-1', region: 'us-east-1', vpcId: 'vpc-0abc12345def67890', cloud: { kind: 'aws' } };

interface Outcome {
  failure: ApplicationFailure;
  status: string;
  ms: number;
  activitiesScheduled: number;
  progress: Progress;
  handle: WorkflowHandle;
}

async function runInvalid(workflowType: string, input: unknown): Promise<Outcome> {
  const started = Date.now();
  const handle = await t.client.workflow.start(workflowType, {
    workflowId: uniqueName(`invalid-${workflowType}`),
    taskQueue: t.taskQueue,
    args: [input],
  });
  const err = await handle.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  const ms = Date.now() - started;
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const failure = (err as WorkflowFailedError).cause as ApplicationFailure;
  expect(failure).toBeInstanceOf(ApplicationFailure);
  const history = await handle.fetchHistory();
  const activitiesScheduled = (history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes).length;
  const status = (await handle.describe()).status.name;
  const progress = await handle.query<Progress>('progress');
  return { failure, status, ms, activitiesScheduled, progress, handle };
}

function expectInvalid(o: Outcome, message: RegExp): void {
  expect(o.status).toBe('FAILED'); // not TERMINATED
  expect(o.failure.type).toBe('InvalidInput');
  expect(o.failure.nonRetryable).toBe(true);
  expect(o.failure.message).toMatch(message);
  expect(o.activitiesScheduled).toBe(0);
  expect(o.ms).toBeLessThan(10_000);
}

test('the janitor refuses a misspelt dryRun instead of deleting for real', async () => {
  const o = await runInvalid('cleanupRefreshClones', { region: 'us-east-1', dryrun: true });
  expectInvalid(o, /^invalid input: input: Unrecognized key: "dryrun"$/);
  expect(o.progress.stages.every((s) => s.status === 'pending')).toBe(true);
  expect(calls).toEqual([]);
});

test('a 100 000-character id fails validation (not the server) in every workflow type, naming the field', async () => {
  const cases: Array<[string, unknown, RegExp, string]> = [
    ['cleanupRefreshClones', { region: HUGE }, /^invalid input: region: must be at most 32 characters$/, ''],
    [
      'provisionDatabase',
      { ...provision, tenant: HUGE },
      /^stage "validate" failed: invalid input: tenant: must be at most 200 characters$/,
      'validate',
    ],
    [
      'deprovisionDatabase',
      {
        ...provision,
        credentialsTarget: undefined,
        reclaimPolicy: 'retain',
        server: { ...provision.server, host: HUGE },
      },
      /^stage "validate" failed: invalid input: server\.host: must be at most 253 characters$/,
      'validate',
    ],
    [
      'rotateDatabaseCredentials',
      { ...provision, gracePeriod: HUGE },
      /^stage "validate" failed: invalid input: gracePeriod: must be at most \d+ characters/,
      'validate',
    ],
    [
      'refreshDblab',
      { ...refresh, source: { ...refresh.source, identifier: HUGE } },
      /^stage "validate" failed: invalid config: source\.identifier: must be at most 63 characters$/,
      'validate',
    ],
    [
      'scheduledRefreshDblab',
      { ...refresh, dblab: HUGE },
      /^stage "validate" failed: invalid config: dblab: must be at most 63 characters$/,
      'validate',
    ],
    [
      'peerVpc',
      { ...peer, databaseId: HUGE },
      /^stage "prepare" failed: invalid input: databaseId: must be at most 128 characters$/,
      'prepare',
    ],
    [
      'unpeerVpc',
      { ...peer, vpcId: HUGE },
      /^stage "prepare" failed: invalid input: vpcId: must be at most 21 characters$/,
      'prepare',
    ],
    [
      'peerVpc',
      { ...peer, plan: true, expectPlan: { fingerprint: HUGE } },
      /^stage "prepare" failed: invalid input: expectPlan\.fingerprint: must be at most 72 characters/,
      'prepare',
    ],
    [
      'reconcilePeering',
      { ...peer, reportOnly: true, vpcId: HUGE },
      /^stage "validate" failed: invalid input: vpcId: must be at most 21 characters$/,
      'validate',
    ],
    [
      'createDatabaseNetwork',
      { ...peer, cloud: undefined, zoneName: HUGE },
      /^stage "plan-cidr" failed: invalid input: zoneName: must be at most 253 characters$/,
      'plan-cidr',
    ],
    [
      'deleteDatabaseNetwork',
      { ...peer, cloud: undefined, databaseId: HUGE },
      /^stage "prepare" failed: invalid input: databaseId: must be at most 128 characters$/,
      'prepare',
    ],
  ];
  for (const [type, input, message, stage] of cases) {
    const o = await runInvalid(type, input);
    expectInvalid(o, message);
    // the target shown (and indexed) is cut short, and the failing stage is the validating one
    expect(o.progress.target.length).toBeLessThanOrEqual(200);
    if (stage) {
      expect(o.progress.stages.find((s) => s.name === stage)?.status).toBe('failed');
      expect(o.failure.details).toEqual([{ stage }]);
    }
  }
  expect(calls).toEqual([]);
});

test('an AWS region name AWS does not have (us-eest-1) is refused at validation in every workflow that takes a region', async () => {
  const unknown = /must be an AWS region: "us-eest-1" is not one \(did you mean us-east-1\?\)/;
  const cases: Array<[string, unknown, string]> = [
    ['cleanupRefreshClones', { region: 'us-eest-1' }, ''],
    ['provisionDatabase', { ...provision, server: { ...provision.server, iam: { region: 'us-eest-1' } } }, 'validate'],
    [
      'deprovisionDatabase',
      {
        ...provision,
        reclaimPolicy: 'retain',
        credentialsTarget: { kind: 'aws-secretsmanager', name: 's', region: 'us-eest-1' },
      },
      'validate',
    ],
    ['refreshDblab', { ...refresh, aws: { region: 'us-eest-1' } }, 'validate'],
    ['scheduledRefreshDblab', { ...refresh, aws: { region: 'us-eest-1' } }, 'validate'],
    ['peerVpc', { ...peer, region: 'us-eest-1' }, 'prepare'],
    ['unpeerVpc', { ...peer, cloud: { kind: 'aws', region: 'us-eest-1' } }, 'prepare'],
    ['createDatabaseNetwork', { ...peer, cloud: undefined, region: 'us-eest-1' }, 'plan-cidr'],
    ['deleteDatabaseNetwork', { ...peer, cloud: undefined, region: 'us-eest-1' }, 'prepare'],
  ];
  for (const [type, input, stage] of cases) {
    const o = await runInvalid(type, input);
    expect([type, o.status, o.failure.type, o.failure.nonRetryable]).toEqual([type, 'FAILED', 'InvalidInput', true]);
    expect(o.failure.message).toMatch(unknown);
    expect(o.activitiesScheduled).toBe(0);
    if (stage) expect(o.progress.stages.find((s) => s.name === stage)?.status).toBe('failed');
    // the run records the marker of its workflow's known-regions patch (so a replay takes this branch)
    const history = await o.handle.fetchHistory();
    const markers = (history.events ?? []).flatMap(
      (e) =>
        e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads?.map((p) =>
          Buffer.from(p.data ?? []).toString(),
        ) ?? [],
    );
    expect([type, markers.some((m) => m.includes('-known-regions'))]).toEqual([type, true]);
  }
  expect(calls).toEqual([]);
});
