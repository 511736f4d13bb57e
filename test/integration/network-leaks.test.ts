/**
 * createDatabaseNetwork leaves nothing behind that it made, whatever happens mid-create: a
 * cancellation while a create is in flight (held at the fault proxy in front of moto), or a create
 * whose reply was lost (so the retried attempt found the VPC already there) followed by a later
 * stage failing. And its undo never removes a network it did not make.
 */
import { DescribeSubnetsCommand, DescribeVpcsCommand } from '@aws-sdk/client-ec2';
import { ListHostedZonesByNameCommand, ListHostedZonesByVPCCommand } from '@aws-sdk/client-route-53';
import { CancelledFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import type { Progress } from '../../src/api';
import { DATABASE_TAG, RUN_TAG } from '../../src/activities/database-side/aws';
import type { CreateNetworkResult } from '../../src/workflows/create-database-network';
import { fixtureAws, makeCustomerVpc } from '../helpers/aws-fixtures';
import type { FaultRule } from '../fixtures/aws-fault-proxy';
import { throughFaults } from '../helpers/fault-worker';
import { openTestEnv, uniqueName, type TestEnv } from '../helpers/temporal';

const fx = fixtureAws();
let t: TestEnv;

beforeAll(async () => {
  t = await openTestEnv();
});
afterAll(async () => t.close());

async function dbVpcs(databaseId: string) {
  const all = (await fx.ec2('us-east-1').send(new DescribeVpcsCommand({}))).Vpcs ?? [];
  return all.filter((v) => v.Tags?.some((x) => x.Key === DATABASE_TAG && x.Value === databaseId));
}

async function subnetsOf(vpcId: string) {
  return ((await fx.ec2('us-east-1').send(new DescribeSubnetsCommand({}))).Subnets ?? []).filter(
    (s) => s.VpcId === vpcId,
  );
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const EventType = temporal.api.enums.v1.EventType;

/** The run's history replays through the current workflow code (the new code path is deterministic). */
async function replays(h: WorkflowHandle): Promise<void> {
  const bundle = { codePath: process.env.DBOPS_TEST_WORKFLOW_BUNDLE! };
  await expect(
    Worker.runReplayHistory({ workflowBundle: bundle }, await h.fetchHistory(), h.workflowId),
  ).resolves.toBeUndefined();
}

/** Hosted zones named `name` (moto keeps a zone whose VPC is gone). */
async function zonesNamed(name: string) {
  const r = await fx.route53().send(new ListHostedZonesByNameCommand({ DNSName: name }));
  return (r.HostedZones ?? []).filter((z) => z.Name === `${name}.`);
}

/** The run has seen its cancellation: a workflow task completed after the cancel request (or it closed). */
async function cancellationSeen(h: WorkflowHandle): Promise<void> {
  await until('the run to process its cancellation', async () => {
    const events = (await h.fetchHistory()).events ?? [];
    const asked = events.findIndex((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED);
    return asked >= 0 && events.slice(asked).some((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
  });
}

function start(databaseId: string, vpcId: string, extra: Record<string, unknown> = {}) {
  return t.client.workflow.start('createDatabaseNetwork', {
    workflowId: uniqueName('net-leak'),
    taskQueue: t.taskQueue,
    args: [
      {
        databaseId,
        region: 'us-east-1',
        vpcId,
        availabilityZones: ['us-east-1a', 'us-east-1b'],
        timing: { pollInterval: '200ms' },
        ...extra,
      },
    ],
  });
}

test('cancelled while CreateVpc is in flight: the create finishes, is undone, nothing else is sent; the run ends cancelled', async () => {
  const customer = await makeCustomerVpc(fx);
  const databaseId = uniqueName('leak-cancel-vpc');
  await throughFaults(t, [{ action: 'CreateVpc', fault: 'hold', times: 1 }], async (proxy) => {
    const h = await start(databaseId, customer.vpcId, { cidr: '10.243.0.0/19' });
    await until('CreateVpc to be held', async () => proxy.held === 1); // it left the worker; moto has not seen it yet
    await h.cancel();
    await cancellationSeen(h);
    proxy.release(); // now AWS acts on it
    const err = await h.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect((await h.describe()).status.name).toBe('CANCELLED');
    await until('the held CreateVpc to reach moto', async () => proxy.executed.get('CreateVpc') === 1);
    // a worker without the fix finishes the abandoned create only now: give it the time to
    await new Promise((r) => setTimeout(r, 1000));
    expect(await dbVpcs(databaseId)).toEqual([]);
    expect(proxy.executed.get('DeleteVpc')).toBe(1);
    expect(proxy.seen.get('CreateSubnet')).toBeUndefined(); // never sent after the cancellation
    expect(proxy.seen.get('CreateHostedZone')).toBeUndefined();
    const p = await h.query<Progress>('progress');
    expect(p.stages.map((s) => s.status)).toEqual(['done', 'done', 'failed', 'pending', 'pending']);
    expect(p.stages[2].error).toBe('cancelled');
    await replays(h);
  });
});

test('cancelled while CreateHostedZone is in flight: the zone is made, then zone, subnets and VPC are undone; no peering starts', async () => {
  const customer = await makeCustomerVpc(fx);
  const databaseId = uniqueName('leak-cancel-zone');
  await throughFaults(t, [{ action: 'CreateHostedZone', fault: 'hold', times: 1 }], async (proxy) => {
    const h = await start(databaseId, customer.vpcId, { cidr: '10.244.0.0/19' });
    await until('CreateHostedZone to be held', async () => proxy.held === 1);
    const [vpc] = await dbVpcs(databaseId);
    await h.cancel();
    await cancellationSeen(h);
    proxy.release();
    await expect(h.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    expect((await h.describe()).status.name).toBe('CANCELLED');
    await until('the held CreateHostedZone to reach moto', async () => proxy.executed.get('CreateHostedZone') === 1);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await dbVpcs(databaseId)).toEqual([]);
    expect(await subnetsOf(vpc.VpcId!)).toEqual([]);
    expect(await zonesNamed(`${databaseId}.db.internal`)).toEqual([]);
    expect(proxy.executed.get('DeleteHostedZone')).toBe(1);
    expect(proxy.seen.get('CreateVpcPeeringConnection')).toBeUndefined();
    const p = await h.query<Progress>('progress');
    expect(p.stages.map((s) => s.status)).toEqual(['done', 'done', 'done', 'done', 'failed']);
    await replays(h);
  });
});

test('CreateVpc reply lost (the retried attempt finds the VPC), then a later stage fails: the VPC is still undone', async () => {
  const customer = await makeCustomerVpc(fx);
  const databaseId = uniqueName('leak-lost');
  // Route 53 refuses the zone (an error injected by the proxy): create-hosted-zone fails after
  // the VPC and subnets exist.
  const rules: FaultRule[] = [
    { action: 'CreateVpc', fault: 'lose-reply', times: 1 },
    { action: 'CreateHostedZone', fault: 'error', code: 'InvalidDomainName', times: 1 },
  ];
  await throughFaults(t, rules, async (proxy) => {
    const h = await start(databaseId, customer.vpcId, { cidr: '10.245.0.0/19' });
    const err = (await h.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(err.cause?.message).toMatch(/^stage "create-hosted-zone" failed: InvalidDomainName/);
    expect(proxy.faults).toEqual([
      { action: 'CreateVpc', fault: 'lose-reply' },
      { action: 'CreateHostedZone', fault: 'error' },
    ]);
    expect(proxy.executed.get('CreateVpc')).toBe(1);
    expect(proxy.seen.get('CreateVpc')).toBe(1); // the retry found the VPC instead of making another
    expect(proxy.executed.get('CreateSubnet')).toBe(2);
    expect(await dbVpcs(databaseId)).toEqual([]);
    expect(proxy.executed.get('DeleteSubnet')).toBe(2);
    expect(proxy.executed.get('DeleteVpc')).toBe(1);
    await replays(h);
  });
});

test('a failing run leaves alone the network it found (made by an earlier run): only its own run tag is undone', async () => {
  const customer = await makeCustomerVpc(fx);
  const databaseId = uniqueName('leak-keep');
  const made = await throughFaults(
    t,
    [],
    async () =>
      (await (await start(databaseId, customer.vpcId, { cidr: '10.246.0.0/19' })).result()) as CreateNetworkResult,
  );
  const [vpc] = await dbVpcs(databaseId);
  const runTag = vpc.Tags?.find((x) => x.Key === RUN_TAG)?.Value;
  expect(runTag).toMatch(/^[0-9a-f-]{36}$/);
  // A second run for the same database finds that network and then fails at its zone: Route 53
  // refuses to read the zone's tags (an error injected by the proxy).
  await throughFaults(
    t,
    [{ action: 'ListTagsForResource', fault: 'error', code: 'InvalidInput', times: 100 }],
    async (proxy) => {
      const h = await start(databaseId, customer.vpcId);
      const err = (await h.result().catch((e: unknown) => e)) as WorkflowFailedError;
      expect(err.cause?.message).toMatch(/^stage "create-hosted-zone" failed: /);
      // plan-cidr found the network: skipped, like the creates it made unnecessary.
      expect((await h.query<Progress>('progress')).stages.map((s) => s.status)).toEqual([
        'skipped',
        'skipped',
        'skipped',
        'failed',
        'pending',
      ]);
      expect((await dbVpcs(databaseId)).map((v) => v.VpcId)).toEqual([made.databaseVpcId]);
      expect((await subnetsOf(made.databaseVpcId)).map((s) => s.SubnetId).sort()).toEqual([...made.subnetIds].sort());
      const zones = await fx
        .route53()
        .send(new ListHostedZonesByVPCCommand({ VPCId: made.databaseVpcId, VPCRegion: 'us-east-1' }));
      expect(zones.HostedZoneSummaries?.map((z) => z.HostedZoneId!.replace('/hostedzone/', ''))).toEqual([
        made.hostedZoneId,
      ]);
      expect(proxy.seen.get('DeleteVpc')).toBeUndefined();
      expect(proxy.seen.get('DeleteSubnet')).toBeUndefined();
      await replays(h);
    },
  );
});
