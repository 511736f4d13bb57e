/**
 * The worker's SQL admin pools (src/activities/sql/admin-pools.ts), on throw-away PostgreSQL and
 * MariaDB servers with real password logins, through real provisionDatabase runs: many runs at
 * once stay within the pool's bound, later runs reuse its connections, a connection the server
 * killed is replaced without a failed attempt, a changed admin password is picked up (and a wrong
 * one does not spoil the pool), and closing the pools at shutdown leaves no connection behind.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Worker } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import { SqlPools } from '../../src/activities/sql/admin-pools';
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
const MAX = 3;

describe.each(engines)('%s admin pool', (engine, unavailable) => {
  if (unavailable) console.warn(`${engine} pool tests skipped: ${unavailable}`);
  const run = unavailable ? test.skip : test;
  const s = {} as {
    srv: PasswordServer;
    t: TestEnv;
    dir: string;
    adm: ServerAdmin;
    pools: SqlPools;
    worker: Worker;
    running: Promise<void>;
    env: Record<string, string>;
  };

  beforeAll(async () => {
    if (unavailable) return;
    s.srv = await startPasswordServer(engine);
    s.dir = fs.mkdtempSync(path.join(os.tmpdir(), `dbops-pool-${engine}-`));
    s.t = await openTestEnv();
    s.adm = await serverAdmin(s.srv);
    s.env = { ADMIN_PW: s.srv.adminPassword };
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
    s.pools = new SqlPools({ max: MAX, idleSeconds: 60 });
    s.worker = await makeWorker(s.t, createActivities({ env: s.env, aws: motoAws(), config, sqlPools: s.pools }));
    s.running = s.worker.run();
  }, 120_000);

  afterAll(async () => {
    if (unavailable) return;
    s.worker?.shutdown();
    await s.running;
    await s.pools?.close();
    await s.t?.close();
    await s.adm?.close();
    await s.srv?.stop();
    fs.rmSync(s.dir, { recursive: true, force: true });
  });

  /** The worker's connections as the admin login (not this test's own), by server-side id. */
  async function adminConnections(): Promise<string[]> {
    const rows =
      engine === 'postgres'
        ? await s.adm.query<{ id: string }>(
            "select pid::text as id from pg_stat_activity where usename = $1 and application_name = 'dbops' order by 1",
            [s.srv.adminUser],
          )
        : await s.adm.query<{ id: string }>(
            'SELECT CAST(ID AS CHAR) AS id FROM information_schema.PROCESSLIST WHERE USER = ? AND ID <> CONNECTION_ID() ORDER BY 1',
            [s.srv.adminUser],
          );
    return rows.map((r) => r.id);
  }

  /** Every connection to the server from anyone but this test: the worker's admin and tenant logins. */
  async function workerConnections(): Promise<number> {
    const rows =
      engine === 'postgres'
        ? await s.adm.query<{ n: string }>(
            "select count(*)::text as n from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()",
          )
        : await s.adm.query<{ n: string }>(
            "SELECT CAST(COUNT(*) AS CHAR) AS n FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND COMMAND <> 'Daemon' AND USER NOT IN ('system user', 'event_scheduler')",
          );
    return Number(rows[0].n);
  }

  async function provision(tenant = uniqueName('pool').replace(/-/g, '_')) {
    const h = await s.t.client.workflow.start('provisionDatabase', {
      workflowId: uniqueName('prov'),
      taskQueue: s.t.taskQueue,
      args: [
        {
          engine,
          server: { host: '127.0.0.1', port: s.srv.port, adminUser: s.srv.adminUser, adminPasswordRef: 'env:ADMIN_PW' },
          tenant,
          credentialsTarget: { kind: 'file', path: path.join(s.dir, `${tenant}.json`) },
        },
      ],
    });
    const result = await h.result().catch((e: unknown) => e as Error);
    // Every activity attempt that failed, as the history shows them.
    const { events } = await h.fetchHistory();
    const failedAttempts = (events ?? []).filter((e) => e.activityTaskFailedEventAttributes).length;
    const retried = (events ?? []).filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1).length;
    return { result, failedAttempts: failedAttempts + retried, tenant };
  }

  async function until(what: string, ok: () => Promise<boolean>): Promise<void> {
    for (let i = 0; i < 100; i++) {
      if (await ok()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`still not so: ${what}`);
  }

  run('many runs at once share at most DBOPS_SQL_POOL_MAX admin connections, and as many other ones', async () => {
    let peakAdmin = 0;
    let peakAll = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peakAdmin = Math.max(peakAdmin, (await adminConnections()).length);
        peakAll = Math.max(peakAll, await workerConnections());
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const runs = await Promise.all(Array.from({ length: 24 }, () => provision()));
    sampling = false;
    await sampler;
    for (const r of runs) expect(r.result).toMatchObject({ engine, database: expect.any(String) });
    expect(peakAdmin).toBeGreaterThan(0);
    expect(peakAdmin).toBeLessThanOrEqual(MAX);
    // Admin pool plus the short-lived gate (tenant logins), never one connection per run.
    expect(peakAll).toBeLessThanOrEqual(2 * MAX);
    // Each provisioned user logs in with its stored connection string.
    const stored = JSON.parse(fs.readFileSync(path.join(s.dir, `${runs[0].tenant}.json`), 'utf8')) as {
      connectionString: string;
    };
    const c = await connectWith(stored.connectionString);
    await c.close();
  });

  run('later runs reuse the pooled connections instead of logging in again', async () => {
    await provision();
    const before = await adminConnections();
    expect(before.length).toBeGreaterThan(0);
    expect(before.length).toBeLessThanOrEqual(MAX);
    const again = await provision();
    expect(again.result).toMatchObject({ engine });
    const after = await adminConnections();
    // No admin connection was opened for the second run: the same server sessions, no others.
    expect(after.filter((id) => !before.includes(id))).toEqual([]);
  });

  run('a pooled connection the server killed is replaced without a failed attempt', async () => {
    await provision();
    const ids = await adminConnections();
    expect(ids.length).toBeGreaterThan(0);
    for (const id of ids) {
      if (engine === 'postgres') await s.adm.query('select pg_terminate_backend($1::int)', [id]);
      else await s.adm.query(`KILL ${Number(id)}`);
    }
    const r = await provision();
    expect(r.result).toMatchObject({ engine });
    expect(r.failedAttempts).toBe(0);
    expect((await adminConnections()).some((id) => ids.includes(id))).toBe(false);
  });

  run('a changed admin password is picked up; a wrong one fails the run without spoiling the pool', async () => {
    await provision();
    const old = await adminConnections();
    const newPassword = `${s.srv.adminPassword}-rotated`;
    if (engine === 'postgres') await s.adm.query(`ALTER ROLE postgres PASSWORD '${newPassword}'`);
    else
      for (const { Host } of await s.adm.query<{ Host: string }>("SELECT Host FROM mysql.user WHERE User = 'root'"))
        await s.adm.query('ALTER USER ?@? IDENTIFIED BY ?', ['root', Host, newPassword]);
    // Until the secret changes, the pool's sessions (logged in before) still work.
    s.env.ADMIN_PW = newPassword;
    const rotated = await provision();
    expect(rotated.result).toMatchObject({ engine });
    // The old pool was closed once its connections were back; the new one logged in with the new password.
    await until('the old pool is closed', async () => (await adminConnections()).every((id) => !old.includes(id)));
    expect((await adminConnections()).length).toBeGreaterThan(0);

    s.env.ADMIN_PW = 'not-the-admin-password';
    const wrong = await provision();
    expect(wrong.result).toBeInstanceOf(Error);
    expect(String((wrong.result as { cause?: { message?: string } }).cause?.message)).toMatch(/rejected the login/);
    expect(String((wrong.result as { cause?: { message?: string } }).cause?.message)).not.toContain(newPassword);

    s.env.ADMIN_PW = newPassword;
    const fixed = await provision();
    expect(fixed.result).toMatchObject({ engine });
    expect(fixed.failedAttempts).toBe(0);
    s.srv.adminPassword = newPassword; // for this test's own admin connections hereafter
  });

  run('closing the pools at shutdown leaves no admin connection on the server', async () => {
    await provision();
    expect((await adminConnections()).length).toBeGreaterThan(0);
    await s.pools.close();
    await until('every admin connection is gone', async () => (await adminConnections()).length === 0);
  });
});
