/**
 * What an outsider with workflow-start rights can make provisioning do to a shared server: on a
 * throw-away PostgreSQL (scram-sha-256) and MariaDB with real password logins, through real
 * provisionDatabase/deprovisionDatabase runs on a worker whose configuration binds the admin
 * password to that server. dbops changes, adopts or drops only what it made for the same tenant
 * (its mark), never the admin login, a privileged account or a system database, and never a
 * credentials target that holds anything but this tenant's dbops credentials. Every refusal is
 * checked to leave the catalog exactly as it was (owners, ACLs, comments, role attributes, the
 * admin's password hash) and to happen before anything is created.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  RestoreSecretCommand,
} from '@aws-sdk/client-secrets-manager';
import { WorkflowFailedError, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Worker } from '@temporalio/worker';
import type { Progress } from '../../src/api';
import { createActivities } from '../../src/activities';
import { pendingDatabaseName } from '../../src/activities/sql/postgres';
import { planDeprovision, planProvision, type SqlPlan } from '../../src/domain/provision';
import { deriveNames } from '../../src/domain/sql-names';
import { workerConfig } from '../../src/worker-config';
import { motoAws } from '../helpers/activities';
import {
  passwordServerUnavailable,
  serverAdmin,
  startPasswordServer,
  type PasswordServer,
  type ServerAdmin,
} from '../helpers/password-servers';
import { connectWith } from '../helpers/sql';
import { makeWorker, openTestEnv, uniqueName, type TestEnv } from '../helpers/temporal';

const engines = (['postgres', 'mysql'] as const).map((e) => [e, passwordServerUnavailable(e)] as const);

interface Run {
  h: WorkflowHandleWithFirstExecutionRunId;
  result: unknown;
  message: string;
  stages: Record<string, string>;
  /** Each failed activity: its type name, failure type, whether retryable, the attempt it failed on. */
  failures: Array<{ activity: string; type?: string; nonRetryable?: boolean; message?: string; attempt: number }>;
}

const sm = () => motoAws().secretsManager();

describe.each(engines)('%s with password logins', (engine, unavailable) => {
  if (unavailable) console.warn(`${engine} ownership tests skipped: ${unavailable}`);
  const run = unavailable ? test.skip : test;
  const pg = engine === 'postgres';
  const s = {} as {
    srv: PasswordServer;
    t: TestEnv;
    dir: string;
    adm: ServerAdmin;
    workers: Worker[];
    running: Array<Promise<void>>;
    adoptQueue: string;
  };
  const secrets: string[] = [];

  beforeAll(async () => {
    if (unavailable) return;
    s.srv = await startPasswordServer(engine);
    s.dir = fs.mkdtempSync(path.join(os.tmpdir(), `dbops-own-${engine}-`));
    s.t = await openTestEnv();
    s.adm = await serverAdmin(s.srv);
    const env = { ADMIN_PW: s.srv.adminPassword };
    const config = (adopt: boolean) =>
      workerConfig(
        {
          databaseServers: {
            db: {
              engine,
              host: '127.0.0.1',
              port: s.srv.port,
              adminUser: s.srv.adminUser,
              adminPassword: 'env:ADMIN_PW',
              ...(adopt ? { adopt: true } : {}),
            },
          },
          credentials: { directories: [s.dir], secretsManagerPrefixes: ['dbops-test/'] },
        },
        'test',
      );
    s.adoptQueue = uniqueName('tq-adopt');
    s.workers = [
      await makeWorker(s.t, createActivities({ env, aws: motoAws(), config: config(false) })),
      await makeWorker(s.t, createActivities({ env, aws: motoAws(), config: config(true) }), s.adoptQueue),
    ];
    s.running = s.workers.map((w) => w.run());
  }, 120_000);

  afterAll(async () => {
    if (unavailable) return;
    for (const w of s.workers ?? []) w.shutdown();
    await Promise.all(s.running ?? []);
    await s.t?.close();
    await s.adm?.close();
    await s.srv?.stop(); // every database and user made here goes with the server
    fs.rmSync(s.dir, { recursive: true, force: true });
    for (const name of secrets)
      await sm()
        .send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }))
        .catch(() => undefined);
  });

  // ---- inputs and runs ------------------------------------------------------------------------

  const server = () => ({ host: '127.0.0.1', port: s.srv.port, adminUser: s.srv.adminUser });
  const fresh = (prefix: string) => uniqueName(prefix).replace(/-/g, '_');
  const file = (name: string) => ({ kind: 'file' as const, path: path.join(s.dir, `${name}.json`) });

  type Target = { kind: 'file'; path: string } | { kind: 'aws-secretsmanager'; name: string };
  function provisionInput<T extends Target = { kind: 'file'; path: string }>(
    names: { tenant?: string; database?: string; user?: string },
    target?: T,
  ) {
    return {
      engine,
      server: server(),
      tenant: names.tenant ?? 'unused',
      ...names,
      credentialsTarget: (target ?? file(fresh('creds'))) as T,
    };
  }
  function deprovisionInput(
    names: { tenant?: string; database?: string; user?: string },
    reclaimPolicy: 'delete' | 'retain',
    target?: object,
  ) {
    return { engine, server: server(), ...names, reclaimPolicy, ...(target ? { credentialsTarget: target } : {}) };
  }

  async function start(
    type: 'provisionDatabase' | 'deprovisionDatabase',
    input: object,
    opts: { adopt?: boolean } = {},
  ): Promise<Run> {
    const taskQueue = opts.adopt ? s.adoptQueue : s.t.taskQueue;
    const h = await s.t.client.workflow.start(type, { workflowId: uniqueName('own'), taskQueue, args: [input] });
    const result = await h.result().catch((e: unknown) => e);
    const progress = await h.query<Progress>('progress');
    const events = (await h.fetchHistory()).events ?? [];
    const scheduled = new Map<string, string>();
    const started = new Map<string, number>();
    for (const e of events) {
      if (e.activityTaskScheduledEventAttributes)
        scheduled.set(String(e.eventId), e.activityTaskScheduledEventAttributes.activityType?.name ?? '');
      if (e.activityTaskStartedEventAttributes)
        started.set(
          String(e.activityTaskStartedEventAttributes.scheduledEventId),
          e.activityTaskStartedEventAttributes.attempt ?? 1,
        );
    }
    const failures = events
      .filter((e) => e.activityTaskFailedEventAttributes)
      .map((e) => {
        const a = e.activityTaskFailedEventAttributes!;
        const id = String(a.scheduledEventId);
        const info = a.failure?.applicationFailureInfo;
        return {
          activity: scheduled.get(id) ?? '',
          type: info?.type ?? undefined,
          nonRetryable: info?.nonRetryable ?? undefined,
          message: a.failure?.message ?? undefined,
          attempt: started.get(id) ?? 0,
        };
      });
    return {
      h,
      result,
      failures,
      message: result instanceof WorkflowFailedError ? (result.cause?.message ?? '') : '',
      stages: Object.fromEntries(progress.stages.map((x) => [x.name, x.status])),
    };
  }
  const provision = (input: object, opts?: { adopt?: boolean }) => start('provisionDatabase', input, opts);
  const deprovision = (input: object, opts?: { adopt?: boolean }) => start('deprovisionDatabase', input, opts);

  /** The run failed in `connect`, once, non-retryably with `type`, before any other stage ran. */
  function refusedAtConnect(r: Run, type: string, mentions: Array<string | RegExp> = []): void {
    expect(r.result).toBeInstanceOf(WorkflowFailedError);
    expect(r.stages.connect).toBe('failed');
    // provisionDatabase's connect stage is one activity with the credentials target's check.
    const connect = 'ensure-database' in r.stages ? `${engine}ConnectAndCheck` : `${engine}Connect`;
    expect(r.failures).toEqual([expect.objectContaining({ activity: connect, type, nonRetryable: true, attempt: 1 })]);
    const next = r.stages['ensure-database'] ?? r.stages['drop-database'];
    expect(next).toBe('pending');
    for (const m of mentions) expect(r.message).toMatch(m);
  }

  /**
   * A name the input validation may also know as reserved (system databases, the admin login,
   * pg_* roles): refused there (InvalidInput, before connecting) or, if it gets through, at connect.
   */
  function refusedAsProtected(r: Run): void {
    expect(r.result).toBeInstanceOf(WorkflowFailedError);
    if (r.stages.validate === 'failed') {
      expect((r.result as WorkflowFailedError).cause).toMatchObject({ type: 'InvalidInput' });
      expect(r.failures).toEqual([]);
      return;
    }
    refusedAtConnect(r, 'ProtectedObject');
  }

  // ---- the catalog, as the admin sees it ------------------------------------------------------

  /** Everything a refused run must leave alone: databases (owner, ACL, comment), accounts, grants, marks. */
  async function catalog(): Promise<unknown> {
    if (pg) {
      return {
        databases: await s.adm
          .query(`select datname, pg_get_userbyid(datdba) as owner, datacl::text as acl, datistemplate, datallowconn,
                                             shobj_description(oid, 'pg_database') as comment from pg_database order by 1`),
        roles: await s.adm
          .query(`select rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication,
                                         rolbypassrls, rolconnlimit, rolvaliduntil::text as valid, rolpassword,
                                         shobj_description(oid, 'pg_authid') as comment from pg_authid order by 1`),
        members: await s.adm.query(
          'select roleid::regrole::text as r, member::regrole::text as m, admin_option from pg_auth_members order by 1, 2',
        ),
      };
    }
    const registry = await s.adm
      .query('SELECT kind, name, db, `user`, credentials, state FROM `_dbops`.`objects` ORDER BY kind, name')
      .catch(() => 'no registry');
    return {
      databases: await s.adm.query(
        'SELECT SCHEMA_NAME AS name, DEFAULT_CHARACTER_SET_NAME AS cs FROM information_schema.SCHEMATA ORDER BY 1',
      ),
      accounts: await s.adm.query('SELECT User, Host, Priv FROM mysql.global_priv ORDER BY 1, 2'),
      dbGrants: await s.adm.query('SELECT * FROM mysql.db ORDER BY Host, Db, User'),
      tableGrants: await s.adm.query(
        'SELECT Host, Db, User, Table_name, Table_priv FROM mysql.tables_priv ORDER BY 1, 2, 3, 4',
      ),
      roles: await s.adm.query('SELECT * FROM mysql.roles_mapping ORDER BY 1, 2, 3'),
      registry,
    };
  }

  /** The admin login's password hash (it must never change). */
  async function adminHash(): Promise<unknown> {
    return pg
      ? (await s.adm.query("select rolpassword from pg_authid where rolname = 'postgres'"))[0]
      : await s.adm.query(
          "SELECT Host, JSON_VALUE(Priv, '$.authentication_string') AS h FROM mysql.global_priv WHERE User = 'root' ORDER BY Host",
        );
  }

  async function databaseExists(db: string): Promise<boolean> {
    return pg
      ? (await s.adm.query('select 1 from pg_database where datname = $1', [db])).length === 1
      : (await s.adm.query('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [db])).length === 1;
  }
  async function userExists(user: string): Promise<boolean> {
    return pg
      ? (await s.adm.query('select 1 from pg_roles where rolname = $1', [user])).length === 1
      : (await s.adm.query('SELECT 1 FROM mysql.user WHERE User = ?', [user])).length > 0;
  }
  /** dbops's mark on an object: the parsed comment (PostgreSQL) or the registry row (MySQL). */
  async function markOf(kind: 'database' | 'user', name: string): Promise<Record<string, unknown> | undefined> {
    if (pg) {
      const [row] = await s.adm.query<{ c: string | null }>(
        kind === 'database'
          ? "select shobj_description(oid, 'pg_database') as c from pg_database where datname = $1"
          : "select shobj_description(oid, 'pg_authid') as c from pg_roles where rolname = $1",
        [name],
      );
      return row?.c ? JSON.parse(row.c) : undefined;
    }
    const rows = await s.adm
      .query<Record<string, unknown>>(
        'SELECT db AS `database`, `user`, credentials, state, run_id FROM `_dbops`.`objects` WHERE kind = ? AND name = ?',
        [kind, name],
      )
      .catch(() => []);
    return rows[0];
  }

  /** A database made by someone else (the admin, by hand), with data in it. */
  async function foreignDatabase(db: string): Promise<void> {
    if (pg) {
      await s.adm.query(`CREATE DATABASE "${db}"`);
      const c = await serverAdmin(s.srv, db);
      await c.query('CREATE TABLE keep (id int); INSERT INTO keep VALUES (42)');
      await c.close();
    } else {
      await s.adm.query(`CREATE DATABASE \`${db}\``);
      await s.adm.query(`CREATE TABLE \`${db}\`.keep (id INT)`);
      await s.adm.query(`INSERT INTO \`${db}\`.keep VALUES (42)`);
    }
  }
  async function keptRows(db: string): Promise<unknown[]> {
    if (pg) {
      const c = await serverAdmin(s.srv, db);
      try {
        return (await c.query<{ id: number }>('select id from keep')).map((r) => r.id);
      } finally {
        await c.close();
      }
    }
    return (await s.adm.query<{ id: number }>(`SELECT id FROM \`${db}\`.keep`)).map((r) => r.id);
  }
  /** A login made by someone else, with a known password; `extra` privileges make it privileged. */
  async function foreignUser(
    user: string,
    extra?: 'superuser' | 'createrole' | 'replication' | 'global' | 'elsewhere' | 'member',
  ): Promise<void> {
    if (pg) {
      const attrs = { superuser: 'SUPERUSER', createrole: 'CREATEROLE', replication: 'REPLICATION' } as Record<
        string,
        string
      >;
      await s.adm.query(
        `CREATE ROLE "${user}" LOGIN PASSWORD 'their-own-password' ${extra && attrs[extra] ? attrs[extra] : ''}`,
      );
      if (extra === 'member') await s.adm.query(`GRANT pg_read_all_data TO "${user}"`);
      if (extra === 'elsewhere') await s.adm.query(`GRANT CONNECT ON DATABASE postgres TO "${user}"`);
      return;
    }
    await s.adm.query("CREATE USER ?@'%' IDENTIFIED BY 'their-own-password'", [user]);
    if (extra === 'global') await s.adm.query("GRANT SELECT, RELOAD ON *.* TO ?@'%'", [user]);
    if (extra === 'elsewhere') await s.adm.query("GRANT SELECT ON `mysql`.* TO ?@'%'", [user]);
  }

  /** Logs in with a kine connection string through the real driver and runs a statement. */
  async function logsIn(connectionString: string): Promise<boolean> {
    try {
      const c = await connectWith(connectionString);
      await c.query('SELECT 1');
      await c.close();
      return true;
    } catch (err) {
      if (/password authentication failed|Access denied/.test(String(err))) return false;
      throw err;
    }
  }

  // ---- the tests ------------------------------------------------------------------------------

  run('the generated password really logs in against a password-checking server; a wrong one does not', async () => {
    const tenant = fresh('real');
    const input = provisionInput({ tenant });
    const r = await provision(input);
    expect(r.message).toBe('');
    const stored = JSON.parse(fs.readFileSync(input.credentialsTarget.path, 'utf8'));
    expect(await logsIn(stored.connectionString)).toBe(true);
    expect(
      await logsIn(stored.connectionString.replace(`:${encodeURIComponent(stored.password)}@`, ':not-the-password@')),
    ).toBe(false);
    const names = deriveNames(tenant, engine);
    expect(await markOf('database', names.database)).toMatchObject({ database: names.database, user: names.user });
    expect(await markOf('user', names.user)).toMatchObject({
      database: names.database,
      user: names.user,
      credentials: `file:${input.credentialsTarget.path}`,
    });
    // The mark names the run that created it (a cancelled run undoes only what carries its id).
    const run = r.h.firstExecutionRunId;
    if (pg)
      expect(await markOf('database', names.database)).toEqual({
        managedBy: 'dbops',
        database: names.database,
        user: names.user,
        run,
      });
    else expect(await markOf('user', names.user)).toMatchObject({ state: 'created', run_id: run });
    expect(stored.run).toBe(run);
  });

  run(
    'system databases, the admin login and privileged accounts are refused before anything is made, even with adopt',
    async () => {
      const boss = fresh('boss');
      const roleAdmin = fresh('croleadmin');
      await foreignUser(boss, pg ? 'superuser' : 'global');
      if (pg) await foreignUser(roleAdmin, 'createrole');
      const before = await catalog();
      const hash = await adminHash();
      const systemDbs = pg
        ? ['postgres', 'template1', 'template0']
        : ['mysql', 'sys', 'performance_schema', 'information_schema'];
      for (const adopt of [false, true]) {
        for (const db of systemDbs)
          refusedAsProtected(await provision(provisionInput({ database: db, user: fresh('u') }), { adopt }));
        refusedAsProtected(await provision(provisionInput({ tenant: pg ? 'postgres' : 'mysql' }), { adopt }));
        // the admin login as the tenant's user (any case)
        refusedAsProtected(await provision(provisionInput({ database: fresh('d'), user: s.srv.adminUser }), { adopt }));
        refusedAsProtected(
          await provision(provisionInput({ database: fresh('d'), user: s.srv.adminUser.toUpperCase() }), { adopt }),
        );
        if (pg)
          refusedAsProtected(await provision(provisionInput({ database: fresh('d'), user: 'pg_monitor' }), { adopt }));
        // privileged accounts the validation cannot know: refused at connect from the live catalog
        const r = await provision(provisionInput({ database: fresh('d'), user: boss }), { adopt });
        refusedAtConnect(r, 'ProtectedObject', [
          new RegExp(`user ${boss}`),
          pg ? /SUPERUSER/ : /server-wide privileges/,
        ]);
        if (pg)
          refusedAtConnect(
            await provision(provisionInput({ database: fresh('d'), user: roleAdmin }), { adopt }),
            'ProtectedObject',
            [/CREATEROLE/],
          );
        // and deprovisioning them
        refusedAtConnect(
          await deprovision(deprovisionInput({ database: fresh('d'), user: boss }, 'delete'), { adopt }),
          'ProtectedObject',
        );
        refusedAsProtected(
          await deprovision(deprovisionInput({ database: systemDbs[0], user: fresh('u') }, 'delete'), { adopt }),
        );
      }
      expect(await catalog()).toEqual(before);
      expect(await adminHash()).toEqual(hash);
    },
  );

  run(
    'an account that exists only for another host (MySQL) or is a member of a system role (PostgreSQL) is not taken',
    async () => {
      const name = fresh('other');
      if (pg) await foreignUser(name, 'member');
      else await s.adm.query("CREATE USER ?@'localhost' IDENTIFIED BY 'x'", [name]);
      const before = await catalog();
      refusedAtConnect(
        await provision(provisionInput({ database: fresh('d'), user: name }), { adopt: true }),
        'ProtectedObject',
        pg ? [/member of pg_read_all_data/] : [/only manages/],
      );
      refusedAtConnect(
        await provision(provisionInput({ database: fresh('d'), user: name })),
        pg ? 'NotOwnedByDbops' : 'ProtectedObject',
      );
      expect(await catalog()).toEqual(before);
    },
  );

  run(
    'an existing database or user that dbops did not make is refused (NotOwnedByDbops) and left exactly as it was',
    async () => {
      const tenant = fresh('legacy');
      const names = deriveNames(tenant, engine);
      await foreignDatabase(names.database);
      await foreignUser(names.user);
      const onlyUser = fresh('legacyuser');
      const onlyUserNames = deriveNames(onlyUser, engine);
      await foreignUser(onlyUserNames.user);
      const before = await catalog();
      const hash = await adminHash();

      const r = await provision(provisionInput({ tenant }));
      refusedAtConnect(r, 'NotOwnedByDbops', [
        new RegExp(`database ${names.database} already exists`),
        /adopt: true on databaseServers\.db in DBOPS_CONFIG/,
      ]);
      const u = await provision(provisionInput({ tenant: onlyUser }));
      refusedAtConnect(u, 'NotOwnedByDbops', [new RegExp(`user ${onlyUserNames.user} already exists`)]);
      expect(await databaseExists(onlyUserNames.database)).toBe(false);
      for (const policy of ['delete', 'retain'] as const) {
        for (const adopt of [false, true]) {
          // adopt is for provisioning only: a deprovision never drops what dbops did not make
          const d = await deprovision(deprovisionInput({ tenant }, policy), { adopt });
          refusedAtConnect(d, 'NotOwnedByDbops', [/refusing to drop/, /does not apply to deprovisioning/]);
        }
      }
      expect(await catalog()).toEqual(before);
      expect(await adminHash()).toEqual(hash);
      expect(await keptRows(names.database)).toEqual([42]);
    },
  );

  run(
    'with adopt: true on the server an unmarked tenant database and user are adopted and marked; the data stays',
    async () => {
      const tenant = fresh('adopt');
      const names = deriveNames(tenant, engine);
      await foreignDatabase(names.database);
      await foreignUser(names.user);
      const input = provisionInput({ tenant });
      const r = await provision(input, { adopt: true });
      expect(r.message).toBe('');
      expect(r.stages).toMatchObject({
        'ensure-database': 'done',
        'ensure-user': 'done',
        grant: 'done',
        verify: 'done',
      });
      expect(await markOf('database', names.database)).toMatchObject({ database: names.database, user: names.user });
      expect(await markOf('user', names.user)).toMatchObject({ database: names.database, user: names.user });
      expect(await keptRows(names.database)).toEqual([42]);
      const stored = JSON.parse(fs.readFileSync(input.credentialsTarget.path, 'utf8'));
      expect(await logsIn(stored.connectionString)).toBe(true); // the adopted user now has the stored password
      // Marked now: the worker without adopt treats it as dbops's (a re-run changes nothing).
      const again = await provision(input);
      expect(again.message).toBe('');
      expect(again.stages).toMatchObject({ 'ensure-database': 'skipped', 'ensure-user': 'skipped', grant: 'skipped' });
    },
  );

  run('with adopt, a user with privileges beyond the tenant database is still not adopted', async () => {
    const tenant = fresh('reach');
    const names = deriveNames(tenant, engine);
    await foreignUser(names.user, 'elsewhere');
    const before = await catalog();
    refusedAtConnect(await provision(provisionInput({ tenant }), { adopt: true }), 'ProtectedObject', [
      /cannot be adopted/,
    ]);
    expect(await catalog()).toEqual(before);
  });

  run("another tenant's user or database is never handed over, not even with adopt", async () => {
    const a = fresh('ta');
    const inA = provisionInput({ tenant: a });
    expect((await provision(inA)).message).toBe('');
    const na = deriveNames(a, engine);
    const before = await catalog();
    const otherDb = fresh('tb');
    for (const adopt of [false, true]) {
      // a run for a new database B with A's user
      const r = await provision(provisionInput({ database: otherDb, user: na.user }), { adopt });
      refusedAtConnect(r, 'NotOwnedByDbops', [/belongs to another dbops tenant/]);
      // a run for A's database with a new user
      refusedAtConnect(
        await provision(provisionInput({ database: na.database, user: fresh('intruder') }), { adopt }),
        'NotOwnedByDbops',
        [/belongs to another dbops tenant/],
      );
      // deprovisioning A's user under another database
      refusedAtConnect(
        await deprovision(deprovisionInput({ database: otherDb, user: na.user }, 'delete'), { adopt }),
        'NotOwnedByDbops',
      );
    }
    expect(await databaseExists(otherDb)).toBe(false);
    expect(await catalog()).toEqual(before);
    const stored = JSON.parse(fs.readFileSync(inA.credentialsTarget.path, 'utf8'));
    expect(await logsIn(stored.connectionString)).toBe(true);
  });

  // PostgreSQL only (MySQL's pending registry row has its own test above).
  if (pg)
    run(
      'PostgreSQL: a crash between CREATE DATABASE and its mark is finished by the next attempt, not refused',
      async () => {
        // What a worker killed right after CREATE DATABASE leaves: the pending database, unmarked.
        const tenant = fresh('crashed');
        const names = deriveNames(tenant, engine);
        const pending = pendingDatabaseName(names.database);
        await s.adm.query(`CREATE DATABASE "${pending}"`);
        const r = await provision(provisionInput({ tenant }));
        expect(r.message).toBe('');
        expect(await databaseExists(pending)).toBe(false);
        expect(await databaseExists(names.database)).toBe(true);
        expect(await markOf('database', names.database)).toMatchObject({
          managedBy: 'dbops',
          database: names.database,
          user: names.user,
        });
        const detail = (await r.h.query<Progress>('progress')).stages.find((x) => x.name === 'ensure-database')?.detail;
        expect(detail).toBe(`created database ${names.database} (finished what an earlier attempt began)`);
      },
    );

  run('deprovisioning what dbops made works with both reclaim policies', async () => {
    for (const policy of ['delete', 'retain'] as const) {
      const tenant = fresh(`dep_${policy}`);
      const names = deriveNames(tenant, engine);
      const input = provisionInput({ tenant });
      expect((await provision(input)).message).toBe('');
      const d = await deprovision(deprovisionInput({ tenant }, policy, input.credentialsTarget));
      expect(d.message).toBe('');
      expect(d.result).toMatchObject({ databaseDropped: policy === 'delete', userDropped: true });
      expect(await userExists(names.user)).toBe(false);
      expect(await databaseExists(names.database)).toBe(policy === 'retain');
      expect(fs.existsSync(input.credentialsTarget.path)).toBe(false);
      const again = await deprovision(deprovisionInput({ tenant }, policy, input.credentialsTarget));
      expect(again.result).toMatchObject({ databaseDropped: false, userDropped: false });
    }
  });

  run(
    'a credentials target holding something else is refused in connect, nothing is made, and a deprovision leaves it',
    async () => {
      // a foreign file
      const tenant = fresh('foreignfile');
      const names = deriveNames(tenant, engine);
      const target = file(fresh('foreign'));
      fs.writeFileSync(target.path, "somebody else's notes\n");
      const before = await catalog();
      refusedAtConnect(await provision(provisionInput({ tenant }, target)), 'CredentialsTargetInUse', [
        /not dbops credentials/,
      ]);
      refusedAtConnect(await deprovision(deprovisionInput({ tenant }, 'delete', target)), 'CredentialsTargetInUse');
      expect(fs.readFileSync(target.path, 'utf8')).toBe("somebody else's notes\n");

      // a foreign Secrets Manager secret (no ManagedBy=dbops tag)
      const secretName = `dbops-test/${fresh('foreign')}`;
      secrets.push(secretName);
      await sm().send(new CreateSecretCommand({ Name: secretName, SecretString: '{"password":"theirs","user":"x"}' }));
      const smTarget = { kind: 'aws-secretsmanager' as const, name: secretName };
      refusedAtConnect(await provision(provisionInput({ tenant }, smTarget)), 'CredentialsTargetInUse', [
        /no ManagedBy=dbops tag/,
      ]);
      refusedAtConnect(await deprovision(deprovisionInput({ tenant }, 'delete', smTarget)), 'CredentialsTargetInUse');
      const d = await sm().send(new DescribeSecretCommand({ SecretId: secretName }));
      expect(d.DeletedDate).toBeUndefined();
      expect((await sm().send(new GetSecretValueCommand({ SecretId: secretName }))).SecretString).toBe(
        '{"password":"theirs","user":"x"}',
      );

      // a symbolic link placed at the target: neither followed for reading nor for writing
      const victim = path.join(s.dir, `${fresh('victim')}.txt`);
      fs.writeFileSync(victim, 'do not touch\n');
      const link = file(fresh('link'));
      fs.symlinkSync(victim, link.path);
      refusedAtConnect(await provision(provisionInput({ tenant }, link)), 'CredentialsTargetInvalid', [
        /symbolic link/,
      ]);
      refusedAtConnect(await deprovision(deprovisionInput({ tenant }, 'delete', link)), 'CredentialsTargetInvalid');
      expect(fs.readFileSync(victim, 'utf8')).toBe('do not touch\n');
      expect(fs.lstatSync(link.path).isSymbolicLink()).toBe(true);

      expect(await databaseExists(names.database)).toBe(false);
      expect(await catalog()).toEqual(before);
    },
  );

  run('a credentials target that is a directory fails at once (one attempt)', async () => {
    const dirTarget = path.join(s.dir, fresh('adir'));
    fs.mkdirSync(dirTarget);
    const r = await provision(provisionInput({ tenant: fresh('dirtarget') }, { kind: 'file', path: dirTarget }));
    refusedAtConnect(r, 'CredentialsTargetInvalid', [/is a directory/]);
    expect(r.failures).toHaveLength(1);
    expect(r.failures[0].attempt).toBe(1);
  });

  run("a target holding another tenant's credentials is refused before the database is made", async () => {
    const a = fresh('owner');
    const inA = provisionInput({ tenant: a });
    expect((await provision(inA)).message).toBe('');
    const content = fs.readFileSync(inA.credentialsTarget.path, 'utf8');
    const b = fresh('thief');
    const r = await provision(provisionInput({ tenant: b }, inA.credentialsTarget));
    refusedAtConnect(r, 'CredentialsTargetInUse', [/credentials of another tenant/]);
    expect(await databaseExists(deriveNames(b, engine).database)).toBe(false);
    expect(await userExists(deriveNames(b, engine).user)).toBe(false);
    // nor does a deprovision of B delete A's credentials
    refusedAtConnect(
      await deprovision(deprovisionInput({ tenant: b }, 'delete', inA.credentialsTarget)),
      'CredentialsTargetInUse',
    );
    expect(fs.readFileSync(inA.credentialsTarget.path, 'utf8')).toBe(content);
    expect(await logsIn(JSON.parse(content).connectionString)).toBe(true);
  });

  run(
    're-provisioning a tenant with a second, empty target is refused; the first password still logs in; a copy is accepted',
    async () => {
      const tenant = fresh('moved');
      const names = deriveNames(tenant, engine);
      const first = provisionInput({ tenant });
      expect((await provision(first)).message).toBe('');
      const firstContent = fs.readFileSync(first.credentialsTarget.path, 'utf8');
      const second = file(fresh('second'));
      const r = await provision(provisionInput({ tenant }, second));
      refusedAtConnect(r, 'CredentialsTargetMismatch', [
        new RegExp(
          `user ${names.user} already exists .* with credentials stored elsewhere \\(file:${first.credentialsTarget.path}\\)`,
        ),
        /never changes the password silently/,
      ]);
      expect(fs.existsSync(second.path)).toBe(false);
      expect(fs.readFileSync(first.credentialsTarget.path, 'utf8')).toBe(firstContent);
      expect(await logsIn(JSON.parse(firstContent).connectionString)).toBe(true);

      // A target that already holds the user's current password (a copy) is fine: nothing changes.
      const copy = file(fresh('copy'));
      fs.writeFileSync(copy.path, firstContent, { mode: 0o600 });
      const c = await provision(provisionInput({ tenant }, copy));
      expect(c.message).toBe('');
      expect(await logsIn(JSON.parse(firstContent).connectionString)).toBe(true);
      expect(await markOf('user', names.user)).toMatchObject({ credentials: `file:${copy.path}` });
    },
  );

  run('Secrets Manager: deprovision deletes only with a recovery window; the secret can be restored', async () => {
    const tenant = fresh('smdel');
    const name = `dbops-test/${tenant}`;
    secrets.push(name);
    const target = { kind: 'aws-secretsmanager' as const, name };
    expect((await provision(provisionInput({ tenant }, target))).message).toBe('');
    const d = await deprovision(deprovisionInput({ tenant }, 'delete', target));
    expect(d.message).toBe('');
    const described = await sm().send(new DescribeSecretCommand({ SecretId: name }));
    expect(described.DeletedDate).toBeInstanceOf(Date);
    await sm().send(new RestoreSecretCommand({ SecretId: name }));
    const restored = JSON.parse((await sm().send(new GetSecretValueCommand({ SecretId: name }))).SecretString!);
    expect(restored).toMatchObject({ engine, user: deriveNames(tenant, engine).user });
  });

  // ---- the steps themselves re-check the live catalog (defense in depth) ----------------------

  describe('each step re-checks on its own (activities called directly, validation bypassed)', () => {
    type Acts = Record<string, (p: SqlPlan) => Promise<unknown>>;
    let acts: Acts;
    beforeAll(() => {
      if (unavailable) return;
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
      acts = createActivities({ env: { ADMIN_PW: s.srv.adminPassword }, aws: motoAws(), config }) as unknown as Acts;
    });
    const P = engine === 'postgres' ? 'postgres' : 'mysql';
    const plan = (over: Partial<SqlPlan> = {}): SqlPlan => ({
      ...planProvision(provisionInput({ tenant: fresh('direct') })),
      ...over,
    });
    const dplan = (over: Partial<SqlPlan> = {}, policy: 'delete' | 'retain' = 'delete') =>
      ({ ...planDeprovision(deprovisionInput({ tenant: fresh('direct') }, policy)), ...over }) as SqlPlan;
    const failureType = async (p: Promise<unknown>) => {
      const err = await p.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect((err as ApplicationFailure).nonRetryable).toBe(true);
      return (err as ApplicationFailure).type;
    };

    run('system databases and the admin login, in every step', async () => {
      const before = await catalog();
      const sys = pg ? 'template1' : 'mysql';
      for (const step of ['Connect', 'EnsureDatabase', 'Grant'])
        expect(await failureType(acts[`${P}${step}`](plan({ database: sys })))).toBe('ProtectedObject');
      for (const step of ['Connect', 'EnsureUser', 'Grant'])
        expect(await failureType(acts[`${P}${step}`](plan({ user: s.srv.adminUser })))).toBe('ProtectedObject');
      expect(await failureType(acts[`${P}DropDatabase`](dplan({ database: sys })))).toBe('ProtectedObject');
      expect(await failureType(acts[`${P}DropUser`](dplan({ user: s.srv.adminUser })))).toBe('ProtectedObject');
      expect(await catalog()).toEqual(before);
    });

    run('unmarked objects, in every step that would change them', async () => {
      const db = fresh('handmade');
      const user = fresh('handmade_u');
      await foreignDatabase(db);
      await foreignUser(user);
      const before = await catalog();
      expect(await failureType(acts[`${P}EnsureDatabase`](plan({ database: db })))).toBe('NotOwnedByDbops');
      expect(await failureType(acts[`${P}EnsureUser`](plan({ user })))).toBe('NotOwnedByDbops');
      expect(await failureType(acts[`${P}Grant`](plan({ database: db, user })))).toBe('NotOwnedByDbops');
      expect(await failureType(acts[`${P}DropDatabase`](dplan({ database: db, user })))).toBe('NotOwnedByDbops');
      expect(await failureType(acts[`${P}DropDatabase`](dplan({ database: db, user }, 'retain')))).toBe(
        'NotOwnedByDbops',
      );
      expect(await failureType(acts[`${P}DropUser`](dplan({ database: db, user })))).toBe('NotOwnedByDbops');
      // the ensure-user step claimed a password in its target first; the user's own is unchanged
      expect(await catalog()).toEqual(before);
      expect(await keptRows(db)).toEqual([42]);
    });

    run("removeCredentials deletes only this tenant's dbops credentials", async () => {
      const target = file(fresh('notmine'));
      fs.writeFileSync(target.path, '{"not":"dbops"}');
      expect(await failureType(acts.removeCredentials(dplan({ credentialsTarget: target })))).toBe(
        'CredentialsTargetInUse',
      );
      expect(fs.existsSync(target.path)).toBe(true);
      const outside = { kind: 'file' as const, path: path.join(os.tmpdir(), `${fresh('outside')}.json`) };
      expect(await failureType(acts.removeCredentials(dplan({ credentialsTarget: outside })))).toBe(
        'CredentialsTargetNotAllowed',
      );
    });

    if (engine === 'mysql') {
      run('MySQL: a crash between the registry row and the CREATE is resolved safely', async () => {
        // pending row + the database exists and is still empty: the interrupted run's own → completed
        const p1 = plan();
        await s.adm.query('CREATE DATABASE IF NOT EXISTS `_dbops`');
        await acts.mysqlEnsureDatabase(plan()); // makes the registry table
        await s.adm.query(
          "INSERT INTO `_dbops`.`objects` (kind, name, db, `user`, credentials, state) VALUES ('database', ?, ?, ?, NULL, 'pending')",
          [p1.database, p1.database, p1.user],
        );
        await s.adm.query(`CREATE DATABASE \`${p1.database}\``);
        expect(await acts.mysqlEnsureDatabase(p1)).toMatchObject({
          changed: true,
          detail: expect.stringContaining('interrupted run'),
        });
        expect(await markOf('database', p1.database)).toMatchObject({ state: 'created' });
        // pending row + a database that now has tables: refused (fail safe)
        const p2 = plan();
        await s.adm.query(
          "INSERT INTO `_dbops`.`objects` (kind, name, db, `user`, credentials, state) VALUES ('database', ?, ?, ?, NULL, 'pending')",
          [p2.database, p2.database, p2.user],
        );
        await foreignDatabase(p2.database);
        expect(await failureType(acts.mysqlEnsureDatabase(p2))).toBe('NotOwnedByDbops');
        // pending user row + a user that does not have the stored password: refused
        const p3 = plan();
        await s.adm.query(
          "INSERT INTO `_dbops`.`objects` (kind, name, db, `user`, credentials, state) VALUES ('user', ?, ?, ?, NULL, 'pending')",
          [p3.user, p3.database, p3.user],
        );
        await foreignUser(p3.user);
        expect(await failureType(acts.mysqlEnsureUser(p3))).toBe('NotOwnedByDbops');
      });
    } else {
      run(
        'PostgreSQL: a database left unmarked by a crash after CREATE DATABASE is refused, naming adopt',
        async () => {
          const p = plan();
          await s.adm.query(`CREATE DATABASE "${p.database}"`); // as if the run died before COMMENT ON DATABASE
          const err = await acts.postgresEnsureDatabase(p).catch((e: unknown) => e);
          expect(err).toMatchObject({ type: 'NotOwnedByDbops', nonRetryable: true });
          expect((err as Error).message).toMatch(/adopt: true/);
          expect(await markOf('database', p.database)).toBeUndefined();
        },
      );
    }
  });
});
