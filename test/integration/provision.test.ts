/**
 * provisionDatabase and deprovisionDatabase on the real PostgreSQL and MariaDB of this machine,
 * through a real worker and the real Temporal dev server (Secrets Manager through moto).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import type { Progress } from '../../src/api';
import { deriveNames, type Engine } from '../../src/domain/sql-names';
import { createActivities } from '../../src/activities';
import { planProvision } from '../../src/domain/provision';
import { workerConfig, type WorkerConfigInput } from '../../src/worker-config';
import type { ProvisionResult } from '../../src/workflows/provision-database';
import { motoAws } from '../helpers/activities';
import { adminUrl, connectWith, sqlAdmin, sqlAvailable, type SqlAdmin } from '../helpers/sql';
import { openTestEnv, recordHistory, uniqueName, makeWorker, type TestEnv } from '../helpers/temporal';
import type { Worker } from '@temporalio/worker';

const engines = (['postgres', 'mysql'] as Engine[]).map((e) => [e, sqlAvailable(e)] as const);

describe.each(engines)('%s', (engine, available) => {
  const run = available ? test : test.skip;
  let t: TestEnv;
  let worker: Worker;
  let running: Promise<void>;
  let admin: SqlAdmin;
  let dir: string;
  const made: Array<[string, string]> = [];
  const a = adminUrl(engine);
  const env = { DBOPS_TEST_ADMIN_PW: a.password, WRONG_PW: 'definitely-not-the-admin-password' };

  /**
   * The worker's configuration (DBOPS_CONFIG): credentials files in this test's directory, secrets
   * under dbops/, and the test server (bound to its admin password when it has one; otherwise an
   * unlisted loopback server, as in local development).
   */
  function config(servers: WorkerConfigInput['databaseServers'] = mainServer()) {
    return workerConfig(
      {
        allowLoopbackDatabases: true,
        credentials: { directories: [dir], secretsManagerPrefixes: ['dbops/'] },
        databaseServers: servers,
      },
      'test',
    );
  }
  function mainServer(): WorkerConfigInput['databaseServers'] {
    return a.password
      ? { main: { engine, host: a.host, port: a.port, adminUser: a.user, adminPassword: 'env:DBOPS_TEST_ADMIN_PW' } }
      : {};
  }
  const activities = (c = config()) => createActivities({ env, aws: motoAws(), config: c });

  /** A run on its own worker whose configuration lists the test server differently. */
  async function provisionWith(servers: WorkerConfigInput['databaseServers'], input: object) {
    const taskQueue = uniqueName('tq');
    const w = await makeWorker(t, activities(config(servers)), taskQueue);
    return w.runUntil(async () => {
      const h = await t.client.workflow.start('provisionDatabase', {
        workflowId: uniqueName('prov'),
        taskQueue,
        args: [input],
      });
      return { h, result: await h.result().catch((e: unknown) => e) };
    });
  }

  beforeAll(async () => {
    if (!available) return;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-creds-'));
    t = await openTestEnv();
    worker = await makeWorker(t, activities());
    running = worker.run();
    admin = await sqlAdmin(engine);
  });
  afterAll(async () => {
    if (!available) return;
    for (const [db, user] of made) await admin.cleanup(db, user).catch(() => undefined);
    await admin.close();
    worker.shutdown();
    await running;
    await t.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function server() {
    return {
      host: a.host,
      port: a.port,
      adminUser: a.user,
      ...(a.password ? { adminPasswordRef: 'env:DBOPS_TEST_ADMIN_PW' } : {}),
    };
  }

  function tenantInput(tenant: string, extra: Record<string, unknown> = {}) {
    const names = deriveNames(tenant, engine);
    made.push([names.database, names.user]);
    return {
      engine,
      server: server(),
      tenant,
      credentialsTarget: { kind: 'file', path: path.join(dir, `${tenant}.json`) },
      ...extra,
    };
  }

  async function provision(input: object, id = uniqueName('prov')) {
    const h = await t.client.workflow.start('provisionDatabase', {
      workflowId: id,
      taskQueue: t.taskQueue,
      args: [input],
    });
    const result = await h.result().catch((e: unknown) => e);
    return { h, result, progress: await h.query<Progress<ProvisionResult>>('progress') };
  }

  const failureOf = (r: unknown) => (r instanceof WorkflowFailedError ? r.cause?.message : '');
  const stageStatus = (p: Progress) => Object.fromEntries(p.stages.map((s) => [s.name, s.status]));

  run('provisions a database and user; the stored connection string works through the real driver', async () => {
    const tenant = uniqueName('acme').replace(/-/g, '_');
    const input = tenantInput(tenant);
    const { h, result, progress } = await provision(input);
    const names = deriveNames(tenant, engine);
    expect(result).toEqual({
      engine,
      host: a.host,
      port: a.port,
      database: names.database,
      user: names.user,
      auth: 'password',
      sslMode: 'disable',
      credentialsRef: `file:${input.credentialsTarget.path}`,
    });
    expect(Object.values(stageStatus(progress))).toEqual(['done', 'done', 'done', 'done', 'done', 'done', 'done']);
    const stored = JSON.parse(fs.readFileSync(input.credentialsTarget.path, 'utf8'));
    expect(fs.statSync(input.credentialsTarget.path).mode & 0o777).toBe(0o600);
    expect(stored.password).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(JSON.stringify(result)).not.toContain(stored.password);
    expect(JSON.stringify(progress)).not.toContain(stored.password);

    await recordHistory(h.workflowId, `provision-${engine}`, '0.5.0'); // the three-activity path
    const conn = await connectWith(stored.connectionString);
    try {
      await conn.query('CREATE TABLE things (id INT)');
      await conn.query('INSERT INTO things VALUES (1)');
      expect(await conn.query('SELECT id FROM things')).toEqual([{ id: 1 }]);
    } finally {
      await conn.close();
    }
  });

  run('a re-run changes nothing and returns the same reference', async () => {
    const input = tenantInput(uniqueName('again').replace(/-/g, '_'));
    const first = await provision(input);
    const before = fs.readFileSync(input.credentialsTarget.path, 'utf8');
    const second = await provision(input);
    expect(second.result).toEqual(first.result);
    expect(stageStatus(second.progress)).toEqual({
      validate: 'done',
      connect: 'done',
      'ensure-database': 'skipped',
      'ensure-user': 'skipped',
      grant: 'skipped',
      verify: 'done',
      'store-credentials': 'skipped',
    });
    expect(fs.readFileSync(input.credentialsTarget.path, 'utf8')).toBe(before);
  });

  run('two runs for the same tenant at once end with one database, one user and one password', async () => {
    const input = tenantInput(uniqueName('race').replace(/-/g, '_'));
    const [r1, r2] = await Promise.all([provision(input), provision(input)]);
    expect([failureOf(r1.result), failureOf(r2.result)]).toEqual(['', '']);
    expect(r1.result).toEqual(r2.result);
    const names = deriveNames(input.tenant, engine);
    expect(await admin.databaseExists(names.database)).toBe(true);
    expect(await admin.userExists(names.user)).toBe(true);
    const stored = JSON.parse(fs.readFileSync(input.credentialsTarget.path, 'utf8'));
    const conn = await connectWith(stored.connectionString);
    await conn.close();
  });

  run('a user dbops made whose password was changed behind its back gets the stored one again', async () => {
    // (A user dbops did not make is refused, not reset: see sql-ownership.test.ts.)
    const input = tenantInput(uniqueName('stale').replace(/-/g, '_'));
    const names = deriveNames(input.tenant, engine);
    await provision(input);
    await admin.exec(
      engine === 'postgres'
        ? `ALTER ROLE "${names.user}" LOGIN PASSWORD 'old-password-1234'`
        : `ALTER USER '${names.user}'@'%' IDENTIFIED BY 'old-password-1234'`,
    );
    const { progress } = await provision(input);
    expect(progress.stages.find((s) => s.name === 'ensure-user')).toMatchObject({
      status: 'done',
      detail: `user ${names.user} existed with another password: set the stored one`,
    });
    const stored = JSON.parse(fs.readFileSync(input.credentialsTarget.path, 'utf8'));
    if (engine === 'postgres') {
      // trust auth on this machine accepts any password, so check the stored verifier itself
      const { scramMatches } = await import('../../src/activities/sql/passwords');
      const pg = new (await import('pg')).Client({
        connectionString: process.env.DBOPS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
      });
      await pg.connect();
      const row = (await pg.query('select rolpassword from pg_authid where rolname = $1', [names.user])).rows[0];
      await pg.end();
      expect(scramMatches(stored.password, row.rolpassword)).toBe(true);
      expect(scramMatches('old-password-1234', row.rolpassword)).toBe(false);
    } else {
      const conn = await connectWith(stored.connectionString);
      await conn.close();
      await expect(
        connectWith(stored.connectionString.replace(/:[^:@]+@tcp/, ':old-password-1234@tcp')),
      ).rejects.toThrow(/Access denied/);
    }
  });

  run("one tenant's user cannot reach another tenant's database", async () => {
    const inA = tenantInput(uniqueName('ta').replace(/-/g, '_'));
    const inB = tenantInput(uniqueName('tb').replace(/-/g, '_'));
    await provision(inA);
    await provision(inB);
    const b = JSON.parse(fs.readFileSync(inB.credentialsTarget.path, 'utf8'));
    const dbA = deriveNames(inA.tenant, engine).database;
    const intoA =
      engine === 'postgres'
        ? b.connectionString.replace(/\/[^/?]+\?/, `/${dbA}?`)
        : b.connectionString.replace(/\)\/[^?]+$/, `)/${dbA}`);
    await expect(connectWith(intoA)).rejects.toThrow(
      engine === 'postgres' ? /permission denied for database/ : /Access denied for user/,
    );
  });

  run('a partial earlier failure is completed by the next run', async () => {
    const input = tenantInput(uniqueName('partial').replace(/-/g, '_'));
    const names = deriveNames(input.tenant, engine);
    // An earlier run that made (and marked) the database, then stopped.
    const acts = activities() as unknown as Record<string, (p: unknown) => Promise<unknown>>;
    await acts[`${engine}EnsureDatabase`](planProvision(input));
    expect(await admin.databaseExists(names.database)).toBe(true);
    const { progress, result } = await provision(input);
    expect(result).toMatchObject({ database: names.database });
    expect(stageStatus(progress)['ensure-database']).toBe('skipped');
    expect(stageStatus(progress)['ensure-user']).toBe('done');
  });

  run('injection attempts in every name field fail validation and create nothing', async () => {
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ tenant: 'x"; DROP DATABASE postgres; --' }, /tenant .* contains a quote/],
      [{ tenant: 'ok', database: 'a;b' }, /database "a;b" contains ";"/],
      [{ tenant: 'ok', user: 'a`b' }, /user "a`b" contains a quote/],
      [{ tenant: 'ok', database: 'app_%' }, /contains "%"/],
      [{ tenant: 'ok', user: 'a\u0000b' }, /user: must not contain control characters/],
      [{ tenant: 'ok', database: 'café' }, /contains a non-ASCII character/],
      [{ tenant: 'ok', database: 'db.x' }, /contains "\."/],
      [{ tenant: '' }, /tenant is empty/],
    ];
    for (const [fields, message] of bad) {
      const { result, progress } = await provision({
        engine,
        server: server(),
        credentialsTarget: { kind: 'file', path: path.join(dir, 'bad.json') },
        ...fields,
      });
      expect(result).toBeInstanceOf(WorkflowFailedError);
      expect((result as WorkflowFailedError).cause?.message).toMatch(message);
      expect(stageStatus(progress)).toMatchObject({ validate: 'failed', connect: 'pending' });
    }
    expect(fs.existsSync(path.join(dir, 'bad.json'))).toBe(false);
  });

  run(
    'long tenants get length-safe names with a deterministic hash suffix; too-long given names are refused',
    async () => {
      const tenant = `${uniqueName('long').replace(/-/g, '_')}_${'x'.repeat(80)}`;
      const input = tenantInput(tenant);
      const { result } = await provision(input);
      expect(failureOf(result)).toBe('');
      const r = result as ProvisionResult;
      const limits = engine === 'postgres' ? [63, 63] : [64, 32];
      expect(r.database.length).toBeLessThanOrEqual(limits[0]);
      expect(r.user.length).toBeLessThanOrEqual(limits[1]);
      expect(r.user).toMatch(/_[0-9a-f]{8}$/);
      expect(await admin.databaseExists(r.database)).toBe(true);
      expect(await admin.userExists(r.user)).toBe(true);

      const tooLong = await provision({ ...input, database: 'd'.repeat(70) });
      expect((tooLong.result as WorkflowFailedError).cause?.message).toMatch(
        /database "d{70}" is 70 bytes; .* allows \d+ for a database name/,
      );
    },
  );

  run(
    'deprovision with retain keeps the data and drops the login; with delete drops both; both idempotent',
    async () => {
      for (const policy of ['retain', 'delete'] as const) {
        const input = tenantInput(uniqueName(`dep_${policy}`).replace(/-/g, '_'));
        await provision(input);
        const names = deriveNames(input.tenant, engine);
        const dep = {
          engine,
          server: server(),
          tenant: input.tenant,
          reclaimPolicy: policy,
          credentialsTarget: input.credentialsTarget,
        };
        for (const attempt of [1, 2]) {
          const h = await t.client.workflow.start('deprovisionDatabase', {
            workflowId: uniqueName('deprov'),
            taskQueue: t.taskQueue,
            args: [dep],
          });
          const res = await h.result();
          expect(res).toMatchObject({
            reclaimPolicy: policy,
            databaseDropped: attempt === 1 && policy === 'delete',
            userDropped: attempt === 1,
          });
        }
        expect(await admin.userExists(names.user)).toBe(false);
        expect(await admin.databaseExists(names.database)).toBe(policy === 'retain');
        expect(fs.existsSync(input.credentialsTarget.path)).toBe(false);
      }
    },
  );

  run('IAM auth on a server without it fails at connect with the exact reason, creating nothing', async () => {
    const input = tenantInput(uniqueName('iam').replace(/-/g, '_'), { auth: 'iam' });
    const { result, progress } = await provision(input);
    const names = deriveNames(input.tenant, engine);
    expect((result as WorkflowFailedError).cause?.message).toMatch(
      engine === 'postgres'
        ? /stage "connect" failed: IAM database authentication is not available .* role "rds_iam" does not exist/
        : /stage "connect" failed: IAM database authentication is not available .* plugin AWSAuthenticationPlugin is not loaded/,
    );
    expect(stageStatus(progress)['ensure-database']).toBe('pending');
    expect(await admin.databaseExists(names.database)).toBe(false);
  });

  run(
    'a secret reference the worker does not bind to this server fails at connect, before anything is created',
    async () => {
      const input = tenantInput(uniqueName('noref').replace(/-/g, '_'));
      const { result } = await provision({
        ...input,
        server: { ...server(), adminPasswordRef: 'env:DBOPS_NOT_SET_ANYWHERE' },
      });
      expect((result as WorkflowFailedError).cause?.message).toMatch(
        /^stage "connect" failed: server\.adminPasswordRef env:DBOPS_NOT_SET_ANYWHERE is not bound to .* on this worker/,
      );
      expect(await admin.databaseExists(deriveNames(input.tenant, engine).database)).toBe(false);
    },
  );

  run('a wrong admin login is not retried and names the user, never the password', async () => {
    const input = tenantInput(uniqueName('badlogin').replace(/-/g, '_'));
    // The operator bound a wrong login to the server (PostgreSQL here trusts any password: a wrong user).
    const adminUser = engine === 'postgres' ? 'no_such_admin_user' : a.user;
    const { h, result } = await provisionWith(
      { bad: { engine, host: a.host, port: a.port, adminUser, adminPassword: 'env:WRONG_PW' } },
      { ...input, server: { host: a.host, port: a.port, adminUser } },
    );
    const err = result as WorkflowFailedError;
    expect(err.cause?.message).toMatch(/stage "connect" failed: .* rejected the login of (no_such_admin_user|root)/);
    expect(err.cause?.message).not.toContain('definitely-not-the-admin-password');
    const history = await h.fetchHistory();
    const attempts = history
      .events!.filter((e) => e.activityTaskStartedEventAttributes)
      .map((e) => e.activityTaskStartedEventAttributes!.attempt);
    expect(attempts).toEqual([1]);
  });

  run('an unreachable server is retried a few times, then fails naming host and port', async () => {
    const input = tenantInput(uniqueName('unreach').replace(/-/g, '_'));
    const { result } = await provision({ ...input, server: { host: '127.0.0.1', port: 1, adminUser: a.user } });
    expect((result as WorkflowFailedError).cause?.message).toMatch(
      /stage "connect" failed: cannot reach (postgres|mysql) server 127\.0\.0\.1:1 while trying to log in as the admin user \(ECONNREFUSED\)/,
    );
  });

  run('TLS asked of a server that does not offer it fails clearly and is not retried', async () => {
    const input = tenantInput(uniqueName('tls').replace(/-/g, '_'));
    // The TLS mode is the operator's, per server.
    const entry = {
      ...mainServer()?.main,
      engine,
      host: a.host,
      port: a.port,
      adminUser: a.user,
      tls: { mode: 'require' as const },
    };
    const { result } = await provisionWith(
      { tls: entry },
      { ...input, server: { ...server(), tls: { mode: 'require' } } },
    );
    expect((result as WorkflowFailedError).cause?.message).toMatch(
      /stage "connect" failed: TLS problem with .*: the server does not offer TLS but server.tls.mode asks for it/,
    );
  });

  run('credentials can be kept in AWS Secrets Manager (moto); the result names the secret ARN', async () => {
    const tenant = uniqueName('sm').replace(/-/g, '_');
    const input = {
      ...tenantInput(tenant),
      credentialsTarget: { kind: 'aws-secretsmanager', name: `dbops/${tenant}` },
    };
    const { result } = await provision(input);
    expect((result as ProvisionResult).credentialsRef).toMatch(
      new RegExp(`^aws-sm:arn:aws:secretsmanager:us-east-1:\\d{12}:secret:dbops/${tenant}-`),
    );
    const { GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
    const { motoAws } = await import('../helpers/activities');
    const secret = await motoAws()
      .secretsManager()
      .send(new GetSecretValueCommand({ SecretId: `dbops/${tenant}` }));
    const stored = JSON.parse(secret.SecretString!);
    const conn = await connectWith(stored.connectionString);
    await conn.close();
    const again = await provision(input);
    expect(again.result).toEqual(result);
  });
});
