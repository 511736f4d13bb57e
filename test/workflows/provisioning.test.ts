/**
 * Workflow logic of provisionDatabase and deprovisionDatabase with mocked SQL and credentials
 * activities: stage order and the engine's activities, skipping, failures, cancellation and its
 * undo (only what this run made, found by its run id), invalid input.
 *
 * No time-skipping test server is available offline (TestWorkflowEnvironment.createTimeSkipping
 * downloads one), so these run on the real Temporal dev server that jest's global setup starts;
 * the mocked activities return at once, so each run takes a fraction of a second.
 */
import type { WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { provisionStepRegistry } from '../../src/activities/sql/provision-steps';
import type { SqlEngineActivities } from '../../src/activities/sql/types';
import type { SqlPlan } from '../../src/domain/provision';
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
  type Impl,
} from '../helpers/mocked-activities';

const step =
  (detail: string): Impl =>
  async () => ({ changed: true, detail });
const unchanged =
  (detail: string): Impl =>
  async () => ({ changed: false, detail });

function engineSteps(engine: 'postgres' | 'mysql'): Record<string, Impl> {
  return {
    [`${engine}Connect`]: async () => ({
      serverVersion: '16.2',
      detail: `${engine} 16.2, admin can create databases and users`,
    }),
    [`${engine}EnsureDatabase`]: step('created database'),
    [`${engine}EnsureUser`]: step('created user'),
    [`${engine}Grant`]: step('granted'),
    [`${engine}Verify`]: async () => ({ changed: false, detail: 'the user reaches its database only' }),
    [`${engine}DropDatabase`]: step('dropped database'),
    [`${engine}DropUser`]: step('dropped user'),
  };
}

/**
 * A new run sends three activities (patch provision-database-fewer-activities): the worker's real
 * combination (src/activities/sql/provision-steps.ts) of the mocked steps, so both the combined
 * activity and each step it runs are recorded, in order.
 */
function combined(): Record<string, Impl> {
  const d = () => mocks.activities();
  const engine = (e: string) =>
    ({
      connect: (plan: SqlPlan) => d()[`${e}Connect`](plan),
      ensureDatabase: (plan: SqlPlan) => d()[`${e}EnsureDatabase`](plan),
      ensureUser: (plan: SqlPlan) => d()[`${e}EnsureUser`](plan),
      grant: (plan: SqlPlan) => d()[`${e}Grant`](plan),
      verify: (plan: SqlPlan) => d()[`${e}Verify`](plan),
    }) as unknown as SqlEngineActivities;
  const registry = provisionStepRegistry(engine('postgres'), engine('mysql'), {
    checkCredentialsTarget: (plan) => d().checkCredentialsTarget(plan),
    storeCredentials: (plan) => d().storeCredentials(plan),
  });
  return Object.fromEntries(
    Object.keys(registry).map((name) => [name, (plan: SqlPlan) => (registry as Record<string, Impl>)[name](plan)]),
  );
}

const mocks: MockActivities = new MockActivities({
  ...combined(),
  ...engineSteps('postgres'),
  ...engineSteps('mysql'),
  checkCredentialsTarget: async () => undefined,
  storeCredentials: async (plan: SqlPlan) => ({
    changed: true,
    credentialsRef: `file:${(plan.credentialsTarget as { path: string }).path}`,
  }),
  removeCredentials: async () => ({ changed: true }),
});
const world = useMockedWorld(mocks);

const CREDS = { kind: 'file', path: '/tmp/dbops-workflow-tests/acme.json' };
const SERVER = { host: 'db.example.internal', adminUser: 'dbadmin', adminPasswordRef: 'env:ADMIN_PW' };
const input = (over: Record<string, unknown> = {}) => ({
  engine: 'postgres',
  server: SERVER,
  tenant: 'acme-prod',
  credentialsTarget: CREDS,
  ...over,
});
const PG_PLAN = {
  engine: 'postgres',
  server: { ...SERVER, port: 5432 },
  database: 'acme_prod',
  user: 'acme_prod_app',
  auth: 'password',
  sslMode: 'disable',
  credentialsTarget: CREDS,
};

describe('provisionDatabase', () => {
  const provision = (i: object): Promise<WorkflowHandleWithFirstExecutionRunId> =>
    world().start('provisionDatabase', 'prov', [i]);
  const ALL_DONE = {
    validate: 'done',
    connect: 'done',
    'ensure-database': 'done',
    'ensure-user': 'done',
    grant: 'done',
    verify: 'done',
    'store-credentials': 'done',
  };

  test("a full run sends three activities that run the engine's steps in order with the plan (names derived, run id set) and ends with every stage done, each with its step's detail", async () => {
    const h = await provision(input());
    const r = await h.result();
    expect(mocks.names()).toEqual([
      'postgresConnectAndCheck',
      'postgresConnect',
      'checkCredentialsTarget',
      'postgresEnsureTenant',
      'postgresEnsureDatabase',
      'postgresEnsureUser',
      'postgresGrant',
      'postgresVerifyAndStore',
      'postgresVerify',
      'storeCredentials',
    ]);
    const plan = { ...PG_PLAN, runId: h.firstExecutionRunId };
    for (const c of mocks.calls) expect(c.args).toEqual([plan]);
    expect(await stagesOf(h)).toEqual(ALL_DONE);
    const details = Object.fromEntries((await progressOf(h)).stages.map((s) => [s.name, s.detail]));
    expect(details).toMatchObject({
      connect: 'postgres 16.2, admin can create databases and users',
      'ensure-database': 'created database',
      'ensure-user': 'created user',
      grant: 'granted',
      verify: 'the user reaches its database only',
      'store-credentials': `file:${CREDS.path}`,
    });
    // The stages of one activity are laid out one after the other, each with its own step's time.
    const at = Object.fromEntries((await progressOf(h)).stages.map((s) => [s.name, s]));
    expect(at['ensure-user'].startedAt).toBe(at['ensure-database'].finishedAt);
    expect(at.grant.startedAt).toBe(at['ensure-user'].finishedAt);
    expect(at['store-credentials'].startedAt).toBe(at.verify.finishedAt);
    expect(r).toEqual({
      engine: 'postgres',
      host: SERVER.host,
      port: 5432,
      database: 'acme_prod',
      user: 'acme_prod_app',
      auth: 'password',
      sslMode: 'disable',
      credentialsRef: `file:${CREDS.path}`,
    });
    expect((await progressOf(h)).result).toEqual(r);
  });

  test('mysql runs the mysql activities; a re-run that changes nothing shows its ensure and store stages skipped', async () => {
    for (const s of ['mysqlEnsureDatabase', 'mysqlEnsureUser', 'mysqlGrant']) mocks.set(s, unchanged('already there'));
    mocks.set('storeCredentials', async () => ({ changed: false, credentialsRef: `file:${CREDS.path}` }));
    const h = await provision(input({ engine: 'mysql', server: { ...SERVER, port: 3307 } }));
    const r = await h.result();
    expect(mocks.names()).toEqual([
      'mysqlConnectAndCheck',
      'mysqlConnect',
      'checkCredentialsTarget',
      'mysqlEnsureTenant',
      'mysqlEnsureDatabase',
      'mysqlEnsureUser',
      'mysqlGrant',
      'mysqlVerifyAndStore',
      'mysqlVerify',
      'storeCredentials',
    ]);
    expect(mocks.args('mysqlEnsureDatabase')[0][0]).toMatchObject({ engine: 'mysql', server: { port: 3307 } });
    expect(await stagesOf(h)).toEqual({
      ...ALL_DONE,
      'ensure-database': 'skipped',
      'ensure-user': 'skipped',
      grant: 'skipped',
      'store-credentials': 'skipped',
    });
    expect(r).toMatchObject({ engine: 'mysql', port: 3307, credentialsRef: `file:${CREDS.path}` });
  });

  test('a failing stage fails the run naming it; later stages stay pending and a failure undoes nothing', async () => {
    mocks.set('postgresGrant', failing('permission denied to grant', 'SqlError'));
    const h = await provision(input());
    const f = await expectFailure(h, 'StageFailed');
    expect(f.message).toBe('stage "grant" failed: permission denied to grant');
    expect(f.details).toEqual([{ stage: 'grant' }]);
    expect(await stagesOf(h)).toEqual({
      ...ALL_DONE,
      grant: 'failed',
      verify: 'pending',
      'store-credentials': 'pending',
    });
    expect(mocks.names()).toEqual([
      'postgresConnectAndCheck',
      'postgresConnect',
      'checkCredentialsTarget',
      'postgresEnsureTenant',
      'postgresEnsureDatabase',
      'postgresEnsureUser',
      'postgresGrant',
    ]);
  });

  test('a step failing inside the combined activity fails the run naming its own stage; the steps before it show what they did', async () => {
    mocks.set('postgresEnsureUser', failing('user acme_prod_app belongs to another dbops tenant', 'NotOwnedByDbops'));
    const h = await provision(input());
    const f = await expectFailure(h, 'StageFailed');
    expect(f.message).toBe('stage "ensure-user" failed: user acme_prod_app belongs to another dbops tenant');
    expect(f.details).toEqual([{ stage: 'ensure-user' }]);
    const p = await progressOf(h);
    expect(await stagesOf(h)).toEqual({
      ...ALL_DONE,
      'ensure-user': 'failed',
      grant: 'pending',
      verify: 'pending',
      'store-credentials': 'pending',
    });
    expect(p.stages.find((s) => s.name === 'ensure-database')!.detail).toBe('created database');
    expect(p.stages.find((s) => s.name === 'ensure-user')!.error).toBe(
      'user acme_prod_app belongs to another dbops tenant',
    );
    expect(mocks.names().slice(-3)).toEqual(['postgresEnsureTenant', 'postgresEnsureDatabase', 'postgresEnsureUser']);
  });

  test('a failing store fails the run at store-credentials; verify shows done with its detail', async () => {
    mocks.set('storeCredentials', failing('credentials target lost the password', 'InvalidInput'));
    const h = await provision(input({ engine: 'mysql' }));
    const f = await expectFailure(h, 'InvalidInput'); // the step's refusal type is kept, as for a stage of its own
    expect(f.message).toBe('stage "store-credentials" failed: credentials target lost the password');
    expect(await stagesOf(h)).toEqual({ ...ALL_DONE, 'store-credentials': 'failed' });
    expect((await progressOf(h)).stages.find((s) => s.name === 'verify')!.detail).toBe(
      'the user reaches its database only',
    );
  });

  test('an unusable credentials target fails connect, before anything is created', async () => {
    mocks.set('checkCredentialsTarget', failing("credentials file /tmp/x is not this tenant's", 'NotOwnedByDbops'));
    const h = await provision(input());
    const f = await expectFailure(h, 'StageFailed');
    expect(f.message).toMatch(/^stage "connect" failed: credentials file/);
    expect(mocks.names()).toEqual(['postgresConnectAndCheck', 'postgresConnect', 'checkCredentialsTarget']);
    expect(await stagesOf(h)).toMatchObject({ connect: 'failed', 'ensure-database': 'pending' });
  });

  test('cancelled while the user is created: the combined activity completes (grant too), verify is never sent, and user, database and credentials of this run are undone', async () => {
    const gate = new Gate();
    mocks.set('postgresEnsureUser', gate.then({ changed: true, detail: 'created user' }));
    const h = await provision(input());
    await cancelWhileHeld(gate, h);
    expect(mocks.names()).toEqual([
      'postgresConnectAndCheck',
      'postgresConnect',
      'checkCredentialsTarget',
      'postgresEnsureTenant',
      'postgresEnsureDatabase',
      'postgresEnsureUser',
      'postgresGrant',
      'postgresDropUser',
      'postgresDropDatabase',
      'removeCredentials',
    ]);
    // The undo names this run: the activities drop only what carries its run id in their mark.
    const undo = {
      ...PG_PLAN,
      runId: h.firstExecutionRunId,
      reclaimPolicy: 'delete',
      madeByRun: h.firstExecutionRunId,
    };
    for (const a of ['postgresDropUser', 'postgresDropDatabase', 'removeCredentials'])
      expect(mocks.args(a)).toEqual([[undo]]);
    expect(await stagesOf(h)).toEqual({
      ...ALL_DONE,
      verify: 'failed',
      'store-credentials': 'pending',
    });
    expect((await progressOf(h)).stages.find((s) => s.name === 'verify')!.error).toBe('cancelled');
  });

  test('cancelled during the last stage: the credentials are stored, then everything is undone', async () => {
    const gate = new Gate();
    mocks.set('storeCredentials', gate.then({ changed: true, credentialsRef: `file:${CREDS.path}` }));
    const h = await provision(input({ engine: 'mysql' }));
    await cancelWhileHeld(gate, h);
    expect(mocks.names().slice(-4)).toEqual([
      'storeCredentials',
      'mysqlDropUser',
      'mysqlDropDatabase',
      'removeCredentials',
    ]);
    expect(mocks.args('mysqlDropUser')[0][0]).toMatchObject({
      engine: 'mysql',
      madeByRun: h.firstExecutionRunId,
      reclaimPolicy: 'delete',
    });
    expect(await stagesOf(h)).toEqual(ALL_DONE);
  });

  test('cancelled while connecting: nothing was made, so nothing is undone', async () => {
    const gate = new Gate();
    mocks.set('postgresConnect', gate.then({ serverVersion: '16', detail: 'ok' }));
    const h = await provision(input());
    await gate.entered;
    await h.cancel();
    try {
      await expectCancelled(h);
    } finally {
      gate.release();
    }
    expect(mocks.names()).toEqual(['postgresConnectAndCheck', 'postgresConnect']);
    expect(await stagesOf(h)).toMatchObject({ validate: 'done', connect: 'failed', 'ensure-database': 'pending' });
  });

  test.each([
    ['no tenant', { tenant: undefined }, /tenant/],
    ['the admin as tenant user', { user: 'dbadmin' }, /user "dbadmin" is the server's admin user/],
    ['a system database', { database: 'template1' }, /template1/],
    ['a literal password', { server: { ...SERVER, adminPasswordRef: 'hunter2' } }, /adminPasswordRef/],
    ['no credentials target', { credentialsTarget: undefined }, /credentialsTarget/],
  ])('invalid input (%s) fails as InvalidInput and calls no activity', async (_what, over, message) => {
    const h = await provision(input(over));
    const f = await expectFailure(h, 'InvalidInput');
    expect(f.message).toMatch(message);
    expect(f.message).toMatch(/^stage "validate" failed: invalid input: /);
    expect(mocks.names()).toEqual([]);
    expect(await stagesOf(h)).toMatchObject({ validate: 'failed', connect: 'pending' });
  });
});

describe('deprovisionDatabase', () => {
  const deprovision = (i: object) => world().start('deprovisionDatabase', 'deprov', [i]);

  test('reclaim "delete": connect, drop database, drop user, remove credentials, in order', async () => {
    const h = await deprovision(input({ reclaimPolicy: 'delete' }));
    const r = await h.result();
    expect(mocks.names()).toEqual(['postgresConnect', 'postgresDropDatabase', 'postgresDropUser', 'removeCredentials']);
    for (const c of mocks.calls) expect(c.args).toEqual([{ ...PG_PLAN, reclaimPolicy: 'delete' }]);
    expect(await stagesOf(h)).toEqual({
      validate: 'done',
      connect: 'done',
      'drop-database': 'done',
      'drop-user': 'done',
      'remove-credentials': 'done',
    });
    expect(r).toEqual({
      database: 'acme_prod',
      user: 'acme_prod_app',
      reclaimPolicy: 'delete',
      databaseDropped: true,
      userDropped: true,
    });
  });

  test('reclaim "retain" without a credentials target: the kept database shows skipped, remove-credentials is skipped', async () => {
    mocks.set('mysqlDropDatabase', unchanged('database kept (reclaimPolicy retain)'));
    const h = await deprovision(input({ engine: 'mysql', reclaimPolicy: 'retain', credentialsTarget: undefined }));
    const r = await h.result();
    expect(mocks.names()).toEqual(['mysqlConnect', 'mysqlDropDatabase', 'mysqlDropUser']);
    expect(await stagesOf(h)).toEqual({
      validate: 'done',
      connect: 'done',
      'drop-database': 'skipped',
      'drop-user': 'done',
      'remove-credentials': 'skipped',
    });
    expect((await progressOf(h)).stages[4].detail).toBe('no credentials target given');
    expect(r).toMatchObject({ reclaimPolicy: 'retain', databaseDropped: false, userDropped: true });
  });

  test('nothing left to remove: every remove stage shows skipped', async () => {
    mocks.set('postgresDropDatabase', unchanged('no database'));
    mocks.set('postgresDropUser', unchanged('no user'));
    mocks.set('removeCredentials', async () => ({ changed: false }));
    const h = await deprovision(input({ reclaimPolicy: 'delete' }));
    const r = await h.result();
    expect(await stagesOf(h)).toEqual({
      validate: 'done',
      connect: 'done',
      'drop-database': 'skipped',
      'drop-user': 'skipped',
      'remove-credentials': 'skipped',
    });
    expect((await progressOf(h)).stages[4].detail).toBe('nothing stored');
    expect(r).toMatchObject({ databaseDropped: false, userDropped: false });
  });

  test('a failing stage fails the run naming it; the credentials are not removed', async () => {
    mocks.set(
      'postgresDropUser',
      failing('role "acme_prod_app" cannot be dropped because some objects depend on it', 'SqlError'),
    );
    const h = await deprovision(input({ reclaimPolicy: 'delete' }));
    const f = await expectFailure(h, 'StageFailed');
    expect(f.message).toMatch(/^stage "drop-user" failed: role "acme_prod_app" cannot be dropped/);
    expect(mocks.names()).toEqual(['postgresConnect', 'postgresDropDatabase', 'postgresDropUser']);
    expect(await stagesOf(h)).toEqual({
      validate: 'done',
      connect: 'done',
      'drop-database': 'done',
      'drop-user': 'failed',
      'remove-credentials': 'pending',
    });
  });

  test('invalid input (no reclaimPolicy) fails as InvalidInput and calls no activity', async () => {
    const h = await deprovision(input());
    const f = await expectFailure(h, 'InvalidInput');
    expect(f.message).toMatch(/reclaimPolicy/);
    expect(mocks.names()).toEqual([]);
  });
});
