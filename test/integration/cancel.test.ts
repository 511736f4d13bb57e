/**
 * Cancel at every stage of every workflow that makes something: the run ends cancelled and
 * nothing it made is left; what existed before the run is kept. And a cancelled delete stops
 * where it was, and a re-run finishes it.
 *
 * How a stage is caught in flight: the worker's activities are the real ones (moto, the
 * machine's PostgreSQL and MariaDB), wrapped so that the armed activity does its real work and
 * then holds its reply until the test releases it. The test cancels the run while the reply is
 * held, so every create has happened when the cancellation arrives: the hardest case for an undo.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DescribeVpcPeeringConnectionsCommand } from '@aws-sdk/client-ec2';
import { CreateDBParameterGroupCommand } from '@aws-sdk/client-rds';
import { AssociateVPCWithHostedZoneCommand } from '@aws-sdk/client-route-53';
import { Context } from '@temporalio/activity';
import { CancelledFailure, WorkflowFailedError, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import type { Progress } from '../../src/api';
import { createActivities } from '../../src/activities';
import { deriveNames, type Engine } from '../../src/domain/sql-names';
import { workerConfig } from '../../src/worker-config';
import { DblabFake } from '../fixtures/dblab-fake';
import { bindDblab, DBLAB_ENV, motoAws } from '../helpers/activities';
import { DBLAB_TOKEN, makeRdsSource, refreshConfig, taggedWith } from '../helpers/dblab-fixtures';
import {
  fixtureAws,
  makeAwsDatabase,
  makeCustomerVpc,
  peeringsBetween,
  routesTo,
  zoneVpcs,
} from '../helpers/aws-fixtures';
import { dbVpcs, zonesNamed } from '../helpers/aws-state';
import { adminUrl, connectWith, sqlAdmin, sqlAvailable, type SqlAdmin } from '../helpers/sql';
import { makeWorker, NEXT_RELEASE, openTestEnv, recordHistory, uniqueName, type TestEnv } from '../helpers/temporal';
import { until } from '../helpers/worker-process';

const TIMING = { pollInterval: '200ms', initiateTimeout: '30s', activeTimeout: '30s', heartbeatTimeout: '10s' };
const fx = fixtureAws();

/**
 * Armed activities run for real, then hold their reply until released: the next call of that
 * activity, or of that activity in a workflow whose id starts with `workflow`.
 */
class Gate {
  private armed: Array<{ name: string; workflow?: string; entered: () => void; release: Promise<void> }> = [];

  arm(name: string, workflow?: string): { entered: Promise<void>; release: () => void; disarm: () => void } {
    let entered!: () => void;
    let release!: () => void;
    const e = new Promise<void>((r) => (entered = r));
    const entry = { name, workflow, entered, release: new Promise<void>((r) => (release = r)) };
    this.armed.push(entry);
    const disarm = () => void this.armed.splice(this.armed.indexOf(entry) >>> 0, 1);
    return { entered: e, release, disarm };
  }

  wrap<T extends Record<string, unknown>>(acts: T): T {
    const out: Record<string, unknown> = {};
    for (const [name, fn] of Object.entries(acts)) {
      out[name] = async (...args: unknown[]) => {
        const value = await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
        const wf = Context.current().info.workflowExecution?.workflowId ?? '';
        const i = this.armed.findIndex(
          (a) => a.name === name && (a.workflow === undefined || wf.startsWith(a.workflow)),
        );
        if (i >= 0) {
          const a = this.armed.splice(i, 1)[0]!;
          a.entered();
          await a.release;
        }
        return value;
      };
    }
    return out as T;
  }
}

const gate = new Gate();
let t: TestEnv;
let worker: Worker;
let running: Promise<void>;
let dir: string;
const dblab = new DblabFake({ token: DBLAB_TOKEN });

beforeAll(async () => {
  await dblab.start();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-cancel-'));
  t = await openTestEnv();
  // The machine's SQL servers: listed with their admin password when they have one (as in provision.test.ts).
  const servers = Object.fromEntries(
    (['postgres', 'mysql'] as Engine[]).flatMap((engine) => {
      const a = adminUrl(engine);
      return a.password
        ? [[engine, { engine, host: a.host, port: a.port, adminUser: a.user, adminPassword: `env:ADMIN_PW_${engine}` }]]
        : [];
    }),
  );
  const env = {
    ...DBLAB_ENV,
    ...Object.fromEntries(
      (['postgres', 'mysql'] as Engine[]).map((e) => [`ADMIN_PW_${e}`, adminUrl(e).password ?? '']),
    ),
  };
  const config = workerConfig(
    { allowLoopbackDatabases: true, credentials: { directories: [dir] }, databaseServers: servers },
    'test',
  );
  bindDblab(config, dblab.url);
  worker = await makeWorker(
    t,
    gate.wrap(createActivities({ env, aws: motoAws(), config }) as unknown as Record<string, unknown>),
  );
  running = worker.run();
});
afterAll(async () => {
  worker.shutdown();
  await running;
  await t.close();
  await dblab.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Starts a run, waits until `activity` has done its work, cancels, lets the reply go; returns how the run ended. */
async function cancelDuring(
  type: string,
  input: object,
  activity: string,
  whileHeld?: () => Promise<void>,
): Promise<{ h: WorkflowHandleWithFirstExecutionRunId; outcome: unknown }> {
  const g = gate.arm(activity); // any workflow: a child's activity counts
  const h = await t.client.workflow.start(type, {
    workflowId: uniqueName(`cancel-${type}`),
    taskQueue: t.taskQueue,
    args: [input],
  });
  // A run that never gets there must not leave the gate armed for the next test's runs.
  await Promise.race([
    g.entered,
    h.result().then(
      (r) => Promise.reject(new Error(`the run ended before ${activity} ran: ${JSON.stringify(r)}`)),
      (e) =>
        Promise.reject(
          new Error(
            `the run failed before ${activity} ran: ${(e as Error).message}; ${(e as { cause?: Error }).cause?.message}`,
          ),
        ),
    ),
  ]).catch((err: unknown) => {
    g.disarm();
    throw err;
  });
  try {
    await whileHeld?.();
    await h.cancel();
  } finally {
    g.release();
  }
  return { h, outcome: await h.result().catch((e: unknown) => e) };
}

function expectCancelled(outcome: unknown): void {
  expect(outcome).toBeInstanceOf(WorkflowFailedError);
  const cause = (outcome as WorkflowFailedError).cause;
  if (!(cause instanceof CancelledFailure))
    throw new Error(
      `not cancelled: ${cause?.name}: ${cause?.message}; ${(cause?.cause as Error | undefined)?.message}`,
    );
}

async function run(type: string, input: object): Promise<unknown> {
  return t.client.workflow.execute(type, { workflowId: uniqueName(type), taskQueue: t.taskQueue, args: [input] });
}

const live = (ps: Awaited<ReturnType<typeof peeringsBetween>>) =>
  ps.filter((p) => !['deleted', 'rejected', 'failed', 'expired'].includes(p.Status?.Code ?? ''));

describe('peerVpc', () => {
  let n = 0;
  /** `dbRegion`: the database network in another region (the route stage then runs one activity per side). */
  async function setup(dbRegion?: string) {
    const customer = await makeCustomerVpc(fx);
    n += 1;
    const database = await makeAwsDatabase(fx, {
      databaseId: uniqueName('cdb'),
      region: dbRegion ?? 'us-east-1',
      cidr: `10.${200 + (n % 40)}.0.0/19`,
    });
    const input = {
      databaseId: database.databaseId,
      region: 'us-east-1',
      vpcId: customer.vpcId,
      cloud: { kind: 'aws', ...(dbRegion ? { region: dbRegion } : {}) },
      timing: TIMING,
    };
    return { customer, database, input, dbRegion };
  }

  async function nothingLeft(s: Awaited<ReturnType<typeof setup>>): Promise<void> {
    const region = s.dbRegion ?? 'us-east-1';
    expect(live(await peeringsBetween(fx, region, s.database.vpcId, s.customer.vpcId))).toEqual([]);
    for (const table of [s.customer.mainTable, s.customer.subnetTable])
      expect(await routesTo(fx, 'us-east-1', table, s.database.cidr)).toEqual([]);
    expect((await zoneVpcs(fx, s.database.zoneId!)).map((v) => v.VPCId)).not.toContain(s.customer.vpcId);
  }

  // databaseAuthorizeZone runs only across accounts (or for Aerospike Cloud), which moto's Route 53
  // does not model: test/integration/peering-aerospike.test.ts cancels there.
  test.each([
    ['prepare', 'lookUpPeering', undefined],
    ['initiate', 'databaseInitiate', undefined],
    ['accept', 'acceptPeering', undefined],
    ['route (both sides in one activity)', 'ensurePeeringRoutes', undefined],
    ['route (customer side, database network in another region)', 'ensureCustomerRoutes', 'eu-west-1'],
    ['route (database side, in another region)', 'databaseReturnRoute', 'eu-west-1'],
    ['associate-dns', 'associateVpcWithZone', undefined],
  ])(
    'cancelled during %s: the run ends cancelled, no peering, route or zone association is left',
    async (_stage, activity, dbRegion) => {
      const s = await setup(dbRegion);
      const { h, outcome } = await cancelDuring('peerVpc', s.input, activity);
      expectCancelled(outcome);
      await nothingLeft(s);
      // The stage in flight shows as cancelled (the last stage finished before the run saw the cancellation).
      const p = await h.query<Progress>('progress');
      if (activity !== 'associateVpcWithZone') expect(p.stages.some((x) => x.error === 'cancelled')).toBe(true);
      if (activity === 'acceptPeering') await recordHistory(h.workflowId, 'peer-vpc-cancelled-in-accept', NEXT_RELEASE);
      if (activity === 'ensurePeeringRoutes')
        await recordHistory(h.workflowId, 'peer-vpc-cancelled-in-route', NEXT_RELEASE);
    },
  );

  test('a zone association that existed before the run is kept when the run is cancelled', async () => {
    const s = await setup();
    await fx.route53().send(
      new AssociateVPCWithHostedZoneCommand({
        HostedZoneId: s.database.zoneId!,
        VPC: { VPCId: s.customer.vpcId, VPCRegion: 'us-east-1' },
      }),
    );
    // Cancelled in the route stage, after prepare read the association (found: since 0.5.0
    // associate-dns then makes no call, and the undo has no association of the run's to remove).
    const { outcome } = await cancelDuring('peerVpc', s.input, 'ensurePeeringRoutes');
    expectCancelled(outcome);
    expect(live(await peeringsBetween(fx, 'us-east-1', s.database.vpcId, s.customer.vpcId))).toEqual([]);
    expect((await zoneVpcs(fx, s.database.zoneId!)).map((v) => v.VPCId)).toContain(s.customer.vpcId);
  });

  test.each([
    ['both sides in one activity', 'ensurePeeringRoutes', undefined],
    ['database network in another region', 'ensureCustomerRoutes', 'eu-west-1'],
  ])(
    'a zone association someone else made while the run was routing (%s) is kept when the run is cancelled',
    async (_path, activity, dbRegion) => {
      const s = await setup(dbRegion);
      // The operator (or another run) associates the customer VPC after prepare read "not associated";
      // the run is cancelled in its route stage, before associate-dns could make anything.
      const { outcome } = await cancelDuring('peerVpc', s.input, activity, async () => {
        await fx.route53().send(
          new AssociateVPCWithHostedZoneCommand({
            HostedZoneId: s.database.zoneId!,
            VPC: { VPCId: s.customer.vpcId, VPCRegion: 'us-east-1' },
          }),
        );
      });
      expectCancelled(outcome);
      expect(live(await peeringsBetween(fx, s.dbRegion ?? 'us-east-1', s.database.vpcId, s.customer.vpcId))).toEqual(
        [],
      );
      expect((await zoneVpcs(fx, s.database.zoneId!)).map((v) => v.VPCId)).toContain(s.customer.vpcId);
    },
  );

  // Found by the review of dd65ad6: associate-dns trusted prepare's "not associated" read, made
  // before initiate, accept and route, so an association made since then was removed by the undo.
  // It now reads again just before associating, and that read is what the undo trusts.
  test('a zone association someone else made after prepare is kept when the run is cancelled while associating', async () => {
    const s = await setup();
    const routing = gate.arm('ensurePeeringRoutes');
    const associating = gate.arm('vpcAssociatedWithZone');
    const h = await t.client.workflow.start('peerVpc', {
      workflowId: uniqueName('cancel-stale-association'),
      taskQueue: t.taskQueue,
      args: [s.input],
    });
    await routing.entered; // prepare read "not associated" before initiate
    await fx.route53().send(
      new AssociateVPCWithHostedZoneCommand({
        HostedZoneId: s.database.zoneId!,
        VPC: { VPCId: s.customer.vpcId, VPCRegion: 'us-east-1' },
      }),
    );
    routing.release();
    await associating.entered; // the read just before associating finds it
    await h.cancel();
    associating.release();
    expectCancelled(await h.result().catch((e: unknown) => e));
    expect(live(await peeringsBetween(fx, 'us-east-1', s.database.vpcId, s.customer.vpcId))).toEqual([]);
    expect((await zoneVpcs(fx, s.database.zoneId!)).map((v) => v.VPCId)).toContain(s.customer.vpcId);
  });

  test('a run under another workflow id that adopted a peering another run made undoes nothing of it when cancelled', async () => {
    const s = await setup();
    const otherId = uniqueName('overlap');
    const prepared = gate.arm('lookUpPeering', otherId);
    const other = await t.client.workflow.start('peerVpc', {
      workflowId: otherId,
      taskQueue: t.taskQueue,
      args: [s.input],
    });
    await prepared.entered; // its prepare found no peering
    const legit = (await run('peerVpc', s.input)) as { peeringId: string };
    const accepting = gate.arm('acceptPeering', otherId);
    prepared.release();
    await accepting.entered; // it adopted the legit run's peering
    await other.cancel();
    accepting.release();
    expectCancelled(await other.result().catch((e: unknown) => e));
    expect(
      live(await peeringsBetween(fx, 'us-east-1', s.database.vpcId, s.customer.vpcId)).map(
        (p) => p.VpcPeeringConnectionId,
      ),
    ).toEqual([legit.peeringId]);
    for (const table of [s.customer.mainTable, s.customer.subnetTable])
      expect(await routesTo(fx, 'us-east-1', table, s.database.cidr)).toHaveLength(1);
  });

  test('a run that found the peering already there undoes nothing when cancelled', async () => {
    const s = await setup();
    await run('peerVpc', s.input);
    const before = live(await peeringsBetween(fx, 'us-east-1', s.database.vpcId, s.customer.vpcId));
    expect(before).toHaveLength(1);
    const { outcome } = await cancelDuring('peerVpc', s.input, 'ensurePeeringRoutes');
    expectCancelled(outcome);
    expect(
      live(await peeringsBetween(fx, 'us-east-1', s.database.vpcId, s.customer.vpcId)).map(
        (p) => p.VpcPeeringConnectionId,
      ),
    ).toEqual(before.map((p) => p.VpcPeeringConnectionId));
    for (const table of [s.customer.mainTable, s.customer.subnetTable])
      expect(await routesTo(fx, 'us-east-1', table, s.database.cidr)).toHaveLength(1);
    expect((await zoneVpcs(fx, s.database.zoneId!)).map((v) => v.VPCId)).toContain(s.customer.vpcId);
  });
});

describe('createDatabaseNetwork', () => {
  let n = 0;
  test.each([
    ['plan-cidr', 'describeInUse'],
    ['create-vpc', 'createDatabaseVpc'],
    ['create-subnets', 'createDatabaseSubnets'],
    ['create-hosted-zone', 'createDatabaseHostedZone'],
    ['peer (the child peerVpc accepting)', 'acceptPeering'],
    ['peer (the child peerVpc associating the zone)', 'associateVpcWithZone'],
  ])('cancelled during %s: the run ends cancelled; no VPC, zone or peering is left', async (_stage, activity) => {
    const customer = await makeCustomerVpc(fx);
    n += 1;
    const databaseId = uniqueName('cnet');
    const input = {
      databaseId,
      region: 'us-east-1',
      vpcId: customer.vpcId,
      availabilityZones: ['us-east-1a', 'us-east-1b'],
      cidr: `10.${160 + n}.0.0/19`,
      timing: TIMING,
    };
    const { h, outcome } = await cancelDuring('createDatabaseNetwork', input, activity);
    expectCancelled(outcome);
    if (activity === 'acceptPeering') await recordHistory(h.workflowId, 'create-database-network-cancelled-in-peer');
    expect(await dbVpcs(fx, databaseId)).toEqual([]);
    expect(await zonesNamed(fx, `${databaseId}.db.internal`)).toEqual([]);
    const peerings = (
      (await fx.ec2('us-east-1').send(new DescribeVpcPeeringConnectionsCommand({}))).VpcPeeringConnections ?? []
    ).filter((p) => p.AccepterVpcInfo?.VpcId === customer.vpcId);
    expect(live(peerings)).toEqual([]);
    for (const table of [customer.mainTable, customer.subnetTable])
      expect(await routesTo(fx, 'us-east-1', table, input.cidr)).toEqual([]);
  });
});

const engines = (['postgres', 'mysql'] as Engine[]).map((e) => [e, sqlAvailable(e)] as const);

describe.each(engines)('provisionDatabase on %s', (engine, available) => {
  const it = available ? test : test.skip;
  const a = adminUrl(engine);
  const p = engine === 'postgres' ? 'postgres' : 'mysql';
  let admin: SqlAdmin;
  const made: Array<[string, string]> = [];

  beforeAll(async () => {
    if (available) admin = await sqlAdmin(engine);
  });
  afterAll(async () => {
    if (!available) return;
    for (const [db, user] of made) await admin.cleanup(db, user).catch(() => undefined);
    await admin.close();
  });

  function input() {
    const tenant = uniqueName('cx').replace(/-/g, '_');
    const names = deriveNames(tenant, engine);
    made.push([names.database, names.user]);
    const file = path.join(dir, `${tenant}.json`);
    const server = {
      host: a.host,
      port: a.port,
      adminUser: a.user,
      ...(a.password ? { adminPasswordRef: `env:ADMIN_PW_${engine}` } : {}),
    };
    return { names, file, input: { engine, server, tenant, credentialsTarget: { kind: 'file', path: file } } };
  }

  // A new run's three activities (patch provision-database-fewer-activities); runs from before it,
  // cancelled at each of the seven, replay from test/fixtures/histories (replay.test.ts).
  it.each([
    ['connect', `${p}ConnectAndCheck`],
    ['ensure-database, ensure-user and grant', `${p}EnsureTenant`],
    ['verify and store-credentials', `${p}VerifyAndStore`],
  ])(
    'cancelled during %s: the run ends cancelled; no database, user or credentials file is left',
    async (_stage, activity) => {
      const x = input();
      const { h, outcome } = await cancelDuring('provisionDatabase', x.input, activity);
      expectCancelled(outcome);
      if (activity === `${p}EnsureTenant`)
        await recordHistory(h.workflowId, `provision-${engine}-cancelled-in-ensure-tenant`, '0.5.0');
      expect(await admin.databaseExists(x.names.database)).toBe(false);
      expect(await admin.userExists(x.names.user)).toBe(false);
      expect(fs.existsSync(x.file)).toBe(false);
    },
  );

  it('a re-run of an existing tenant, cancelled, keeps the database, the user and the working credentials', async () => {
    const x = input();
    await run('provisionDatabase', x.input);
    const { outcome } = await cancelDuring('provisionDatabase', x.input, `${p}EnsureTenant`);
    expectCancelled(outcome);
    expect(await admin.databaseExists(x.names.database)).toBe(true);
    expect(await admin.userExists(x.names.user)).toBe(true);
    const stored = JSON.parse(fs.readFileSync(x.file, 'utf8')) as { connectionString: string };
    const c = await connectWith(stored.connectionString);
    await c.query('select 1');
    await c.close();
  });

  it('a later run of a cron chain, cancelled, keeps what an earlier run of the chain made (each run has its own id)', async () => {
    const x = input();
    const h = await t.client.workflow.start('provisionDatabase', {
      workflowId: uniqueName('cron-prov'),
      taskQueue: t.taskQueue,
      args: [x.input],
      cronSchedule: '* * * * *',
    });
    try {
      // The first run provisions the tenant; the second (at the next minute) is cancelled in ensure-tenant, after its grant step.
      const first = gate.arm(`${p}EnsureTenant`, h.workflowId);
      const held = gate.arm(`${p}EnsureTenant`, h.workflowId);
      await first.entered;
      first.release();
      await held.entered;
      await h.cancel();
      held.release();
      await until(
        async () => (await h.describe()).status.name === 'CANCELLED',
        'the cron run to end cancelled',
        90_000,
      );
    } finally {
      await h.terminate().catch(() => undefined);
    }
    expect(await admin.databaseExists(x.names.database)).toBe(true);
    expect(await admin.userExists(x.names.user)).toBe(true);
    expect(fs.existsSync(x.file)).toBe(true);
  }, 150_000);

  it('a database someone wrote into before the cancellation is kept; the user and credentials of the run go', async () => {
    const x = input();
    const { outcome } = await cancelDuring('provisionDatabase', x.input, `${p}VerifyAndStore`, async () => {
      // The run's user exists and its password is in the target: use it, as the tenant could.
      const stored = JSON.parse(fs.readFileSync(x.file, 'utf8')) as { password: string };
      const url =
        engine === 'postgres'
          ? `postgres://${x.names.user}:${stored.password}@${a.host}:${a.port}/${x.names.database}`
          : `mysql://${x.names.user}:${stored.password}@tcp(${a.host}:${a.port})/${x.names.database}`;
      const c = await connectWith(url);
      await c.query('create table orders (id int)');
      await c.close();
    });
    expectCancelled(outcome);
    expect(await admin.databaseExists(x.names.database)).toBe(true);
    expect(await admin.userExists(x.names.user)).toBe(false);
    expect(fs.existsSync(x.file)).toBe(false);
  });

  it('a cancelled deprovision stops where it was; a re-run finishes it', async () => {
    const x = input();
    await run('provisionDatabase', x.input);
    const dep = { ...x.input, reclaimPolicy: 'delete' };
    const { outcome } = await cancelDuring('deprovisionDatabase', dep, `${p}DropDatabase`);
    expectCancelled(outcome);
    expect(await admin.databaseExists(x.names.database)).toBe(false);
    expect(await admin.userExists(x.names.user)).toBe(true); // drop-user never started
    await run('deprovisionDatabase', dep);
    expect(await admin.userExists(x.names.user)).toBe(false);
    expect(fs.existsSync(x.file)).toBe(false);
  });
});

describe('deletes', () => {
  test('a cancelled unpeerVpc stops where it was; a re-run finishes it', async () => {
    const customer = await makeCustomerVpc(fx);
    const database = await makeAwsDatabase(fx, {
      databaseId: uniqueName('cdb'),
      region: 'us-east-1',
      cidr: '10.250.0.0/19',
    });
    const input = {
      databaseId: database.databaseId,
      region: 'us-east-1',
      vpcId: customer.vpcId,
      cloud: { kind: 'aws' },
      timing: TIMING,
    };
    await run('peerVpc', input);
    const { outcome } = await cancelDuring('unpeerVpc', input, 'removeCustomerRoutes');
    expectCancelled(outcome);
    expect(live(await peeringsBetween(fx, 'us-east-1', database.vpcId, customer.vpcId))).toHaveLength(1); // delete-peering never started
    await run('unpeerVpc', input);
    expect(live(await peeringsBetween(fx, 'us-east-1', database.vpcId, customer.vpcId))).toEqual([]);
    for (const table of [customer.mainTable, customer.subnetTable])
      expect(await routesTo(fx, 'us-east-1', table, database.cidr)).toEqual([]);
  });
});

describe('createDatabaseNetwork, re-run', () => {
  test('a cancelled re-run of an existing network keeps the network and its peering', async () => {
    const customer = await makeCustomerVpc(fx);
    const databaseId = uniqueName('cnet-again');
    const input = {
      databaseId,
      region: 'us-east-1',
      vpcId: customer.vpcId,
      availabilityZones: ['us-east-1a'],
      cidr: '10.253.0.0/19',
      timing: TIMING,
    };
    const first = (await run('createDatabaseNetwork', input)) as {
      databaseVpcId: string;
      peering: { peeringId: string };
    };
    // Cancelled while the child looks the peering up (after that, a re-run's child has only the
    // route check left, which may finish before the cancellation reaches it).
    const { outcome } = await cancelDuring('createDatabaseNetwork', input, 'lookUpPeering');
    expectCancelled(outcome);
    expect((await dbVpcs(fx, databaseId)).map((v) => v.VpcId)).toEqual([first.databaseVpcId]);
    expect(
      live(await peeringsBetween(fx, 'us-east-1', first.databaseVpcId, customer.vpcId)).map(
        (p) => p.VpcPeeringConnectionId,
      ),
    ).toEqual([first.peering.peeringId]);
    for (const table of [customer.mainTable, customer.subnetTable])
      expect(await routesTo(fx, 'us-east-1', table, input.cidr)).toHaveLength(1);
  });
});

describe('deleteDatabaseNetwork', () => {
  test('a cancelled delete stops where it was; a re-run finishes it', async () => {
    const customer = await makeCustomerVpc(fx);
    const databaseId = uniqueName('cdel');
    const input = {
      databaseId,
      region: 'us-east-1',
      vpcId: customer.vpcId,
      availabilityZones: ['us-east-1a'],
      cidr: '10.252.0.0/19',
      timing: TIMING,
    };
    await run('createDatabaseNetwork', input);
    const del = { databaseId, region: 'us-east-1', vpcId: customer.vpcId, timing: TIMING };
    const { outcome } = await cancelDuring('deleteDatabaseNetwork', del, 'deleteDatabaseSubnets');
    expectCancelled(outcome);
    const vpcs = () => dbVpcs(fx, databaseId);
    expect(await vpcs()).toHaveLength(1); // delete-vpc never started
    await run('deleteDatabaseNetwork', del);
    expect(await vpcs()).toEqual([]);
  });
});

describe('refreshDblab', () => {
  test.each([
    ['check-dblab', 'dblabCheck'],
    ['find-snapshot', 'rdsFindSnapshot'],
    ['create-clone', 'rdsCreateClone'],
    ['wait-clone', 'rdsWaitClone'],
    ['configure-dblab (reading the source)', 'dblabReadSource'],
    ['configure-dblab', 'dblabConfigure'],
    ['full-refresh', 'dblabFullRefresh'],
    ['wait-refresh', 'dblabWaitRefresh'],
    ['restore-dblab', 'dblabRestoreSource'],
  ])('cancelled during %s: the run ends cancelled; no clone of the run is left', async (_stage, activity) => {
    const source = await makeRdsSource(fx);
    dblab.finishNow(); // the refresh an earlier case triggered is over
    const configsBefore = dblab.configs.length;
    const { h, outcome } = await cancelDuring(
      'refreshDblab',
      refreshConfig({ source, apiEndpoint: dblab.url }),
      activity,
    );
    expectCancelled(outcome);
    expect(await taggedWith(fx, h.firstExecutionRunId)).toEqual([]);
    // From create-clone on, a clone was made (so the check above could have failed) and deleted.
    const stages = (await h.query<Progress>('progress')).stages;
    const deleteStage = stages.find((x) => x.name === 'delete-clone')!;
    expect(deleteStage.status).toBe(['dblabCheck', 'rdsFindSnapshot'].includes(activity) ? 'pending' : 'done');
    // Once DBLab was pointed at the clone (from configure-dblab on), restore-dblab pointed it back,
    // although the run was being cancelled; before that, DBLab's config was never touched.
    const reconfigured = ['dblabConfigure', 'dblabFullRefresh', 'dblabWaitRefresh', 'dblabRestoreSource'].includes(
      activity,
    );
    expect(stages.find((x) => x.name === 'restore-dblab')!.status === 'done').toBe(reconfigured);
    expect(dblab.configs.length - configsBefore).toBe(reconfigured ? 2 : 0);
    expect(dblab.source.connection.host).toBe('dblab-source.example.internal');
  });

  test('cancelled while wait-clone applies the parameter group: the run ends cancelled; the clone is deleted', async () => {
    const source = await makeRdsSource(fx);
    const group = uniqueName('cancel-pg').replace(/_/g, '-');
    await fx.rds('us-east-1').send(
      new CreateDBParameterGroupCommand({
        DBParameterGroupName: group,
        DBParameterGroupFamily: 'postgres13',
        Description: 'dbops test',
      }),
    );
    dblab.finishNow();
    const config = refreshConfig({ source, apiEndpoint: dblab.url, clone: { parameterGroup: group } });
    const { h, outcome } = await cancelDuring('refreshDblab', config, 'rdsApplyParameterGroup');
    expectCancelled(outcome);
    expect(await taggedWith(fx, h.firstExecutionRunId)).toEqual([]);
    const stages = (await h.query<Progress>('progress')).stages;
    expect(stages.find((x) => x.name === 'delete-clone')!.status).toBe('done');
    expect(stages.find((x) => x.name === 'configure-dblab')!.status).toBe('pending');
  });
});
