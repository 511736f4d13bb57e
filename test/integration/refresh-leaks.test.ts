/**
 * "Nothing leaks, nothing doubles" for refreshDblab, against moto through the AWS fault proxy
 * (test/fixtures/aws-fault-proxy.ts) and the DBLab fake:
 * - a run cancelled while its clone's restore call is in flight (the proxy holds the call, the run
 *   is cancelled, then the call is let through): the run waits for the create to settle and then
 *   deletes what it made; nothing tagged with its run id is left (RDS; Aurora cluster, then instance);
 * - a delete refused with a "busy" state (InvalidDBInstanceState, InvalidDBClusterStateFault) is
 *   retried until the clone is gone. moto never answers with these states (it deletes at once), so
 *   the proxy injects the error code for the first few delete calls;
 * - the clone's name is taken from the run's history (a local activity's marker), not recomputed.
 */
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import type { Progress } from '../../src/api';
import { PATCHES, type RefreshResult } from '../../src/workflows/refresh-dblab';
import { AwsFaultProxy, type FaultRule } from '../fixtures/aws-fault-proxy';
import { DblabFake } from '../fixtures/dblab-fake';
import { bindDblab, testConfig } from '../helpers/activities';
import { fixtureAws } from '../helpers/aws-fixtures';
import {
  clustersNamed,
  DBLAB_TOKEN,
  instancesNamed,
  makeAuroraSource,
  makeRdsSource,
  refreshConfig,
  taggedWith,
} from '../helpers/dblab-fixtures';
import { throughFaults as faultWorker } from '../helpers/fault-worker';
import { openTestEnv, uniqueName, type TestEnv } from '../helpers/temporal';
import { until } from '../helpers/worker-process';

const fx = fixtureAws();
let t: TestEnv;
const workerCfg = testConfig();

beforeAll(async () => {
  t = await openTestEnv();
});
afterAll(async () => t.close());

/** Runs `fn` with a worker whose AWS calls go through a fault proxy with these rules, and a DBLab fake. */
async function throughFaults<T>(
  rules: FaultRule[],
  fn: (proxy: AwsFaultProxy, fake: DblabFake) => Promise<T>,
): Promise<T> {
  const fake = new DblabFake({ token: DBLAB_TOKEN });
  await fake.start();
  bindDblab(workerCfg, fake.url);
  try {
    return await faultWorker(t, rules, (proxy) => fn(proxy, fake), workerCfg);
  } finally {
    await fake.stop();
  }
}

const stages = async (h: WorkflowHandle) =>
  Object.fromEntries((await h.query<Progress>('progress')).stages.map((s) => [s.name, s.status]));

describe('cancelled while the clone is being created', () => {
  test.each([
    // Every row has all five values: jest would take a missing last one for its done() callback.
    ['RDS: RestoreDBInstanceFromDBSnapshot', 'rds', 'RestoreDBInstanceFromDBSnapshot', ['DeleteDBInstance'], undefined],
    [
      'Aurora: RestoreDBClusterFromSnapshot',
      'aurora-cluster',
      'RestoreDBClusterFromSnapshot',
      ['DeleteDBInstance', 'DeleteDBCluster'],
      undefined,
    ],
    [
      'Aurora: CreateDBInstance in the restored cluster',
      'aurora-cluster',
      'CreateDBInstance',
      ['DeleteDBInstance', 'DeleteDBCluster'],
      undefined,
    ],
    [
      'Aurora copy-on-write: RestoreDBClusterToPointInTime',
      'aurora-cluster',
      'RestoreDBClusterToPointInTime',
      ['DeleteDBInstance', 'DeleteDBCluster'],
      'copy-on-write',
    ],
    [
      'Aurora copy-on-write: CreateDBInstance in the clone',
      'aurora-cluster',
      'CreateDBInstance',
      ['DeleteDBInstance', 'DeleteDBCluster'],
      'copy-on-write',
    ],
  ] as const)(
    '%s in flight: the run waits for it, deletes what it made and ends cancelled; nothing of the run is left',
    async (_name, type, held, deletes, method) => {
      const source = type === 'rds' ? await makeRdsSource(fx) : (await makeAuroraSource(fx)).cluster;
      await throughFaults([{ action: held, fault: 'hold', times: 1 }], async (proxy, fake) => {
        const h = await t.client.workflow.start('refreshDblab', {
          workflowId: uniqueName('leak-cancel'),
          taskQueue: t.taskQueue,
          args: [
            refreshConfig({
              source,
              apiEndpoint: fake.url,
              type,
              ...(method ? { clone: { method } } : {}),
            }),
          ],
        });
        const runId = h.firstExecutionRunId;
        await until(() => proxy.held === 1, `${held} to be in flight`);
        await h.cancel();
        // Time for the run to act on the cancellation while the call is still in flight (a run that
        // abandons the create ends now, before the restore has happened).
        await Promise.race([h.result().catch(() => undefined), new Promise((r) => setTimeout(r, 3000))]);
        proxy.release();

        const err = await h.result().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(WorkflowFailedError);
        expect((err as WorkflowFailedError).cause?.name).toBe('CancelledFailure');
        expect((await h.describe()).status.name).toBe('CANCELLED');
        // The held call reached moto (it would have leaked the clone); give whatever followed it time to land.
        await until(() => proxy.executed.get(held) === 1, `${held} to reach moto`);
        await new Promise((r) => setTimeout(r, 1500));

        expect(await taggedWith(fx, runId)).toEqual([]);
        const restore =
          type === 'rds'
            ? 'RestoreDBInstanceFromDBSnapshot'
            : method
              ? 'RestoreDBClusterToPointInTime'
              : 'RestoreDBClusterFromSnapshot';
        expect(proxy.executed.get(restore)).toBe(1);
        for (const d of deletes) expect(proxy.executed.get(d)).toBe(1);
        expect(await stages(h)).toMatchObject({
          'create-clone': 'done',
          'delete-clone': 'done',
          'configure-dblab': 'pending',
        });
        expect(fake.configs).toEqual([]);
      });
    },
  );
});

describe('a delete refused because the clone is busy is retried until the clone is gone', () => {
  // moto deletes at once and never reports these states: the fault proxy answers the first calls with them.
  test('RDS: DeleteDBInstance answered InvalidDBInstanceState 3 times', async () => {
    const source = await makeRdsSource(fx);
    const rules: FaultRule[] = [
      {
        action: 'DeleteDBInstance',
        fault: 'error',
        code: 'InvalidDBInstanceState',
        message: 'Instance is not in available state.',
        times: 3,
      },
    ];
    await throughFaults(rules, async (proxy, fake) => {
      const h = await t.client.workflow.start('refreshDblab', {
        workflowId: uniqueName('leak-busy'),
        taskQueue: t.taskQueue,
        args: [refreshConfig({ source, apiEndpoint: fake.url })],
      });
      const r = (await h.result()) as RefreshResult;
      expect(r.outcome).toBe('refreshed');
      expect(proxy.faults).toHaveLength(3);
      expect(proxy.seen.get('DeleteDBInstance')).toBe(4);
      expect(proxy.executed.get('DeleteDBInstance')).toBe(1);
      expect(await instancesNamed(fx, r.clone!)).toEqual([]);
      expect(await taggedWith(fx, h.firstExecutionRunId)).toEqual([]);
      expect((await stages(h))['delete-clone']).toBe('done');
    });
  });

  test('Aurora: DeleteDBInstance answered InvalidDBInstanceState, DeleteDBCluster InvalidDBClusterStateFault', async () => {
    const { cluster } = await makeAuroraSource(fx);
    const rules: FaultRule[] = [
      {
        action: 'DeleteDBInstance',
        fault: 'error',
        code: 'InvalidDBInstanceState',
        message: 'Instance is not in available state.',
        times: 1,
      },
      {
        action: 'DeleteDBCluster',
        fault: 'error',
        code: 'InvalidDBClusterStateFault',
        message: 'Cluster is not in available state.',
        times: 2,
      },
    ];
    await throughFaults(rules, async (proxy, fake) => {
      const h = await t.client.workflow.start('refreshDblab', {
        workflowId: uniqueName('leak-busy'),
        taskQueue: t.taskQueue,
        args: [refreshConfig({ source: cluster, apiEndpoint: fake.url, type: 'aurora-cluster' })],
      });
      const r = (await h.result()) as RefreshResult;
      expect(r.outcome).toBe('refreshed');
      expect(proxy.faults).toHaveLength(3);
      expect(proxy.executed.get('DeleteDBInstance')).toBe(1);
      expect(proxy.executed.get('DeleteDBCluster')).toBe(1);
      expect(await clustersNamed(fx, r.clone!)).toEqual([]);
      expect(await instancesNamed(fx, r.clone!)).toEqual([]);
      expect(await taggedWith(fx, h.firstExecutionRunId)).toEqual([]);
    });
  });
});

test('the clone name is recorded in history (a local activity marker) before the create, and the run replays', async () => {
  const source = await makeRdsSource(fx);
  await throughFaults([], async (_proxy, fake) => {
    const h = await t.client.workflow.start('refreshDblab', {
      workflowId: uniqueName('leak-name'),
      taskQueue: t.taskQueue,
      args: [refreshConfig({ source, apiEndpoint: fake.url })],
    });
    const r = (await h.result()) as RefreshResult;
    const history = await h.fetchHistory();
    const events = history.events ?? [];
    const text = (p: { data?: Uint8Array | null } | undefined) => (p?.data ? Buffer.from(p.data).toString() : '');
    const markers = events.filter((e) => e.markerRecordedEventAttributes).map((e) => e.markerRecordedEventAttributes!);
    const nameMarker = events.findIndex(
      (e) =>
        e.markerRecordedEventAttributes &&
        Object.values(e.markerRecordedEventAttributes.details ?? {}).some((d) =>
          d.payloads?.some((p) => text(p) === JSON.stringify(r.clone)),
        ),
    );
    const create = events.findIndex(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'rdsCreateClone',
    );
    expect(nameMarker).toBeGreaterThan(-1);
    expect(nameMarker).toBeLessThan(create);
    expect(JSON.parse(text(events[create].activityTaskScheduledEventAttributes!.input!.payloads![1])).identifier).toBe(
      r.clone,
    );
    // every behaviour change is gated: its patch marker is in the history of a new run (the dry run's
    // own patch is asked only by dry runs: test/integration/dblab.test.ts checks what it gates there)
    const recorded = markers.flatMap((m) => Object.values(m.details ?? {}).flatMap((d) => d.payloads?.map(text) ?? []));
    const onRealRuns = Object.values(PATCHES).filter((id) => id !== PATCHES.dryRunFailedStages);
    for (const id of onRealRuns) expect(recorded.join('\n')).toContain(id);
    await expect(
      Worker.runReplayHistory(
        { workflowBundle: { codePath: process.env.DBOPS_TEST_WORKFLOW_BUNDLE! } },
        history,
        h.workflowId,
      ),
    ).resolves.toBeUndefined();
  });
});
