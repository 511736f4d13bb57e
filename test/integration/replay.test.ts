/**
 * Replay (see CONTRIBUTING.md): the workflow code must reproduce recorded histories exactly. A
 * history recorded from this code, and the histories each release kept under
 * test/fixtures/histories/<version>/, are replayed without a server, and what the current code
 * would send (activity types and arguments, child workflows) is compared with what each history
 * recorded — plain SDK replay checks command types only.
 */
import { temporal } from '@temporalio/proto';
import { createActivities } from '../../src/activities';
import { DblabFake } from '../fixtures/dblab-fake';
import { bindDblab, DBLAB_ENV, testConfig } from '../helpers/activities';
import { countingAws, fixtureAws, makeAwsDatabase, makeCustomerVpc } from '../helpers/aws-fixtures';
import { DBLAB_TOKEN, makeRdsSource, refreshConfig } from '../helpers/dblab-fixtures';
import {
  formatFailures,
  listHistoryFiles,
  looseHistoryFiles,
  readHistory,
  replayAndCompare,
} from '../helpers/replay-check';
import { makeWorker, NEXT_RELEASE, openTestEnv, recordHistory, uniqueName } from '../helpers/temporal';

type History = temporal.api.history.v1.IHistory;

test('a full peerVpc run, recorded now, replays and sends the same activity arguments', async () => {
  const t = await openTestEnv();
  const fx = fixtureAws();
  const customer = await makeCustomerVpc(fx);
  const database = await makeAwsDatabase(fx, {
    databaseId: uniqueName('replay'),
    region: 'us-east-1',
    cidr: '10.190.0.0/19',
  });
  const worker = await makeWorker(t, createActivities({ env: {}, aws: countingAws().aws }));
  const input = {
    databaseId: database.databaseId,
    region: 'us-east-1',
    vpcId: customer.vpcId,
    cloud: { kind: 'aws' },
    timing: { pollInterval: '200ms' },
  };
  const workflowId = uniqueName('replay');
  const rerunId = uniqueName('replay-rerun');
  const [history, rerun] = await worker.runUntil(async () => {
    const run = async (id: string) => {
      const h = await t.client.workflow.start('peerVpc', { workflowId: id, taskQueue: t.taskQueue, args: [input] });
      await h.result();
      return h.fetchHistory();
    };
    // The second run finds the peering active and skips initiate and accept.
    return [await run(workflowId), await run(rerunId)];
  });
  await recordHistory(workflowId, 'peer-vpc-full', NEXT_RELEASE);
  await recordHistory(rerunId, 'peer-vpc-rerun', NEXT_RELEASE);
  await t.close();
  const reports = await replayAndCompare([
    { name: workflowId, history },
    { name: rerunId, history: rerun },
  ]);
  expect(formatFailures(reports)).toBeUndefined();
});

const kept = listHistoryFiles();
const versions = [...new Set(kept.map((h) => h.version))];

test('every kept history lies in a version folder, and there is at least one', () => {
  expect(looseHistoryFiles()).toEqual([]);
  expect(versions.length).toBeGreaterThan(0);
});

test.each(versions)(
  'histories recorded by %s replay and the current code sends what they recorded',
  async (version) => {
    const files = kept.filter((h) => h.version === version);
    const reports = await replayAndCompare(files.map((h) => ({ name: h.name, history: readHistory(h.name) })));
    expect(reports.map((r) => r.name)).toEqual(files.map((h) => h.name));
    expect(formatFailures(reports)).toBeUndefined();
  },
);

// A worker with traces on (OTEL_EXPORTER_OTLP_ENDPOINT) runs the traced bundle: the OpenTelemetry
// workflow interceptors add spans and headers, no command. Runs an untraced worker started replay there.
test.each(versions)(
  'histories recorded by %s replay the same through the traced bundle (traces on)',
  async (version) => {
    const files = kept.filter((h) => h.version === version);
    const reports = await replayAndCompare(
      files.map((h) => ({ name: h.name, history: readHistory(h.name) })),
      'traced',
    );
    expect(reports.map((r) => r.name)).toEqual(files.map((h) => h.name));
    expect(formatFailures(reports)).toBeUndefined();
  },
);

/** A refreshDblab run (RDS, no prepare) on the current code, against moto and the DBLab fake. */
async function recordRefresh(arrange?: (fake: DblabFake) => void): Promise<History> {
  const t = await openTestEnv();
  const fake = new DblabFake({ token: DBLAB_TOKEN });
  await fake.start();
  const config = testConfig();
  bindDblab(config, fake.url);
  arrange?.(fake);
  try {
    const source = await makeRdsSource(fixtureAws());
    const worker = await makeWorker(
      t,
      createActivities({ env: DBLAB_ENV, aws: countingAws().aws, temporal: t.client, config }),
    );
    return await worker.runUntil(async () => {
      const h = await t.client.workflow.start('refreshDblab', {
        workflowId: uniqueName('replay-refresh'),
        taskQueue: t.taskQueue,
        args: [refreshConfig({ source, apiEndpoint: fake.url })],
      });
      await h.result().catch(() => undefined);
      return h.fetchHistory();
    });
  } finally {
    await fake.stop();
    await t.close();
  }
}

test('the comparison catches a changed activity argument that plain replay lets through (a renamed clone)', async () => {
  const history = await recordRefresh();
  const altered = temporal.api.history.v1.History.decode(temporal.api.history.v1.History.encode(history).finish());
  const event = altered.events.find(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'rdsCreateClone',
  )!;
  const payload = event.activityTaskScheduledEventAttributes!.input!.payloads![1];
  const arg = JSON.parse(Buffer.from(payload.data!).toString());
  expect(arg.identifier).toMatch(/^dblab-refresh-/);
  payload.data = Buffer.from(JSON.stringify({ ...arg, identifier: 'dblab-refresh-renamed' }));

  const [unaltered, renamed] = await replayAndCompare([
    { name: 'refresh (as recorded)', history },
    { name: 'refresh (clone renamed)', history: altered },
  ]);
  expect(unaltered.replayError).toBeUndefined();
  expect(unaltered.mismatches).toEqual([]);

  // The SDK's own replay does not notice: it compares command types, not arguments.
  expect(renamed.replayError).toBeUndefined();
  expect(renamed.mismatches).toHaveLength(1);
  const [message] = renamed.mismatches;
  expect(message).toContain(
    `refresh (clone renamed): event ${event.eventId}, activity rdsCreateClone: the current code sends different arguments`,
  );
  expect(message).toContain(`args[1].identifier: history "dblab-refresh-renamed" ≠ now "${arg.identifier}"`);
  expect(message.split('\n')).toHaveLength(2); // a short diff, not the payloads
});

test('refreshDblab runs recorded now on every new path replay and send the same arguments', async () => {
  const runs = [
    // check-dblab: every pool holds clones (skipped before any AWS call)
    { name: 'pools held', history: await recordRefresh((f) => f.holdClones()) },
    // DBLab skips after the trigger: restore-dblab, delete-clone, skipped
    { name: 'skipped by DBLab', history: await recordRefresh((f) => void (f.skipAfterTrigger = true)) },
    // a failure at once, and no GET /admin/config: restore-dblab with nothing read
    {
      name: 'failed at once',
      history: await recordRefresh((f) => {
        f.failAtOnce = 'pg_dump: connection refused';
        f.adminConfigGet = 'none';
      }),
    },
  ];
  const activities = (h: History) =>
    (h.events ?? []).map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean);
  expect(activities(runs[0].history)).toEqual(['dblabCheck']);
  expect(activities(runs[1].history)).toEqual(expect.arrayContaining(['dblabReadSource', 'dblabRestoreSource']));
  expect(activities(runs[2].history)).toEqual(expect.arrayContaining(['dblabRestoreSource', 'rdsDeleteClone']));
  expect(formatFailures(await replayAndCompare(runs))).toBeUndefined();
});
