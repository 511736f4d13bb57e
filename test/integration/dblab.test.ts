/**
 * refreshDblab and cleanupRefreshClones against moto (RDS/Aurora), the DBLab fake and, for
 * prepare-clone, a throw-away TLS-only PostgreSQL standing in for the clone (an endpoint resolver
 * maps the clone's fake host name to it; its certificate names *.aaaaaaaaaa.us-east-1.rds.amazonaws.com,
 * moto's endpoints, and is signed by the test CA given to the worker as the clone CA).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { CreateDBInstanceCommand, DeleteDBInstanceCommand } from '@aws-sdk/client-rds';
import { ApplicationFailure } from '@temporalio/common';
import { ScheduleOverlapPolicy, WorkflowExecutionAlreadyStartedError, WorkflowFailedError } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { Client as PgClient } from 'pg';
import type { Progress } from '../../src/api';
import { createActivities } from '../../src/activities';
import { cloneTlsOptions, derivePassword } from '../../src/activities/clone-prepare';
import { createRdsActivities } from '../../src/activities/rds';
import { retiredPassword } from '../../src/activities/dblab';
import { CLONE_PREFIX, cloneTags, MANAGED_BY, planRefresh } from '../../src/domain/dblab-config';
import type { RefreshResult } from '../../src/workflows/refresh-dblab';
import type { CleanupResult } from '../../src/workflows/cleanup-refresh-clones';
import type { ScheduledRefreshResult } from '../../src/workflows/scheduled-refresh-dblab';
import { DblabFake, ERR_NO_AVAILABLE_POOL } from '../fixtures/dblab-fake';
import { bindDblab, testConfig } from '../helpers/activities';
import { countingAws, fixtureAws, type CallLog } from '../helpers/aws-fixtures';
import {
  clustersNamed,
  DBLAB_TOKEN,
  instancesNamed,
  makeAuroraSource,
  makeManualSnapshots,
  makeRdsSource,
  refreshConfig,
  SOURCE_PASSWORD,
} from '../helpers/dblab-fixtures';
import { VENV_BIN } from '../helpers/stack';
import { makeWorker, openTestEnv, recordHistory, testAddress, uniqueName, type TestEnv } from '../helpers/temporal';
import { startTlsPostgres, tlsPostgresUnavailable, type TlsPostgres } from '../helpers/tls-postgres';
import { until } from '../helpers/worker-process';

const fx = fixtureAws();
let t: TestEnv;
let worker: Worker;
let running: Promise<void>;
let log: CallLog;
let fake: DblabFake;
/** The worker's configuration: each DBLab fake's endpoint is bound to the test token when it starts. */
const workerCfg = testConfig();

/** The clones' PostgreSQL (TLS only, trust logins), or undefined when it cannot run here. */
const clonePgSkip = tlsPostgresUnavailable();
if (clonePgSkip) console.warn(`prepare-clone test skipped: ${clonePgSkip}`);
const CLONE_DOMAIN = 'aaaaaaaaaa.us-east-1.rds.amazonaws.com';
let clonePg: TlsPostgres | undefined;
const clonePgClient = () =>
  new PgClient({
    host: '127.0.0.1',
    port: clonePg!.port,
    user: 'postgres',
    database: 'postgres',
    ssl: cloneTlsOptions(`any.${CLONE_DOMAIN}`, fs.readFileSync(clonePg!.caFile, 'utf8')),
  });

beforeAll(async () => {
  clonePg = clonePgSkip ? undefined : await startTlsPostgres({ serverName: `*.${CLONE_DOMAIN}` });
  t = await openTestEnv();
  const counted = countingAws();
  log = counted.log;
  const sqlEndpoint = (host: string, port: number) =>
    host.endsWith('.amazonaws.com') && clonePg ? { host: '127.0.0.1', port: clonePg.port } : { host, port };
  const cloneCa = clonePg && fs.readFileSync(clonePg.caFile, 'utf8');
  worker = await makeWorker(
    t,
    createActivities({
      env: { DBLAB_TOKEN, SRC_PW: SOURCE_PASSWORD },
      aws: counted.aws,
      sqlEndpoint,
      cloneCa,
      temporal: t.client,
      config: workerCfg,
    }),
  );
  running = worker.run();
});
afterAll(async () => {
  worker.shutdown();
  await running;
  await t.close();
  await clonePg?.stop();
});
beforeEach(async () => {
  fake = new DblabFake({ token: DBLAB_TOKEN });
  await fake.start();
  bindDblab(workerCfg, fake.url);
  log.reset();
});
afterEach(async () => fake.stop());

async function refresh(config: object, id = uniqueName('refresh')) {
  const h = await t.client.workflow.start('refreshDblab', { workflowId: id, taskQueue: t.taskQueue, args: [config] });
  const result = await h.result().catch((e: unknown) => e);
  const progress = await h.query<Progress>('progress');
  return {
    h,
    result,
    progress,
    failure: result instanceof WorkflowFailedError ? result.cause?.message : undefined,
    statuses: Object.fromEntries(progress.stages.map((s) => [s.name, s.status])),
  };
}

const restores = () => log.calls.filter((c) => /^Restore/.test(c.command)).length;
/** The fake's source before any run: what restore-dblab must put back. */
const ORIGINAL_SOURCE = {
  host: 'dblab-source.example.internal',
  port: 5432,
  dbname: 'postgres',
  username: 'dblab_source_user',
};
const ORIGINAL_SOURCE_PASSWORD = 'original-source-password';
/** Drops the DBLab login prepare-clone made on the test's clone server. */
async function dropCloneRole(role: string): Promise<void> {
  const c = clonePgClient();
  await c.connect();
  await c.query(`DROP OWNED BY "${role}"`).catch(() => undefined);
  await c.query(`DROP ROLE IF EXISTS "${role}"`);
  await c.end();
}
const cloneOf = (p: Progress) => p.stages.find((s) => s.name === 'create-clone')!.detail!.split(' ')[1];

(clonePgSkip ? test.skip : test)(
  'RDS full cycle with prepare-clone: newest automated snapshot, DBLab pointed at the clone with its own user, clone deleted',
  async () => {
    const source = await makeRdsSource(fx);
    const dblabUser = uniqueName('dblab_reader').replace(/-/g, '_');
    const config = refreshConfig({ source, apiEndpoint: fake.url, extra: {} });
    (config.clone as Record<string, unknown>).prepare = { dblabUser };
    const r = await refresh(config);
    try {
      expect(r.failure).toBeUndefined();
      expect(r.statuses).toEqual({
        validate: 'done',
        'check-dblab': 'done',
        'find-snapshot': 'done',
        'create-clone': 'done',
        'wait-clone': 'done',
        'prepare-clone': 'done',
        'configure-dblab': 'done',
        'full-refresh': 'done',
        'wait-refresh': 'done',
        'restore-dblab': 'done',
        'delete-clone': 'done',
      });
      const res = r.result as RefreshResult;
      expect(res).toMatchObject({ outcome: 'refreshed', dblabHost: new URL(fake.url).host });
      expect(res.snapshot).toMatch(new RegExp(`^rds:${source}-`));
      expect(res.clone).toMatch(/^dblab-refresh-\d{8}-\d{6}-[0-9a-f]{10}$/);
      await recordHistory(r.h.workflowId, 'refresh-dblab-rds-prepare');
      expect(await instancesNamed(fx, res.clone!)).toEqual([]);
      expect(fake.refreshesStarted).toBe(1);
      const conn = (fake.configs[0] as any).retrieval.spec.logicalDump.options.source.connection;
      expect(conn).toMatchObject({
        host: `${res.clone}.aaaaaaaaaa.us-east-1.rds.amazonaws.com`,
        port: 5432,
        dbname: 'postgres',
        username: dblabUser,
      });
      expect(conn.password).toBe(derivePassword(DBLAB_TOKEN, res.clone!, 'dblab-user'));
      expect(conn.password).not.toBe(SOURCE_PASSWORD); // production credentials not needed
      const c = clonePgClient();
      await c.connect();
      const member = await c.query("select pg_has_role($1, 'pg_read_all_data', 'MEMBER') as m", [dblabUser]);
      await c.end();
      expect(member.rows[0].m).toBe(true);
      // the clone was tagged for the janitor (the input of the create-clone activity, from history)
      const created = (await r.h.fetchHistory()).events!.find(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'rdsCreateClone',
      )!;
      const payload = created.activityTaskScheduledEventAttributes!.input!.payloads![1];
      const tags = Object.fromEntries(
        (JSON.parse(Buffer.from(payload.data!).toString()).tags as Array<{ Key: string; Value: string }>).map((x) => [
          x.Key,
          x.Value,
        ]),
      );
      expect(tags).toMatchObject({
        team: 'data',
        ManagedBy: 'dbops-dblab-refresh',
        AutoDelete: 'true',
        'dbops:workflow-id': r.h.workflowId,
      });
      expect(Date.parse(tags.DeleteAfter) - Date.now()).toBeGreaterThan(47 * 3_600_000);
    } finally {
      await dropCloneRole(dblabUser);
    }
  },
);

(clonePgSkip ? test.skip : test)(
  "prepare-clone: a failed refresh whose alert quotes the clone login's password shows it scrubbed, in the failure and the history",
  async () => {
    const source = await makeRdsSource(fx);
    const dblabUser = uniqueName('dblab_reader').replace(/-/g, '_');
    const config = refreshConfig({ source, apiEndpoint: fake.url, extra: {} });
    (config.clone as Record<string, unknown>).prepare = { dblabUser };
    fake.failWith = 'pg_dump: error: connection to server failed: "password={password}" rejected';
    const r = await refresh(config);
    try {
      expect(r.statuses['wait-refresh']).toBe('failed');
      const clone = cloneOf(r.progress);
      const posted = derivePassword(DBLAB_TOKEN, clone, 'dblab-user');
      expect(fake.alerts.refresh_failed.message).toContain(posted); // DBLab really quoted it
      expect(r.failure).toContain('"password=***" rejected');
      const history = JSON.stringify(await r.h.fetchHistory());
      expect(history).toContain('***');
      expect(history).not.toContain(posted);
      expect(JSON.stringify(r.progress)).not.toContain(posted);
    } finally {
      await dropCloneRole(dblabUser);
    }
  },
);

test('Aurora full cycle from an explicit cluster snapshot: cluster and instance restored, then both deleted', async () => {
  const { cluster, snapshot } = await makeAuroraSource(fx);
  const config = refreshConfig({ source: cluster, apiEndpoint: fake.url, type: 'aurora-cluster' });
  (config.source as Record<string, unknown>).snapshotIdentifier = snapshot;
  const r = await refresh(config);
  expect(r.failure).toBeUndefined();
  const res = r.result as RefreshResult;
  expect(res.snapshot).toBe(snapshot);
  expect(log.mutating()).toEqual(
    expect.arrayContaining(['RestoreDBClusterFromSnapshot', 'CreateDBInstance', 'DeleteDBInstance', 'DeleteDBCluster']),
  );
  expect(log.mutating().indexOf('DeleteDBInstance')).toBeLessThan(log.mutating().indexOf('DeleteDBCluster'));
  expect(await clustersNamed(fx, res.clone!)).toEqual([]);
  await recordHistory(r.h.workflowId, 'refresh-dblab-aurora');
  expect(await instancesNamed(fx, res.clone!)).toEqual([]);
  expect((fake.configs[0] as any).retrieval.spec.logicalDump.options.source.connection.host).toMatch(
    new RegExp(`^${res.clone}\\.cluster-`),
  );
});

test('latest snapshot: the newest available one of the configured type', async () => {
  const source = await makeRdsSource(fx);
  const manual = await makeManualSnapshots(fx, source, 2);
  const config = refreshConfig({ source, apiEndpoint: fake.url });
  (config.source as Record<string, unknown>).snapshotType = 'manual';
  const r = await refresh(config);
  expect(r.failure).toBeUndefined();
  expect((r.result as RefreshResult).snapshot).toBe(manual[1]);
});

test.each([
  [
    'configure-dblab refused',
    (f: DblabFake) => void (f.configChangesEnabled = false),
    'configure-dblab',
    /DBLab refused the configuration change: configuration changes are disabled/,
  ],
  [
    'full-refresh refused',
    (f: DblabFake) => void (f.refuseTrigger = true),
    'full-refresh',
    /DBLab would not start a full refresh: Pool to perform full refresh not found. Skip refreshing/,
  ],
  [
    'refresh fails with an alert',
    (f: DblabFake) => void (f.failWith = 'pg_dump: connection to clone refused'),
    'wait-refresh',
    /DBLab refresh failed: pg_dump: connection to clone refused/,
  ],
  [
    'stale finished, refresh never starts',
    (f: DblabFake) => void (f.ignoreTrigger = true),
    'wait-refresh',
    /DBLab did not start the refresh within 3s of the trigger \(status still "finished", lastRefresh 2020-01-01T00:00:00Z\)/,
  ],
])('%s: the run fails at that stage and still deletes the clone', async (_name, arrange, stage, message) => {
  const source = await makeRdsSource(fx);
  arrange(fake);
  const r = await refresh(refreshConfig({ source, apiEndpoint: fake.url }));
  expect(r.failure).toMatch(new RegExp(`^stage "${stage}" failed: `));
  expect(r.failure).toMatch(message);
  expect(r.statuses[stage]).toBe('failed');
  expect(r.statuses['delete-clone']).toBe('done');
  expect(restores()).toBe(1);
  const clone = r.progress.stages.find((s) => s.name === 'create-clone')!.detail!.split(' ')[1];
  expect(await instancesNamed(fx, clone)).toEqual([]);
});

test('cancelled while waiting for the refresh: the clone is still deleted and the run ends cancelled', async () => {
  const source = await makeRdsSource(fx);
  const f2 = new DblabFake({ token: DBLAB_TOKEN, pollsPerPhase: 100000 });
  await f2.start();
  bindDblab(workerCfg, f2.url);
  try {
    const h = await t.client.workflow.start('refreshDblab', {
      workflowId: uniqueName('cancel'),
      taskQueue: t.taskQueue,
      args: [refreshConfig({ source, apiEndpoint: f2.url })],
    });
    for (let i = 0; i < 200; i++) {
      const p = await h.query<Progress>('progress');
      if (p.stages.find((s) => s.name === 'wait-refresh')?.status === 'running') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await h.cancel();
    const err = await h.result().catch((e: unknown) => e);
    expect((err as WorkflowFailedError).cause?.name).toBe('CancelledFailure');
    expect((await h.describe()).status.name).toBe('CANCELLED');
    const p = await h.query<Progress>('progress');
    expect(p.stages.find((s) => s.name === 'delete-clone')?.status).toBe('done');
    const clone = p.stages.find((s) => s.name === 'create-clone')!.detail!.split(' ')[1];
    expect(await instancesNamed(fx, clone)).toEqual([]);
  } finally {
    await f2.stop();
  }
});

test('one refresh per DBLab across the schedule and manual runs; cancelling a scheduled run deletes its clone', async () => {
  const source = await makeRdsSource(fx);
  const slow = new DblabFake({ token: DBLAB_TOKEN, pollsPerPhase: 100000 }); // a refresh that ends when told
  await slow.start();
  bindDblab(workerCfg, slow.url);
  const config = refreshConfig({ source, apiEndpoint: slow.url });
  const host = new URL(slow.url).host;
  const refreshId = `refresh-dblab:${host}`;
  const sid = uniqueName('refresh-sched');
  // what `dbops refresh schedule` creates (its own test checks that)
  await t.client.schedule.create({
    scheduleId: sid,
    spec: { cronExpressions: ['0 2 * * 0'] },
    action: {
      type: 'startWorkflow',
      workflowType: 'scheduledRefreshDblab',
      workflowId: `scheduled-refresh-dblab:${host}`,
      taskQueue: t.taskQueue,
      args: [config],
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP },
  });
  const schedule = t.client.schedule.getHandle(sid);
  const fire = async (n: number) => {
    await schedule.trigger();
    await until(async () => (await schedule.describe()).info.recentActions.length === n, `scheduled run ${n}`);
    const w = (await schedule.describe()).info.recentActions[n - 1].action.workflow;
    return t.client.workflow.getHandle(w.workflowId, w.firstExecutionRunId);
  };
  const stages = async (h: { query: <T>(name: string) => Promise<T> }) =>
    Object.fromEntries((await h.query<Progress>('progress')).stages.map((x) => [x.name, x.status]));
  try {
    // A manual refresh (the id `dbops refresh` uses) is running when the schedule fires.
    const manual = await t.client.workflow.start('refreshDblab', {
      workflowId: refreshId,
      taskQueue: t.taskQueue,
      args: [config],
    });
    await until(() => restores() === 1, 'the manual run to restore its clone');
    const first = await fire(1);
    expect(first.workflowId).toMatch(new RegExp(`^scheduled-refresh-dblab:${host.replace(/[.]/g, '\\.')}-`));
    expect(await first.result()).toEqual({
      outcome: 'skipped',
      dblabHost: host,
      refreshWorkflowId: refreshId,
      reason: `another refresh of ${host} is running (${refreshId})`,
    } satisfies ScheduledRefreshResult);
    expect(await stages(first)).toEqual({ validate: 'done', 'start-refresh': 'skipped', refresh: 'skipped' });
    await recordHistory(first.workflowId, 'scheduled-refresh-dblab-skipped');
    expect(restores()).toBe(1);
    slow.pollsPerPhase = 1; // let the manual refresh finish
    expect(await manual.result()).toMatchObject({ outcome: 'refreshed' });
    slow.pollsPerPhase = 100000;

    // Nothing running: the scheduled run refreshes as refresh-dblab:<host>, so a manual start is refused.
    const second = await fire(2);
    const child = t.client.workflow.getHandle(refreshId);
    await until(
      async () =>
        (await child.describe()).runId !== manual.firstExecutionRunId &&
        (await stages(child))['wait-refresh'] === 'running',
      'the scheduled refresh to wait',
    );
    expect((await stages(second))['start-refresh']).toBe('done');
    const refused = await t.client.workflow
      .start('refreshDblab', { workflowId: refreshId, taskQueue: t.taskQueue, args: [config] })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(WorkflowExecutionAlreadyStartedError);
    expect(restores()).toBe(2);

    // Cancelling the scheduled run cancels the refresh, which still deletes its clone.
    await second.cancel();
    const err = await second.result().catch((e: unknown) => e);
    expect((err as WorkflowFailedError).cause?.name).toBe('CancelledFailure');
    await recordHistory(second.workflowId, 'scheduled-refresh-dblab-cancelled');
    expect((await child.describe()).status.name).toBe('CANCELLED');
    const p = await child.query<Progress>('progress');
    expect(p.stages.find((x) => x.name === 'delete-clone')?.status).toBe('done');
    const clone = p.stages.find((x) => x.name === 'create-clone')!.detail!.split(' ')[1];
    expect(await instancesNamed(fx, clone)).toEqual([]);
    expect(slow.refreshesStarted).toBe(2);
  } finally {
    await schedule.delete();
    await slow.stop();
  }
});

test('a clone name owned by another run is never adopted or deleted; a restore race is retried, then refused', async () => {
  const source = await makeRdsSource(fx);
  const aws = countingAws().aws; // own clients: this test adds a middleware to them
  const rds = createRdsActivities({ aws });
  const plan = planRefresh(refreshConfig({ source, apiEndpoint: fake.url }));
  const snapshot = await rds.rdsFindSnapshot(plan);
  const tags = (runId: string) =>
    cloneTags({ workflowId: 'refresh-dblab:elsewhere', runId, createdAt: new Date(), maxAgeMs: 3_600_000 });
  const makeInstance = (id: string, runId: string) =>
    fx.rds('us-east-1').send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: id,
        Engine: 'postgres',
        DBInstanceClass: 'db.t3.medium',
        MasterUsername: 'u',
        MasterUserPassword: 'other-pw-1234',
        AllocatedStorage: 20,
        Tags: tags(runId),
      }),
    );
  const taken = `${CLONE_PREFIX}${uniqueName('taken')}`;
  const raced = `${CLONE_PREFIX}${uniqueName('raced')}`;
  try {
    // Another run's clone has the name this run picked.
    await makeInstance(taken, 'other-run');
    const err = await rds
      .rdsCreateClone(plan, { identifier: taken, snapshot, tags: tags('my-run') })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'CloneNameTaken', nonRetryable: true });
    expect((err as Error).message).toBe(
      `an RDS instance named ${taken} already exists and is not this run's clone (its dbops:run-id tag is "other-run"); nothing was changed`,
    );
    expect(await rds.rdsDeleteClone(plan, taken, { runId: 'my-run' })).toEqual({
      changed: false,
      detail: `instance ${taken} is not this run's clone (its dbops:run-id tag is other-run); left alone`,
    });
    expect(await instancesNamed(fx, taken)).toEqual([taken]);
    // Its own run adopts it (an earlier attempt made it) and deletes it.
    expect(await rds.rdsCreateClone(plan, { identifier: taken, snapshot, tags: tags('other-run') })).toEqual({
      changed: false,
      detail: `instance ${taken} exists`,
    });
    expect(await rds.rdsDeleteClone(plan, taken, { runId: 'other-run' })).toEqual({
      changed: true,
      detail: `deleted ${taken}`,
    });

    // The name is taken between this run's check and its restore (a real race against moto).
    type Mw = (
      next: (a: unknown) => Promise<unknown>,
      ctx: { commandName?: string },
    ) => (args: unknown) => Promise<unknown>;
    const stack = (
      aws.rds('us-east-1') as unknown as {
        middlewareStack: { add(mw: Mw, o: object): void; remove(name: string): boolean };
      }
    ).middlewareStack;
    stack.add(
      (next, ctx) => async (args) => {
        if (ctx.commandName === 'RestoreDBInstanceFromDBSnapshotCommand') await makeInstance(raced, 'other-run');
        return next(args);
      },
      { step: 'initialize', name: 'takeTheNameFirst' },
    );
    const race = await rds
      .rdsCreateClone(plan, { identifier: raced, snapshot, tags: tags('my-run') })
      .catch((e: unknown) => e);
    expect(race).toMatchObject({ type: 'CloneCreateRace', nonRetryable: false });
    stack.remove('takeTheNameFirst');
    // the retry looks again and refuses to adopt it
    const retried = await rds
      .rdsCreateClone(plan, { identifier: raced, snapshot, tags: tags('my-run') })
      .catch((e: unknown) => e);
    expect(retried).toMatchObject({ type: 'CloneNameTaken' });
    expect(await rds.rdsDeleteClone(plan, raced, { runId: 'my-run' })).toMatchObject({ changed: false });
    expect(await instancesNamed(fx, raced)).toEqual([raced]);
  } finally {
    for (const id of [taken, raced]) {
      await fx
        .rds('us-east-1')
        .send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: id, SkipFinalSnapshot: true }))
        .catch(() => undefined);
    }
  }
});

test('a lost reply to POST /full-refresh: the retried attempt finds the refresh it started; one refresh', async () => {
  const source = await makeRdsSource(fx);
  fake.triggerFaults = ['lose-reply'];
  const r = await refresh(refreshConfig({ source, apiEndpoint: fake.url }));
  expect(r.failure).toBeUndefined();
  expect(r.result).toMatchObject({ outcome: 'refreshed' });
  expect(r.progress.stages.find((s) => s.name === 'full-refresh')?.detail).toBe(
    'refresh already started by an earlier attempt',
  );
  expect(fake.refreshesStarted).toBe(1);
  expect(r.statuses['delete-clone']).toBe('done');
});

test("a 503 to POST /full-refresh, then a 400 for another reason: the run fails there with DBLab's reason, and deletes the clone", async () => {
  const source = await makeRdsSource(fx);
  fake.triggerFaults = ['error-before', 'refuse'];
  const r = await refresh(refreshConfig({ source, apiEndpoint: fake.url }));
  expect(r.failure).toBe(
    'stage "full-refresh" failed: DBLab would not start a full refresh: Pool to perform full refresh not found. Skip refreshing',
  );
  expect(r.statuses['wait-refresh']).toBe('pending');
  expect(r.statuses['delete-clone']).toBe('done');
  expect(fake.refreshesStarted).toBe(0);
});

test('DBLab already refreshing: the run ends as skipped, not failed, and makes no clone', async () => {
  const source = await makeRdsSource(fx);
  fake.startOtherRefresh();
  const r = await refresh(refreshConfig({ source, apiEndpoint: fake.url }));
  expect(r.failure).toBeUndefined();
  expect(r.result).toMatchObject({ outcome: 'skipped', reason: 'DBLab is already refreshing (refreshing)' });
  expect(r.statuses['check-dblab']).toBe('skipped');
  expect(restores()).toBe(0);
});

test('transient /status errors and a hung reply do not abort the wait', async () => {
  const source = await makeRdsSource(fx);
  fake.flakyStatusAfterTrigger = [503, 502, 0, 500]; // 0: no reply for 3 s (request timeout is 1 s)
  // The failed polls come before the refresh is seen to start: a start deadline that leaves room for them.
  const r = await refresh(refreshConfig({ source, apiEndpoint: fake.url, startDeadline: '30s' }));
  expect(r.failure).toBeUndefined();
  // A GET is tried 3 times within one poll (src/activities/http.ts): 503, 502 and the hang fail one
  // poll (one transient error, the wait goes on); the 500 is absorbed by the next poll's second try.
  expect((r.result as RefreshResult).transientErrors).toBe(1);
  expect(fake.requests.filter((q) => q.path === '/status' && q.status >= 500).length).toBeGreaterThanOrEqual(3);
});

test('dry run checks everything, creates nothing and reports every problem at once', async () => {
  const source = await makeRdsSource(fx);
  const config = refreshConfig({ source, apiEndpoint: fake.url, extra: { dryRun: true } }) as any;
  config.source.snapshotIdentifier = 'no-such-snapshot';
  config.clone.subnetGroup = 'no-such-subnet-group';
  config.clone.securityGroups = ['sg-0123456789abcdef0'];
  config.clone.parameterGroup = 'no-such-parameter-group';
  config.dblab.token = 'env:WRONG_TOKEN';
  const other = await openTestEnv();
  const w = await makeWorker(
    other,
    createActivities({
      env: { WRONG_TOKEN: 'wrong', SRC_PW: 'x' },
      aws: countingAws().aws,
      // The operator bound a wrong token to this DBLab: the dry run reports DBLab's refusal.
      config: testConfig({
        dblab: {
          wrong: {
            endpoint: fake.url,
            token: 'env:WRONG_TOKEN',
            sourcePassword: 'env:SRC_PW',
            sources: ['us-east-1:*'],
          },
        },
      }),
    }),
  );
  const { result, progress, details, upserts } = await w.runUntil(async () => {
    const h = await other.client.workflow.start('refreshDblab', {
      workflowId: uniqueName('dry'),
      taskQueue: other.taskQueue,
      args: [config],
    });
    const result = await h.result().catch((e: unknown) => e);
    const meta = await h.query<{ currentDetails: string }>('__temporal_workflow_metadata');
    const upserts = ((await h.fetchHistory()).events ?? []).flatMap((e) =>
      Object.values(e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {}).map((v) =>
        Buffer.from(v.data ?? []).toString(),
      ),
    );
    return { result, progress: await h.query<Progress>('progress'), details: meta.currentDetails, upserts };
  });
  await other.close();
  const msg = (result as WorkflowFailedError).cause?.message ?? '';
  expect(msg).toMatch(/^dry run found 5 problem\(s\): /);
  // The checks that found problems are failed (✘), with their problems, in the progress and the Web UI's table.
  expect(progress.stages.find((s) => s.name === 'check-dblab')).toMatchObject({
    status: 'failed',
    error: expect.stringContaining('rejected the verification token'),
  });
  expect(progress.stages.find((s) => s.name === 'find-snapshot')).toMatchObject({
    status: 'failed',
    error: expect.stringContaining('snapshot no-such-snapshot does not exist'),
  });
  expect(details).toMatch(/✘ check-dblab/);
  expect(details).toMatch(/✘ find-snapshot/);
  expect(details).not.toMatch(/✔ (check-dblab|find-snapshot)/);
  expect(upserts).toEqual(expect.arrayContaining(['"check-dblab:failed"', '"find-snapshot:failed"']));
  expect(msg).toContain('rejected the verification token');
  expect(msg).toContain('snapshot no-such-snapshot does not exist');
  expect(msg).toContain('subnet group no-such-subnet-group not found');
  expect(msg).toContain('security group sg-0123456789abcdef0 not found');
  expect(msg).toContain('parameter group no-such-parameter-group not found');
  expect(progress.stages.filter((s) => s.status === 'skipped').map((s) => s.name)).toEqual([
    'create-clone',
    'wait-clone',
    'prepare-clone',
    'configure-dblab',
    'full-refresh',
    'wait-refresh',
    'restore-dblab',
    'delete-clone',
  ]);
  expect(fake.configs).toEqual([]);
});

test('a clean dry run passes and names the snapshot it would use', async () => {
  const source = await makeRdsSource(fx);
  const r = await refresh(refreshConfig({ source, apiEndpoint: fake.url, extra: { dryRun: true } }));
  expect(r.failure).toBeUndefined();
  expect(r.result).toMatchObject({ outcome: 'dry-run-passed' });
  expect((r.result as RefreshResult).snapshot).toMatch(/^rds:/);
  expect(restores()).toBe(0);
  expect(fake.refreshesStarted).toBe(0);
});

test.each([
  [
    'bad duration',
    (c: any) => (c.dblab.timeout = 'four hours'),
    'validate',
    /dblab.timeout: must be a duration like 30s, 10m, 4h or 2d/,
  ],
  ['missing field', (c: any) => delete c.clone.instanceClass, 'validate', /clone.instanceClass/],
  [
    'literal token',
    (c: any) => (c.dblab.token = 'plaintext-token'),
    'validate',
    /dblab.token: must be a secret reference/,
  ],
  [
    'unknown source',
    (c: any) => (c.source.identifier = 'no-such-source'),
    'find-snapshot',
    /source instance no-such-source not found in us-east-1/,
  ],
  [
    'missing snapshot',
    (c: any) => (c.source.snapshotIdentifier = 'nope'),
    'find-snapshot',
    /snapshot nope does not exist/,
  ],
  // Another reference than the one the operator bound to this DBLab: refused before it is resolved.
  [
    'DBLab token not bound to that endpoint',
    (c: any) => (c.dblab.token = 'env:SRC_PW'),
    'check-dblab',
    /dblab.token env:SRC_PW is not bound to DBLab http:\/\/127.0.0.1:\d+ on this worker \(dblab.fake-\d+ binds another token\)/,
  ],
])('bad input (%s) fails before any clone is made', async (_n, mutate, stage, message) => {
  const source = await makeRdsSource(fx);
  const config = refreshConfig({ source, apiEndpoint: fake.url }) as any;
  mutate(config);
  const r = await refresh(config);
  expect(r.failure).toMatch(new RegExp(`^stage "${stage}" failed: `));
  expect(r.failure).toMatch(message);
  expect(restores()).toBe(0);
  expect(r.statuses['delete-clone']).toBe('pending');
});

test('no secret appears in the exported history (token, source password, derived clone passwords)', async () => {
  const source = await makeRdsSource(fx);
  const r = await refresh(refreshConfig({ source, apiEndpoint: fake.url }));
  expect(r.failure).toBeUndefined();
  const clone = (r.result as RefreshResult).clone!;
  const { stdout } = await promisify(execFile)(
    `${VENV_BIN}/temporal`,
    ['workflow', 'show', '-w', r.h.workflowId, '-o', 'json', '--address', testAddress()],
    { maxBuffer: 1 << 24 },
  );
  const payloads = (stdout.match(/"data":\s*"([^"]+)"/g) ?? [])
    .map((m) => Buffer.from(m.split('"')[3], 'base64').toString('latin1'))
    .join('\n');
  expect(payloads).toContain(source); // we really looked inside the payloads
  expect(r.statuses['restore-dblab']).toBe('done');
  for (const secret of [
    DBLAB_TOKEN,
    SOURCE_PASSWORD,
    derivePassword(DBLAB_TOKEN, clone, 'master'),
    derivePassword(DBLAB_TOKEN, clone, 'dblab-user'),
    retiredPassword(DBLAB_TOKEN, clone),
    ORIGINAL_SOURCE_PASSWORD,
  ]) {
    expect(stdout).not.toContain(secret);
    expect(payloads).not.toContain(secret);
  }
});

test('janitor: deletes clones past DeleteAfter or whose run is over; keeps the rest; dry run only lists', async () => {
  const region = 'eu-central-1';
  const rds = fx.rds(region);
  const tag = (workflowId: string, deleteAfter: string, runId = 'r') => [
    { Key: 'ManagedBy', Value: MANAGED_BY },
    { Key: 'DeleteAfter', Value: deleteAfter },
    { Key: 'dbops:workflow-id', Value: workflowId },
    { Key: 'dbops:run-id', Value: runId },
  ];
  const future = new Date(Date.now() + 86_400_000).toISOString();
  const past = new Date(Date.now() - 60_000).toISOString();
  const n = uniqueName('j');
  // a running owner: a fixture workflow waiting for a signal
  const ownerId = uniqueName('owner');
  const owner = await t.client.workflow.start('twoStage', {
    workflowId: ownerId,
    taskQueue: t.taskQueue,
    args: [{ target: 'owner' }],
  });
  const make = (id: string, Tags: Array<{ Key: string; Value: string }>) =>
    rds.send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: id,
        Engine: 'postgres',
        DBInstanceClass: 'db.t3.micro',
        MasterUsername: 'u',
        MasterUserPassword: 'passw0rd1',
        AllocatedStorage: 20,
        Tags,
      }),
    );
  await make(`${CLONE_PREFIX}${n}-expired`, tag(ownerId, past, owner.firstExecutionRunId));
  await make(`${CLONE_PREFIX}${n}-running`, tag(ownerId, future, owner.firstExecutionRunId));
  await make(`${CLONE_PREFIX}${n}-orphan`, tag('refresh-dblab:gone.example:2345', future));
  await make(`${CLONE_PREFIX}${n}-untagged`, [{ Key: 'DeleteAfter', Value: past }]);
  await make(`other-${n}`, tag('x', past));

  let lastJanitor = '';
  const janitor = async (dryRun: boolean) =>
    (await t.client.workflow.execute('cleanupRefreshClones', {
      workflowId: (lastJanitor = uniqueName('janitor')),
      taskQueue: t.taskQueue,
      args: [{ region, dryRun }],
    })) as CleanupResult;
  const dry = await janitor(true);
  expect(
    dry.deleted
      .map((d) => d.identifier)
      .filter((i) => i.includes(n))
      .sort(),
  ).toEqual([`${CLONE_PREFIX}${n}-expired`, `${CLONE_PREFIX}${n}-orphan`]);
  expect(dry.kept.find((k) => k.identifier.endsWith(`${n}-running`))?.reason).toBe(
    `its run of ${ownerId} is still running`,
  );
  expect((await instancesNamed(fx, CLONE_PREFIX + n, region)).length).toBe(4);

  const real = await janitor(false);
  await recordHistory(lastJanitor, 'cleanup-refresh-clones');
  expect(real.deleted.find((d) => d.identifier.endsWith('-orphan'))?.reason).toBe(
    'its run of refresh-dblab:gone.example:2345 is not found',
  );
  expect((await instancesNamed(fx, CLONE_PREFIX + n, region)).sort()).toEqual([
    `${CLONE_PREFIX}${n}-running`,
    `${CLONE_PREFIX}${n}-untagged`,
  ]);
  expect(await instancesNamed(fx, `other-${n}`, region)).toEqual([`other-${n}`]);
  await owner.signal('release', {});
});

describe('issue 13: pool pre-check, failures at once, DBLab left clean, numbers', () => {
  test('every pool holds clones: skipped at check-dblab with the reason, before any AWS call', async () => {
    const source = await makeRdsSource(fx);
    fake.pools.push({ ...fake.pools[0], name: 'dblab_pool_2', status: 'empty' });
    fake.holdClones();
    log.reset();
    const r = await refresh(refreshConfig({ source, apiEndpoint: fake.url }));
    expect(r.failure).toBeUndefined();
    expect(r.result).toMatchObject({
      outcome: 'skipped',
      reason:
        'every DBLab pool holds clones (dblab_pool_1: 1 clone(s), dblab_pool_2: 1 clone(s)): DBLab refreshes only a pool without clones',
    });
    expect(r.statuses['check-dblab']).toBe('skipped');
    expect(r.statuses['restore-dblab']).toBe('skipped');
    expect(log.calls).toEqual([]); // no AWS call at all
    expect(fake.requests.filter((q) => q.method === 'POST')).toEqual([]);

    // A pool without clones: the same DBLab refreshes.
    fake.pools[1].cloneList = [];
    const ok = await refresh(refreshConfig({ source, apiEndpoint: fake.url }));
    expect(ok.result).toMatchObject({ outcome: 'refreshed' });
    expect(ok.progress.stages.find((s) => s.name === 'check-dblab')?.detail).toContain(
      'pools: dblab_pool_1 1 clone(s), dblab_pool_2 0 clone(s)',
    );
  });

  test('the dry run reports a DBLab that would refuse as a problem', async () => {
    const source = await makeRdsSource(fx);
    fake.holdClones();
    const r = await refresh(refreshConfig({ source, apiEndpoint: fake.url, extra: { dryRun: true } }));
    expect(r.failure).toBe(
      'dry run found 1 problem(s): (1) every DBLab pool holds clones (dblab_pool_1: 1 clone(s)): ' +
        'DBLab refreshes only a pool without clones: a refresh now would be skipped',
    );
    expect(restores()).toBe(0);
  });

  test('a refresh that fails at once fails the run at the next poll with the alert, not at a deadline', async () => {
    const source = await makeRdsSource(fx);
    // An alert left by an earlier failed refresh: older than the trigger, so not this run's.
    fake.status = 'failed';
    fake.addAlert('refresh_failed', 'an earlier refresh failed');
    fake.failAtOnce = 'pg_dump: error: connection to server failed: FATAL: password authentication failed';
    // Deadlines far beyond what the test takes: only the alert can end the wait.
    const config = refreshConfig({ source, apiEndpoint: fake.url, startDeadline: '10m' }) as any;
    config.dblab.timeout = '20m';
    const r = await refresh(config);
    expect(r.failure).toBe(
      'stage "wait-refresh" failed: DBLab refresh failed: pg_dump: error: connection to server failed: FATAL: password authentication failed',
    );
    const trigger = fake.requests.findIndex((q) => q.path === '/full-refresh');
    expect(fake.requests.slice(trigger).filter((q) => q.path === '/status')).toHaveLength(1); // the first poll
    expect(fake.alerts.refresh_failed.count).toBe(2);
    expect(r.statuses['restore-dblab']).toBe('done');
    expect(r.statuses['delete-clone']).toBe('done');
    expect(fake.source.connection).toMatchObject(ORIGINAL_SOURCE);
    expect(await instancesNamed(fx, cloneOf(r.progress))).toEqual([]);
  });

  test('a stale refresh_failed alert from an earlier refresh does not fail this one', async () => {
    const source = await makeRdsSource(fx);
    fake.status = 'failed';
    fake.addAlert('refresh_failed', 'an earlier refresh failed');
    const r = await refresh(refreshConfig({ source, apiEndpoint: fake.url, startDeadline: '30s' }));
    expect(r.failure).toBeUndefined();
    expect(r.result).toMatchObject({ outcome: 'refreshed' });
    expect(fake.alerts).toEqual({}); // cleared by the successful refresh
  });

  test("DBLab's clock 10 minutes ahead: an alert from before the trigger is not this run's; the refresh completes", async () => {
    const source = await makeRdsSource(fx);
    fake.clockAheadMs = 10 * 60_000;
    fake.status = 'failed';
    fake.addAlert('refresh_failed', 'an earlier refresh failed');
    // Seen a minute before this test, in DBLab's clock: 9 minutes "after" the host's now. (DBLab's
    // Date header has whole seconds, so an alert within a second of the trigger cannot be told apart.)
    fake.alerts.refresh_failed.lastSeen = new Date(Date.now() + 9 * 60_000).toISOString();
    const r = await refresh(refreshConfig({ source, apiEndpoint: fake.url, startDeadline: '30s' }));
    expect(r.failure).toBeUndefined();
    expect(r.result).toMatchObject({ outcome: 'refreshed' });
  });

  test("DBLab's clock 10 minutes behind: a refresh that fails at once still fails at the next poll", async () => {
    const source = await makeRdsSource(fx);
    fake.clockAheadMs = -10 * 60_000;
    fake.failAtOnce = 'pg_dump: error: out of disk space';
    const config = refreshConfig({ source, apiEndpoint: fake.url, startDeadline: '10m' }) as any;
    config.dblab.timeout = '20m';
    const r = await refresh(config);
    expect(r.failure).toBe('stage "wait-refresh" failed: DBLab refresh failed: pg_dump: error: out of disk space');
    const trigger = fake.requests.findIndex((q) => q.path === '/full-refresh');
    expect(fake.requests.slice(trigger).filter((q) => q.path === '/status')).toHaveLength(1);
  });

  test('DBLab skips the refresh after the trigger: the run ends skipped with its reason; DBLab restored, clone deleted', async () => {
    const source = await makeRdsSource(fx);
    fake.skipAfterTrigger = true;
    const config = refreshConfig({ source, apiEndpoint: fake.url, startDeadline: '10m' }) as any;
    config.dblab.timeout = '20m';
    const r = await refresh(config);
    expect(r.failure).toBeUndefined();
    expect(r.result).toMatchObject({
      outcome: 'skipped',
      reason: `DBLab skipped the refresh: ${ERR_NO_AVAILABLE_POOL}`,
    });
    expect(r.statuses).toMatchObject({ 'wait-refresh': 'skipped', 'restore-dblab': 'done', 'delete-clone': 'done' });
    expect(fake.source.connection).toMatchObject(ORIGINAL_SOURCE);
    expect(await instancesNamed(fx, cloneOf(r.progress))).toEqual([]);
  });

  test('after a refresh DBLab names its own source again, and no password dbops wrote is left in its config', async () => {
    const source = await makeRdsSource(fx);
    const r = await refresh(refreshConfig({ source, apiEndpoint: fake.url }));
    expect(r.failure).toBeUndefined();
    const clone = (r.result as RefreshResult).clone!;
    // configure-dblab pointed DBLab at the clone with the source password …
    expect((fake.configs[0] as any).retrieval.spec.logicalDump.options.source.connection).toMatchObject({
      host: expect.stringContaining(clone),
      password: SOURCE_PASSWORD,
    });
    // … restore-dblab put the source back and wrote over that password
    expect(fake.configs).toHaveLength(2);
    expect(fake.source.connection).toEqual({ ...ORIGINAL_SOURCE, password: retiredPassword(DBLAB_TOKEN, clone) });
    expect(r.progress.stages.find((s) => s.name === 'restore-dblab')?.detail).toBe(
      'source set back to dblab-source.example.internal:5432/postgres as dblab_source_user; ' +
        'the password dbops wrote replaced (DBLab never returns the original)',
    );
    expect(fake.requests.filter((q) => q.path === '/admin/config').map((q) => q.method)).toEqual([
      'GET',
      'POST',
      'POST',
    ]);
  });

  test.each([
    ['a masked password in GET /admin/config', 'mask' as const, ORIGINAL_SOURCE.host],
    ['a DBLab without GET /admin/config', 'none' as const, undefined],
  ])('%s: the refresh runs; nothing masked is kept or written back', async (_n, get, host) => {
    const source = await makeRdsSource(fx);
    fake.adminConfigGet = get;
    fake.failWith = 'pg_restore: out of disk space'; // and the refresh fails: restore runs on that path too
    const r = await refresh(refreshConfig({ source, apiEndpoint: fake.url }));
    expect(r.failure).toMatch(/^stage "wait-refresh" failed: DBLab refresh failed: pg_restore: out of disk space/);
    expect(r.statuses['restore-dblab']).toBe('done');
    const clone = cloneOf(r.progress);
    expect(fake.source.connection.password).toBe(retiredPassword(DBLAB_TOKEN, clone));
    if (host) expect(fake.source.connection.host).toBe(host);
    else {
      // nothing to restore: the documented neutral setting (host left on the deleted clone, password replaced)
      expect(fake.source.connection.host).toContain(clone);
      expect(r.progress.stages.find((s) => s.name === 'restore-dblab')?.detail).toMatch(
        /^DBLab showed no configuration before the refresh: source left on the deleted clone; the password dbops wrote replaced/,
      );
    }
    const history = JSON.stringify(await r.h.fetchHistory());
    expect(history).not.toContain('********');
    expect(history).not.toContain(ORIGINAL_SOURCE_PASSWORD);
  });

  test('the result carries seconds per stage and the clone lifetime, from the run clock', async () => {
    const source = await makeRdsSource(fx);
    const r = await refresh(refreshConfig({ source, apiEndpoint: fake.url }));
    const res = r.result as RefreshResult;
    expect(res.outcome).toBe('refreshed');
    const ran = r.progress.stages.filter((s) => s.startedAt).map((s) => s.name);
    expect(Object.keys(res.stageSeconds!).sort()).toEqual(ran.sort());
    expect(ran).toEqual(expect.arrayContaining(['check-dblab', 'create-clone', 'wait-refresh', 'restore-dblab']));
    for (const s of r.progress.stages.filter((x) => x.startedAt))
      expect(res.stageSeconds![s.name]).toBe((Date.parse(s.finishedAt!) - Date.parse(s.startedAt!)) / 1000);
    const create = r.progress.stages.find((s) => s.name === 'create-clone')!;
    const del = r.progress.stages.find((s) => s.name === 'delete-clone')!;
    expect(res.cloneLifetimeSeconds).toBe((Date.parse(del.finishedAt!) - Date.parse(create.startedAt!)) / 1000);
    expect(res.cloneLifetimeSeconds!).toBeGreaterThanOrEqual(res.stageSeconds!['wait-refresh']);
    await recordHistory(r.h.workflowId, 'refresh-dblab-restore-metrics');
  });
});

describe('security review: what DBLab answers is bounded, cleaned and scrubbed; DBLab never keeps a clone as its source', () => {
  // eslint-disable-next-line no-control-regex -- asserting no control characters is the point
  const CONTROL = /[\x00-\x1f\x7f-\x9f]/;

  test("DBLab pointed at another refresh's clone when read: not kept; restore only replaces the password, and says so", async () => {
    const source = await makeRdsSource(fx);
    const other = `${CLONE_PREFIX}20260101-000000-0123456789.aaaaaaaaaa.us-east-1.rds.amazonaws.com`;
    fake.source.connection.host = other;
    const r = await refresh(refreshConfig({ source, apiEndpoint: fake.url }));
    expect(r.failure).toBeUndefined();
    const clone = (r.result as RefreshResult).clone!;
    const note = `DBLab's source before the refresh was another refresh's clone (${other}), not its own source: not kept`;
    expect(r.progress.stages.find((s) => s.name === 'configure-dblab')?.detail).toContain(`; ${note}`);
    expect(r.progress.stages.find((s) => s.name === 'restore-dblab')?.detail).toBe(
      `${note}: source left on the deleted clone; the password dbops wrote replaced (DBLab never returns the original)`,
    );
    // the other run's clone is never written back as DBLab's source: only the password is replaced
    expect((fake.configs[1] as any).retrieval.spec.logicalDump.options.source).toEqual({
      connection: { password: retiredPassword(DBLAB_TOKEN, clone) },
    });
    expect(fake.source.connection.host).toContain(clone);
  });

  test('restore-dblab refused: the run fails saying DBLab still names the clone and holds the password, echoed as ***', async () => {
    const source = await makeRdsSource(fx);
    fake.configRefusal = { after: 1, message: 'config rejected', echo: true };
    const r = await refresh(refreshConfig({ source, apiEndpoint: fake.url }));
    const clone = cloneOf(r.progress);
    expect(r.failure).toBe(
      `stage "restore-dblab" failed: DBLab still names the deleted clone ${clone} and holds the password ` +
        'configure-dblab wrote (set its source in DBLab): DBLab refused the configuration change: ' +
        'config rejected (password "***") (are config changes enabled, and is DBLab in logical mode?)',
    );
    expect(JSON.stringify(r.progress)).not.toContain(retiredPassword(DBLAB_TOKEN, clone));
    expect(r.statuses['delete-clone']).toBe('done');
    expect(await instancesNamed(fx, clone)).toEqual([]);
    // An outage of DBLab is outlasted: restore-dblab is retried for 30 minutes, with no attempt limit.
    const scheduled = (await r.h.fetchHistory()).events!.find(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'dblabRestoreSource',
    )!.activityTaskScheduledEventAttributes!;
    expect(Number(scheduled.scheduleToCloseTimeout?.seconds)).toBe(30 * 60);
    expect(scheduled.retryPolicy?.maximumAttempts ?? 0).toBe(0);
    expect(Number(scheduled.retryPolicy?.maximumInterval?.seconds)).toBe(60);
  });

  test('configure-dblab refused with the posted password quoted: the failure shows ***', async () => {
    const source = await makeRdsSource(fx);
    fake.configRefusal = { after: 0, message: 'config rejected', echo: true };
    const r = await refresh(refreshConfig({ source, apiEndpoint: fake.url }));
    expect(r.failure).toBe(
      'stage "configure-dblab" failed: DBLab refused the configuration change: config rejected (password "***") ' +
        '(are config changes enabled, and is DBLab in logical mode?)',
    );
    expect(JSON.stringify(await r.h.fetchHistory())).not.toContain(SOURCE_PASSWORD);
    expect(r.statuses['delete-clone']).toBe('done');
  });

  test('an alert quoting the password, with terminal escapes, 5000 characters long: ***, no control characters, cut', async () => {
    const source = await makeRdsSource(fx);
    fake.failAtOnce =
      `FATAL: password "${SOURCE_PASSWORD}" rejected \x1b]8;;http://evil.example\x07click\x1b[2J\r\n` +
      'y'.repeat(5000);
    const config = refreshConfig({ source, apiEndpoint: fake.url, startDeadline: '10m' }) as any;
    config.dblab.timeout = '20m';
    const r = await refresh(config);
    expect(r.failure).toMatch(/^stage "wait-refresh" failed: DBLab refresh failed: FATAL: password "\*\*\*" rejected /);
    expect(r.failure).not.toMatch(CONTROL);
    expect(r.failure!.length).toBeLessThan(400);
    const history = JSON.stringify(await r.h.fetchHistory());
    expect(history).not.toContain(SOURCE_PASSWORD);
    expect(history).not.toContain('y'.repeat(400));
    expect(r.statuses['restore-dblab']).toBe('done');
  });

  test('pool names with escapes are cleaned and cut in the details; a reply beyond 1 MiB is refused, not read', async () => {
    const source = await makeRdsSource(fx);
    fake.pools[0].name = `pool\x1b[31mred\x9b${'p'.repeat(1000)}`;
    const r = await refresh(refreshConfig({ source, apiEndpoint: fake.url }));
    expect(r.failure).toBeUndefined();
    const detail = r.progress.stages.find((s) => s.name === 'check-dblab')!.detail!;
    expect(detail).toContain('pools: pool[31mredppp');
    expect(detail).not.toMatch(CONTROL);
    expect(detail.length).toBeLessThan(400);

    fake.statusPadding = 2 * 1024 * 1024;
    log.reset();
    const big = await refresh(refreshConfig({ source, apiEndpoint: fake.url }));
    expect(big.failure).toBe(
      'stage "check-dblab" failed: DBLab GET /status: reply larger than 1048576 bytes, not read',
    );
    expect(restores()).toBe(0);
  });
});
