/**
 * Workflow logic of refreshDblab and cleanupRefreshClones with mocked RDS, DBLab and Temporal-run
 * activities: stage order, dry run, the "already refreshing" skip, failures (the clone is deleted
 * after any later stage fails), cancellation, the janitor's decisions, invalid input.
 *
 * No time-skipping test server is available offline (TestWorkflowEnvironment.createTimeSkipping
 * downloads one), so these run on the real Temporal dev server that jest's global setup starts;
 * the mocked activities return at once, so each run takes a fraction of a second.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { checkOnce } from '../../src/activities/poll';
import type { CloneRecord } from '../../src/activities/rds';
import { cloneName, type RefreshPlan } from '../../src/domain/dblab-config';
import {
  Gate,
  MockActivities,
  expectCancelled,
  expectFailure,
  failing,
  useMockedWorld,
  cancelWhileHeld,
  progressOf,
  stagesOf,
} from '../helpers/mocked-activities';

const REGION = 'us-east-1';
const SNAPSHOT = {
  id: 'rds:app-prod-2026-11-22-03-00',
  createdAt: '2026-11-22T03:00:00.000Z',
  type: 'automated',
  engine: 'postgres',
};
const endpointOf = (id: string) => ({
  identifier: id,
  host: `${id}.abc123.${REGION}.rds.amazonaws.com`,
  port: 5432,
  masterUsername: 'postgres',
});

const mocks = new MockActivities({
  dblabCheck: async () => ({ version: 'v3.5.0', status: 'OK', busy: false, lastRefresh: '2026-11-21T04:00:00Z' }),
  dblabCheckConfigAccess: async () => undefined,
  rdsValidate: async () => [],
  rdsFindSnapshot: async () => SNAPSHOT,
  refreshCloneName: async (o: { startedAt: string; runId: string }) => cloneName(new Date(o.startedAt), o.runId),
  rdsCreateClone: async (_p: RefreshPlan, o: { identifier: string }) => ({
    changed: true,
    detail: `restoring ${o.identifier}`,
  }),
  rdsWaitClone: async (_p: RefreshPlan, id: string) => endpointOf(id),
  prepareClone: async () => ({
    changed: true,
    detail: 'master password reset; read-only user dblab created on the clone',
  }),
  dblabReadSource: async () => ({
    read: true,
    host: 'app-prod.internal',
    port: 5432,
    dbname: 'app',
    username: 'dblab',
  }),
  dblabConfigure: async () => ({ detail: 'DBLab points at the clone' }),
  dblabFullRefresh: async () => ({ detail: 'full refresh triggered' }),
  dblabWaitRefresh: async () => ({ lastRefresh: '2026-11-22T05:00:00Z', polls: 3, transientErrors: 1 }),
  dblabRestoreSource: async () => ({ detail: 'DBLab points at app-prod.internal:5432 again' }),
  rdsDeleteClone: async (_p: unknown, id: string) => ({ changed: true, detail: `deleted ${id}` }),
  rdsListRefreshClones: async (): Promise<CloneRecord[]> => [],
  workflowRunStatus: async () => 'COMPLETED',
});
const world = useMockedWorld(mocks);

describe('refreshDblab', () => {
  const DBLAB = {
    apiEndpoint: 'http://dblab.example.internal:2345',
    token: 'env:DBLAB_TOKEN',
    pollInterval: '1s',
    timeout: '1m',
    startDeadline: '30s',
  };
  const config = (over: Record<string, unknown> = {}) => ({
    source: { type: 'rds', identifier: 'app-prod', dbName: 'app' },
    clone: { instanceClass: 'db.t3.medium' },
    dblab: DBLAB,
    aws: { region: REGION },
    cloneTimeout: '1m',
    ...over,
  });
  const refresh = (c: object): Promise<WorkflowHandleWithFirstExecutionRunId> =>
    world().start('refreshDblab', 'refresh', [c]);
  const STAGES = [
    'validate',
    'check-dblab',
    'find-snapshot',
    'create-clone',
    'wait-clone',
    'prepare-clone',
    'configure-dblab',
    'full-refresh',
    'wait-refresh',
    'restore-dblab',
    'delete-clone',
  ];
  const all = (status: string, over: Record<string, string> = {}) => ({
    ...Object.fromEntries(STAGES.map((s) => [s, status])),
    ...over,
  });
  /** The clone name the run recorded (refreshCloneName's answer). */
  const cloneOf = () => (mocks.args('rdsCreateClone')[0][1] as { identifier: string }).identifier;

  test('a full run: check, snapshot, named clone, wait, configure, refresh, wait, delete the clone', async () => {
    const h = await refresh(config());
    const r = await h.result();
    expect(mocks.names()).toEqual([
      'dblabCheck',
      'rdsFindSnapshot',
      'refreshCloneName',
      'rdsCreateClone',
      'rdsWaitClone',
      'dblabReadSource',
      'dblabConfigure',
      'dblabFullRefresh',
      'dblabWaitRefresh',
      'dblabRestoreSource',
      'rdsDeleteClone',
    ]);
    expect(mocks.calls.find((c) => c.name === 'refreshCloneName')!.local).toBe(true);
    const clone = cloneOf();
    expect(clone).toMatch(/^dblab-refresh-\d{8}-\d{6}-[0-9a-f]{10}$/);
    const [plan, create] = mocks.args('rdsCreateClone')[0] as [
      RefreshPlan,
      { snapshot: unknown; tags: Array<{ Key: string; Value: string }> },
    ];
    expect(plan).toMatchObject({ dblabHost: 'dblab.example.internal:2345', aurora: false, dryRun: false });
    expect(create.snapshot).toEqual(SNAPSHOT);
    expect(create.tags).toEqual(
      expect.arrayContaining([
        { Key: 'ManagedBy', Value: 'dbops-dblab-refresh' },
        { Key: 'dbops:workflow-id', Value: h.workflowId },
        { Key: 'dbops:run-id', Value: h.firstExecutionRunId },
      ]),
    );
    expect(mocks.args('rdsWaitClone')[0].slice(1)).toEqual([clone, { poll: 'once' }]);
    expect(mocks.args('dblabConfigure')[0][1]).toEqual(endpointOf(clone));
    const triggeredAt = mocks.args('dblabFullRefresh')[0][1];
    expect(mocks.args('dblabWaitRefresh')[0].slice(1)).toEqual([triggeredAt, { poll: 'once' }]);
    expect(mocks.args('rdsDeleteClone')).toEqual([[plan, clone, { runId: h.firstExecutionRunId, byTag: true }]]);
    expect(await stagesOf(h)).toEqual(all('done', { 'prepare-clone': 'skipped' }));
    expect(r).toEqual({
      outcome: 'refreshed',
      dblabHost: 'dblab.example.internal:2345',
      snapshot: SNAPSHOT.id,
      clone,
      lastRefresh: '2026-11-22T05:00:00Z',
      polls: 3,
      transientErrors: 1,
      stageSeconds: expect.objectContaining({ 'create-clone': expect.any(Number), 'delete-clone': expect.any(Number) }),
      cloneLifetimeSeconds: expect.any(Number),
    });
    // restore-dblab gets what configure-dblab read, and the clone it points away from.
    expect(mocks.args('dblabRestoreSource')[0].slice(1)).toEqual([
      { read: true, host: 'app-prod.internal', port: 5432, dbname: 'app', username: 'dblab' },
      clone,
    ]);
  });

  test("clone.prepare runs prepare-clone on the clone's endpoint before DBLab is configured", async () => {
    const h = await refresh(
      config({ clone: { instanceClass: 'db.t3.medium', prepare: { dblabUser: 'dblab_reader' } } }),
    );
    await h.result();
    const names = mocks.names();
    expect(names.slice(names.indexOf('rdsWaitClone'), names.indexOf('dblabConfigure') + 1)).toEqual([
      'rdsWaitClone',
      'prepareClone',
      'dblabReadSource',
      'dblabConfigure',
    ]);
    expect(mocks.args('prepareClone')[0][1]).toEqual(endpointOf(cloneOf()));
    expect(await stagesOf(h)).toEqual(all('done'));
  });

  test('DBLab already refreshing: the run is skipped after the check and nothing is created', async () => {
    mocks.set('dblabCheck', async () => ({ status: 'refreshing', busy: true }));
    const h = await refresh(config());
    const r = await h.result();
    expect(mocks.names()).toEqual(['dblabCheck']);
    expect(await stagesOf(h)).toEqual(all('skipped', { validate: 'done' }));
    const p = await progressOf(h);
    expect(p.stages[1].detail).toBe('DBLab is busy (refreshing)');
    expect(p.stages[2].detail).toBe('DBLab is busy (refreshing)');
    expect(r).toEqual({
      outcome: 'skipped',
      dblabHost: 'dblab.example.internal:2345',
      reason: 'DBLab is busy (refreshing)',
      stageSeconds: expect.objectContaining({ 'check-dblab': expect.any(Number) }),
    });
  });

  test('dry run: every check, nothing created; stages after find-snapshot skipped', async () => {
    const h = await refresh(config({ dryRun: true }));
    const r = await h.result();
    expect(mocks.names()).toEqual(['dblabCheck', 'dblabCheckConfigAccess', 'rdsValidate', 'rdsFindSnapshot']);
    expect(await stagesOf(h)).toEqual(
      all('skipped', { validate: 'done', 'check-dblab': 'done', 'find-snapshot': 'done' }),
    );
    expect((await progressOf(h)).stages[2].detail).toBe(`would restore ${SNAPSHOT.id}`);
    expect(r).toEqual({ outcome: 'dry-run-passed', dblabHost: 'dblab.example.internal:2345', snapshot: SNAPSHOT.id });
  });

  test('dry run with problems: all of them in one DryRunProblems failure, still nothing created', async () => {
    mocks.set('dblabCheck', async () => ({ status: 'refreshing', busy: true }));
    mocks.set('dblabCheckConfigAccess', failing('DBLab refuses config changes (403)', 'DblabConfigForbidden'));
    mocks.set('rdsValidate', async () => ['subnet group db-subnets not found']);
    const h = await refresh(config({ dryRun: true }));
    const f = await expectFailure(h, 'DryRunProblems');
    expect(f.message).toBe(
      'dry run found 3 problem(s): (1) DBLab is busy (refreshing): a refresh now would be skipped; (2) DBLab refuses config changes (403); (3) subnet group db-subnets not found',
    );
    expect(mocks.names()).toEqual(['dblabCheck', 'dblabCheckConfigAccess', 'rdsValidate']);
    // the checks that found problems are failed (✘), each with its own problems
    expect(await stagesOf(h)).toEqual(
      all('skipped', { validate: 'done', 'check-dblab': 'failed', 'find-snapshot': 'failed' }),
    );
    const stages = (await progressOf(h)).stages;
    expect(stages[1].error).toBe(
      'DBLab is busy (refreshing): a refresh now would be skipped; DBLab refuses config changes (403)',
    );
    expect(stages[2].error).toBe('subnet group db-subnets not found');
  });

  test('a stage failing after the clone exists fails the run naming it, and the clone is still deleted', async () => {
    mocks.set('dblabFullRefresh', failing('DBLab answered 500', 'DblabError'));
    const h = await refresh(config());
    const f = await expectFailure(h, 'StageFailed');
    expect(f.message).toBe('stage "full-refresh" failed: DBLab answered 500');
    expect(f.details).toEqual([{ stage: 'full-refresh' }]);
    expect(mocks.names().slice(-3)).toEqual(['dblabFullRefresh', 'dblabRestoreSource', 'rdsDeleteClone']);
    expect(mocks.args('rdsDeleteClone')[0].slice(1)).toEqual([
      cloneOf(),
      { runId: h.firstExecutionRunId, byTag: true },
    ]);
    expect(await stagesOf(h)).toEqual(
      all('done', { 'prepare-clone': 'skipped', 'full-refresh': 'failed', 'wait-refresh': 'pending' }),
    );
  });

  test('a failure before any clone is made deletes nothing; the later stages stay pending', async () => {
    mocks.set('rdsFindSnapshot', failing('no automated snapshot of app-prod', 'SnapshotNotFound'));
    const h = await refresh(config());
    const f = await expectFailure(h, 'StageFailed');
    expect(f.message).toBe('stage "find-snapshot" failed: no automated snapshot of app-prod');
    expect(mocks.names()).toEqual(['dblabCheck', 'rdsFindSnapshot']);
    expect(await stagesOf(h)).toEqual(
      all('pending', { validate: 'done', 'check-dblab': 'done', 'find-snapshot': 'failed' }),
    );
  });

  test('a clone that cannot be deleted fails an otherwise successful run at delete-clone', async () => {
    mocks.set('rdsDeleteClone', failing('deletion protection is on', 'InvalidDBInstanceState'));
    const h = await refresh(config());
    const f = await expectFailure(h, 'StageFailed');
    expect(f.message).toBe('stage "delete-clone" failed: deletion protection is on');
    expect(await stagesOf(h)).toEqual(all('done', { 'prepare-clone': 'skipped', 'delete-clone': 'failed' }));
  });

  test('cancelled while the clone is created: the create settles, nothing more runs, the clone is deleted, the run ends cancelled', async () => {
    const gate = new Gate();
    mocks.set('rdsCreateClone', gate.then({ changed: true, detail: 'restoring' }));
    const h = await refresh(config());
    await cancelWhileHeld(gate, h);
    expect(mocks.names()).toEqual([
      'dblabCheck',
      'rdsFindSnapshot',
      'refreshCloneName',
      'rdsCreateClone',
      'rdsDeleteClone',
    ]);
    expect(mocks.args('rdsDeleteClone')[0].slice(1)).toEqual([
      cloneOf(),
      { runId: h.firstExecutionRunId, byTag: true },
    ]);
    expect(await stagesOf(h)).toEqual(
      all('pending', {
        validate: 'done',
        'check-dblab': 'done',
        'find-snapshot': 'done',
        'create-clone': 'done',
        'wait-clone': 'failed',
        'restore-dblab': 'pending', // never configured: nothing to restore
        'delete-clone': 'done',
      }),
    );
    expect((await progressOf(h)).stages[4].error).toBe('cancelled');
  });

  test('cancelled while waiting for the refresh: the clone is deleted and the run ends cancelled', async () => {
    const gate = new Gate();
    mocks.set('dblabWaitRefresh', gate.then({ polls: 1, transientErrors: 0 }));
    const h = await refresh(config());
    await gate.entered;
    await h.cancel();
    try {
      await expectCancelled(h);
    } finally {
      gate.release();
    }
    expect(mocks.names().slice(-3)).toEqual(['dblabWaitRefresh', 'dblabRestoreSource', 'rdsDeleteClone']);
    expect(mocks.args('rdsDeleteClone')[0][1]).toBe(cloneOf());
    expect(await stagesOf(h)).toMatchObject({
      'full-refresh': 'done',
      'wait-refresh': 'failed',
      'restore-dblab': 'done',
      'delete-clone': 'done',
    });
  });

  /** A check that finds the wait not over, as a real wait activity's (src/activities/poll.ts) fails. */
  const stillWaiting = (what: string, status: string) =>
    ApplicationFailure.create({ type: 'StillWaiting', message: `waiting for ${what}`, details: [{ what, status }] });
  /** Activity task events of `type` in the run's history. */
  const activityEvents = async (h: WorkflowHandleWithFirstExecutionRunId, type: string) => {
    const events = (await h.fetchHistory()).events ?? [];
    const scheduled = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === type);
    const ids = new Set(scheduled.map((e) => String(e.eventId)));
    const later = events.filter((e) => {
      const a =
        e.activityTaskStartedEventAttributes ??
        e.activityTaskCompletedEventAttributes ??
        e.activityTaskFailedEventAttributes ??
        e.activityTaskTimedOutEventAttributes;
      return a && ids.has(String(a.scheduledEventId));
    });
    return scheduled.length + later.length;
  };

  test('wait-clone and wait-refresh poll by retry: one check per attempt, three history events per wait', async () => {
    const attempts: Record<string, number[]> = { rdsWaitClone: [], dblabWaitRefresh: [] };
    mocks.set('rdsWaitClone', async (_p: RefreshPlan, id: string) => {
      const n = Context.current().info.attempt;
      attempts.rdsWaitClone.push(n);
      if (n < 3) throw stillWaiting(`clone ${id} to become available`, 'creating');
      return endpointOf(id);
    });
    mocks.set('dblabWaitRefresh', async () => {
      const n = Context.current().info.attempt;
      attempts.dblabWaitRefresh.push(n);
      if (n < 2) throw stillWaiting('DBLab to finish the full refresh', 'refreshing');
      return { lastRefresh: '2026-11-22T05:00:00Z', polls: n, transientErrors: 0 };
    });
    const h = await refresh(config());
    const r = await h.result();
    expect(attempts).toEqual({ rdsWaitClone: [1, 2, 3], dblabWaitRefresh: [1, 2] });
    expect(r).toMatchObject({ outcome: 'refreshed', polls: 2 });
    // Scheduled, started, completed: the checks in between leave nothing in the history.
    expect(await activityEvents(h, 'rdsWaitClone')).toBe(3);
    expect(await activityEvents(h, 'dblabWaitRefresh')).toBe(3);
    expect(await stagesOf(h)).toEqual(all('done', { 'prepare-clone': 'skipped' }));
  });

  test('while a wait polls by retry, its stage says what it waits for', async () => {
    const gate = new Gate();
    mocks.set('dblabWaitRefresh', gate.then({ polls: 1, transientErrors: 0 }));
    const h = await refresh(config());
    await gate.entered;
    const stage = (await progressOf(h)).stages.find((s) => s.name === 'wait-refresh')!;
    gate.release();
    await h.result();
    expect(stage.status).toBe('running');
    expect(stage.detail).toBe(
      'waiting for DBLab at dblab.example.internal:2345 to finish the full refresh (checked every 1s, up to 1m)',
    );
  });

  test('a wait past its deadline fails its stage with WaitTimeout and the last status; the clone is deleted', async () => {
    // The product's own check (src/activities/poll.ts): it sees no time for another check and says so.
    mocks.set('rdsWaitClone', (p: RefreshPlan, id: string) =>
      checkOnce(
        { what: `clone ${id} to become available`, interval: p.pollInterval, timeout: p.cloneTimeout },
        async () => ({
          done: false,
          status: 'creating',
        }),
      ),
    );
    const h = await refresh(config({ cloneTimeout: '3s' }));
    const f = await expectFailure(h, 'StageFailed');
    expect(f.message).toBe(
      `stage "wait-clone" failed: timed out after 3s waiting for clone ${cloneOf()} to become available (last status: creating)`,
    );
    expect(mocks.names().slice(-1)).toEqual(['rdsDeleteClone']);
    expect(await stagesOf(h)).toMatchObject({
      'wait-clone': 'failed',
      'configure-dblab': 'pending',
      'delete-clone': 'done',
    });
  });

  test('a wait whose schedule-to-close expires is a WaitTimeout too (the same message; the last status when Temporal passes it on)', async () => {
    // A check that never gives up by itself: Temporal's schedule-to-close ends the wait.
    mocks.set('dblabWaitRefresh', async () => {
      throw stillWaiting('DBLab at dblab.example.internal:2345 to finish the full refresh', 'refreshing');
    });
    const h = await refresh(config({ dblab: { ...DBLAB, timeout: '3s', startDeadline: '2s' } }));
    const f = await expectFailure(h, 'StageFailed');
    expect(f.message).toMatch(
      /^stage "wait-refresh" failed: timed out after 3s waiting for DBLab at dblab.example.internal:2345 to finish the full refresh \(last status: (refreshing|unknown)\)$/,
    );
    expect(await stagesOf(h)).toMatchObject({ 'wait-refresh': 'failed', 'delete-clone': 'done' });
  });

  test.each([
    [
      'startDeadline beyond timeout',
      { dblab: { ...DBLAB, startDeadline: '2m' } },
      /startDeadline \(2m\) is longer than dblab.timeout/,
    ],
    ['a literal token', { dblab: { ...DBLAB, token: 'hunter2' } }, /token/],
    ['a reserved clone tag', { clone: { instanceClass: 'db.t3.medium', tags: { ManagedBy: 'me' } } }, /ManagedBy/],
  ])('invalid input (%s) fails as InvalidInput and calls no activity', async (_what, over, message) => {
    const h = await refresh(config(over));
    const f = await expectFailure(h, 'InvalidInput');
    expect(f.message).toMatch(message);
    expect(mocks.names()).toEqual([]);
    expect(await stagesOf(h)).toEqual(all('pending', { validate: 'failed' }));
  });
});

describe('cleanupRefreshClones', () => {
  const cleanup = (i: object) => world().start('cleanupRefreshClones', 'cleanup', [i]);
  const FUTURE = '2999-01-01T00:00:00Z';
  const clones: CloneRecord[] = [
    {
      identifier: 'dblab-refresh-a',
      kind: 'instance',
      status: 'available',
      deleteAfter: '2000-01-01T00:00:00Z',
      workflowId: 'wf-a',
      runId: 'run-a',
    },
    {
      identifier: 'dblab-refresh-b',
      kind: 'cluster',
      status: 'available',
      deleteAfter: FUTURE,
      workflowId: 'wf-b',
      runId: 'run-b',
    },
    {
      identifier: 'dblab-refresh-c',
      kind: 'cluster',
      status: 'available',
      deleteAfter: FUTURE,
      workflowId: 'wf-c',
      runId: 'run-c',
    },
    {
      identifier: 'dblab-refresh-d',
      kind: 'instance',
      status: 'deleting',
      deleteAfter: '2000-01-01T00:00:00Z',
      workflowId: 'wf-d',
      runId: 'run-d',
    },
    { identifier: 'dblab-refresh-e', kind: 'instance', status: 'available' },
  ];
  const where = (aurora: boolean) => ({ region: REGION, kind: aurora ? 'cluster' : 'instance' });
  const setClones = () => {
    mocks.set('rdsListRefreshClones', async () => clones);
    mocks.set('workflowRunStatus', async (wf: string) => (wf === 'wf-b' ? 'RUNNING' : 'COMPLETED'));
  };

  test("deletes expired clones and those whose run ended; keeps running runs' and those being deleted", async () => {
    setClones();
    const h = await cleanup({ region: REGION });
    const r = await h.result();
    expect(mocks.names()).toEqual([
      'rdsListRefreshClones',
      'workflowRunStatus',
      'workflowRunStatus',
      'rdsDeleteClone',
      'rdsDeleteClone',
      'rdsDeleteClone',
    ]);
    expect(mocks.args('rdsListRefreshClones')).toEqual([[REGION]]);
    // Only clones not expired and with an owner are asked about, by their run.
    expect(mocks.args('workflowRunStatus')).toEqual([
      ['wf-b', 'run-b'],
      ['wf-c', 'run-c'],
    ]);
    expect(mocks.args('rdsDeleteClone').map((a) => a.slice(0, 2))).toEqual([
      [where(false), 'dblab-refresh-a'],
      [where(true), 'dblab-refresh-c'],
      [where(false), 'dblab-refresh-e'],
    ]);
    // Each deleted only if it is still the listed run's clone.
    expect(mocks.args('rdsDeleteClone').map((a) => a[2] ?? null)).toEqual([
      { runId: 'run-a' },
      { runId: 'run-c' },
      null,
    ]);
    expect(r).toEqual({
      region: REGION,
      dryRun: false,
      found: 5,
      deleted: [
        { identifier: 'dblab-refresh-a', reason: 'past DeleteAfter 2000-01-01T00:00:00Z' },
        { identifier: 'dblab-refresh-c', reason: 'its run of wf-c is completed' },
        { identifier: 'dblab-refresh-e', reason: 'its run is not found' },
      ],
      kept: [
        { identifier: 'dblab-refresh-b', reason: 'its run of wf-b is still running' },
        { identifier: 'dblab-refresh-d', reason: 'already being deleted' },
      ],
    });
    expect(await stagesOf(h)).toEqual({ list: 'done', decide: 'done', delete: 'done' });
  });

  test('dry run lists what it would delete and deletes nothing', async () => {
    setClones();
    const h = await cleanup({ region: REGION, dryRun: true });
    const r = await h.result();
    expect(mocks.names()).not.toContain('rdsDeleteClone');
    expect(await stagesOf(h)).toEqual({ list: 'done', decide: 'done', delete: 'skipped' });
    expect((await progressOf(h)).stages[2].detail).toBe(
      'dry run: would delete dblab-refresh-a, dblab-refresh-c, dblab-refresh-e',
    );
    expect(r).toMatchObject({
      dryRun: true,
      found: 5,
      deleted: [
        { identifier: 'dblab-refresh-a' },
        { identifier: 'dblab-refresh-c' },
        { identifier: 'dblab-refresh-e' },
      ],
    });
  });

  test('nothing to delete: the delete stage shows skipped', async () => {
    const h = await cleanup({ region: REGION });
    const r = await h.result();
    expect(mocks.names()).toEqual(['rdsListRefreshClones']);
    expect(await stagesOf(h)).toEqual({ list: 'done', decide: 'done', delete: 'skipped' });
    expect(r).toEqual({ region: REGION, dryRun: false, found: 0, deleted: [], kept: [] });
  });

  test('a failing delete fails the run at the delete stage and stops there', async () => {
    setClones();
    mocks.set('rdsDeleteClone', failing('access denied', 'AccessDenied'));
    const h = await cleanup({ region: REGION });
    const f = await expectFailure(h, 'StageFailed');
    expect(f.message).toBe('stage "delete" failed: access denied');
    expect(mocks.args('rdsDeleteClone')).toHaveLength(1);
    expect(await stagesOf(h)).toEqual({ list: 'done', decide: 'done', delete: 'failed' });
  });

  test.each([
    ['a misspelt option', { region: REGION, dryrun: true }, /dryrun/],
    ['a malformed region', { region: 'mars-1' }, /region/],
  ])('invalid input (%s) fails as InvalidInput and calls no activity', async (_what, i, message) => {
    const h = await cleanup(i);
    const f = await expectFailure(h, 'InvalidInput');
    expect(f.message).toMatch(message);
    expect(mocks.names()).toEqual([]);
    expect(await stagesOf(h)).toEqual({ list: 'pending', decide: 'pending', delete: 'pending' });
  });
});
