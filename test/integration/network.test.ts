/**
 * createDatabaseNetwork and the peering commands of `dbops`, against moto and the dev server:
 * CIDR planned from what the customer VPC reaches, VPC + subnets + private zone tagged, peered by
 * a child peerVpc; a failure before the child removes what the run created.
 */
import {
  CreateNetworkInterfaceCommand,
  DeleteNetworkInterfaceCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
} from '@aws-sdk/client-ec2';
import { ChangeResourceRecordSetsCommand, GetHostedZoneCommand } from '@aws-sdk/client-route-53';
import { WorkflowFailedError } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import type { Progress } from '../../src/api';
import { createActivities } from '../../src/activities';
import { DATABASE_TAG } from '../../src/activities/database-side/aws';
import { runCli } from '../../src/client/cli';
import type { CreateNetworkResult } from '../../src/workflows/create-database-network';
import type { DeleteNetworkResult } from '../../src/workflows/delete-database-network';
import { motoEndpoint } from '../helpers/activities';
import {
  countingAws,
  fixtureAws,
  makeCustomerVpc,
  peeringsBetween,
  routesTo,
  zoneVpcs,
  type CallLog,
} from '../helpers/aws-fixtures';
import {
  captureIo,
  makeWorker,
  openTestEnv,
  recordHistory,
  testAddress,
  uniqueName,
  type TestEnv,
} from '../helpers/temporal';

const fx = fixtureAws();
let t: TestEnv;
let worker: Worker;
let running: Promise<void>;
let log: CallLog;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  t = await openTestEnv();
  const counted = countingAws();
  log = counted.log;
  worker = await makeWorker(t, createActivities({ env: {}, aws: counted.aws }));
  running = worker.run();
  env = {
    TEMPORAL_ADDRESS: testAddress(),
    DBOPS_TASK_QUEUE: t.taskQueue,
    AWS_ENDPOINT_URL: motoEndpoint(),
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
  };
});
afterAll(async () => {
  worker.shutdown();
  await running;
  await t.close();
});

async function cli(...argv: string[]) {
  const io = captureIo();
  const code = await runCli(argv, io.io, env);
  return { code, out: io.out(), err: io.err() };
}

async function dbVpcs(databaseId: string) {
  const all = (await fx.ec2('us-east-1').send(new DescribeVpcsCommand({}))).Vpcs ?? [];
  return all.filter((v) => v.Tags?.some((x) => x.Key === DATABASE_TAG && x.Value === databaseId));
}

test('dbops db-network create: planned CIDR, tagged VPC, a subnet per zone, private zone, peered; a re-run changes nothing', async () => {
  const customer = await makeCustomerVpc(fx);
  const databaseId = uniqueName('net');
  const r = await cli(
    'db-network',
    'create',
    '-d',
    databaseId,
    '-r',
    'us-east-1',
    '--vpc-id',
    customer.vpcId,
    '--az',
    'us-east-1a',
    'us-east-1b',
    '--poll-interval',
    '200ms',
  );
  expect(r.err).toContain(`started createDatabaseNetwork as db-network:${databaseId}:${customer.vpcId}`);
  expect(r.out).toContain(`✔ db-network:${databaseId}:${customer.vpcId} completed`);
  expect(r.code).toBe(0);

  const h = t.client.workflow.getHandle(`db-network:${databaseId}:${customer.vpcId}`);
  const res = (await h.result()) as CreateNetworkResult;
  expect(res.cidr).toBe('10.128.0.0/19');
  const [vpc] = await dbVpcs(databaseId);
  expect(vpc).toMatchObject({ VpcId: res.databaseVpcId, CidrBlock: '10.128.0.0/19' });
  const subnets = ((await fx.ec2('us-east-1').send(new DescribeSubnetsCommand({}))).Subnets ?? []).filter(
    (s) => s.VpcId === vpc.VpcId,
  );
  expect(subnets.map((s) => [s.AvailabilityZone, s.CidrBlock]).sort()).toEqual([
    ['us-east-1a', '10.128.0.0/20'],
    ['us-east-1b', '10.128.16.0/20'],
  ]);
  expect(subnets.every((s) => s.Tags?.some((x) => x.Key === DATABASE_TAG && x.Value === databaseId))).toBe(true);
  expect(await zoneVpcs(fx, res.hostedZoneId)).toEqual(
    expect.arrayContaining([
      { VPCId: customer.vpcId, VPCRegion: 'us-east-1' },
      { VPCId: vpc.VpcId, VPCRegion: 'us-east-1' },
    ]),
  );
  expect((await peeringsBetween(fx, 'us-east-1', customer.vpcId, vpc.VpcId!))[0].Status?.Code).toBe('active');
  expect((await routesTo(fx, 'us-east-1', customer.subnetTable, '10.128.0.0/19'))[0].VpcPeeringConnectionId).toBe(
    res.peering.peeringId,
  );
  await recordHistory(h.workflowId, 'create-database-network-full');

  log.reset();
  const again = await t.client.workflow.execute('createDatabaseNetwork', {
    workflowId: uniqueName('net-again'),
    taskQueue: t.taskQueue,
    args: [
      {
        databaseId,
        region: 'us-east-1',
        vpcId: customer.vpcId,
        availabilityZones: ['us-east-1a', 'us-east-1b'],
        timing: { pollInterval: '200ms' },
      },
    ],
  });
  expect(again).toEqual(res);
  expect(log.mutating()).toEqual([]);
});

test('a requested CIDR that collides fails before anything is created', async () => {
  const customer = await makeCustomerVpc(fx);
  const databaseId = uniqueName('net-collide');
  const h = await t.client.workflow.start('createDatabaseNetwork', {
    workflowId: uniqueName('net'),
    taskQueue: t.taskQueue,
    args: [{ databaseId, region: 'us-east-1', vpcId: customer.vpcId, cidr: customer.cidr.replace('/16', '/19') }],
  });
  const err = (await h.result().catch((e: unknown) => e)) as WorkflowFailedError;
  expect(err.cause?.message).toBe(
    `stage "plan-cidr" failed: requested CIDR ${customer.cidr.replace('/16', '/19')} overlaps with ${customer.cidr} in VPC ${customer.vpcId} (the CIDR of VPC ${customer.vpcId})`,
  );
  expect(await dbVpcs(databaseId)).toEqual([]);
});

test('a failure after the VPC was created removes what the run created', async () => {
  const customer = await makeCustomerVpc(fx);
  const databaseId = uniqueName('net-undo');
  const h = await t.client.workflow.start('createDatabaseNetwork', {
    workflowId: uniqueName('net'),
    taskQueue: t.taskQueue,
    args: [{ databaseId, region: 'us-east-1', vpcId: customer.vpcId, availabilityZones: ['us-east-1z'] }],
  });
  const err = (await h.result().catch((e: unknown) => e)) as WorkflowFailedError;
  expect(err.cause?.message).toMatch(/^stage "create-subnets" failed: /);
  const p = await h.query<Progress>('progress');
  expect(p.stages.map((s) => s.status)).toEqual(['done', 'done', 'failed', 'pending', 'pending']);
  expect(await dbVpcs(databaseId)).toEqual([]);
});

test('dbops cidr plan prints what the VPC reaches and the chosen block', async () => {
  const customer = await makeCustomerVpc(fx);
  const r = await cli('cidr', 'plan', '--vpc-id', customer.vpcId, '-r', 'us-east-1');
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  expect(r.out).toContain(`in use by ${customer.vpcId}:`);
  expect(r.out).toContain(`${customer.cidr}`);
  expect(r.out).toContain('chosen: 10.128.0.0/19');
  const bad = await cli('cidr', 'plan', '--vpc-id', customer.vpcId, '-r', 'us-east-1', '--cidr', customer.cidr);
  expect(bad.code).toBe(1);
  expect(bad.err).toContain(`requested CIDR ${customer.cidr} is already in use in VPC ${customer.vpcId}`);
});

test('dbops peer-vpc takes the upstream flags: --stage-* run only those stages', async () => {
  const customer = await makeCustomerVpc(fx);
  const databaseId = uniqueName('flags');
  const { makeAwsDatabase } = await import('../helpers/aws-fixtures');
  await makeAwsDatabase(fx, { databaseId, region: 'us-east-1', cidr: '10.210.0.0/19' });
  const r = await cli(
    'peer-vpc',
    '-d',
    databaseId,
    '-r',
    'us-east-1',
    '--vpc-id',
    customer.vpcId,
    '--stage-accept',
    '--stage-initiate',
    '--poll-interval',
    '200ms',
  );
  expect(r.code).toBe(0);
  const p = await t.client.workflow.getHandle(`peer-vpc:${databaseId}:${customer.vpcId}`).query<Progress>('progress');
  expect(p.stages.map((s) => s.status)).toEqual(['done', 'done', 'done', 'skipped', 'skipped']);
  expect(r.out).toMatch(/↷ route\s+skipped\s.*not selected/);
});

test('dbops peer-vpc refuses bad input before starting anything', async () => {
  const r = await cli('peer-vpc', '-d', 'db-1', '-r', 'us-east-1', '--vpc-id', 'vpc-nope');
  expect(r.code).toBe(1);
  expect(r.err).toContain('--vpc-id must be a VPC id like vpc-0abc12345def67890, or "default"');
  expect(r.err).not.toContain('started');
});

test('a zone made just before a crash (not yet tagged) is adopted on retry, and removal finds it', async () => {
  const { awsDatabaseNetwork } = await import('../../src/activities/database-network/aws');
  const { CreateHostedZoneCommand, ListTagsForResourceCommand } = await import('@aws-sdk/client-route-53');
  const databaseId = uniqueName('net-crash');
  const net = awsDatabaseNetwork(fx, { databaseId, region: 'us-east-1' });
  const { vpcId } = await net.ensureVpc('10.220.0.0/19');
  // what the first attempt did before dying: CreateHostedZone with our caller reference, no tags
  const made = await fx.route53().send(
    new CreateHostedZoneCommand({
      Name: `${databaseId}.db.internal`,
      CallerReference: `dbops-${databaseId}-${vpcId}`,
      HostedZoneConfig: { PrivateZone: true },
      VPC: { VPCId: vpcId, VPCRegion: 'us-east-1' },
    }),
  );
  const zoneId = made.HostedZone!.Id!.replace('/hostedzone/', '');
  const retried = await net.ensureHostedZone(vpcId, `${databaseId}.db.internal`);
  expect(retried).toEqual({ changed: true, hostedZoneId: zoneId });
  const tags = await fx
    .route53()
    .send(new ListTagsForResourceCommand({ ResourceType: 'hostedzone', ResourceId: zoneId }));
  expect(tags.ResourceTagSet?.Tags).toContainEqual({ Key: DATABASE_TAG, Value: databaseId });
  expect(await net.ensureHostedZone(vpcId, `${databaseId}.db.internal`)).toEqual({
    changed: false,
    hostedZoneId: zoneId,
  });
  expect(await net.remove()).toEqual([`deleted hosted zone ${zoneId}`, `deleted ${vpcId}`]);
  expect(await dbVpcs(databaseId)).toEqual([]);
});

async function createNetwork(customerVpcId: string, databaseId: string, cidr: string): Promise<CreateNetworkResult> {
  return t.client.workflow.execute('createDatabaseNetwork', {
    workflowId: uniqueName('net'),
    taskQueue: t.taskQueue,
    args: [
      {
        databaseId,
        region: 'us-east-1',
        vpcId: customerVpcId,
        cidr,
        availabilityZones: ['us-east-1a', 'us-east-1b'],
        timing: { pollInterval: '200ms' },
      },
    ],
  });
}

async function zoneExists(zoneId: string): Promise<boolean> {
  return fx
    .route53()
    .send(new GetHostedZoneCommand({ Id: zoneId }))
    .then(
      () => true,
      (e: Error) => (e.name === 'NoSuchHostedZone' ? false : Promise.reject(e)),
    );
}

test('dbops db-network delete: unpeers, then deletes the zone (with its records), subnets and VPC; a re-run changes nothing', async () => {
  const customer = await makeCustomerVpc(fx);
  const databaseId = uniqueName('net-del');
  const made = await createNetwork(customer.vpcId, databaseId, '10.230.0.0/19');
  // a record the database side added to its zone
  await fx.route53().send(
    new ChangeResourceRecordSetsCommand({
      HostedZoneId: made.hostedZoneId,
      ChangeBatch: {
        Changes: [
          {
            Action: 'CREATE',
            ResourceRecordSet: {
              Name: `node-1.${databaseId}.db.internal`,
              Type: 'A',
              TTL: 60,
              ResourceRecords: [{ Value: '10.230.0.10' }],
            },
          },
        ],
      },
    }),
  );

  const r = await cli(
    'db-network',
    'delete',
    '-d',
    databaseId,
    '-r',
    'us-east-1',
    '--vpc-id',
    customer.vpcId,
    '--poll-interval',
    '200ms',
  );
  expect(r.err).toContain(`started deleteDatabaseNetwork as delete-db-network:${databaseId}:${customer.vpcId}`);
  expect(r.code).toBe(0);
  const res = (await t.client.workflow
    .getHandle(`delete-db-network:${databaseId}:${customer.vpcId}`)
    .result()) as DeleteNetworkResult;
  expect(res).toEqual({
    databaseId,
    databaseVpcId: made.databaseVpcId,
    deleted: [
      `peering ${made.peering.peeringId}`,
      `deleted hosted zone ${made.hostedZoneId} and its 1 record(s)`,
      `deleted ${made.subnetIds.join(', ')}`,
      `deleted ${made.databaseVpcId}`,
    ],
  });
  expect(await dbVpcs(databaseId)).toEqual([]);
  expect(await zoneExists(made.hostedZoneId)).toBe(false);
  const subnets = ((await fx.ec2('us-east-1').send(new DescribeSubnetsCommand({}))).Subnets ?? []).filter((x) =>
    made.subnetIds.includes(x.SubnetId!),
  );
  expect(subnets).toEqual([]);
  expect(
    (await peeringsBetween(fx, 'us-east-1', customer.vpcId, made.databaseVpcId)).map((p) => p.Status?.Code),
  ).not.toContain('active');
  expect(await routesTo(fx, 'us-east-1', customer.subnetTable, '10.230.0.0/19')).toEqual([]);

  log.reset();
  const again = (await t.client.workflow.execute('deleteDatabaseNetwork', {
    workflowId: uniqueName('net-del-again'),
    taskQueue: t.taskQueue,
    args: [{ databaseId, region: 'us-east-1', vpcId: customer.vpcId }],
  })) as DeleteNetworkResult;
  expect(again).toEqual({ databaseId, deleted: [] });
  expect(log.mutating()).toEqual([]);
});

test('a network something else still uses is not deleted: every reason named, nothing changed; once they are gone it is', async () => {
  const customer = await makeCustomerVpc(fx);
  const other = await makeCustomerVpc(fx);
  const databaseId = uniqueName('net-busy');
  const made = await createNetwork(customer.vpcId, databaseId, '10.231.0.0/19');
  const otherPeering = (await t.client.workflow.execute('peerVpc', {
    workflowId: uniqueName('peer-other'),
    taskQueue: t.taskQueue,
    args: [
      {
        databaseId,
        region: 'us-east-1',
        vpcId: other.vpcId,
        cloud: { kind: 'aws' },
        timing: { pollInterval: '200ms' },
      },
    ],
  })) as { peeringId: string };
  const eni = (
    await fx
      .ec2('us-east-1')
      .send(new CreateNetworkInterfaceCommand({ SubnetId: made.subnetIds[0], Description: 'RDSNetworkInterface' }))
  ).NetworkInterface!.NetworkInterfaceId!;

  log.reset();
  const h = await t.client.workflow.start('deleteDatabaseNetwork', {
    workflowId: uniqueName('net-del'),
    taskQueue: t.taskQueue,
    args: [{ databaseId, region: 'us-east-1', vpcId: customer.vpcId }],
  });
  const err = (await h.result().catch((e: unknown) => e)) as WorkflowFailedError;
  expect(err.cause?.message).toBe(
    `stage "prepare" failed: database network ${made.databaseVpcId} of ${databaseId} cannot be deleted: ` +
      `it is still peered with ${other.vpcId} (${otherPeering.peeringId}, active): unpeer those first; ` +
      `1 network interface(s) are in use in it (${eni} "RDSNetworkInterface"): delete the databases and endpoints in it first; nothing was changed`,
  );
  expect((await h.query<Progress>('progress')).stages.map((x) => x.status)).toEqual([
    'failed',
    'pending',
    'pending',
    'pending',
    'pending',
  ]);
  expect(log.mutating()).toEqual([]);
  expect(await dbVpcs(databaseId)).toHaveLength(1);
  expect((await peeringsBetween(fx, 'us-east-1', customer.vpcId, made.databaseVpcId))[0].Status?.Code).toBe('active');

  // The owner removes what blocked it; the same deletion now goes through.
  await fx.ec2('us-east-1').send(new DeleteNetworkInterfaceCommand({ NetworkInterfaceId: eni }));
  await t.client.workflow.execute('unpeerVpc', {
    workflowId: uniqueName('unpeer-other'),
    taskQueue: t.taskQueue,
    args: [{ databaseId, region: 'us-east-1', vpcId: other.vpcId, cloud: { kind: 'aws' } }],
  });
  const done = (await t.client.workflow.execute('deleteDatabaseNetwork', {
    workflowId: uniqueName('net-del'),
    taskQueue: t.taskQueue,
    args: [{ databaseId, region: 'us-east-1', vpcId: customer.vpcId }],
  })) as DeleteNetworkResult;
  expect(done.deleted).toHaveLength(4);
  expect(await dbVpcs(databaseId)).toEqual([]);
});
