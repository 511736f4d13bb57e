/**
 * rotateDatabaseCredentials on throw-away PostgreSQL (scram-sha-256) and MariaDB servers with real
 * password logins, through real provisionDatabase and rotation runs: a client holding the old
 * credentials keeps working through the grace period, the new ones from the target work after the
 * switch, the old login stops working after the grace, no password reaches history, a login dbops
 * did not make is refused, and a switch interrupted after the new password was set (Secrets
 * Manager answering with throttling, then held) leaves the old, working set in the target.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import type { Worker } from '@temporalio/worker';
import mysql from 'mysql2/promise';
import { Client } from 'pg';
import { SA_OPERATION, SA_STAGE, SA_TARGET, type Progress } from '../../src/api';
import { runCli } from '../../src/client/cli';
import { createActivities } from '../../src/activities';
import { AwsClients } from '../../src/activities/aws-clients';
import { workerConfig } from '../../src/worker-config';
import { AwsFaultProxy, type FaultRule } from '../fixtures/aws-fault-proxy';
import { motoAws, motoEndpoint } from '../helpers/activities';
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
  logsIn as logsInTo,
  passwordServerUnavailable,
  serverAdmin,
  startPasswordServer,
  type PasswordServer,
  type ServerAdmin,
} from '../helpers/password-servers';
import {
  captureIo,
  makeWorker,
  openTestEnv,
  recordHistory,
  testAddress,
  uniqueName,
  type TestEnv,
} from '../helpers/temporal';

const engines = (['postgres', 'mysql'] as const).map((e) => [e, passwordServerUnavailable(e)] as const);

/** Every payload's data in a history, decoded, so base64 cannot hide a secret. */
function decodedPayloads(history: unknown): string {
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (o.data instanceof Uint8Array) out.push(Buffer.from(o.data).toString('latin1'));
      else if (typeof o.data === 'string') out.push(Buffer.from(o.data, 'base64').toString('latin1'));
      for (const x of Object.values(o)) walk(x);
    }
  };
  walk(history);
  return `${out.join('\n')}\n${JSON.stringify(history)}`;
}

async function until(check: () => Promise<boolean>, what: string, ms = 90_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.each(engines)('%s with password logins', (engine, unavailable) => {
  if (unavailable) console.warn(`${engine} rotation tests skipped: ${unavailable}`);
  const run = unavailable ? test.skip : test;
  const pg = engine === 'postgres';
  const s = {} as {
    srv: PasswordServer;
    t: TestEnv;
    dir: string;
    adm: ServerAdmin;
    workers: Worker[];
    running: Array<Promise<void>>;
    proxy: AwsFaultProxy;
    faultQueue: string;
  };
  const secrets: string[] = [];
  /** The fault proxy's rules: the proxy reads this array at each call, so a test adds its own. */
  const faultRules: FaultRule[] = [];

  beforeAll(async () => {
    if (unavailable) return;
    s.srv = await startPasswordServer(engine);
    s.dir = fs.mkdtempSync(path.join(os.tmpdir(), `dbops-rot-${engine}-`));
    s.t = await openTestEnv();
    s.adm = await serverAdmin(s.srv);
    const env = { ADMIN_PW: s.srv.adminPassword };
    const config = workerConfig(
      {
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
      },
      'test',
    );
    // A second worker whose Secrets Manager calls go through the fault proxy (its own task queue).
    s.proxy = new AwsFaultProxy(motoEndpoint(), faultRules);
    await s.proxy.start();
    const faulty = new AwsClients({
      endpoint: s.proxy.url,
      defaultRegion: 'us-east-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      maxAttempts: 3,
    });
    s.faultQueue = uniqueName('tq-faults');
    s.workers = [
      await makeWorker(s.t, createActivities({ env, aws: motoAws(), config })),
      await makeWorker(s.t, createActivities({ env, aws: faulty, config }), s.faultQueue),
    ];
    s.running = s.workers.map((w) => w.run());
  }, 120_000);

  afterAll(async () => {
    if (unavailable) return;
    s.proxy?.release();
    for (const w of s.workers ?? []) w.shutdown();
    await Promise.all(s.running ?? []);
    await s.proxy?.stop();
    await s.t?.close();
    await s.adm?.close();
    await s.srv?.stop(); // every database and user made here goes with the server
    fs.rmSync(s.dir, { recursive: true, force: true });
    await deleteSecrets(secrets);
  });

  const server = () => ({ host: '127.0.0.1', port: s.srv.port, adminUser: s.srv.adminUser });
  const fresh = (prefix: string) => uniqueName(prefix).replace(/-/g, '_');
  const file = (): Target => ({ kind: 'file', path: path.join(s.dir, `${fresh('creds')}.json`) });
  const secret = (): Target => {
    const name = `dbops-test/${uniqueName('rot')}`;
    secrets.push(name);
    return { kind: 'aws-secretsmanager', name };
  };

  const logsIn = (user: string, password: string, database: string) => logsInTo(s.srv, user, password, database);
  /** The login's stored password hash, to show a refusal left it alone. */
  async function passwordHash(user: string): Promise<string> {
    const [r] = pg
      ? await s.adm.query<{ h: string }>('select rolpassword as h from pg_authid where rolname = $1', [user])
      : await s.adm.query<{ h: string }>(
          "SELECT authentication_string AS h FROM mysql.user WHERE User = ? AND Host = '%'",
          [user],
        );
    expect(r?.h).toBeTruthy();
    return r.h;
  }
  const works = (c: Stored) => logsIn(c.user, c.password, c.database);

  /** A session of the tenant's own, held open across the rotation. */
  async function session(c: Stored): Promise<{ q(sql: string): Promise<unknown[]>; close(): Promise<void> }> {
    if (pg) {
      const cl = new Client({
        host: '127.0.0.1',
        port: s.srv.port,
        user: c.user,
        password: c.password,
        database: c.database,
      });
      cl.on('error', () => undefined);
      await cl.connect();
      return { q: async (x) => (await cl.query(x)).rows, close: () => cl.end() };
    }
    const m = await mysql.createConnection({
      host: '127.0.0.1',
      port: s.srv.port,
      user: c.user,
      password: c.password,
      database: c.database,
    });
    return { q: async (x) => (await m.query(x))[0] as unknown[], close: () => m.end() };
  }

  const input = (tenant: string, target: Target, extra: object = {}) =>
    tenantInput(engine, server(), tenant, target, extra);

  async function provision(tenant: string, target: Target): Promise<Stored> {
    await s.t.client.workflow.execute('provisionDatabase', {
      workflowId: uniqueName('rot-prov'),
      taskQueue: s.t.taskQueue,
      args: [input(tenant, target)],
    });
    return (await readTarget(target))!;
  }

  function rotate(tenant: string, target: Target, extra: object = {}, taskQueue = s.t.taskQueue) {
    return s.t.client.workflow.start('rotateDatabaseCredentials', {
      workflowId: uniqueName('rot'),
      taskQueue,
      args: [input(tenant, target, extra)],
    });
  }

  const stages = stageStatuses;

  /** The dbops command against the test's Temporal, and the flags naming the tenant and its file target. */
  function dbopsFor(tenant: string, target: Target) {
    const env = { TEMPORAL_ADDRESS: testAddress(), TEMPORAL_NAMESPACE: 'default', DBOPS_TASK_QUEUE: s.t.taskQueue };
    const flags = [
      ...['--engine', engine, '--host', '127.0.0.1', '--port', String(s.srv.port), '--admin-user', s.srv.adminUser],
      ...['--tenant', tenant, '--credentials-file', (target as { path: string }).path],
    ];
    const cli = async (...argv: string[]) => {
      const c = captureIo();
      const code = await runCli(argv, c.io, env);
      return { code, out: c.out(), err: c.err() };
    };
    return { flags, cli };
  }
  const inGrace = (h: WorkflowHandle) => until(async () => (await stages(h)).grace === 'running', 'the grace period');

  async function failure(h: WorkflowHandle): Promise<{ message: string; stages: Record<string, string> }> {
    const err = await h.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    return { message: (err as WorkflowFailedError).cause?.message ?? '', stages: await stages(h) };
  }

  run(
    "a rotation naming a copy of the credentials, not the target the tenant's mark names, is refused; nothing changes",
    async () => {
      const target = file();
      const tenant = fresh('rotcopy');
      const old = await provision(tenant, target);
      // Someone with workflow-start rights copies the record to another allowed file and rotates through it.
      const copy = file();
      fs.copyFileSync((target as { path: string }).path, (copy as { path: string }).path);
      const before = await passwordHash(old.user);
      const h = await rotate(tenant, copy, { gracePeriod: '1s' });
      const f = await failure(h);
      expect(f.message).toMatch(
        /with credentials stored elsewhere \(file:.*\); a rotation through file:.* would leave/,
      );
      expect(f.stages['check-ownership']).toBe('failed');
      expect(f.stages['switch-credentials']).toBe('pending');
      expect(await passwordHash(old.user)).toBe(before);
      expect(await readTarget(target)).toEqual(old);
      expect(await readTarget(copy)).toEqual(old);
      expect(await works(old)).toBe(true);
    },
  );

  run(
    'old credentials work through the grace period, new ones after; the old login stops; no password in history',
    async () => {
      const target = file();
      const tenant = fresh('rot');
      const old = await provision(tenant, target);
      const held = await session(old);
      try {
        const h = await rotate(tenant, target, { gracePeriod: '15s' });
        await inGrace(h);
        const now = (await readTarget(target))!;
        expect(now.user).toBe(`${old.user}_b`);
        expect(now.password).not.toBe(old.password);
        expect(now.connectionString).toContain(`${old.user}_b`);
        // During the grace: both sets log in; the session opened with the old one keeps working.
        expect(await works(old)).toBe(true);
        expect(await works(now)).toBe(true);
        expect(await held.q('SELECT 1 AS one')).toHaveLength(1);
        const fromNew = await session(now);
        await fromNew.q('CREATE TABLE made_by_b (id int)');
        await fromNew.q('INSERT INTO made_by_b VALUES (1)');
        await fromNew.close();
        const heldNew = await session(now);

        // Search attributes as the other workflows set them, and the stage in the progress query.
        const sa = (await h.describe()).typedSearchAttributes;
        expect(sa.get(SA_OPERATION)).toBe('rotateDatabaseCredentials');
        expect(sa.get(SA_TARGET)).toBe(`${engine}://127.0.0.1:${s.srv.port}/${old.database}`);
        expect(sa.get(SA_STAGE)).toBe('grace');
        const result = await h.result();
        expect(result).toMatchObject({ user: `${old.user}_b`, previous: old.user, gracePeriod: '15s' });
        expect(await works(old)).toBe(false);
        expect(await works(now)).toBe(true);
        // After the grace the old credentials stop, sessions opened with them included; the new login's stay.
        await expect(held.q('SELECT 1 AS one')).rejects.toThrow();
        expect(await heldNew.q('SELECT 1 AS one')).toHaveLength(1);
        await heldNew.close();
        const retired = (await h.query<Progress>('progress')).stages.find((x) => x.name === 'retire-previous');
        expect(retired?.detail).toContain('1 session still open with it ended');
        expect(await stages(h)).toEqual({
          validate: 'done',
          'check-ownership': 'done',
          'switch-credentials': 'done',
          grace: 'done',
          'retire-previous': 'done',
        });

        // The second rotation switches back to the first login, with a password it never had.
        const h2 = await rotate(tenant, target, { gracePeriod: '1s' });
        await h2.result();
        const back = (await readTarget(target))!;
        expect(back.user).toBe(old.user);
        expect(back.password).not.toBe(old.password);
        expect(await works(back)).toBe(true);
        expect(await works(now)).toBe(false);
        expect(await works(old)).toBe(false);
        // Both logins see the same objects: what the second login made is the tenant's.
        const again = await session(back);
        expect(await again.q('SELECT id FROM made_by_b')).toEqual([{ id: 1 }]);
        await again.close();

        await recordHistory(h.workflowId, `rotate-${engine}`);
        for (const handle of [h, h2]) {
          const text = decodedPayloads(await handle.fetchHistory()) + JSON.stringify(await handle.query('progress'));
          for (const pw of [old.password, now.password, back.password]) expect(text).not.toContain(pw);
          expect(text).toContain('rotateDatabaseCredentials');
        }
      } finally {
        await held.close().catch(() => undefined);
      }
    },
    180_000,
  );

  run(
    'refused before anything changes: nothing provisioned, a login dbops did not make, bad input',
    async () => {
      // Nothing provisioned in the target: nothing to rotate, the target stays absent.
      const none = file();
      const f1 = await failure(await rotate(fresh('rot'), none, { gracePeriod: '1s' }));
      expect(f1.stages['check-ownership']).toBe('failed');
      expect(f1.stages['switch-credentials']).toBe('pending');
      expect(f1.message).toMatch(/provision the tenant/);
      expect(fs.existsSync((none as { path: string }).path)).toBe(false);

      // The second login exists but dbops did not make it: refused, its password and the target unchanged.
      const target = file();
      const tenant = fresh('rot');
      const old = await provision(tenant, target);
      const intruder = `${old.user}_b`;
      await s.adm.query(
        pg
          ? `CREATE ROLE "${intruder}" LOGIN PASSWORD 'intruder-pw-1'`
          : `CREATE USER '${intruder}'@'%' IDENTIFIED BY 'intruder-pw-1'`,
      );
      const intruderHash = await passwordHash(intruder);
      const f2 = await failure(await rotate(tenant, target, { gracePeriod: '1s' }));
      expect(f2.stages['check-ownership']).toBe('failed');
      expect(f2.stages['switch-credentials']).toBe('pending');
      expect(f2.message).toMatch(/no dbops mark/);
      expect(await readTarget(target)).toEqual(old);
      expect(await works(old)).toBe(true);
      expect(await passwordHash(intruder)).toBe(intruderHash);

      // A target shaped like dbops's, naming a login dbops never made: refused at the catalog's word.
      const foreign = fresh('someone');
      await s.adm.query(
        pg
          ? `CREATE ROLE "${foreign}" LOGIN PASSWORD 'foreign-pw-1'`
          : `CREATE USER '${foreign}'@'%' IDENTIFIED BY 'foreign-pw-1'`,
      );
      const foreignHash = await passwordHash(foreign);
      const forged = file();
      fs.writeFileSync(
        (forged as { path: string }).path,
        JSON.stringify({
          engine,
          host: '127.0.0.1',
          port: s.srv.port,
          database: old.database,
          user: foreign,
          password: 'foreign-pw-1',
        }),
      );
      const f3 = await failure(
        await s.t.client.workflow.start('rotateDatabaseCredentials', {
          workflowId: uniqueName('rot'),
          taskQueue: s.t.taskQueue,
          args: [{ engine, server: server(), database: old.database, user: foreign, credentialsTarget: forged }],
        }),
      );
      expect(f3.stages['check-ownership']).toBe('failed');
      expect(f3.message).toMatch(/no dbops mark|another dbops tenant/);
      expect(await passwordHash(foreign)).toBe(foreignHash);

      // Bad input: refused in validate, nothing else ran.
      const f4 = await failure(await rotate(tenant, target, { gracePeriod: '30d' }));
      expect(f4.stages.validate).toBe('failed');
      expect(f4.stages['check-ownership']).toBe('pending');
      expect(f4.message).toMatch(/gracePeriod 30d must be between 1s and 7d/);
      expect(await readTarget(target)).toEqual(old);
    },
    180_000,
  );

  run(
    'Secrets Manager: a switch interrupted after the new password was set leaves the old, working set; AWSPREVIOUS keeps it',
    async () => {
      const target = secret();
      const tenant = fresh('rot');
      const old = await provision(tenant, target);
      // PutSecretValue throttled past the SDK's retries (attempt 1 fails after setting the new
      // password), then held on attempt 2: the switch stopped between "password set" and "target written".
      faultRules.push(
        { action: 'PutSecretValue', fault: 'throttle', times: 3 },
        { action: 'PutSecretValue', fault: 'hold', times: 1 },
      );
      const h = await rotate(tenant, target, { gracePeriod: '10s' }, s.faultQueue);
      await until(async () => s.proxy.held > 0, 'the held PutSecretValue');
      // Mid-switch: the target still holds the old credentials, and they work.
      expect(await readTarget(target)).toEqual(old);
      expect(await works(old)).toBe(true);
      expect(await loginExists(`${old.user}_b`)).toBe(true); // the password was set before the write
      s.proxy.release();
      await inGrace(h);
      const now = (await readTarget(target))!;
      expect(now.user).toBe(`${old.user}_b`);
      expect(await readTarget(target, 'AWSPREVIOUS')).toEqual(old);
      expect(await works(now)).toBe(true);
      expect(await works(old)).toBe(true);
      await h.result();
      expect(await works(old)).toBe(false);
      expect(await works(now)).toBe(true);
      // The switch ran twice: its first attempt set a password that was never stored, its second stored its own.
      expect(await switchAttempt(h, engine)).toBe(2);
      const text = decodedPayloads(await h.fetchHistory());
      for (const pw of [old.password, now.password]) expect(text).not.toContain(pw);
      expect(s.proxy.seen.get('PutSecretValue')).toBeGreaterThanOrEqual(4);
    },
    180_000,
  );

  run(
    'dbops db rotate: a run followed to the end, and a schedule (overlap skip) whose run rotates',
    async () => {
      const target = file();
      const tenant = fresh('rot');
      const old = await provision(tenant, target);
      const { flags, cli } = dbopsFor(tenant, target);
      const now = await cli('db', 'rotate', ...flags, '--grace', '1s');
      expect(now.err).toContain(`started rotateDatabaseCredentials as rotate-db:${engine}:127.0.0.1:`);
      expect(now.code).toBe(0);
      const first = (await readTarget(target))!;
      expect(first.user).toBe(`${old.user}_b`);
      expect(await works(first)).toBe(true);
      expect(await works(old)).toBe(false);

      const sid = uniqueName('rot-sched');
      const created = await cli(
        'db',
        'rotate',
        ...flags,
        '--grace',
        '1s',
        '--schedule',
        '0 3 1 * *',
        '--schedule-id',
        sid,
      );
      expect(created.code).toBe(0);
      expect(created.out).toContain(`schedule ${sid} created`);
      const sched = s.t.client.schedule.getHandle(sid);
      try {
        const desc = await sched.describe();
        expect(desc.policies.overlap).toBe('SKIP');
        expect(desc.spec.calendars?.length).toBe(1);
        expect(desc.action).toMatchObject({ workflowType: 'rotateDatabaseCredentials' });
        await sched.trigger();
        await until(async () => (await sched.describe()).info.recentActions.length === 1, 'the triggered run');
        const started = (await sched.describe()).info.recentActions[0].action.workflow;
        await s.t.client.workflow.getHandle(started.workflowId, started.firstExecutionRunId).result();
        const second = (await readTarget(target))!;
        expect(second.user).toBe(old.user);
        expect(await works(second)).toBe(true);
        expect(await works(first)).toBe(false);
      } finally {
        await sched.delete().catch(() => undefined);
      }
    },
    180_000,
  );

  function sqlRun(type: 'provisionDatabase' | 'deprovisionDatabase', args: object) {
    return s.t.client.workflow.start(type, {
      workflowId: uniqueName('rot-sql'),
      taskQueue: s.t.taskQueue,
      args: [{ engine, server: server(), ...args }],
    });
  }

  run(
    "rotation twins: a tenant's <user>_b is never provisioned or dropped as a tenant of its own; deprovisioning the tenant drops both",
    async () => {
      const target = file();
      const tenant = fresh('rot');
      const old = await provision(tenant, target);
      await (await rotate(tenant, target, { gracePeriod: '1s' })).result();
      const twin = `${old.user}_b`;
      const current = (await readTarget(target))!;
      expect(current.user).toBe(twin);
      const twinHash = await passwordHash(twin);

      // Provisioning another database with the twin as its user: refused at connect, nothing touched.
      const other = fresh('other');
      const p1 = await failure(
        await sqlRun('provisionDatabase', { tenant: other, database: other, user: twin, credentialsTarget: file() }),
      );
      expect(p1.stages.connect).toBe('failed');
      expect(p1.stages['ensure-database']).toBe('pending');
      expect(p1.message).toContain(`user ${twin}`);
      expect(p1.message).toMatch(/is the rotation twin of dbops login/);
      expect(await passwordHash(twin)).toBe(twinHash);
      expect(await works(current)).toBe(true);

      // Deprovisioning the twin as if it were a tenant's user: refused, the twin and the target kept.
      const d1 = await failure(
        await sqlRun('deprovisionDatabase', { database: old.database, user: twin, reclaimPolicy: 'delete' }),
      );
      expect(d1.stages.connect).toBe('failed');
      expect(d1.message).toMatch(/is the rotation twin of dbops login/);
      expect(d1.message).toContain(`deprovisioning database ${old.database} with user ${old.user} removes both`);
      expect(await works(current)).toBe(true);

      // A user whose twin name is another dbops tenant's user: refused (its rotation could never run).
      const taken = fresh('taken');
      await (
        await sqlRun('provisionDatabase', { tenant: taken, user: `${taken}_b`, credentialsTarget: file() })
      ).result();
      const p2 = await failure(
        await sqlRun('provisionDatabase', { tenant: fresh('tk'), user: taken, credentialsTarget: file() }),
      );
      expect(p2.stages.connect).toBe('failed');
      expect(p2.message).toMatch(
        new RegExp(`would need ${taken}_b for its credential rotation, but ${taken}_b belongs to another dbops tenant`),
      );
      expect(await loginExists(taken)).toBe(false);

      // The tenant deprovisioned (retain: the data stays): both logins go, the twin's open session too.
      const held = await session(current);
      const d2 = await sqlRun('deprovisionDatabase', { tenant, reclaimPolicy: 'retain', credentialsTarget: target });
      const r = await d2.result();
      expect(r).toMatchObject({ userDropped: true });
      expect(await loginExists(old.user)).toBe(false);
      expect(await loginExists(twin)).toBe(false);
      expect(await databaseExists(old.database)).toBe(true);
      if (pg) await expect(held.q('SELECT 1')).rejects.toThrow();
      await held.close().catch(() => undefined);
      const progress = await d2.query<Progress>('progress');
      expect(progress.stages.find((x) => x.name === 'drop-user')?.detail).toContain(`and its rotation twin ${twin}`);
    },
    180_000,
  );

  async function databaseExists(db: string): Promise<boolean> {
    const r = pg
      ? await s.adm.query('select 1 from pg_database where datname = $1', [db])
      : await s.adm.query('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [db]);
    return r.length > 0;
  }

  run(
    'one rotation of a tenant at a time: while a scheduled run is in its grace, dbops db rotate and a run started directly are refused',
    async () => {
      const target = file();
      const tenant = fresh('rot');
      const old = await provision(tenant, target);
      const { flags, cli } = dbopsFor(tenant, target);
      const sid = uniqueName('rot-overlap');
      expect(
        (await cli('db', 'rotate', ...flags, '--grace', '1h', '--schedule', '0 3 1 * *', '--schedule-id', sid)).code,
      ).toBe(0);
      const sched = s.t.client.schedule.getHandle(sid);
      try {
        await sched.trigger();
        await until(async () => (await sched.describe()).info.recentActions.length === 1, 'the triggered run');
        const started = (await sched.describe()).info.recentActions[0].action.workflow;
        const scheduled = s.t.client.workflow.getHandle(started.workflowId, started.firstExecutionRunId);
        await inGrace(scheduled);
        const switched = (await readTarget(target))!;
        expect(switched.user).toBe(`${old.user}_b`);
        const oldHash = await passwordHash(old.user);
        const twinHash = await passwordHash(switched.user);

        // The manual command: refused before it starts anything, naming the run that holds the tenant.
        const manual = await cli('db', 'rotate', ...flags, '--grace', '1s');
        expect(manual.code).not.toBe(0);
        expect(manual.err).toContain(`is already running: workflow ${started.workflowId}`);
        expect(manual.err).toContain('this one was not started');
        await expect(
          s.t.client.workflow.getHandle(`rotate-db:${engine}:127.0.0.1:${old.database}`).describe(),
        ).rejects.toThrow();

        // A run started some other way (Temporal CLI, another schedule): its check refuses it.
        const direct = await failure(await rotate(tenant, target, { gracePeriod: '1s' }));
        expect(direct.stages['check-ownership']).toBe('failed');
        expect(direct.stages['switch-credentials']).toBe('pending');
        expect(direct.message).toContain(`another rotation of database ${old.database}`);
        expect(direct.message).toContain(started.workflowId);

        // Nothing changed: the target, both logins' passwords, and both sets still log in (the grace).
        expect(await readTarget(target)).toEqual(switched);
        expect(await passwordHash(old.user)).toBe(oldHash);
        expect(await passwordHash(switched.user)).toBe(twinHash);
        expect(await works(old)).toBe(true);
        expect(await works(switched)).toBe(true);

        // Once the scheduled run is over, the next rotation runs.
        await scheduled.cancel();
        await scheduled.result().catch(() => undefined);
        expect((await cli('db', 'rotate', ...flags, '--grace', '1s')).code).toBe(0);
        const after = (await readTarget(target))!;
        expect(after.user).toBe(old.user);
        expect(await works(after)).toBe(true);
        expect(await works(switched)).toBe(false);
      } finally {
        await sched.delete().catch(() => undefined);
      }
    },
    180_000,
  );

  /** Whether the login exists on the server at all. */
  async function loginExists(user: string): Promise<boolean> {
    const r = pg
      ? await s.adm.query('select 1 from pg_roles where rolname = $1', [user])
      : await s.adm.query('SELECT 1 FROM mysql.user WHERE User = ?', [user]);
    return r.length > 0;
  }

  async function cancelled(h: WorkflowHandle): Promise<Record<string, string>> {
    const err = await h.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    return stages(h);
  }

  run(
    'cancelled before the switch: nothing changed; cancelled in the grace: the new credentials stay, the old still work',
    async () => {
      const target = secret();
      const tenant = fresh('rot');
      const old = await provision(tenant, target);
      // The check's read of the target is held up (the proxy's one `hold` may be spent already:
      // a long delay), and the run is cancelled meanwhile.
      const seen = s.proxy.seen.get('GetSecretValue') ?? 0;
      faultRules.push({ action: 'GetSecretValue', fault: 'delay', times: 1, delayMs: 5000 });
      const before = await rotate(tenant, target, { gracePeriod: '1s' }, s.faultQueue);
      await until(async () => (s.proxy.seen.get('GetSecretValue') ?? 0) > seen, 'the delayed GetSecretValue');
      await before.cancel();
      const st = await cancelled(before);
      expect(st['switch-credentials']).toBe('pending');
      expect(st['retire-previous']).toBe('pending');
      await new Promise((r) => setTimeout(r, 6000)); // the delayed read went through: nothing came of it
      expect(await readTarget(target)).toEqual(old);
      expect(await works(old)).toBe(true);
      expect(await loginExists(`${old.user}_b`)).toBe(false);

      const during = await rotate(tenant, target, { gracePeriod: '1h' });
      await inGrace(during);
      await during.cancel();
      const st2 = await cancelled(during);
      expect(st2['switch-credentials']).toBe('done');
      expect(st2.grace).toBe('failed');
      expect(st2['retire-previous']).toBe('pending');
      await recordHistory(during.workflowId, `rotate-${engine}-cancelled-in-grace`);
      const now = (await readTarget(target))!;
      expect(now.user).toBe(`${old.user}_b`);
      expect(await works(now)).toBe(true);
      expect(await works(old)).toBe(true); // a cancel never cuts a client off
      // The next rotation gives the first login a password it never had, and retires the second.
      await (await rotate(tenant, target, { gracePeriod: '1s' })).result();
      const back = (await readTarget(target))!;
      expect(back.user).toBe(old.user);
      expect(await works(back)).toBe(true);
      expect(await works(old)).toBe(false);
      expect(await works(now)).toBe(false);
    },
    180_000,
  );
});
