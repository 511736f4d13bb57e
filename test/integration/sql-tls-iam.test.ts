/**
 * TLS against a PostgreSQL and a MariaDB that only accept TLS (started by the test with their own
 * CA), and the IAM statements against servers without IAM support (the exact server error is
 * asserted).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { createActivities } from '../../src/activities';
import { createMysqlActivities } from '../../src/activities/sql/mysql';
import { createPostgresActivities } from '../../src/activities/sql/postgres';
import { Authority } from '../../src/authority';
import { planProvision } from '../../src/domain/provision';
import { createSecretResolver } from '../../src/activities/secrets';
import { workerConfig } from '../../src/worker-config';
import { motoAws } from '../helpers/activities';
import { adminUrl, sqlAdmin, sqlAvailable } from '../helpers/sql';
import { makeWorker, openTestEnv, uniqueName, type TestEnv } from '../helpers/temporal';
import { startTlsMariadb, tlsMariadbUnavailable } from '../helpers/tls-mariadb';
import { startTlsPostgres, tlsPostgresUnavailable } from '../helpers/tls-postgres';

const tlsSkip = tlsPostgresUnavailable();
if (tlsSkip) console.warn(`TLS tests skipped: ${tlsSkip}`);

/**
 * One describe block's stack: a throw-away TLS-only server, a worker, and provision(), which runs
 * provisionDatabase against the server and reports the result, the failure message and the stages.
 */
function tlsServerSuite<S extends { port: number; stop(): Promise<void> }>(
  engine: 'postgres' | 'mysql',
  adminUser: string,
  start: () => Promise<S>,
) {
  const s = {} as { server: S; t: TestEnv; dir: string };
  beforeAll(async () => {
    s.server = await start();
    s.t = await openTestEnv();
    s.dir = fs.mkdtempSync(path.join(os.tmpdir(), `dbops-tls-${engine}-`));
  }, 120_000);
  afterAll(async () => {
    await s.t?.close();
    await s.server?.stop(); // what was provisioned goes with the server's data directory
    fs.rmSync(s.dir, { recursive: true, force: true });
  });

  /**
   * The TLS mode and CA of a server are the operator's (DBOPS_CONFIG), bound to that server; so each
   * case runs on its own worker whose configuration lists the server with the TLS settings the input
   * repeats (without TLS: an unlisted loopback server, as in local development).
   */
  async function provision(
    host: string,
    tls?: { mode: 'disable' | 'require' | 'verify-ca' | 'verify-full'; caRef?: string },
  ) {
    const tenant = uniqueName('tls').replace(/-/g, '_');
    const input = {
      engine,
      tenant,
      server: { host, port: s.server.port, adminUser, ...(tls ? { tls } : {}) },
      credentialsTarget: { kind: 'file', path: path.join(s.dir, `${tenant}.json`) },
    };
    const config = workerConfig(
      {
        allowLoopbackDatabases: true,
        credentials: { directories: [s.dir] },
        ...(tls
          ? {
              databaseServers: {
                tls: {
                  engine,
                  host,
                  port: s.server.port,
                  adminUser,
                  tls: { mode: tls.mode, ...(tls.caRef ? { ca: tls.caRef } : {}) },
                },
              },
            }
          : {}),
      },
      'test',
    );
    const taskQueue = uniqueName('tq');
    const worker = await makeWorker(s.t, createActivities({ env: {}, aws: motoAws(), config }), taskQueue);
    return worker.runUntil(async () => {
      const h = await s.t.client.workflow.start('provisionDatabase', {
        workflowId: uniqueName(`tls-${engine}`),
        taskQueue,
        args: [input],
      });
      const r = await h.result().catch((e: unknown) => e);
      const progress = await h.query<{ stages: Array<{ name: string; status: string }> }>('progress');
      return {
        r,
        file: input.credentialsTarget.path,
        message: r instanceof WorkflowFailedError ? r.cause?.message : undefined,
        statuses: Object.fromEntries(progress.stages.map((x) => [x.name, x.status])),
      };
    });
  }
  return { server: () => s.server, provision };
}

(tlsSkip ? describe.skip : describe)('TLS (a PostgreSQL that only accepts TLS)', () => {
  const { provision, server } = tlsServerSuite('postgres', 'postgres', startTlsPostgres);

  test('no TLS configured: fails at connect saying the server requires TLS', async () => {
    const { message } = await provision('127.0.0.1');
    expect(message).toMatch(
      /stage "connect" failed: TLS problem with postgres server 127\.0\.0\.1:\d+: the server requires TLS: set server\.tls\.mode/,
    );
  });

  test('mode require: provisions over TLS and the connection string says so', async () => {
    const { r, message, file } = await provision('127.0.0.1', { mode: 'require' });
    expect(message).toBeUndefined();
    expect(r).toMatchObject({ sslMode: 'require' });
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).connectionString).toMatch(/\?sslmode=require$/);
  });

  test('verify-full with the right CA and host name works; a wrong CA or host name is refused, not retried', async () => {
    const good = await provision('localhost', { mode: 'verify-full', caRef: `file:${server().caFile}` });
    expect(good.message).toBeUndefined();
    const wrongCa = await provision('localhost', { mode: 'verify-full', caRef: `file:${server().otherCaFile}` });
    expect(wrongCa.message).toMatch(
      /TLS problem with postgres server localhost:\d+: the server's certificate was not accepted/,
    );
    const wrongHost = await provision('127.0.0.1', { mode: 'verify-full', caRef: `file:${server().caFile}` });
    expect(wrongHost.message).toMatch(
      /TLS problem .*certificate was not accepted.*(IP: 127\.0\.0\.1 is not in the cert's list|altnames)/,
    );
    const verifyCa = await provision('127.0.0.1', { mode: 'verify-ca', caRef: `file:${server().caFile}` });
    expect(verifyCa.message).toBeUndefined(); // verify-ca checks the chain, not the name
  });
});

const tlsMySkip = tlsMariadbUnavailable();
if (tlsMySkip) console.warn(`MySQL TLS tests skipped: ${tlsMySkip}`);

(tlsMySkip ? describe.skip : describe)('TLS (a MariaDB that only accepts TLS)', () => {
  const { provision, server } = tlsServerSuite('mysql', 'root', startTlsMariadb);

  test('no TLS configured: MariaDB answers "access denied", and the message points at server.tls', async () => {
    const { message } = await provision('127.0.0.1');
    expect(message).toMatch(
      /stage "connect" failed: mysql server 127\.0\.0\.1:\d+ rejected the login of root: .*if the server requires TLS \(require_secure_transport\), set server\.tls\.mode/,
    );
  });

  test('mode require: provisions over TLS, the new user logs in over TLS, and the connection string says so', async () => {
    const { r, message, file, statuses } = await provision('127.0.0.1', { mode: 'require' });
    expect(message).toBeUndefined();
    expect(r).toMatchObject({ sslMode: 'require' });
    expect(statuses.verify).toBe('done'); // the new user connected (the server takes only TLS)
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).connectionString).toMatch(/^mysql:\/\/tls_.*\?tls=skip-verify$/);
  });

  test('verify-full checks the CA and the host name; verify-ca checks only the CA', async () => {
    const good = await provision('localhost', { mode: 'verify-full', caRef: `file:${server().caFile}` });
    expect(good.message).toBeUndefined();
    expect(JSON.parse(fs.readFileSync(good.file, 'utf8')).connectionString).toMatch(/\?tls=true$/);

    const wrongCa = await provision('localhost', { mode: 'verify-full', caRef: `file:${server().otherCaFile}` });
    expect(wrongCa.message).toMatch(
      /TLS problem with mysql server localhost:\d+: the server's certificate was not accepted/,
    );
    expect(wrongCa.statuses.connect).toBe('failed');

    await server().useOtherName(true); // now the certificate names db.other.invalid, not localhost
    try {
      const wrongName = await provision('localhost', { mode: 'verify-full', caRef: `file:${server().caFile}` });
      expect(wrongName.message).toMatch(
        /TLS problem with mysql server localhost:\d+: the server's certificate was not accepted.*localhost.*db\.other\.invalid/,
      );
      const caOnly = await provision('localhost', { mode: 'verify-ca', caRef: `file:${server().caFile}` });
      expect(caOnly.message).toBeUndefined();
    } finally {
      await server().useOtherName(false);
    }
  });

  test('verify-full with an IP address is refused before anything is made: the driver could not check it', async () => {
    const { message, statuses } = await provision('127.0.0.1', {
      mode: 'verify-full',
      caRef: `file:${server().caFile}`,
    });
    expect(message).toMatch(
      /stage "validate" failed: invalid input: server\.tls\.mode verify-full needs server\.host to be a DNS name on MySQL\/MariaDB/,
    );
    expect(statuses.connect).toBe('pending');
  });
});

describe('IAM statements on servers without IAM support', () => {
  const deps = () => {
    const aws = motoAws();
    const config = workerConfig({ allowLoopbackDatabases: true, credentials: { directories: ['/tmp'] } }, 'test');
    return { aws, authority: new Authority(config, createSecretResolver({ env: {}, aws })) };
  };

  (sqlAvailable('postgres') ? test : test.skip)(
    "PostgreSQL: GRANT rds_iam fails with the server's exact error, classified",
    async () => {
      const a = adminUrl('postgres');
      const user = uniqueName('iam_pg').replace(/-/g, '_');
      const plan = planProvision({
        engine: 'postgres',
        tenant: 'x',
        user,
        auth: 'iam',
        server: { host: a.host, port: a.port, adminUser: a.user },
        credentialsTarget: { kind: 'file', path: '/tmp/unused.json' },
      });
      const admin = await sqlAdmin('postgres');
      try {
        // ensureUser directly (the workflow's connect stage stops before this on such a server)
        const err = await createPostgresActivities(deps())
          .ensureUser(plan)
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ApplicationFailure);
        expect((err as ApplicationFailure).type).toBe('SqlIamUnavailable');
        expect((err as ApplicationFailure).message).toContain('(role "rds_iam" does not exist)');
      } finally {
        await admin.cleanup('none', user);
        await admin.close();
      }
    },
  );

  (sqlAvailable('mysql') ? test : test.skip)(
    'MariaDB: IDENTIFIED WITH AWSAuthenticationPlugin fails with error 1524, classified',
    async () => {
      const a = adminUrl('mysql');
      const user = uniqueName('iam_my').replace(/-/g, '_');
      const plan = planProvision({
        engine: 'mysql',
        tenant: 'x',
        user,
        auth: 'iam',
        server: { host: a.host, port: a.port, adminUser: a.user },
        credentialsTarget: { kind: 'file', path: '/tmp/unused.json' },
      });
      const admin = await sqlAdmin('mysql');
      try {
        const err = await createMysqlActivities(deps())
          .ensureUser(plan)
          .catch((e: unknown) => e);
        expect((err as ApplicationFailure).type).toBe('SqlIamUnavailable');
        expect((err as ApplicationFailure).message).toMatch(/Plugin 'AWSAuthenticationPlugin' is not loaded/);
        expect(await admin.userExists(user)).toBe(false);
      } finally {
        await admin.cleanup('none', user);
        await admin.close();
      }
    },
  );
});
