/**
 * The trust boundary, tried as an outsider with nothing but workflow-start rights would: every
 * attempt to send one of the worker's secrets to a destination the operator did not bind it to,
 * to assume a role the operator did not list, or to keep credentials where the operator did not
 * allow. A recording TCP listener stands in for the attacker's host. Each attempt must fail with a
 * specific non-retryable error at the first stage (one attempt, nothing created), and the listener
 * must receive nothing at all.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DescribeVpcsCommand } from '@aws-sdk/client-ec2';
import { ListSecretsCommand } from '@aws-sdk/client-secrets-manager';
import { DATABASE_TAG } from '../../src/activities/database-side/aws';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import type { Progress } from '../../src/api';
import { createActivities } from '../../src/activities';
import { workerConfig } from '../../src/worker-config';
import { DblabFake } from '../fixtures/dblab-fake';
import { RecordingListener } from '../fixtures/recording-listener';
import { countingAws, fixtureAws, makeCustomerVpc, type CallLog } from '../helpers/aws-fixtures';
import {
  DBLAB_TOKEN,
  makeManualSnapshots,
  makeRdsSource,
  refreshConfig,
  SOURCE_PASSWORD,
} from '../helpers/dblab-fixtures';
import { PG_URL, sqlAvailable } from '../helpers/sql';
import { makeWorker, openTestEnv, uniqueName, type TestEnv } from '../helpers/temporal';

/** What the worker holds: its AWS key, a database admin password, a DBLab token, a secret file. */
const WORKER_AWS_SECRET = 'worker-aws-secret-key-do-not-leak-7f3a';
const PG_ADMIN_PW = 'pg-admin-password-do-not-leak-19c2';
const AS_SECRET = 'aerospike-client-secret-do-not-leak-55e1';
const FILE_SECRET = 'file-secret-do-not-leak-a0b9';
const ALL_SECRETS = [WORKER_AWS_SECRET, PG_ADMIN_PW, AS_SECRET, FILE_SECRET, DBLAB_TOKEN, SOURCE_PASSWORD];

const fx = fixtureAws();
const pg = new URL(PG_URL);
let t: TestEnv;
let worker: Worker;
let running: Promise<void>;
let log: CallLog;
let listener: RecordingListener;
let fake: DblabFake;
let dir: string;
let credentialsDir: string;
let secretFile: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-trust-'));
  credentialsDir = path.join(dir, 'credentials');
  fs.mkdirSync(credentialsDir);
  secretFile = path.join(dir, 'secret.txt');
  fs.writeFileSync(secretFile, FILE_SECRET, { mode: 0o600 });
  listener = new RecordingListener();
  await listener.start();
  fake = new DblabFake({ token: DBLAB_TOKEN });
  await fake.start();
  t = await openTestEnv();
  const counted = countingAws();
  log = counted.log;
  // An operator's production-like configuration: nothing unlisted, each secret bound to one place.
  const config = workerConfig(
    {
      dblab: {
        staging: {
          endpoint: fake.url,
          token: 'env:DBLAB_TOKEN',
          sourcePassword: 'env:SRC_PW',
          sources: ['us-east-1:prod-*'],
        },
      },
      databaseServers: {
        main: {
          engine: 'postgres',
          host: pg.hostname,
          port: Number(pg.port || 5432),
          adminUser: pg.username || 'postgres',
          adminPassword: 'env:PG_ADMIN_PW',
        },
        strict: {
          engine: 'postgres',
          host: '127.0.0.1',
          port: listener.port + 0,
          adminUser: 'admin',
          tls: { mode: 'verify-full', ca: `file:${secretFile}` },
        },
      },
      aerospikeCloud: {
        prod: {
          apiUrl: 'http://127.0.0.1:9/v2',
          tokenUrl: 'http://127.0.0.1:9/oauth/token',
          clientId: 'env:AS_CLIENT_ID',
          clientSecret: 'env:AS_SECRET',
        },
      },
      aws: { assumeRoles: ['arn:aws:iam::222222222222:role/dbops-database'] },
      credentials: { directories: [credentialsDir], secretsManagerPrefixes: ['dbops-trust/'] },
    },
    'trust-boundary test',
  );
  const env = {
    AWS_SECRET_ACCESS_KEY: WORKER_AWS_SECRET,
    PG_ADMIN_PW,
    AS_CLIENT_ID: 'client-1',
    AS_SECRET,
    DBLAB_TOKEN,
    SRC_PW: SOURCE_PASSWORD,
  };
  worker = await makeWorker(t, createActivities({ env, aws: counted.aws, config, temporal: t.client }));
  running = worker.run();
});
afterAll(async () => {
  worker?.shutdown();
  await running;
  await t?.close();
  await listener?.stop();
  await fake?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Outcome {
  h: WorkflowHandle;
  message: string;
  progress: Progress;
  /** The failed activity attempts: type, whether retryable, message. */
  activityFailures: Array<{ type?: string; nonRetryable?: boolean; message?: string; attempt: number }>;
}

async function attempt(type: string, input: object): Promise<Outcome> {
  log.reset();
  const h = await t.client.workflow.start(type, {
    workflowId: uniqueName(`outsider-${type}`),
    taskQueue: t.taskQueue,
    args: [input],
  });
  const result = await h.result().catch((e: unknown) => e);
  expect(result).toBeInstanceOf(WorkflowFailedError);
  const events = (await h.fetchHistory()).events ?? [];
  const started = new Map<string, number>();
  for (const e of events) {
    const s = e.activityTaskStartedEventAttributes;
    if (s) started.set(String(s.scheduledEventId), s.attempt ?? 1);
  }
  const activityFailures = events
    .filter((e) => e.activityTaskFailedEventAttributes)
    .map((e) => {
      const a = e.activityTaskFailedEventAttributes!;
      const f = a.failure!;
      return {
        type: f.applicationFailureInfo?.type ?? undefined,
        nonRetryable: f.applicationFailureInfo?.nonRetryable ?? undefined,
        message: f.message ?? undefined,
        attempt: started.get(String(a.scheduledEventId)) ?? 0,
      };
    });
  return {
    h,
    message: (result as WorkflowFailedError).cause?.message ?? '',
    progress: await h.query<Progress>('progress'),
    activityFailures,
  };
}

/** The run failed at `stage`, once, non-retryably with `type`, and no secret is in what it shows. */
function refusedAt(o: Outcome, stage: string, type: string, mentions: string[]): void {
  expect(o.activityFailures).toHaveLength(1);
  expect(o.activityFailures[0]).toMatchObject({ type, nonRetryable: true, attempt: 1 });
  expect(o.message).toContain(`stage "${stage}" failed`);
  for (const m of mentions) expect(o.message).toContain(m);
  const shown = JSON.stringify(o.progress) + o.message;
  for (const s of ALL_SECRETS) expect(shown).not.toContain(s);
  expect(log.mutating()).toEqual([]);
}

function listenerGotNothing(): void {
  expect(listener.connections).toBe(0);
  expect(listener.received()).toBe('');
}

describe('a worker secret never goes where the operator did not bind it', () => {
  test('DBLab endpoint pointed at a foreign host with the worker AWS key, the real token ref or a file', async () => {
    const source = await makeRdsSource(fx);
    for (const token of ['env:AWS_SECRET_ACCESS_KEY', 'env:DBLAB_TOKEN', `file:${secretFile}`]) {
      const o = await attempt('refreshDblab', {
        ...refreshConfig({ source, apiEndpoint: listener.url }),
        dblab: { apiEndpoint: listener.url, token, pollInterval: '100ms', timeout: '1m', startDeadline: '3s' },
      });
      refusedAt(o, 'check-dblab', 'SecretNotBound', [token, listener.url]);
    }
    // The dry run too: it reports the refusal among its problems and sends nothing.
    const dry = await attempt('refreshDblab', {
      ...refreshConfig({ source, apiEndpoint: listener.url }),
      dryRun: true,
    });
    expect(dry.message).toContain('dblab.token env:DBLAB_TOKEN is not bound to');
    listenerGotNothing();
    expect(log.calls.filter((c) => /^Restore/.test(c.command))).toEqual([]);
  });

  test('the configured DBLab with another secret as its token or source password', async () => {
    const source = await makeRdsSource(fx);
    const wrongToken = await attempt('refreshDblab', {
      ...refreshConfig({ source, apiEndpoint: fake.url }),
      dblab: { apiEndpoint: fake.url, token: 'env:PG_ADMIN_PW' },
    });
    refusedAt(wrongToken, 'check-dblab', 'SecretNotBound', ['env:PG_ADMIN_PW', 'dblab.staging binds another token']);
    // source.password is sent to DBLab in /admin/config: naming the admin password there is refused
    // before anything is created, not after the clone exists.
    const cfg = refreshConfig({ source, apiEndpoint: fake.url }) as { source: Record<string, unknown> };
    cfg.source.password = 'env:PG_ADMIN_PW';
    const wrongSource = await attempt('refreshDblab', cfg);
    refusedAt(wrongSource, 'check-dblab', 'SecretNotBound', ['source.password env:PG_ADMIN_PW']);
    expect(fake.configs).toEqual([]);
    expect(fake.requests).toEqual([]);
  });

  test('a database server on the attacker port, with the admin password, a file or TLS downgraded', async () => {
    const base = {
      engine: 'postgres',
      tenant: uniqueName('t').replace(/-/g, '_'),
      credentialsTarget: { kind: 'file', path: path.join(credentialsDir, `${uniqueName('c')}.json`) },
    };
    const foreign = await attempt('provisionDatabase', {
      ...base,
      server: {
        host: '127.0.0.1',
        port: listener.port + 1,
        adminUser: 'postgres',
        adminPasswordRef: 'env:PG_ADMIN_PW',
      },
    });
    refusedAt(foreign, 'connect', 'SecretNotBound', [
      'server.adminPasswordRef env:PG_ADMIN_PW',
      `postgres://127.0.0.1:${listener.port + 1}`,
    ]);
    // The same server spelt differently is another destination.
    const spelt = await attempt('provisionDatabase', {
      ...base,
      server: {
        host: 'localhost',
        port: Number(pg.port || 5432),
        adminUser: 'postgres',
        adminPasswordRef: 'env:PG_ADMIN_PW',
      },
    });
    refusedAt(spelt, 'connect', 'SecretNotBound', ['env:PG_ADMIN_PW']);
    // Unlisted and no secret: refused too (this configuration lists its servers).
    const unlisted = await attempt('provisionDatabase', {
      ...base,
      server: { host: '127.0.0.1', port: listener.port + 2, adminUser: 'postgres' },
    });
    refusedAt(unlisted, 'connect', 'DestinationNotConfigured', [`postgres://127.0.0.1:${listener.port + 2}`]);
    // A listed server: the input cannot turn its TLS off, nor swap in another CA reference.
    const downgrade = await attempt('provisionDatabase', {
      ...base,
      server: { host: '127.0.0.1', port: listener.port, adminUser: 'admin' },
    });
    refusedAt(downgrade, 'connect', 'ServerConfigMismatch', ['server.tls.mode', 'verify-full']);
    const otherCa = await attempt('provisionDatabase', {
      ...base,
      server: {
        host: '127.0.0.1',
        port: listener.port,
        adminUser: 'admin',
        tls: { mode: 'verify-full', caRef: 'env:AWS_SECRET_ACCESS_KEY' },
      },
    });
    refusedAt(otherCa, 'connect', 'SecretNotBound', ['server.tls.caRef env:AWS_SECRET_ACCESS_KEY']);
    listenerGotNothing();
  });

  test('Aerospike Cloud URLs pointed at a foreign host', async () => {
    const customer = await makeCustomerVpc(fx);
    const peer = (cloud: object) => ({
      databaseId: uniqueName('as'),
      region: 'us-east-1',
      vpcId: customer.vpcId,
      cloud,
      timing: { pollInterval: '100ms' },
    });
    const both = await attempt(
      'peerVpc',
      peer({
        kind: 'aerospike-cloud',
        apiUrl: listener.url,
        tokenUrl: `${listener.url}/token`,
        clientIdRef: 'env:AS_CLIENT_ID',
        clientSecretRef: 'env:AWS_SECRET_ACCESS_KEY',
      }),
    );
    refusedAt(both, 'prepare', 'SecretNotBound', ['env:AWS_SECRET_ACCESS_KEY', `${listener.url}/token`]);
    // The configured API URL with the attacker's token URL: the bound keys still stay home.
    const tokenOnly = await attempt(
      'peerVpc',
      peer({
        kind: 'aerospike-cloud',
        apiUrl: 'http://127.0.0.1:9/v2',
        tokenUrl: listener.url,
        clientIdRef: 'env:AS_CLIENT_ID',
        clientSecretRef: 'env:AS_SECRET',
      }),
    );
    refusedAt(tokenOnly, 'prepare', 'SecretNotBound', ['env:AS_SECRET']);
    listenerGotNothing();
  });
});

describe('inputs may name what the operator configured', () => {
  test('a refresh names its DBLab ("dblab": "staging"); an unknown name is refused', async () => {
    const source = await makeRdsSource(fx);
    const base = refreshConfig({ source, apiEndpoint: fake.url }) as Record<string, unknown>;
    log.reset();
    const h = await t.client.workflow.start('refreshDblab', {
      workflowId: uniqueName('named'),
      taskQueue: t.taskQueue,
      args: [{ ...base, dblab: 'staging', dryRun: true }],
    });
    expect(await h.result()).toMatchObject({ outcome: 'dry-run-passed', dblabHost: 'staging' });
    expect(fake.requests.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual(
      expect.arrayContaining(['GET /healthz 200', 'GET /status 200']),
    );
    const unknown = await attempt('refreshDblab', { ...base, dblab: { instance: 'production', pollInterval: '1s' } });
    refusedAt(unknown, 'check-dblab', 'DestinationNotConfigured', [
      'DBLab instance "production" is not configured',
      'configured: staging',
    ]);
  });
});

describe('what runs may touch is bounded by the configuration', () => {
  test('a role the operator did not list is never assumed', async () => {
    const customer = await makeCustomerVpc(fx);
    const o = await attempt('peerVpc', {
      databaseId: uniqueName('db'),
      region: 'us-east-1',
      vpcId: customer.vpcId,
      cloud: { kind: 'aws', roleArn: 'arn:aws:iam::999999999999:role/admin' },
    });
    refusedAt(o, 'prepare', 'RoleNotAllowed', ['arn:aws:iam::999999999999:role/admin']);
    const net = await attempt('createDatabaseNetwork', {
      databaseId: uniqueName('db'),
      region: 'us-east-1',
      vpcId: customer.vpcId,
      cloud: { kind: 'aws', roleArn: 'arn:aws:iam::999999999999:role/admin' },
    });
    refusedAt(net, 'plan-cidr', 'RoleNotAllowed', ['arn:aws:iam::999999999999:role/admin']);
  });

  test('a refresh clones only the sources bound to its DBLab, and no public clone unless allowed', async () => {
    const source = await makeRdsSource(fx); // prod-…: bound (us-east-1:prod-*)
    const foreign = { ...refreshConfig({ source, apiEndpoint: fake.url }), dblab: 'staging' } as Record<string, any>;
    foreign.source = { ...foreign.source, identifier: 'billing-db' };
    refusedAt(await attempt('refreshDblab', foreign), 'check-dblab', 'SourceNotAllowed', [
      'source us-east-1:billing-db may not be cloned',
      'dblab.staging.sources',
    ]);
    const otherRegion = {
      ...refreshConfig({ source, apiEndpoint: fake.url }),
      dblab: 'staging',
      aws: { region: 'eu-west-1' },
    };
    refusedAt(await attempt('refreshDblab', otherRegion), 'check-dblab', 'SourceNotAllowed', [
      `source eu-west-1:${source} may not be cloned`,
    ]);
    const open = { ...refreshConfig({ source, apiEndpoint: fake.url }), dblab: 'staging' } as Record<string, any>;
    open.clone = { ...open.clone, publiclyAccessible: true };
    refusedAt(await attempt('refreshDblab', open), 'check-dblab', 'SourceNotAllowed', ['allowPublicClone is off']);
    // A snapshot of another database, named explicitly, is not a way around the binding.
    const snap = { ...refreshConfig({ source, apiEndpoint: fake.url }), dblab: 'staging', dryRun: true } as Record<
      string,
      any
    >;
    const other = await makeRdsSource(fx);
    snap.source = { ...snap.source, snapshotIdentifier: (await makeManualSnapshots(fx, other, 1))[0] };
    const dry = await attempt('refreshDblab', snap);
    expect(dry.message).toContain(`is of ${other}, not of source ${source}`);
    expect(log.calls.filter((c) => /^Restore/.test(c.command))).toEqual([]);
  });

  test('createDatabaseNetwork makes private zones only under the configured suffixes: refused before anything is made', async () => {
    const customer = await makeCustomerVpc(fx);
    const databaseId = uniqueName('zone');
    const o = await attempt('createDatabaseNetwork', {
      databaseId,
      region: 'us-east-1',
      vpcId: customer.vpcId,
      cidr: '10.201.0.0/19',
      zoneName: 'secretsmanager.us-east-1.amazonaws.com',
    });
    refusedAt(o, 'plan-cidr', 'ZoneNameNotAllowed', [
      'zoneName secretsmanager.us-east-1.amazonaws.com is not under a private zone suffix',
      'db.internal',
    ]);
    const vpcs =
      (
        await fx
          .ec2('us-east-1')
          .send(new DescribeVpcsCommand({ Filters: [{ Name: `tag:${DATABASE_TAG}`, Values: [databaseId] }] }))
      ).Vpcs ?? [];
    expect(vpcs).toEqual([]);
  });

  test('forceRouteCreation (replacing a route that points elsewhere) only when the operator allows it', async () => {
    const customer = await makeCustomerVpc(fx);
    const o = await attempt('peerVpc', {
      databaseId: uniqueName('db'),
      region: 'us-east-1',
      vpcId: customer.vpcId,
      cloud: { kind: 'aws' },
      forceRouteCreation: true,
      stages: ['route'],
    });
    refusedAt(o, 'prepare', 'ForceRouteNotAllowed', ['aws.allowForceRouteCreation']);
  });

  (sqlAvailable('postgres') ? test : test.skip)(
    'credentials only where the operator allows: outside, traversal, symlink, Secrets Manager prefix',
    async () => {
      const outside = path.join(dir, 'outside');
      fs.mkdirSync(outside);
      fs.symlinkSync(outside, path.join(credentialsDir, 'link'));
      const server = {
        host: pg.hostname,
        port: Number(pg.port || 5432),
        adminUser: pg.username || 'postgres',
        adminPasswordRef: 'env:PG_ADMIN_PW',
      };
      const targets = [
        { kind: 'file', path: path.join(outside, 'x.json') },
        { kind: 'file', path: `${credentialsDir}/../outside/y.json` },
        { kind: 'file', path: path.join(credentialsDir, 'link', 'z.json') },
        { kind: 'aws-secretsmanager', name: `prod/${uniqueName('admin')}` },
      ];
      for (const credentialsTarget of targets) {
        const tenant = uniqueName('cred').replace(/-/g, '_');
        const o = await attempt('provisionDatabase', { engine: 'postgres', server, tenant, credentialsTarget });
        refusedAt(o, 'connect', 'CredentialsTargetNotAllowed', [
          credentialsTarget.kind === 'file' ? 'credentialsTarget.path' : 'credentialsTarget.name',
        ]);
        expect(o.progress.stages.find((s) => s.name === 'ensure-database')?.status).toBe('pending');
      }
      expect(fs.readdirSync(outside)).toEqual([]);
      const secrets = (await fx.secretsManager().send(new ListSecretsCommand({}))).SecretList ?? [];
      expect(secrets.filter((s) => s.Name?.startsWith('prod/'))).toEqual([]);
    },
  );
});
