/**
 * Plan mode of peerVpc and the reconcilePeering drift check (issue 14), on a real worker and dev
 * server against moto. Every AWS call of the worker is counted (SDK middleware, as in
 * peering.test.ts): a plan or a report-only reconcile makes no mutating call.
 */
import {
  AttachInternetGatewayCommand,
  CreateInternetGatewayCommand,
  CreateRouteCommand,
  DeleteRouteCommand,
} from '@aws-sdk/client-ec2';
import { AssociateVPCWithHostedZoneCommand } from '@aws-sdk/client-route-53';
import { WorkflowFailedError } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { SA_DRIFT, type Progress } from '../../src/api';
import { createActivities } from '../../src/activities';
import type { PeerVpcPlanResult, PeerVpcResult } from '../../src/workflows/peer-vpc';
import type { ReconcilePeeringResult } from '../../src/workflows/reconcile-peering';
import { testConfig } from '../helpers/activities';
import {
  handMadePeering,
  countingAws,
  fixtureAws,
  makeAwsDatabase,
  makeCustomerVpc,
  peeringsBetween,
  routesTo,
  zoneVpcs,
  type CallLog,
} from '../helpers/aws-fixtures';
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

/** Plan and reconcile runs are new in the next release: their histories go to its folder. */
const NEXT_RELEASE = '0.5.0';
const TIMING = { pollInterval: '200ms', initiateTimeout: '30s', activeTimeout: '30s', heartbeatTimeout: '10s' };
const fx = fixtureAws();

let t: TestEnv;
let worker: Worker;
let running: Promise<void>;
let log: CallLog;

beforeAll(async () => {
  t = await openTestEnv();
  const counted = countingAws();
  log = counted.log;
  worker = await makeWorker(
    t,
    createActivities({ env: {}, aws: counted.aws, config: testConfig({ aws: { allowForceRouteCreation: true } }) }),
  );
  running = worker.run();
});
afterAll(async () => {
  worker.shutdown();
  await running;
  await t.close();
});

let dbCounter = 0;
async function setup() {
  const customer = await makeCustomerVpc(fx, 'us-east-1');
  dbCounter += 1;
  const database = await makeAwsDatabase(fx, {
    databaseId: uniqueName('db'),
    region: 'us-east-1',
    cidr: `10.${200 + dbCounter}.0.0/19`,
  });
  const input = {
    databaseId: database.databaseId,
    region: 'us-east-1',
    vpcId: customer.vpcId,
    cloud: { kind: 'aws' as const },
    timing: TIMING,
  };
  return { customer, database, input };
}

async function run<R>(type: 'peerVpc' | 'unpeerVpc' | 'deleteDatabaseNetwork' | 'reconcilePeering', input: object) {
  log.reset();
  const h = await t.client.workflow.start(type, {
    workflowId: uniqueName(type),
    taskQueue: t.taskQueue,
    args: [input],
  });
  const result = await h.result().catch((e: unknown) => e);
  const failed = result instanceof WorkflowFailedError ? result : undefined;
  return {
    h,
    result: result as R,
    progress: await h.query<Progress>('progress'),
    failure: failed?.cause?.message,
    failureType: (failed?.cause as { type?: string } | undefined)?.type,
    mutating: log.mutating(),
  };
}

/** What an apply brings back of a plan run's result (its plan; the target fields stay behind). */
const expectOf = (r: PeerVpcPlanResult) => ({ plan: r.plan, fingerprint: r.fingerprint, changes: r.changes });
const rows = (p: Progress) => Object.fromEntries(p.stages.map((s) => [s.name, [s.status, s.detail ?? s.error]]));
const whats = (changes: Array<{ stage: string; action: string; what: string }>) =>
  changes.map((c) => `${c.stage} ${c.action} ${c.what}`).sort();

test('plan of a fresh peering lists initiate, accept, every route and the association, and changes nothing', async () => {
  const { customer, database, input } = await setup();
  const r = await run<PeerVpcPlanResult>('peerVpc', { ...input, plan: true });
  expect(r.failure).toBeUndefined();
  expect(r.mutating).toEqual([]);
  const name = `VPC peering ${database.vpcId} ↔ ${customer.vpcId}`;
  expect(r.result).toMatchObject({ plan: true, blocked: [], databaseId: database.databaseId, vpcId: customer.vpcId });
  expect(r.result.fingerprint).toMatch(/^plan-v1:[0-9a-f]{64}$/);
  const route = (table: string, cidr: string, where = '') =>
    `route create route ${cidr} in ${table}${where} → the new peering`;
  const expected = [
    `initiate create ${name}`,
    `accept change accept ${name}`,
    route(customer.mainTable, database.cidr),
    route(customer.subnetTable, database.cidr),
    `associate-dns create association of ${customer.vpcId} with zone ${database.zoneId}`,
  ];
  expect(whats(r.result.changes)).toEqual(expect.arrayContaining(expected));
  // The database VPC's main table gets the return route.
  const back = r.result.changes.filter((c) => c.what.includes('(database VPC)'));
  expect(back.map((c) => c.what)).toEqual([expect.stringMatching(new RegExp(`^route ${customer.cidr} in rtb-`))]);
  expect(r.result.changes).toHaveLength(expected.length + 1);

  // Each stage's row says what it would do; the route stage says it waits for the peering.
  const p = rows(r.progress);
  expect(p.prepare[0]).toBe('done');
  expect(p.initiate).toEqual(['done', `would create ${name} (no peering found)`]);
  expect(p.route[0]).toBe('done');
  expect(p.route[1]).toMatch(/^after initiate creates the peering: would create route /);
  expect(p['associate-dns'][1]).toMatch(/^would create association of /);

  expect(await peeringsBetween(fx, 'us-east-1', customer.vpcId, database.vpcId)).toEqual([]);
  expect(await routesTo(fx, 'us-east-1', customer.mainTable, database.cidr)).toEqual([]);
  await recordHistory(r.h.workflowId, 'peer-vpc-plan-fresh', NEXT_RELEASE);

  // The same state plans the same fingerprint; applying it makes the plan come true.
  const again = await run<PeerVpcPlanResult>('peerVpc', { ...input, plan: true });
  expect(again.result.fingerprint).toBe(r.result.fingerprint);
  const applied = await run<PeerVpcResult>('peerVpc', { ...input, expectPlan: expectOf(r.result) });
  expect(applied.failure).toBeUndefined();
  expect(applied.mutating).toEqual(
    expect.arrayContaining([
      'CreateVpcPeeringConnection',
      'AcceptVpcPeeringConnection',
      'CreateRoute',
      'AssociateVPCWithHostedZone',
    ]),
  );
  await recordHistory(applied.h.workflowId, 'peer-vpc-expect-plan-applied', NEXT_RELEASE);
  const after = await run<PeerVpcPlanResult>('peerVpc', { ...input, plan: true });
  expect(after.result.changes).toEqual([]);
  expect(after.mutating).toEqual([]);
  expect(rows(after.progress).route).toEqual(['done', 'no change']);
});

test('an apply with a stale plan is refused (PlanOutdated), naming what differs, and creates nothing', async () => {
  const { customer, database, input } = await setup();
  const planned = await run<PeerVpcPlanResult>('peerVpc', { ...input, plan: true });
  // Out of band: someone associates the VPC with the zone.
  await fx.route53().send(
    new AssociateVPCWithHostedZoneCommand({
      HostedZoneId: database.zoneId!,
      VPC: { VPCId: customer.vpcId, VPCRegion: 'us-east-1' },
    }),
  );
  const r = await run('peerVpc', { ...input, expectPlan: expectOf(planned.result) });
  expect(r.failureType).toBe('PlanOutdated');
  expect(r.failure).toContain(`no longer: create association of ${customer.vpcId} with zone ${database.zoneId}`);
  expect(r.failure).toContain('nothing was changed');
  expect(r.mutating).toEqual([]);
  expect(await peeringsBetween(fx, 'us-east-1', customer.vpcId, database.vpcId)).toEqual([]);
  expect(rows(r.progress).prepare[0]).toBe('failed');

  // Only the fingerprint: the refusal lists the live plan instead.
  const bare = await run('peerVpc', { ...input, expectPlan: { fingerprint: planned.result.fingerprint } });
  expect(bare.failureType).toBe('PlanOutdated');
  expect(bare.failure).toContain(`now planned: `);
  expect(bare.mutating).toEqual([]);
});

test('plan and expectPlan together, or a plan whose changes do not match its fingerprint, are refused', async () => {
  const { input } = await setup();
  const planned = await run<PeerVpcPlanResult>('peerVpc', { ...input, plan: true });
  const both = await run('peerVpc', { ...input, plan: true, expectPlan: expectOf(planned.result) });
  expect(both.failureType).toBe('InvalidInput');
  expect(both.failure).toMatch(/plan .*or expectPlan .*not both/);
  const forged = { ...expectOf(planned.result), changes: planned.result.changes.slice(1) };
  const bad = await run('peerVpc', { ...input, expectPlan: forged });
  expect(bad.failureType).toBe('InvalidInput');
  expect(bad.failure).toContain('do not match the fingerprint');
  expect([...both.mutating, ...bad.mutating]).toEqual([]);
  // "plan": false is an ordinary apply.
  const applied = await run<PeerVpcResult>('peerVpc', { ...input, plan: false });
  expect(applied.failure).toBeUndefined();
  expect(applied.mutating).toContain('CreateVpcPeeringConnection');
  expect(applied.result.stagesRun).toEqual(['initiate', 'accept', 'route', 'associate-dns']);
});

test('a route to the CIDR that points elsewhere is shown as refused in the plan, and an apply of it is refused before anything is made', async () => {
  const { customer, database, input } = await setup();
  const ec2 = fx.ec2('us-east-1');
  const igw = (await ec2.send(new CreateInternetGatewayCommand({}))).InternetGateway!.InternetGatewayId!;
  await ec2.send(new AttachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: customer.vpcId }));
  await ec2.send(
    new CreateRouteCommand({ RouteTableId: customer.subnetTable, DestinationCidrBlock: database.cidr, GatewayId: igw }),
  );
  const r = await run<PeerVpcPlanResult>('peerVpc', { ...input, plan: true });
  expect(r.failure).toBeUndefined();
  expect(r.mutating).toEqual([]);
  expect(r.result.blocked).toEqual([
    expect.objectContaining({
      stage: 'route',
      what: `route ${database.cidr} in ${customer.subnetTable} → the new peering`,
      detail: expect.stringContaining(`points at ${igw}`),
    }),
  ]);
  expect(r.progress.stages.find((s) => s.name === 'route')).toMatchObject({
    status: 'failed',
    error: expect.stringContaining('would refuse: route:'),
  });
  const applied = await run('peerVpc', { ...input, expectPlan: expectOf(r.result) });
  expect(applied.failureType).toBe('PlanBlocked');
  expect(applied.failure).toContain(igw);
  expect(applied.mutating).toEqual([]);
  expect(await peeringsBetween(fx, 'us-east-1', customer.vpcId, database.vpcId)).toEqual([]);

  // With forceRouteCreation (the operator allows it here) the route stage replaces it: a change, not a refusal.
  const forced = await run<PeerVpcPlanResult>('peerVpc', { ...input, forceRouteCreation: true, plan: true });
  expect(forced.mutating).toEqual([]);
  expect(forced.result.blocked).toEqual([]);
  expect(forced.result.changes).toContainEqual({
    stage: 'route',
    action: 'change',
    what: `route ${database.cidr} in ${customer.subnetTable} → the new peering`,
    detail: `points at ${igw}; replaced (forceRouteCreation)`,
  });
});

describe('reconcilePeering', () => {
  async function peered() {
    const s = await setup();
    const r = await run<PeerVpcResult>('peerVpc', s.input);
    expect(r.failure).toBeUndefined();
    return { ...s, peeringId: r.result.peeringId! };
  }

  test('a route deleted out of band is reported (report-only: nothing changes), then repaired', async () => {
    const { customer, database, input, peeringId } = await peered();
    const clean = await run<ReconcilePeeringResult>('reconcilePeering', input);
    expect(clean.result).toMatchObject({ drift: [], outcome: 'none' });
    expect(clean.mutating).toEqual([]);
    expect(rows(clean.progress).repair).toEqual(['skipped', 'no drift']);

    await fx
      .ec2('us-east-1')
      .send(new DeleteRouteCommand({ RouteTableId: customer.subnetTable, DestinationCidrBlock: database.cidr }));
    const what = `route ${database.cidr} in ${customer.subnetTable} → ${peeringId}`;

    const reported = await run<ReconcilePeeringResult>('reconcilePeering', { ...input, reportOnly: true });
    expect(reported.failure).toBeUndefined();
    expect(reported.mutating).toEqual([]);
    expect(reported.result).toMatchObject({
      drift: [{ stage: 'route', action: 'create', what, detail: 'missing' }],
      repaired: [],
      remaining: [{ stage: 'route', action: 'create', what }],
      reportOnly: true,
      outcome: 'reported',
    });
    expect(rows(reported.progress).check[1]).toBe(`route: would create ${what} (missing)`);
    expect((await reported.h.describe()).typedSearchAttributes.get(SA_DRIFT)).toBe('reported');
    expect(await routesTo(fx, 'us-east-1', customer.subnetTable, database.cidr)).toEqual([]);

    const repaired = await run<ReconcilePeeringResult>('reconcilePeering', input);
    expect(repaired.failure).toBeUndefined();
    expect(repaired.mutating).toEqual(['CreateRoute']);
    expect(repaired.result).toMatchObject({
      drift: [{ stage: 'route', action: 'create', what }],
      repaired: [{ stage: 'route', action: 'create', what }],
      remaining: [],
      outcome: 'repaired',
    });
    expect((await repaired.h.describe()).typedSearchAttributes.get(SA_DRIFT)).toBe('repaired');
    expect(
      (await routesTo(fx, 'us-east-1', customer.subnetTable, database.cidr)).map((x) => x.VpcPeeringConnectionId),
    ).toEqual([peeringId]);
    await recordHistory(repaired.h.workflowId, 'reconcile-peering-route-repaired', NEXT_RELEASE);
  });

  test('a zone association removed out of band is repaired; a deleted peering is reported unrepaired, not recreated', async () => {
    const { customer, database, input } = await peered();
    const { DisassociateVPCFromHostedZoneCommand } = await import('@aws-sdk/client-route-53');
    await fx.route53().send(
      new DisassociateVPCFromHostedZoneCommand({
        HostedZoneId: database.zoneId!,
        VPC: { VPCId: customer.vpcId, VPCRegion: 'us-east-1' },
      }),
    );
    const r = await run<ReconcilePeeringResult>('reconcilePeering', input);
    expect(r.result).toMatchObject({ outcome: 'repaired', remaining: [] });
    expect(whats(r.result.drift)).toEqual([
      `associate-dns create association of ${customer.vpcId} with zone ${database.zoneId}`,
    ]);
    expect(await zoneVpcs(fx, database.zoneId!)).toContainEqual({ VPCId: customer.vpcId, VPCRegion: 'us-east-1' });

    const unpeered = await run('unpeerVpc', input);
    expect(unpeered.failure).toBeUndefined();
    const gone = await run<ReconcilePeeringResult>('reconcilePeering', input);
    expect(gone.failure).toBeUndefined();
    expect(gone.result.outcome).toBe('unrepaired');
    expect(whats(gone.result.drift)).toEqual(
      expect.arrayContaining([`initiate create VPC peering ${database.vpcId} ↔ ${customer.vpcId}`]),
    );
    // Nothing is patched up around a missing peering: not even the zone association unpeer removed.
    expect(whats(gone.result.drift)).toContain(
      `associate-dns create association of ${customer.vpcId} with zone ${database.zoneId}`,
    );
    expect(gone.result.remaining).toEqual(gone.result.drift);
    expect(gone.result.repaired).toEqual([]);
    expect(gone.mutating).toEqual([]);
    expect(gone.progress.stages.find((s) => s.name === 'repair')?.error).toContain('run peer-vpc');
    expect((await gone.h.describe()).typedSearchAttributes.get(SA_DRIFT)).toBe('unrepaired');
    expect(await peeringsBetween(fx, 'us-east-1', customer.vpcId, database.vpcId)).not.toContainEqual(
      expect.objectContaining({ Status: expect.objectContaining({ Code: 'active' }) }),
    );
  });

  test('a peering dbops did not make (no dbops tag) is refused, changing nothing', async () => {
    const { customer, database, input } = await setup();
    const pcx = await handMadePeering(fx, 'us-east-1', database.vpcId, customer.vpcId);
    const r = await run('reconcilePeering', input);
    expect(r.failureType).toBe('StageFailed');
    expect(r.failure).toContain(`peering ${pcx}`);
    expect(r.failure).toContain('not made by dbops');
    expect(r.mutating).toEqual([]);
    expect(await routesTo(fx, 'us-east-1', customer.mainTable, database.cidr)).toEqual([]);
  });

  test('bad input is refused before anything is read', async () => {
    const { input } = await setup();
    const r = await run('reconcilePeering', { ...input, plan: true });
    expect(r.failureType).toBe('InvalidInput');
    expect(r.failure).toContain('plan');
    expect(log.calls).toEqual([]);
  });
});

describe('dbops peer-vpc', () => {
  async function cli(...argv: string[]) {
    const c = captureIo();
    const env = { TEMPORAL_ADDRESS: testAddress(), TEMPORAL_NAMESPACE: 'default', DBOPS_TASK_QUEUE: t.taskQueue };
    const code = await runCli(argv, c.io, env);
    return { code, out: c.out(), err: c.err() };
  }

  test('--plan prints the plan and its fingerprint; --expect-plan-from applies it; a stale one is refused', async () => {
    const { customer, database } = await setup();
    const flags = ['peer-vpc', '-d', database.databaseId, '-r', 'us-east-1', '--vpc-id', customer.vpcId];
    log.reset();
    const planned = await cli(...flags, '--plan', '--poll-interval', '200ms');
    expect(planned.code).toBe(0);
    expect(log.mutating()).toEqual([]);
    expect(planned.out).toMatch(/stage\s+action\s+what\s+detail/);
    expect(planned.out).toMatch(new RegExp(`initiate\\s+create\\s+VPC peering ${database.vpcId} ↔ ${customer.vpcId}`));
    const fp = /plan (plan-v1:[0-9a-f]{64})/.exec(planned.out)![1];
    const planId = `peer-vpc:${database.databaseId}:${customer.vpcId}:plan`;
    expect(planned.out).toContain(`--expect-plan ${fp} (or --expect-plan-from ${planId})`);

    const both = await cli(...flags, '--plan', '--expect-plan', fp);
    expect(both.code).not.toBe(0);
    expect(both.err).toContain('give one of --plan, --expect-plan');

    await fx.route53().send(
      new AssociateVPCWithHostedZoneCommand({
        HostedZoneId: database.zoneId!,
        VPC: { VPCId: customer.vpcId, VPCRegion: 'us-east-1' },
      }),
    );
    const stale = await cli(...flags, '--expect-plan-from', planId, '--poll-interval', '200ms');
    expect(stale.code).toBe(1);
    expect(stale.err).toContain('no longer: create association of');
    expect(await peeringsBetween(fx, 'us-east-1', customer.vpcId, database.vpcId)).toEqual([]);

    const again = await cli(...flags, '--plan', '--poll-interval', '200ms');
    const fresh = /plan (plan-v1:[0-9a-f]{64})/.exec(again.out)![1];
    expect(fresh).not.toBe(fp);
    const applied = await cli(...flags, '--expect-plan', fresh, '--poll-interval', '200ms');
    expect(applied.err).not.toContain('failed');
    expect(applied.code).toBe(0);
    expect((await peeringsBetween(fx, 'us-east-1', customer.vpcId, database.vpcId))[0].Status?.Code).toBe('active');
  });

  test('--schedule --report-only puts a report-only reconcile on a schedule', async () => {
    const { customer, database, input } = await setup();
    expect((await run('peerVpc', input)).failure).toBeUndefined();
    await fx
      .ec2('us-east-1')
      .send(new DeleteRouteCommand({ RouteTableId: customer.mainTable, DestinationCidrBlock: database.cidr }));
    const sid = uniqueName('reconcile');
    const flags = ['peer-vpc', '-d', database.databaseId, '-r', 'us-east-1', '--vpc-id', customer.vpcId];
    expect((await cli(...flags, '--report-only')).err).toContain('--report-only go with --schedule');
    const created = await cli(...flags, '--schedule', '0 3 * * *', '--schedule-id', sid, '--report-only');
    expect(created.err).toBe('');
    expect(created.out).toContain(`schedule ${sid} created: reconcile of the peering`);
    const schedule = t.client.schedule.getHandle(sid);
    try {
      const desc = await schedule.describe();
      expect(desc.policies.overlap).toBe('SKIP');
      expect(desc.action).toMatchObject({
        workflowType: 'reconcilePeering',
        args: [expect.objectContaining({ databaseId: database.databaseId, vpcId: customer.vpcId, reportOnly: true })],
      });
      log.reset();
      await schedule.trigger();
      let started: { workflowId: string; firstExecutionRunId: string } | undefined;
      while (!started) {
        started = (await schedule.describe()).info.recentActions[0]?.action.workflow;
        if (!started) await new Promise((r) => setTimeout(r, 200));
      }
      const result = await t.client.workflow.getHandle(started.workflowId, started.firstExecutionRunId).result();
      expect(result).toMatchObject({ outcome: 'reported', drift: [expect.objectContaining({ stage: 'route' })] });
      expect(log.mutating()).toEqual([]);
      expect(await routesTo(fx, 'us-east-1', customer.mainTable, database.cidr)).toEqual([]);
    } finally {
      await schedule.delete();
    }
  });
});

describe('plans of what unpeer-vpc and db-network delete would delete', () => {
  test('unpeerVpc plan lists the association, every route via the peering and the peering; an apply with it deletes them', async () => {
    const { customer, database, input } = await setup();
    const peered = await run<PeerVpcResult>('peerVpc', input);
    const pcx = peered.result.peeringId!;
    const r = await run<PeerVpcPlanResult>('unpeerVpc', { ...input, plan: true });
    expect(r.failure).toBeUndefined();
    expect(r.mutating).toEqual([]);
    expect(whats(r.result.changes)).toEqual(
      expect.arrayContaining([
        `disassociate-dns delete association of ${customer.vpcId} with zone ${database.zoneId}`,
        `remove-routes delete route ${database.cidr} in ${customer.mainTable} → ${pcx}`,
        `remove-routes delete route ${database.cidr} in ${customer.subnetTable} → ${pcx}`,
        `delete-peering delete VPC peering ${pcx} (${database.vpcId} ↔ ${customer.vpcId})`,
      ]),
    );
    expect(r.result.changes.find((c) => c.stage === 'delete-peering')?.detail).toBe('active; made by dbops');
    expect(r.result.changes.filter((c) => c.what.includes('(database VPC)'))).toHaveLength(1);
    expect(r.result.changes).toHaveLength(5);
    expect(rows(r.progress)['delete-peering']).toEqual([
      'done',
      `would delete VPC peering ${pcx} (${database.vpcId} ↔ ${customer.vpcId}) (active; made by dbops)`,
    ]);
    expect((await peeringsBetween(fx, 'us-east-1', customer.vpcId, database.vpcId))[0].Status?.Code).toBe('active');
    await recordHistory(r.h.workflowId, 'unpeer-vpc-plan', NEXT_RELEASE);

    const applied = await run('unpeerVpc', { ...input, expectPlan: expectOf(r.result) });
    expect(applied.failure).toBeUndefined();
    expect(applied.mutating).toEqual(expect.arrayContaining(['DeleteVpcPeeringConnection', 'DeleteRoute']));
    const after = await run<PeerVpcPlanResult>('unpeerVpc', { ...input, plan: true });
    expect(after.result.changes).toEqual([]);
  });

  test('deleteDatabaseNetwork plan lists the unpeering, zone, subnets and VPC; a network dbops did not make is refused in the plan', async () => {
    const customer = await makeCustomerVpc(fx, 'us-east-1');
    const databaseId = uniqueName('net');
    const input = { databaseId, region: 'us-east-1', vpcId: customer.vpcId, timing: TIMING };
    log.reset();
    const h = await t.client.workflow.start('createDatabaseNetwork', {
      workflowId: uniqueName('net'),
      taskQueue: t.taskQueue,
      args: [{ ...input, availabilityZones: ['us-east-1a', 'us-east-1b'] }],
    });
    const net = (await h.result()) as { databaseVpcId: string; subnetIds: string[]; hostedZoneId: string };
    const pcx = (await peeringsBetween(fx, 'us-east-1', customer.vpcId, net.databaseVpcId))[0].VpcPeeringConnectionId;

    const r = await run<PeerVpcPlanResult>('deleteDatabaseNetwork', { ...input, plan: true });
    expect(r.failure).toBeUndefined();
    expect(r.mutating).toEqual([]);
    expect(r.result.blocked).toEqual([]);
    expect(whats(r.result.changes)).toEqual(
      expect.arrayContaining([
        `unpeer delete VPC peering ${pcx} (${net.databaseVpcId} ↔ ${customer.vpcId})`,
        `unpeer delete association of ${customer.vpcId} with zone ${net.hostedZoneId}`,
        `delete-hosted-zone delete private hosted zone ${net.hostedZoneId} and its records`,
        ...net.subnetIds.map((id) => `delete-subnets delete subnet ${id}`),
        expect.stringMatching(new RegExp(`^delete-vpc delete VPC ${net.databaseVpcId} `)),
      ]),
    );
    expect(rows(r.progress)['delete-vpc'][1]).toMatch(/^would delete VPC /);
    await recordHistory(r.h.workflowId, 'delete-database-network-plan', NEXT_RELEASE);
    const applied = await run('deleteDatabaseNetwork', { ...input, expectPlan: expectOf(r.result) });
    expect(applied.failure).toBeUndefined();
    expect(applied.mutating).toEqual(expect.arrayContaining(['DeleteVpc', 'DeleteHostedZone', 'DeleteSubnet']));

    // A database network with the database tag but not ManagedBy=dbops: the plan names the refusal.
    const other = await setup();
    const refused = await run<PeerVpcPlanResult>('deleteDatabaseNetwork', {
      databaseId: other.database.databaseId,
      region: 'us-east-1',
      vpcId: other.customer.vpcId,
      plan: true,
    });
    expect(refused.failure).toBeUndefined();
    expect(refused.mutating).toEqual([]);
    expect(refused.result.blocked).toEqual([
      expect.objectContaining({ stage: 'prepare', what: expect.stringContaining('was not made by dbops') }),
    ]);
    const blocked = await run('deleteDatabaseNetwork', {
      databaseId: other.database.databaseId,
      region: 'us-east-1',
      vpcId: other.customer.vpcId,
      expectPlan: expectOf(refused.result),
    });
    expect(blocked.failureType).toBe('PlanBlocked');
    expect(blocked.mutating).toEqual([]);
  });
});
