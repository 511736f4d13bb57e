/**
 * A worker process killed (SIGKILL) in the middle of a credential rotation, then started again, on
 * throw-away PostgreSQL and MariaDB servers with real password logins: killed during the switch
 * (the other login's new password set, the Secrets Manager write stalled and dying with the
 * worker), killed during the switch with its write landing late (after the new worker's retried
 * switch wrote its own), and killed in the grace (between the switch and the retirement). Each
 * time the target holds exactly one working credential set while no worker runs, the new worker
 * finishes the run, and afterwards the target's login works and the other one does not. The late
 * write leaves the target naming a password its login no longer has until the retirement, which
 * gives the login that password before retiring the previous one.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { Progress } from '../../src/api';
import { AwsFaultProxy, type FaultRule } from '../fixtures/aws-fault-proxy';
import { motoEndpoint } from '../helpers/activities';
import {
  deleteSecrets,
  readTarget,
  stageStatuses,
  switchAttempt,
  tenantInput,
  type Stored,
  type Target,
} from '../helpers/rotation';
import {
  logsIn,
  passwordServerUnavailable,
  serverAdmin,
  startPasswordServer,
  type PasswordServer,
  type ServerAdmin,
} from '../helpers/password-servers';
import { openTestEnv, testAddress, uniqueName, type TestEnv } from '../helpers/temporal';
import { spawnWorker, until, writeWorkerConfig, type WorkerProcess } from '../helpers/worker-process';

const engines = (['postgres', 'mysql'] as const).map((e) => [e, passwordServerUnavailable(e)] as const);

describe.each(engines)('%s: SIGKILL of the worker mid-rotation', (engine, unavailable) => {
  if (unavailable) console.warn(`${engine} rotation crash tests skipped: ${unavailable}`);
  const run = unavailable ? test.skip : test;
  const pg = engine === 'postgres';
  const s = {} as {
    srv: PasswordServer;
    adm: ServerAdmin;
    t: TestEnv;
    dir: string;
    proxy: AwsFaultProxy;
    env: NodeJS.ProcessEnv;
    taskQueue: string;
    worker?: WorkerProcess;
  };
  const rules: FaultRule[] = [];
  const secrets: string[] = [];

  beforeAll(async () => {
    if (unavailable) return;
    s.srv = await startPasswordServer(engine);
    s.adm = await serverAdmin(s.srv);
    s.t = await openTestEnv();
    s.dir = fs.mkdtempSync(path.join(os.tmpdir(), `dbops-rotcrash-${engine}-`));
    // The worker's Secrets Manager calls go through the fault proxy.
    s.proxy = new AwsFaultProxy(motoEndpoint(), rules);
    await s.proxy.start();
    s.taskQueue = uniqueName('rotcrash-tq');
    s.env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TEMPORAL_ADDRESS: testAddress(),
      DBOPS_TASK_QUEUE: s.taskQueue,
      AWS_ENDPOINT_URL: s.proxy.url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      ADMIN_PW: s.srv.adminPassword,
      DBOPS_CONFIG: writeWorkerConfig({
        databaseServers: {
          db: {
            engine,
            host: '127.0.0.1',
            port: s.srv.port,
            adminUser: s.srv.adminUser,
            adminPassword: 'env:ADMIN_PW',
          },
        },
        credentials: { directories: [s.dir], secretsManagerPrefixes: ['dbops-test/'] },
      }),
    };
    await start();
  }, 120_000);

  afterAll(async () => {
    if (unavailable) return;
    await kill();
    await s.proxy?.stop();
    await s.t?.close();
    await s.adm?.close();
    await s.srv?.stop();
    fs.rmSync(s.dir, { recursive: true, force: true });
    await deleteSecrets(secrets);
  });

  async function start(): Promise<void> {
    s.worker = spawnWorker(s.env);
    const w = s.worker;
    await until(() => w.log().includes('polling task queue'), 'the worker to start', 90_000);
  }

  async function kill(): Promise<void> {
    const w = s.worker;
    s.worker = undefined;
    if (!w || w.child.exitCode !== null || w.child.signalCode !== null) return;
    const exited = new Promise((r) => w.child.once('exit', r));
    w.child.kill('SIGKILL');
    await exited;
  }

  const server = () => ({ host: '127.0.0.1', port: s.srv.port, adminUser: s.srv.adminUser });
  const fresh = (prefix: string) => uniqueName(prefix).replace(/-/g, '_');
  const secret = (): Target => {
    const name = `dbops-test/${uniqueName('rotcrash')}`;
    secrets.push(name);
    return { kind: 'aws-secretsmanager', name };
  };

  /** The target's credentials (the tests' targets always hold some). */
  const current = async (target: Target, stage?: string): Promise<Stored> => (await readTarget(target, stage))!;

  const works = (c: Stored) => logsIn(s.srv, c.user, c.password, c.database);

  /** PostgreSQL: whether the role may log in at all (a retired login is NOLOGIN); MariaDB: whether it exists. */
  async function canLogin(user: string): Promise<boolean> {
    const r = pg
      ? await s.adm.query<{ l: boolean }>('select rolcanlogin as l from pg_roles where rolname = $1', [user])
      : await s.adm.query<{ l: number }>("SELECT 1 AS l FROM mysql.user WHERE User = ? AND Host = '%'", [user]);
    return Boolean(r[0]?.l);
  }

  const input = (tenant: string, target: Target, extra: object = {}) =>
    tenantInput(engine, server(), tenant, target, extra);

  async function provision(tenant: string, target: Target): Promise<Stored> {
    await s.t.client.workflow.execute('provisionDatabase', {
      workflowId: uniqueName('rotcrash-prov'),
      taskQueue: s.taskQueue,
      args: [input(tenant, target)],
    });
    return current(target);
  }

  function rotate(tenant: string, target: Target, gracePeriod: string): Promise<WorkflowHandle> {
    return s.t.client.workflow.start('rotateDatabaseCredentials', {
      workflowId: uniqueName('rotcrash'),
      taskQueue: s.taskQueue,
      args: [input(tenant, target, { gracePeriod })],
    });
  }

  const stages = stageStatuses;
  const ALL_DONE = {
    validate: 'done',
    'check-ownership': 'done',
    'switch-credentials': 'done',
    grace: 'done',
    'retire-previous': 'done',
  };

  const switchAttempts = (h: WorkflowHandle) => switchAttempt(h, engine);

  run(
    'killed during the switch (new password set, target write in flight): the target keeps the old working set; the new worker finishes',
    async () => {
      const target = secret();
      const tenant = fresh('rc');
      const old = await provision(tenant, target);
      const twin = `${old.user}_b`;
      rules.push({ action: 'PutSecretValue', fault: 'stall', times: 1 });
      const h = await rotate(tenant, target, '5s');
      await until(() => s.proxy.held > 0, 'the stalled PutSecretValue');
      expect((await stages(h))['switch-credentials']).toBe('running');
      expect(await canLogin(twin)).toBe(true); // the twin's new password is set; the target does not have it yet

      await kill();
      await until(() => s.proxy.held === 0 && s.proxy.stalledDropped === 1, 'the dead worker’s write to go with it');
      // No worker: the target holds one set, the old one, and it works.
      expect(await current(target)).toEqual(old);
      expect(await works(old)).toBe(true);

      await start();
      const result = await h.result(); // the switch is tried again once its heartbeat timeout passes
      expect(result).toMatchObject({ user: twin, previous: old.user });
      expect(await stages(h)).toEqual(ALL_DONE);
      expect(await switchAttempts(h)).toBeGreaterThanOrEqual(2);
      const now = await current(target);
      expect(now.user).toBe(twin);
      expect(await works(now)).toBe(true);
      expect(await current(target, 'AWSPREVIOUS')).toEqual(old);
      expect(await works(old)).toBe(false);
      if (pg) expect(await canLogin(old.user)).toBe(false); // retired: NOLOGIN
      expect(await canLogin(twin)).toBe(true);
    },
    240_000,
  );

  run(
    "killed during the switch, its write landing late (after the new worker's): the target's login is given that password before the old login is retired",
    async () => {
      const target = secret();
      const tenant = fresh('rc');
      const old = await provision(tenant, target);
      const twin = `${old.user}_b`;
      // Held, not stalled: the dead worker's PutSecretValue still reaches moto once released
      // (release() lets every later held call through too: this test runs after the stall one).
      rules.push({ action: 'PutSecretValue', fault: 'hold', times: 1 });
      const h = await rotate(tenant, target, '15s');
      await until(() => s.proxy.held > 0, 'the held PutSecretValue');
      await kill();
      expect(await current(target)).toEqual(old);
      expect(await works(old)).toBe(true);

      await start();
      await until(async () => (await stages(h)).grace === 'running', 'the retried switch', 120_000);
      const now = await current(target);
      expect(now.user).toBe(twin);
      expect(await works(now)).toBe(true);
      const executed = s.proxy.executed.get('PutSecretValue') ?? 0;
      s.proxy.release();
      await until(() => (s.proxy.executed.get('PutSecretValue') ?? 0) > executed, 'the late write');
      const late = await current(target);
      expect(late.user).toBe(twin);
      expect(late.password).not.toBe(now.password);
      expect(await works(late)).toBe(false); // the window this leaves, until the retirement
      expect(await works(old)).toBe(true);

      await h.result();
      expect(await stages(h)).toEqual(ALL_DONE);
      expect(await current(target)).toEqual(late);
      expect(await works(late)).toBe(true);
      expect(await works(now)).toBe(false);
      expect(await works(old)).toBe(false);
      const retire = (await h.query<Progress>('progress')).stages.find((x) => x.name === 'retire-previous');
      expect(retire?.detail).toContain(`${twin} did not accept the password`);
    },
    240_000,
  );

  run(
    'killed in the grace (after the switch, before the retirement): the target holds the new set, both work until the new worker retires the old',
    async () => {
      const target: Target = { kind: 'file', path: path.join(s.dir, `${fresh('creds')}.json`) };
      const tenant = fresh('rc');
      const old = await provision(tenant, target);
      const h = await rotate(tenant, target, '8s');
      await until(async () => (await stages(h)).grace === 'running', 'the grace period');

      await kill();
      const now = await current(target);
      expect(now.user).toBe(`${old.user}_b`);
      expect(now.password).not.toBe(old.password);
      expect(await works(now)).toBe(true);
      expect(await works(old)).toBe(true); // the grace: a client holding the old set keeps working

      await start();
      await h.result();
      expect(await stages(h)).toEqual(ALL_DONE);
      expect(await current(target)).toEqual(now);
      expect(await works(now)).toBe(true);
      expect(await works(old)).toBe(false);
      if (pg) expect(await canLogin(old.user)).toBe(false);
      expect(await switchAttempts(h)).toBe(1);
    },
    240_000,
  );
});
