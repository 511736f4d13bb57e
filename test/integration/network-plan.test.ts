/**
 * Plan mode of createDatabaseNetwork (issue 14), on a real worker and dev server against moto.
 * Every AWS call of the worker is counted: a plan makes no mutating call.
 */
import { CreateVpcCommand, DescribeSubnetsCommand, DescribeVpcsCommand } from '@aws-sdk/client-ec2';
import { WorkflowFailedError } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import type { Progress } from '../../src/api';
import { createActivities } from '../../src/activities';
import type { CreateNetworkPlanResult } from '../../src/workflows/create-database-network';
import { testConfig } from '../helpers/activities';
import { countingAws, fixtureAws, makeCustomerVpc, peeringsBetween, type CallLog } from '../helpers/aws-fixtures';
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
  worker = await makeWorker(t, createActivities({ env: {}, aws: counted.aws, config: testConfig() }));
  running = worker.run();
});
afterAll(async () => {
  worker.shutdown();
  await running;
  await t.close();
});

async function run<R>(input: object) {
  log.reset();
  const h = await t.client.workflow.start('createDatabaseNetwork', {
    workflowId: uniqueName('net'),
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
const whats = (changes: Array<{ stage: string; action: string; what: string }>) =>
  changes.map((c) => `${c.stage} ${c.action} ${c.what}`).sort();
const vpcsOf = async (databaseId: string) =>
  (
    await fx
      .ec2('us-east-1')
      .send(new DescribeVpcsCommand({ Filters: [{ Name: 'tag:dbops:database-id', Values: [databaseId] }] }))
  ).Vpcs ?? [];

test('plan of a fresh network lists the creates and changes nothing; the apply with it makes them; a plan after is empty', async () => {
  const customer = await makeCustomerVpc(fx, 'us-east-1');
  const databaseId = uniqueName('netplan');
  const input = {
    databaseId,
    region: 'us-east-1',
    vpcId: customer.vpcId,
    availabilityZones: ['us-east-1a', 'us-east-1b'],
    timing: TIMING,
  };
  const r = await run<CreateNetworkPlanResult>({ ...input, plan: true });
  expect(r.failure).toBeUndefined();
  expect(r.mutating).toEqual([]);
  expect(r.result).toMatchObject({ plan: true, blocked: [], databaseId });
  const cidr = r.result.cidr;
  const subnets = r.result.changes.filter((c) => c.stage === 'create-subnets').map((c) => c.what);
  expect(subnets).toEqual([
    expect.stringMatching(/^subnet \S+ in us-east-1a$/),
    expect.stringMatching(/^subnet \S+ in us-east-1b$/),
  ]);
  expect(whats(r.result.changes)).toEqual(
    [
      `create-hosted-zone create private hosted zone ${databaseId}.db.internal`,
      ...subnets.map((w) => `create-subnets create ${w}`),
      `create-vpc create VPC ${cidr} for ${databaseId}`,
      `peer create VPC peering ${databaseId} ↔ ${customer.vpcId}`,
    ].sort(),
  );
  const row = r.progress.stages.find((s) => s.name === 'create-vpc');
  expect(row?.detail).toBe(`would create VPC ${cidr} for ${databaseId} (tagged dbops:database-id)`);
  expect(await vpcsOf(databaseId)).toEqual([]);
  await recordHistory(r.h.workflowId, 'create-database-network-plan', NEXT_RELEASE);

  const applied = await run<{ databaseVpcId: string }>({
    ...input,
    expectPlan: { plan: true, fingerprint: r.result.fingerprint, changes: r.result.changes },
  });
  expect(applied.failure).toBeUndefined();
  expect(applied.mutating).toEqual(expect.arrayContaining(['CreateVpc', 'CreateSubnet', 'CreateHostedZone']));

  const after = await run<CreateNetworkPlanResult>({ ...input, plan: true });
  expect(after.failure).toBeUndefined();
  expect(after.mutating).toEqual([]);
  expect(after.result.changes).toEqual([]);
  expect(after.result.databaseVpcId).toBe(applied.result.databaseVpcId);
});

test('a stale expectPlan is refused (PlanOutdated), naming what differs, and nothing is created', async () => {
  const customer = await makeCustomerVpc(fx, 'us-east-1');
  const databaseId = uniqueName('netstale');
  const input = { databaseId, region: 'us-east-1', vpcId: customer.vpcId, timing: TIMING };
  const r = await run<CreateNetworkPlanResult>({ ...input, plan: true });
  expect(r.failure).toBeUndefined();
  // Out of band: a VPC tagged for the database appears, so the VPC is no longer to be created.
  const made = await fx.ec2('us-east-1').send(
    new CreateVpcCommand({
      CidrBlock: r.result.cidr,
      TagSpecifications: [
        {
          ResourceType: 'vpc',
          Tags: [
            { Key: 'dbops:database-id', Value: databaseId },
            { Key: 'ManagedBy', Value: 'dbops' },
          ],
        },
      ],
    }),
  );
  const stale = await run({
    ...input,
    expectPlan: { plan: true, fingerprint: r.result.fingerprint, changes: r.result.changes },
  });
  expect(stale.failureType).toBe('PlanOutdated');
  expect(stale.failure).toContain(`no longer: create VPC ${r.result.cidr} for ${databaseId}`);
  expect(stale.mutating).toEqual([]);
  const vpcId = made.Vpc!.VpcId!;
  const subnets = await fx
    .ec2('us-east-1')
    .send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }));
  expect((subnets.Subnets ?? []).filter((s) => s.VpcId === vpcId)).toEqual([]);
  expect(await peeringsBetween(fx, 'us-east-1', customer.vpcId, vpcId)).toEqual([]);
});

test('plan and expectPlan together are refused as bad input', async () => {
  const customer = await makeCustomerVpc(fx, 'us-east-1');
  const r = await run({
    databaseId: uniqueName('netboth'),
    region: 'us-east-1',
    vpcId: customer.vpcId,
    plan: true,
    expectPlan: { fingerprint: `plan-v1:${'0'.repeat(64)}` },
  });
  expect(r.failureType).toBe('InvalidInput');
  expect(r.mutating).toEqual([]);
});

test('dbops db-network create --plan prints the plan and its fingerprint and creates nothing', async () => {
  const customer = await makeCustomerVpc(fx, 'us-east-1');
  const databaseId = uniqueName('netcli');
  const c = captureIo();
  const env = { TEMPORAL_ADDRESS: testAddress(), TEMPORAL_NAMESPACE: 'default', DBOPS_TASK_QUEUE: t.taskQueue };
  log.reset();
  const flags = ['db-network', 'create', '-d', databaseId, '-r', 'us-east-1', '--vpc-id', customer.vpcId];
  const code = await runCli([...flags, '--plan', '--poll-interval', '200ms'], c.io, env);
  expect(c.err()).not.toContain('failed');
  expect(code).toBe(0);
  expect(log.mutating()).toEqual([]);
  expect(c.out()).toMatch(/stage\s+action\s+what\s+detail/);
  expect(c.out()).toMatch(new RegExp(`create-vpc\\s+create\\s+VPC \\S+ for ${databaseId}`));
  expect(c.out()).toMatch(/--expect-plan plan-v1:[0-9a-f]{64}/);
  expect(await vpcsOf(databaseId)).toEqual([]);
});
