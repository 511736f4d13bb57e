/**
 * Waits poll by activity retry (src/workflows/polling.ts): a real worker on the dev server runs
 * the product's workflows, with the product's one-check wait (checkOnce, src/activities/poll.ts)
 * standing in for the clone wait and the other activities mocked. Many open waits leave the
 * worker's activity slots free for other work; a wait ends at its deadline with WaitTimeout; a
 * wait goes on across a worker restart.
 */
import { Context } from '@temporalio/activity';
import type { WorkflowHandle } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { checkOnce } from '../../src/activities/poll';
import type { CloneRecord } from '../../src/activities/rds';
import { cloneName, type RefreshPlan } from '../../src/domain/dblab-config';
import { MockActivities, expectFailure, progressOf } from '../helpers/mocked-activities';
import { makeWorker, openTestEnv, uniqueName, type TestEnv } from '../helpers/temporal';
import { until } from '../helpers/worker-process';

const endpointOf = (id: string) => ({ identifier: id, host: `${id}.rds.example`, port: 5432, masterUsername: 'pg' });

/** The clones the test has made "available"; every other clone stays "creating". */
const ready = new Set<string>();
/** Each clone's checks, by attempt number. */
const checks = new Map<string, number[]>();

const mocks = new MockActivities({
  dblabCheck: async () => ({ status: 'OK', busy: false }),
  rdsFindSnapshot: async () => ({ id: 'rds:src-1', createdAt: '2026-11-22T03:00:00.000Z', type: 'automated' }),
  refreshCloneName: async (o: { startedAt: string; runId: string }) => cloneName(new Date(o.startedAt), o.runId),
  rdsCreateClone: async () => ({ changed: true, detail: 'restoring' }),
  rdsWaitClone: (p: RefreshPlan, id: string) =>
    checkOnce(
      { what: `clone ${id} to become available`, interval: p.pollInterval, timeout: p.cloneTimeout },
      async () => {
        checks.set(id, [...(checks.get(id) ?? []), Context.current().info.attempt]);
        return ready.has(id) ? { done: true, value: endpointOf(id) } : { done: false, status: 'creating' };
      },
    ),
  dblabReadSource: async () => ({ read: false }),
  dblabConfigure: async () => ({ detail: 'configured' }),
  dblabFullRefresh: async () => ({ detail: 'started' }),
  dblabWaitRefresh: async () => ({ polls: 1, transientErrors: 0 }),
  dblabRestoreSource: async () => ({ detail: 'restored' }),
  rdsDeleteClone: async () => ({ changed: true, detail: 'deleted' }),
  rdsListRefreshClones: async (): Promise<CloneRecord[]> => [],
  workflowRunStatus: async () => 'COMPLETED',
});

const config = (cloneTimeout = '10m') => ({
  source: { type: 'rds', identifier: 'app-prod', dbName: 'app' },
  clone: { instanceClass: 'db.t3.medium' },
  dblab: { apiEndpoint: 'http://dblab.example.internal:2345', token: 'env:DBLAB_TOKEN', pollInterval: '1s' },
  aws: { region: 'us-east-1' },
  cloneTimeout,
});

let t: TestEnv;
beforeAll(async () => {
  t = await openTestEnv();
});
afterAll(async () => t.close());
beforeEach(() => {
  mocks.reset();
  ready.clear();
  checks.clear();
});

/** A worker with `slots` activity slots, running until stopped. */
async function startWorker(slots = 5): Promise<{ worker: Worker; stop(): Promise<void> }> {
  const worker = await makeWorker(t, mocks.activities(), t.taskQueue, { maxConcurrentActivities: slots });
  const running = worker.run();
  return {
    worker,
    stop: async () => {
      worker.shutdown();
      await running;
    },
  };
}

const refresh = (c = config()) =>
  t.client.workflow.start('refreshDblab', { taskQueue: t.taskQueue, workflowId: uniqueName('wait'), args: [c] });

/** The clone a run waits for (its create-clone argument). */
function cloneOf(h: WorkflowHandle): string | undefined {
  const c = mocks.calls.find((x) => x.name === 'rdsCreateClone' && x.workflowId === h.workflowId);
  return (c?.args[1] as { identifier: string } | undefined)?.identifier;
}

const stageOf = async (h: WorkflowHandle, name: string) =>
  (await progressOf(h)).stages.find((s) => s.name === name)?.status;

test('20 open waits on a worker with 5 activity slots: another run still gets its activity done', async () => {
  const w = await startWorker(5);
  try {
    const runs = await Promise.all(Array.from({ length: 20 }, () => refresh()));
    await until(
      () => runs.every((h) => (checks.get(cloneOf(h) ?? '')?.length ?? 0) >= 2),
      'every run checking its clone',
    );
    // One-activity run (nothing to clean up): it needs a slot while all 20 waits are open.
    const cleanup = await t.client.workflow.execute('cleanupRefreshClones', {
      taskQueue: t.taskQueue,
      workflowId: uniqueName('cleanup'),
      args: [{ region: 'us-east-1' }],
    });
    expect(cleanup).toMatchObject({ found: 0, deleted: [] });
    for (const h of runs) expect(await stageOf(h, 'wait-clone')).toBe('running');

    for (const h of runs) ready.add(cloneOf(h)!);
    const results = await Promise.all(runs.map((h) => h.result()));
    expect(results.map((r) => r.outcome)).toEqual(Array(20).fill('refreshed'));
  } finally {
    await w.stop();
  }
});

test('a wait past its deadline fails with WaitTimeout and the last status seen; the clone is deleted', async () => {
  const w = await startWorker();
  try {
    const h = await refresh(config('3s'));
    const f = await expectFailure(h, 'StageFailed');
    const clone = cloneOf(h)!;
    expect(f.message).toBe(
      `stage "wait-clone" failed: timed out after 3s waiting for clone ${clone} to become available (last status: creating)`,
    );
    // The wait activity itself failed with the typed timeout (one failed attempt in the history).
    const failed = ((await h.fetchHistory()).events ?? []).filter((e) => e.activityTaskFailedEventAttributes);
    expect(failed.map((e) => e.activityTaskFailedEventAttributes?.failure?.applicationFailureInfo?.type)).toEqual([
      'WaitTimeout',
    ]);
    expect(checks.get(clone)!.length).toBeGreaterThan(1);
    expect(mocks.names(h.workflowId).slice(-1)).toEqual(['rdsDeleteClone']);
  } finally {
    await w.stop();
  }
});

test('a wait goes on across a worker restart: the new worker keeps checking, the run completes', async () => {
  const first = await startWorker();
  const h = await refresh();
  let clone = '';
  try {
    await until(() => (checks.get((clone = cloneOf(h) ?? ''))?.length ?? 0) >= 2, 'two checks of the clone');
  } finally {
    await first.stop();
  }
  const before = checks.get(clone)!.length;
  ready.add(clone);
  const second = await startWorker();
  try {
    const r = await h.result();
    expect(r).toMatchObject({ outcome: 'refreshed', clone });
    const seen = checks.get(clone)!;
    // The checks go on where they were: the attempt count continues on the new worker.
    expect(seen.length).toBeGreaterThan(before);
    expect(seen).toEqual(seen.map((_n, i) => i + 1));
  } finally {
    await second.stop();
  }
});
