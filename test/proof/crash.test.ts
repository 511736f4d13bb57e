/**
 * "Nothing leaks, nothing doubles", crash part: the worker process is SIGKILLed before, during
 * (the call held in flight by the proxy) and after mutating AWS calls of peering, network create
 * and delete, the refresh (RDS and Aurora), and between the stages of provisioning; then a new
 * worker process is started. Each run must finish having done every step once: one peering, one
 * route per table, one VPC (and its subnets and zone), one clone made and deleted, one database
 * and user, nothing orphaned. See crash-harness.ts for how a point is reached.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { Progress } from '../../src/api';
import { deriveNames } from '../../src/domain/sql-names';
import type { CreateNetworkResult } from '../../src/workflows/create-database-network';
import type { PeerVpcResult } from '../../src/workflows/peer-vpc';
import type { ProvisionResult } from '../../src/workflows/provision-database';
import type { RefreshResult } from '../../src/workflows/refresh-dblab';
import { DblabFake } from '../fixtures/dblab-fake';
import { motoEndpoint } from '../helpers/activities';
import { fixtureAws, makeAwsDatabase, makeCustomerVpc, peeringsBetween, routesTo } from '../helpers/aws-fixtures';
import {
  DBLAB_TOKEN,
  makeAuroraSource,
  makeRdsSource,
  refreshConfig,
  SOURCE_PASSWORD,
  taggedWith,
} from '../helpers/dblab-fixtures';
import { adminUrl, connectWith, sqlAdmin, sqlAvailable } from '../helpers/sql';
import { openTestEnv, testAddress, uniqueName, type TestEnv } from '../helpers/temporal';
import { dbVpcs, expectNetworkOnce, expectPeeredOnce, subnetsOf, zonesNamed } from '../helpers/aws-state';
import { writeWorkerConfig } from '../helpers/worker-process';
import { arm, CrashableWorker, CrashProxy, restart, type CrashPoint, type When } from './crash-harness';

jest.setTimeout(900_000);

const fx = fixtureAws();
// The points run concurrently (test.concurrent starts before beforeAll hooks): one shared client,
// opened on first use, and at most POINTS_AT_ONCE worker processes at a time.
let env: Promise<TestEnv> | undefined;
const testEnv = () => (env ??= openTestEnv());
afterAll(async () => (await env)?.close());

const POINTS_AT_ONCE = process.env.DBOPS_CRASH_POINTS === 'all' ? 4 : 2;
let running = 0;
const queue: Array<() => void> = [];
async function slot<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= POINTS_AT_ONCE) await new Promise<void>((r) => queue.push(r));
  else running += 1;
  try {
    return await fn();
  } finally {
    const next = queue.shift();
    if (next) next();
    else running -= 1;
  }
}

const TIMING = { pollInterval: '200ms', initiateTimeout: '2m', activeTimeout: '1m', heartbeatTimeout: '2s' };

interface Ctx {
  proxy: CrashProxy;
  worker: CrashableWorker;
  taskQueue: string;
}

/** Starts a workflow on the point's task queue; a dead worker's workflow task is retried after 5 s. */
async function startRun(ctx: Ctx, type: string, input: object): Promise<WorkflowHandle> {
  const t = await testEnv();
  return t.client.workflow.start(type, {
    workflowId: uniqueName(`crash-${type}`),
    taskQueue: ctx.taskQueue,
    args: [input],
    workflowTaskTimeout: '5s',
  });
}

const timeout = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([
    p,
    new Promise<never>((_, rej) =>
      setTimeout(() => rej(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms).unref(),
    ),
  ]);

/**
 * One crash point: a fresh proxy and worker process; `setup` runs first (undisturbed); then the
 * stop is armed, `start` starts the run, the worker is killed at the point, and a new worker
 * finishes the run. `kill` replaces the proxy stop (provisioning: no AWS call to stop at).
 */
async function crashRun<R>(o: {
  point?: CrashPoint;
  kill?: (h: WorkflowHandle, ctx: Ctx) => Promise<void>;
  config?: object;
  env?: NodeJS.ProcessEnv;
  setup?: (ctx: Ctx) => Promise<void>;
  start: (ctx: Ctx) => Promise<WorkflowHandle>;
}): Promise<{ h: WorkflowHandle; result: R; proxy: CrashProxy }> {
  return slot(() => crashRunNow<R>(o));
}

async function crashRunNow<R>(
  o: Parameters<typeof crashRun>[0],
): Promise<{ h: WorkflowHandle; result: R; proxy: CrashProxy }> {
  const t = await testEnv();
  const proxy = new CrashProxy(motoEndpoint());
  await proxy.start();
  const taskQueue = uniqueName('crash-tq');
  const worker = new CrashableWorker({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TEMPORAL_ADDRESS: testAddress(),
    DBOPS_TASK_QUEUE: taskQueue,
    AWS_ENDPOINT_URL: proxy.url,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    ...(o.config ? { DBOPS_CONFIG: writeWorkerConfig(o.config) } : {}),
    ...o.env,
  });
  const ctx: Ctx = { proxy, worker, taskQueue };
  try {
    await worker.start();
    await o.setup?.(ctx);
    proxy.reset();
    const armed = o.point ? arm(proxy, worker, o.point) : undefined;
    const h = await o.start(ctx);
    const killed = armed ? armed.killed : o.kill!(h, ctx);
    await timeout(
      Promise.race([
        killed,
        h.result().then(() => Promise.reject(new Error('the run finished before the crash point'))),
      ]),
      90_000,
      'the crash point',
    );
    await restart(t.client, h, worker);
    const result = (await timeout(h.result(), 120_000, 'the run to finish after the restart')) as R;
    return { h, result, proxy };
  } catch (err) {
    (err as Error).message += `\n--- worker log ---\n${worker.log().slice(-4000)}`;
    throw err;
  } finally {
    await worker.stop();
    await proxy.stop();
  }
}

/**
 * `npm test` runs a few points (one or two per workflow, the ones most likely to double or
 * leak); `npm run proof` (DBOPS_CRASH_POINTS=all) runs every point below.
 */
const ALL_POINTS = process.env.DBOPS_CRASH_POINTS === 'all';
const DEFAULT_POINTS = new Set([
  'during CreateVpcPeeringConnection',
  'after AcceptVpcPeeringConnection',
  'before CreateVpc',
  'during CreateHostedZone',
  'during DeleteVpc',
  'during RestoreDBInstanceFromDBSnapshot',
  'during RestoreDBClusterFromSnapshot',
]);
const points = (action: string, ...whens: When[]): CrashPoint[] =>
  whens.map((when) => ({ action, when })).filter((p) => ALL_POINTS || DEFAULT_POINTS.has(`${p.when} ${p.action}`));
const named = (p: CrashPoint) => `${p.when} ${p.action}`;

let cidrOctet = 150;
/** A distinct database CIDR per point (customer VPCs use 10.1-120.0.0/16). */
const nextDbCidr = () => `10.${++cidrOctet}.0.0/19`;

describe('peerVpc (AWS database network)', () => {
  const cases = [
    ...points('CreateVpcPeeringConnection', 'before', 'during', 'after'),
    ...points('AcceptVpcPeeringConnection', 'during', 'after'),
    ...points('CreateRoute', 'during'),
    ...points('AssociateVPCWithHostedZone', 'before', 'during'),
  ];
  test.concurrent.each(cases.map((p) => [named(p), p] as const))(
    'SIGKILL %s, restart: one peering, one route per table, one association',
    async (_n, point) => {
      const customer = await makeCustomerVpc(fx);
      const db = await makeAwsDatabase(fx, {
        databaseId: uniqueName('crash-db'),
        region: 'us-east-1',
        cidr: nextDbCidr(),
      });
      const { result, proxy } = await crashRun<PeerVpcResult>({
        point,
        start: (ctx) =>
          startRun(ctx, 'peerVpc', {
            databaseId: db.databaseId,
            region: 'us-east-1',
            vpcId: customer.vpcId,
            cloud: { kind: 'aws' },
            timing: TIMING,
          }),
      });
      await expectPeeredOnce(fx, customer, db, result.peeringId!);
      expect(proxy.ok('CreateVpcPeeringConnection')).toBe(1);
      expect(proxy.ok('AcceptVpcPeeringConnection')).toBe(1);
      expect(proxy.ok('CreateRoute')).toBe(3); // two customer tables, one return route
      expect(proxy.ok('AssociateVPCWithHostedZone')).toBe(1);
      if (point.when === 'before') expect(proxy.dropped).toEqual([point.action]);
    },
  );
});

describe('createDatabaseNetwork', () => {
  const cases = [
    ...points('CreateVpc', 'before', 'during', 'after'),
    ...points('CreateSubnet', 'during'),
    ...points('CreateHostedZone', 'during', 'after'),
  ];
  test.concurrent.each(cases.map((p) => [named(p), p] as const))(
    'SIGKILL %s, restart: one VPC, its subnets and zone, one peering',
    async (_n, point) => {
      const customer = await makeCustomerVpc(fx);
      const databaseId = uniqueName('crash-net');
      const cidr = nextDbCidr();
      const { result, proxy } = await crashRun<CreateNetworkResult>({
        point,
        start: (ctx) =>
          startRun(ctx, 'createDatabaseNetwork', {
            databaseId,
            region: 'us-east-1',
            vpcId: customer.vpcId,
            cidr,
            availabilityZones: ['us-east-1a', 'us-east-1b'],
            timing: TIMING,
          }),
      });
      await expectNetworkOnce(fx, customer, databaseId, cidr, result);
      expect(proxy.ok('CreateVpc')).toBe(1);
      expect(proxy.ok('CreateSubnet')).toBe(2);
      expect(proxy.ok('CreateHostedZone')).toBe(1);
      expect(proxy.ok('CreateVpcPeeringConnection')).toBe(1);
      expect(proxy.seen.get('DeleteVpc')).toBeUndefined(); // nothing was undone and redone
    },
  );
});

describe('deleteDatabaseNetwork', () => {
  const cases = [
    ...points('DeleteHostedZone', 'during'),
    ...points('DeleteSubnet', 'during'),
    ...points('DeleteVpc', 'before', 'during', 'after'),
  ];
  test.concurrent.each(cases.map((p) => [named(p), p] as const))(
    'SIGKILL %s, restart: the network, its zone and the peering are gone',
    async (_n, point) => {
      const customer = await makeCustomerVpc(fx);
      const databaseId = uniqueName('crash-del');
      const cidr = nextDbCidr();
      const input = { databaseId, region: 'us-east-1', vpcId: customer.vpcId, timing: TIMING };
      let made!: CreateNetworkResult;
      const { proxy } = await crashRun({
        point,
        setup: async (ctx) => {
          const h = await startRun(ctx, 'createDatabaseNetwork', {
            ...input,
            cidr,
            availabilityZones: ['us-east-1a', 'us-east-1b'],
          });
          made = (await h.result()) as CreateNetworkResult;
        },
        start: (ctx) => startRun(ctx, 'deleteDatabaseNetwork', input),
      });
      expect(await dbVpcs(fx, databaseId)).toEqual([]);
      expect(await subnetsOf(fx, made.databaseVpcId)).toEqual([]);
      expect(await zonesNamed(fx, `${databaseId}.db.internal`)).toEqual([]);
      const pcx = await peeringsBetween(fx, 'us-east-1', customer.vpcId, made.databaseVpcId);
      expect(pcx.filter((p) => !['deleted', 'deleting'].includes(p.Status?.Code ?? ''))).toEqual([]);
      for (const table of [customer.mainTable, customer.subnetTable])
        expect(await routesTo(fx, 'us-east-1', table, cidr)).toEqual([]);
      expect(proxy.ok('DeleteVpc')).toBe(1);
      expect(proxy.ok('DeleteSubnet')).toBe(2);
      expect(proxy.ok('DeleteHostedZone')).toBe(1);
      expect(proxy.ok('DeleteVpcPeeringConnection')).toBe(1);
    },
  );
});

describe('refreshDblab', () => {
  const cases: Array<['rds' | 'aurora-cluster', CrashPoint]> = [
    ...points('RestoreDBInstanceFromDBSnapshot', 'before', 'during', 'after').map(
      (p) => ['rds', p] as ['rds', CrashPoint],
    ),
    ...points('DeleteDBInstance', 'during').map((p) => ['rds', p] as ['rds', CrashPoint]),
    ...points('RestoreDBClusterFromSnapshot', 'during').map(
      (p) => ['aurora-cluster', p] as ['aurora-cluster', CrashPoint],
    ),
    ...points('CreateDBInstance', 'during').map((p) => ['aurora-cluster', p] as ['aurora-cluster', CrashPoint]),
    ...points('DeleteDBCluster', 'during').map((p) => ['aurora-cluster', p] as ['aurora-cluster', CrashPoint]),
  ];
  test.concurrent.each(cases.map(([type, p]) => [type === 'rds' ? 'RDS' : 'Aurora', named(p), type, p] as const))(
    '%s: SIGKILL %s, restart: one clone made, deleted; one refresh',
    async (_k, _n, type, point) => {
      const source = type === 'rds' ? await makeRdsSource(fx) : (await makeAuroraSource(fx)).cluster;
      const fake = new DblabFake({ token: DBLAB_TOKEN });
      await fake.start();
      try {
        const { h, result, proxy } = await crashRun<RefreshResult>({
          point,
          config: {
            dblab: {
              fake: {
                endpoint: fake.url,
                token: 'env:DBLAB_TOKEN',
                sourcePassword: 'env:SRC_PW',
                sources: ['us-east-1:*'],
              },
            },
          },
          env: { DBLAB_TOKEN, SRC_PW: SOURCE_PASSWORD },
          start: (ctx) => startRun(ctx, 'refreshDblab', refreshConfig({ source, apiEndpoint: fake.url, type })),
        });
        expect(result.outcome).toBe('refreshed');
        expect(fake.refreshesStarted).toBe(1);
        expect(await taggedWith(fx, (await h.describe()).runId)).toEqual([]);
        if (type === 'rds') {
          expect(proxy.ok('RestoreDBInstanceFromDBSnapshot')).toBe(1);
          expect(proxy.ok('DeleteDBInstance')).toBe(1);
        } else {
          expect(proxy.ok('RestoreDBClusterFromSnapshot')).toBe(1);
          expect(proxy.ok('CreateDBInstance')).toBe(1);
          expect(proxy.ok('DeleteDBInstance')).toBe(1);
          expect(proxy.ok('DeleteDBCluster')).toBe(1);
        }
      } finally {
        await fake.stop();
      }
    },
  );
});

const pgRun = sqlAvailable('postgres') ? describe : describe.skip;
pgRun('provisionDatabase (PostgreSQL; SQL has no proxy: killed as soon as the stage shows done)', () => {
  // Only stages with enough work after them that the run is still going when the kill lands (the
  // last ones take milliseconds: the run would finish before the query shows them done).
  const stages =
    process.env.DBOPS_CRASH_POINTS === 'all' ? ['connect', 'ensure-database', 'ensure-user'] : ['ensure-database'];
  test.concurrent.each(stages)(
    'SIGKILL after %s, restart: one database and user; the stored connection string works',
    async (stage) => {
      const a = adminUrl('postgres');
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-crash-'));
      const creds = path.join(dataDir, 'credentials', 'creds.json');
      fs.mkdirSync(path.dirname(creds));
      const tenant = uniqueName('crash').replace(/-/g, '_');
      const names = deriveNames(tenant, 'postgres');
      const admin = await sqlAdmin('postgres');
      try {
        const { result } = await crashRun<ProvisionResult>({
          // No DBOPS_CONFIG: the local-development default (loopback servers, files under <DBOPS_DATA_DIR>/credentials).
          env: { DBOPS_DATA_DIR: dataDir, ...(a.password ? { ADMIN_PW: a.password } : {}) },
          kill: async (h, ctx) => {
            const deadline = Date.now() + 60_000;
            while ((await h.query<Progress>('progress')).stages.find((s) => s.name === stage)?.status !== 'done') {
              if (Date.now() > deadline) throw new Error(`timed out waiting for ${stage} to be done`);
              await new Promise((r) => setTimeout(r, 10));
            }
            await ctx.worker.killNow();
          },
          start: (ctx) =>
            startRun(ctx, 'provisionDatabase', {
              engine: 'postgres',
              server: {
                host: a.host,
                port: a.port,
                adminUser: a.user,
                ...(a.password ? { adminPasswordRef: 'env:ADMIN_PW' } : {}),
              },
              tenant,
              credentialsTarget: { kind: 'file', path: creds },
            }),
        });
        expect(result).toMatchObject({ database: names.database, user: names.user, credentialsRef: `file:${creds}` });
        expect(await admin.databaseExists(names.database)).toBe(true);
        expect(await admin.userExists(names.user)).toBe(true);
        const stored = JSON.parse(fs.readFileSync(creds, 'utf8'));
        const conn = await connectWith(stored.connectionString);
        try {
          expect(await conn.query('select current_database() as db, current_user as u')).toEqual([
            { db: names.database, u: names.user },
          ]);
        } finally {
          await conn.close();
        }
        expect(fs.readdirSync(path.dirname(creds))).toEqual(['creds.json']); // no stray temporary file
      } finally {
        await admin.cleanup(names.database, names.user);
        await admin.close();
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    },
  );
});
