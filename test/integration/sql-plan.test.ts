/**
 * Plan mode and drift (issue 14) of the SQL workflows on throw-away PostgreSQL (scram-sha-256) and
 * MariaDB servers with real password logins: a plan run lists what provisionDatabase /
 * deprovisionDatabase would do and leaves the catalog exactly as it was (snapshots of databases,
 * roles, memberships, privileges and marks before and after); an apply carrying an outdated plan
 * is refused before anything is made; reconcileDatabase reports an out-of-band grant and a
 * password changed out of band, changes nothing when report-only, repairs both otherwise, and
 * refuses a tenant dbops did not make.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { SA_DRIFT, type Progress } from '../../src/api';
import { createActivities } from '../../src/activities';
import { planResult, type PlannedChange } from '../../src/domain/plan';
import { workerConfig } from '../../src/worker-config';
import { motoAws } from '../helpers/activities';
import {
  loginAs,
  passwordServerUnavailable,
  serverAdmin,
  startPasswordServer,
  type PasswordServer,
  type ServerAdmin,
} from '../helpers/password-servers';
import { runCli } from '../../src/client/cli';
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

interface Stored {
  user: string;
  password: string;
  database: string;
}

interface PlanOut {
  plan: true;
  changes: PlannedChange[];
  fingerprint: string;
}

interface ReconcileOut {
  drift: PlannedChange[];
  repaired: PlannedChange[];
  remaining: PlannedChange[];
  reportOnly: boolean;
}

describe.each(engines)('%s plan mode and reconcile', (engine, unavailable) => {
  if (unavailable) console.warn(`${engine} plan tests skipped: ${unavailable}`);
  const run = unavailable ? test.skip : test;
  const pg = engine === 'postgres';
  const s = {} as {
    srv: PasswordServer;
    t: TestEnv;
    dir: string;
    adm: ServerAdmin;
    worker: Worker;
    running: Promise<void>;
  };

  beforeAll(async () => {
    if (unavailable) return;
    s.srv = await startPasswordServer(engine);
    s.dir = fs.mkdtempSync(path.join(os.tmpdir(), `dbops-plan-${engine}-`));
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
    s.worker = await makeWorker(s.t, createActivities({ env, aws: motoAws(), config }));
    s.running = s.worker.run();
  }, 120_000);

  afterAll(async () => {
    if (unavailable) return;
    s.worker?.shutdown();
    await s.running;
    await s.t?.close();
    await s.adm?.close();
    await s.srv?.stop();
    fs.rmSync(s.dir, { recursive: true, force: true });
  });

  const fresh = (prefix: string) => uniqueName(prefix).replace(/-/g, '_');
  const server = () => ({ host: '127.0.0.1', port: s.srv.port, adminUser: s.srv.adminUser });
  const target = () => ({ kind: 'file' as const, path: path.join(s.dir, `${fresh('creds')}.json`) });
  const input = (tenant: string, credentialsTarget: { kind: 'file'; path: string }, extra: object = {}) => ({
    engine,
    server: server(),
    tenant,
    credentialsTarget,
    ...extra,
  });
  const userOf = (tenant: string) => `${tenant}_app`;
  const readTarget = (t: { path: string }) => JSON.parse(fs.readFileSync(t.path, 'utf8')) as Stored;

  async function start(type: string, args: object, id = uniqueName(type)) {
    return s.t.client.workflow.start(type, { workflowId: id, taskQueue: s.t.taskQueue, args: [args] });
  }
  async function execute<T>(type: string, args: object): Promise<{ result: T; id: string }> {
    const h = await start(type, args);
    return { result: (await h.result()) as T, id: h.workflowId };
  }
  async function failure(type: string, args: object): Promise<{ type?: string; message: string }> {
    const h = await start(type, args);
    const err = await h.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as { type?: string; message: string };
    return { type: cause.type, message: cause.message };
  }

  /**
   * Everything dbops could change, read as the admin: databases (owner, ACL, comment), roles
   * (password verifier, login, comment), memberships, every ACL and ownership dependency; on
   * MariaDB the accounts, database and table privileges, PUBLIC's grants and dbops's registry.
   */
  async function catalog(): Promise<string> {
    if (pg) {
      const [r] = await s.adm.query<{ s: string }>(
        `select json_build_object(
           'databases', (select json_agg(json_build_object('n', datname, 'owner', datdba, 'acl', datacl::text,
                          'mark', shobj_description(oid, 'pg_database')) order by datname) from pg_database),
           'roles', (select json_agg(json_build_object('n', rolname, 'pw', rolpassword, 'login', rolcanlogin,
                          'mark', shobj_description(oid, 'pg_authid')) order by rolname) from pg_authid),
           'members', (select json_agg(json_build_object('r', roleid, 'm', member) order by roleid, member) from pg_auth_members),
           'shdepend', (select json_agg(json_build_object('d', dbid, 'c', classid, 'o', objid, 'r', refobjid, 't', deptype)
                          order by dbid, classid, objid, refobjid, deptype) from pg_shdepend)
         )::text as s`,
      );
      return r.s;
    }
    const q = async (sql: string) => JSON.stringify(await s.adm.query(sql).catch((e: Error) => e.message));
    return [
      await q('SELECT * FROM mysql.global_priv ORDER BY User, Host'),
      await q('SELECT * FROM mysql.db ORDER BY User, Host, Db'),
      await q('SELECT * FROM mysql.tables_priv ORDER BY User, Host, Db, Table_name'),
      await q('SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY 1'),
      await q('SHOW GRANTS FOR PUBLIC'),
      await q('SELECT * FROM `_dbops`.`objects` ORDER BY kind, name'),
    ].join('\n');
  }

  async function logsIn(c: Stored): Promise<boolean> {
    const session = await loginAs(s.srv, c);
    await session?.close();
    return session !== undefined;
  }

  const whats = (cs: PlannedChange[]) => cs.map((c) => `${c.stage} ${c.action} ${c.what}`);

  run(
    'a plan of a new tenant lists what provisioning would make, changes nothing, and an outdated plan is refused',
    async () => {
      const tenant = fresh('plan');
      const creds = target();
      const before = await catalog();
      const { result: plan, id } = await execute<PlanOut>('provisionDatabase', input(tenant, creds, { plan: true }));
      expect(plan.plan).toBe(true);
      expect(whats(plan.changes)).toEqual(
        expect.arrayContaining([
          `ensure-database create database ${tenant}`,
          `ensure-user create user ${userOf(tenant)}`,
          `store-credentials create credentials in file ${creds.path}`,
        ]),
      );
      expect(plan.fingerprint).toBe(planResult(plan.changes).fingerprint);
      expect(await catalog()).toBe(before); // no DDL: the catalog is exactly as it was
      expect(fs.existsSync(creds.path)).toBe(false);
      const progress = await s.t.client.workflow.getHandle(id).query<Progress>('progress');
      const row = (n: string) => progress.stages.find((x) => x.name === n)!;
      expect(row('ensure-database')).toMatchObject({
        status: 'done',
        detail: expect.stringContaining(`would create database ${tenant}`),
      });
      expect(row('verify')).toMatchObject({ status: 'done', detail: 'no change' });
      await recordHistory(id, `provision-plan-${engine}`, '0.5.0');

      // An apply carrying a plan the live state does not match (here: "nothing to do") is refused before anything is made.
      const stale = planResult([]);
      const refused = await failure('provisionDatabase', input(tenant, creds, { expectPlan: stale }));
      expect(refused.type).toBe('PlanOutdated');
      expect(refused.message).toContain(`create database ${tenant}`);
      expect(await catalog()).toBe(before);
      expect(fs.existsSync(creds.path)).toBe(false);

      // Plan and apply together are refused as input.
      expect(
        (
          await failure(
            'provisionDatabase',
            input(tenant, creds, { plan: true, expectPlan: { fingerprint: plan.fingerprint } }),
          )
        ).type,
      ).toBe('InvalidInput');

      // The plan itself applies; afterwards a plan finds nothing to do.
      await execute(
        'provisionDatabase',
        input(tenant, creds, { expectPlan: { plan: true, changes: plan.changes, fingerprint: plan.fingerprint } }),
      );
      expect(await logsIn(readTarget(creds))).toBe(true);
      const again = await execute<PlanOut>('provisionDatabase', input(tenant, creds, { plan: true }));
      expect(again.result.changes).toEqual([]);
    },
    180_000,
  );

  run(
    'a plan for a database dbops did not make fails as the apply would',
    async () => {
      const name = fresh('foreign');
      await s.adm.query(pg ? `CREATE DATABASE ${name}` : `CREATE DATABASE ${name}`);
      const refused = await failure('provisionDatabase', input(name, target(), { plan: true }));
      expect(refused.type).toBe('StageFailed');
      expect(refused.message).toContain('not made by dbops');
    },
    120_000,
  );

  run(
    'reconcile reports an out-of-band grant without changing anything when report-only, and repairs it',
    async () => {
      const tenant = fresh('drift');
      const other = fresh('other');
      const creds = target();
      await execute('provisionDatabase', input(tenant, creds));
      await s.adm.query(`CREATE DATABASE ${other}`);
      await s.adm.query(
        pg
          ? `GRANT CONNECT ON DATABASE ${other} TO ${userOf(tenant)}`
          : `GRANT SELECT ON ${other}.* TO ${userOf(tenant)}@'%'`,
      );
      const grant = pg
        ? `revoke CONNECT on database ${other} from ${userOf(tenant)}`
        : `revoke SELECT on \`${other}\`.* from ${userOf(tenant)}`;

      const before = await catalog();
      const report = await execute<ReconcileOut>('reconcileDatabase', input(tenant, creds, { reportOnly: true }));
      expect(whats(report.result.drift)).toEqual([`grant change ${grant}`]);
      expect(report.result).toMatchObject({ reportOnly: true, repaired: [], remaining: report.result.drift });
      expect(await catalog()).toBe(before);
      const described = await s.t.client.workflow.getHandle(report.id).describe();
      expect(described.typedSearchAttributes.get(SA_DRIFT)).toBe('reported');

      const fixed = await execute<ReconcileOut>('reconcileDatabase', input(tenant, creds));
      expect(whats(fixed.result.repaired)).toEqual([`grant change ${grant}`]);
      expect(fixed.result.remaining).toEqual([]);
      expect((await s.t.client.workflow.getHandle(fixed.id).describe()).typedSearchAttributes.get(SA_DRIFT)).toBe(
        'repaired',
      );
      await recordHistory(fixed.id, `reconcile-database-repaired-${engine}`, '0.5.0');
      if (pg) {
        const [r] = await s.adm.query<{ c: boolean }>(`select has_database_privilege($1, $2, 'CONNECT') as c`, [
          userOf(tenant),
          other,
        ]);
        // PUBLIC still has CONNECT on a database made by hand; the tenant's own grant is what went.
        expect(r.c).toBe(true);
        const [acl] = await s.adm.query<{ a: string | null }>(
          'select datacl::text as a from pg_database where datname = $1',
          [other],
        );
        expect(acl.a ?? '').not.toContain(`${userOf(tenant)}=`);
      } else {
        const grants = (await s.adm.query(`SHOW GRANTS FOR ${userOf(tenant)}@'%'`)).map((r) =>
          String(Object.values(r as object)[0]),
        );
        expect(grants.join('\n')).not.toContain(other);
        expect(grants.join('\n')).toContain(`ALL PRIVILEGES ON \`${tenant.replace(/_/g, '\\_')}\`.*`);
      }
      const none = await execute<ReconcileOut>('reconcileDatabase', input(tenant, creds));
      expect(none.result.drift).toEqual([]);
      expect((await s.t.client.workflow.getHandle(none.id).describe()).typedSearchAttributes.get(SA_DRIFT)).toBe(
        'none',
      );
    },
    180_000,
  );

  run(
    'reconcile repairs a grant on a table elsewhere, a role membership and PUBLIC reaching the tenant database',
    async () => {
      const tenant = fresh('more');
      const other = fresh('elsewhere');
      const user = userOf(tenant);
      const creds = target();
      await execute('provisionDatabase', input(tenant, creds));
      await s.adm.query(`CREATE DATABASE ${other}`);
      let expected: string[];
      if (pg) {
        const there = await serverAdmin(s.srv, other);
        await there.query(`CREATE TABLE t (id int); GRANT SELECT ON t TO ${user}`);
        await there.close();
        const inTenant = await serverAdmin(s.srv, tenant);
        await inTenant.query('GRANT CREATE ON SCHEMA public TO PUBLIC');
        await inTenant.close();
        await s.adm.query(`CREATE ROLE ${other}_role; GRANT ${other}_role TO ${user}`);
        expected = [
          `grant change REVOKE CREATE ON SCHEMA public FROM PUBLIC in ${tenant}`,
          `grant change revoke membership of ${user} in ${other}_role`,
          `grant change revoke the privileges of ${user} on 1 objects in database ${other}`,
        ];
      } else {
        await s.adm.query(`CREATE TABLE ${other}.t (id INT)`);
        await s.adm.query(`GRANT SELECT ON ${other}.t TO ${user}@'%'`);
        await s.adm.query(`GRANT SELECT ON ${tenant}.* TO PUBLIC`);
        expected = [
          `grant change REVOKE SELECT ON \`${tenant}\`.* FROM PUBLIC`,
          `grant change revoke SELECT on \`${other}\`.\`t\` from ${user}`,
        ];
      }
      const found = await execute<ReconcileOut>('reconcileDatabase', input(tenant, creds));
      expect(whats(found.result.drift).sort()).toEqual(expected.sort());
      expect(found.result.remaining).toEqual([]);
      const again = await execute<ReconcileOut>('reconcileDatabase', input(tenant, creds));
      expect(again.result.drift).toEqual([]);
      // The tenant still works in its own database.
      const own = (await loginAs(s.srv, readTarget(creds)))!;
      await own.query('CREATE TABLE mine (id INT)');
      await own.close();
    },
    180_000,
  );

  (pg ? test.skip : run)(
    "reconcile leaves a DBA's PUBLIC grant on a pattern that reaches other databases too (reported, never revoked)",
    async () => {
      // An operator's grant to everyone on every `<prefix>…` database; a run whose tenant is named
      // under that prefix must not take it away from the other databases it serves.
      const prefix = fresh('shr');
      const tenant = `${prefix}_t`;
      const creds = target();
      await execute('provisionDatabase', input(tenant, creds));
      await s.adm.query(`GRANT SELECT ON \`${prefix}%\`.* TO PUBLIC`);
      try {
        const before = await catalog();
        const r = await execute<ReconcileOut>('reconcileDatabase', input(tenant, creds));
        const row = `grant change REVOKE SELECT ON \`${prefix}%\`.* FROM PUBLIC`;
        expect(whats(r.result.drift)).toEqual([row]);
        expect(r.result.drift[0].detail).toContain('by hand');
        expect(whats(r.result.remaining)).toEqual([row]); // left for a person
        expect(await catalog()).toBe(before); // the operator's grant is still there
        const d = await s.t.client.workflow.getHandle(r.id).describe();
        expect(d.typedSearchAttributes.get(SA_DRIFT)).toBe('unrepaired');
      } finally {
        await s.adm.query(`REVOKE SELECT ON \`${prefix}%\`.* FROM PUBLIC`).catch(() => undefined);
      }
    },
    180_000,
  );

  run(
    'a stored password changed out of band is found and replaced by a fresh one that is stored',
    async () => {
      const tenant = fresh('pw');
      const creds = target();
      await execute('provisionDatabase', input(tenant, creds));
      const old = readTarget(creds);
      await s.adm.query(
        pg
          ? `ALTER ROLE ${userOf(tenant)} PASSWORD 'changed-by-hand-1'`
          : `ALTER USER ${userOf(tenant)}@'%' IDENTIFIED BY 'changed-by-hand-1'`,
      );
      expect(await logsIn(old)).toBe(false);
      const r = await execute<ReconcileOut>('reconcileDatabase', input(tenant, creds));
      expect(whats(r.result.drift)).toEqual([`ensure-user change password of ${userOf(tenant)}`]);
      expect(r.result.remaining).toEqual([]);
      const now = readTarget(creds);
      expect(now.password).not.toBe(old.password);
      expect(await logsIn(now)).toBe(true);
    },
    180_000,
  );

  run(
    "reconcile naming a stale copy of the credentials, not the target the user's mark names, resets no password",
    async () => {
      const tenant = fresh('copy');
      const creds = target();
      await execute('provisionDatabase', input(tenant, creds));
      const real = readTarget(creds);
      // An old copy of the record in an allowed place, with a password that no longer works.
      const stale = target();
      const text = fs.readFileSync(creds.path, 'utf8').split(real.password).join('stale-password-1');
      fs.writeFileSync(stale.path, text, { mode: 0o600 });
      const before = await catalog();
      const r = await execute<ReconcileOut>('reconcileDatabase', input(tenant, stale));
      expect(await logsIn(readTarget(creds))).toBe(true); // the tenant's own connection string still works
      expect(whats(r.result.drift)).toEqual([`ensure-user change password of ${userOf(tenant)}`]);
      expect(r.result.drift[0].detail).toContain(creds.path); // the target the mark names
      expect(r.result.remaining).toEqual(r.result.drift);
      expect(await catalog()).toBe(before); // no password was set
      expect(fs.readFileSync(stale.path, 'utf8')).toBe(text); // and no new password went to the copy
    },
    180_000,
  );

  (pg ? run : test.skip)(
    'a procedure granted elsewhere, in a database named with control characters, is revoked; no escape reaches the run',
    async () => {
      const tenant = fresh('proc');
      const user = userOf(tenant);
      const creds = target();
      await execute('provisionDatabase', input(tenant, creds));
      const other = `${fresh('ev')}\u001b]0;x\u0007`;
      await s.adm.query(`CREATE DATABASE "${other}"`);
      try {
        const there = await serverAdmin(s.srv, other);
        await there.query(`CREATE PROCEDURE p() LANGUAGE sql AS 'select 1'; GRANT EXECUTE ON PROCEDURE p() TO ${user}`);
        await there.close();
        const h = await start('reconcileDatabase', input(tenant, creds));
        const outcome = await h.result().then(
          (r) => ({ ok: true, r: r as ReconcileOut }),
          (e: unknown) => ({ ok: false, e: e as WorkflowFailedError }),
        );
        const progress = await h.query<Progress>('progress');
        // eslint-disable-next-line no-control-regex
        const control = /[\u0000-\u001f\u007f]/;
        for (const st of progress.stages) {
          expect(st.detail ?? '').not.toMatch(control);
          expect(st.error ?? '').not.toMatch(control);
        }
        if (!outcome.ok) {
          const cause = (outcome as { e: WorkflowFailedError }).e.cause as Error;
          expect(cause.message).not.toMatch(control);
        }
        expect(outcome.ok).toBe(true);
        expect((outcome as { r: ReconcileOut }).r.remaining).toEqual([]);
      } finally {
        await s.adm.query(`DROP DATABASE "${other}"`).catch(() => undefined);
      }
    },
    180_000,
  );

  run(
    'reconcile refuses a tenant dbops did not make, and changes nothing',
    async () => {
      const name = fresh('byhand');
      await s.adm.query(`CREATE DATABASE ${name}`);
      await s.adm.query(
        pg
          ? `CREATE ROLE ${userOf(name)} LOGIN PASSWORD 'by-hand-pw-1'`
          : `CREATE USER ${userOf(name)}@'%' IDENTIFIED BY 'by-hand-pw-1'`,
      );
      const before = await catalog();
      const refused = await failure('reconcileDatabase', input(name, target()));
      expect(refused.message).toContain('not made by dbops');
      expect(await catalog()).toBe(before);
    },
    120_000,
  );

  run(
    'a deprovision plan lists what would be dropped, with the table count, and drops nothing',
    async () => {
      const tenant = fresh('gone');
      const creds = target();
      await execute('provisionDatabase', input(tenant, creds));
      const own = (await loginAs(s.srv, readTarget(creds)))!;
      await own.query('CREATE TABLE t1 (id INT)');
      await own.query('CREATE TABLE t2 (id INT)');
      await own.close();
      const before = await catalog();
      const dep = { engine, server: server(), tenant, reclaimPolicy: 'delete', credentialsTarget: creds };
      const { result } = await execute<PlanOut>('deprovisionDatabase', { ...dep, plan: true });
      expect(result.changes).toEqual([
        { stage: 'drop-database', action: 'delete', what: `database ${tenant}`, detail: '2 tables, with their data' },
        { stage: 'drop-user', action: 'delete', what: `user ${userOf(tenant)}` },
        { stage: 'remove-credentials', action: 'delete', what: `credentials in file ${creds.path}` },
      ]);
      expect(await catalog()).toBe(before);
      expect(fs.existsSync(creds.path)).toBe(true);
      const stale = await failure('deprovisionDatabase', { ...dep, expectPlan: planResult([]) });
      expect(stale.type).toBe('PlanOutdated');
      expect(await catalog()).toBe(before);
    },
    180_000,
  );

  run(
    'dbops db provision --plan, --expect-plan-from, and --schedule --report-only',
    async () => {
      const tenant = fresh('cli');
      const creds = target();
      const env = { TEMPORAL_ADDRESS: testAddress(), TEMPORAL_NAMESPACE: 'default', DBOPS_TASK_QUEUE: s.t.taskQueue };
      const flags = [
        ...['--engine', engine, '--host', '127.0.0.1', '--port', String(s.srv.port), '--admin-user', s.srv.adminUser],
        ...['--tenant', tenant, '--credentials-file', creds.path],
      ];
      const cli = async (...argv: string[]) => {
        const c = captureIo();
        const code = await runCli(argv, c.io, env);
        return { code, out: c.out(), err: c.err() };
      };
      const before = await catalog();
      const planned = await cli('db', 'provision', ...flags, '--plan');
      expect(planned.code).toBe(0);
      expect(planned.out).toMatch(new RegExp(`ensure-database\\s+create\\s+database ${tenant}`));
      const fp = /fingerprint (plan-v1:[0-9a-f]{64})/.exec(planned.out)?.[1];
      expect(fp).toBeDefined();
      expect(await catalog()).toBe(before);
      const planId = `provision-db:${engine}:127.0.0.1:${tenant}:plan`;
      expect(planned.out).toContain(`--expect-plan-from ${planId}`);

      // The tenant is provisioned meanwhile: the plan is outdated, and the apply names what differs.
      await execute('provisionDatabase', input(tenant, creds));
      const stale = await cli('db', 'provision', ...flags, '--expect-plan-from', planId);
      expect(stale.code).toBe(1);
      expect(stale.err).toContain('no longer: create database');
      expect((await cli('db', 'provision', ...flags, '--expect-plan', fp!)).code).toBe(1);
      const again = await cli('db', 'provision', ...flags, '--plan');
      expect(again.out).toContain('no changes');
      const fp2 = /fingerprint (plan-v1:[0-9a-f]{64})/.exec(again.out)?.[1];
      expect((await cli('db', 'provision', ...flags, '--expect-plan', fp2!)).code).toBe(0);

      const sid = uniqueName('reconcile');
      const created = await cli(
        'db',
        'provision',
        ...flags,
        '--schedule',
        '0 3 * * *',
        '--schedule-id',
        sid,
        '--report-only',
      );
      expect(created.code).toBe(0);
      expect(created.out).toContain(`schedule ${sid} created`);
      const sched = s.t.client.schedule.getHandle(sid);
      try {
        const desc = await sched.describe();
        expect(desc.policies.overlap).toBe('SKIP');
        expect(desc.action).toMatchObject({ workflowType: 'reconcileDatabase' });
        expect((desc.action as { args?: unknown[] }).args?.[0]).toMatchObject({ reportOnly: true, tenant });
      } finally {
        await sched.delete().catch(() => undefined);
      }
      expect((await cli('db', 'provision', ...flags, '--report-only')).code).not.toBe(0);
    },
    180_000,
  );
});
