/**
 * AWS throttling and lost replies, end to end: the worker's AWS clients go through a proxy in
 * front of moto (test/fixtures/aws-fault-proxy.ts) that answers some calls with AWS's own
 * throttling errors (nothing happened) and executes others but resets the connection before the
 * reply (it happened, the caller never heard). The runs must finish without doing anything twice.
 */
import { DescribeVpcsCommand } from '@aws-sdk/client-ec2';
import { ChangeResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { sdkMayRetry } from '../../src/activities/aws-retry';
import type { CreateNetworkResult } from '../../src/workflows/create-database-network';
import type { DeleteNetworkResult } from '../../src/workflows/delete-database-network';
import type { PeerVpcResult } from '../../src/workflows/peer-vpc';
import type { RefreshResult } from '../../src/workflows/refresh-dblab';
import type { FaultRule } from '../fixtures/aws-fault-proxy';
import { DblabFake } from '../fixtures/dblab-fake';
import { bindDblab, testConfig } from '../helpers/activities';
import {
  fixtureAws,
  makeAwsDatabase,
  makeCustomerVpc,
  peeringsBetween,
  routesTo,
  zoneVpcs,
} from '../helpers/aws-fixtures';
import { DBLAB_TOKEN, instancesNamed, makeRdsSource, refreshConfig } from '../helpers/dblab-fixtures';
import { throughFaults } from '../helpers/fault-worker';
import { openTestEnv, uniqueName, type TestEnv } from '../helpers/temporal';

const fx = fixtureAws();
let t: TestEnv;
const workerCfg = testConfig();

beforeAll(async () => {
  t = await openTestEnv();
});
afterAll(async () => t.close());

test('the SDK re-sends only what is safe: throttled calls always, calls that may have happened never', () => {
  expect(sdkMayRetry('CreateVpcPeeringConnection', 'THROTTLING')).toBe(true);
  expect(sdkMayRetry('CreateVpcPeeringConnection', 'TRANSIENT')).toBe(false);
  expect(sdkMayRetry('RestoreDBInstanceFromDBSnapshot', 'TRANSIENT')).toBe(false);
  expect(sdkMayRetry('DeleteDBInstance', 'TRANSIENT')).toBe(false);
  expect(sdkMayRetry('DescribeVpcs', 'TRANSIENT')).toBe(true);
  expect(sdkMayRetry('DescribeVpcs', 'CLIENT_ERROR')).toBe(false);
});

test('peerVpc through throttling and lost replies: one peering, one route per table', async () => {
  const customer = await makeCustomerVpc(fx);
  const db = await makeAwsDatabase(fx, {
    databaseId: uniqueName('faults'),
    region: 'us-east-1',
    cidr: '10.240.0.0/19',
  });
  const rules: FaultRule[] = [
    { action: 'DescribeVpcs', fault: 'throttle', times: 4 },
    { action: 'CreateVpcPeeringConnection', fault: 'lose-reply', times: 1 },
    { action: 'AcceptVpcPeeringConnection', fault: 'throttle', times: 2 },
    { action: 'CreateRoute', fault: 'lose-reply', times: 2 },
  ];
  await throughFaults(t, rules, async (proxy) => {
    const r = (await t.client.workflow.execute('peerVpc', {
      workflowId: uniqueName('faults'),
      taskQueue: t.taskQueue,
      args: [
        {
          databaseId: db.databaseId,
          region: 'us-east-1',
          vpcId: customer.vpcId,
          cloud: { kind: 'aws' },
          timing: { pollInterval: '200ms' },
        },
      ],
    })) as PeerVpcResult;
    expect(proxy.faults).toHaveLength(9); // every fault was served
    expect(proxy.executed.get('CreateVpcPeeringConnection')).toBe(1);
    const peerings = await peeringsBetween(fx, 'us-east-1', customer.vpcId, db.vpcId);
    expect(peerings.map((p) => [p.VpcPeeringConnectionId, p.Status?.Code])).toEqual([[r.peeringId, 'active']]);
    for (const table of [customer.mainTable, customer.subnetTable]) {
      expect((await routesTo(fx, 'us-east-1', table, db.cidr)).map((x) => x.VpcPeeringConnectionId)).toEqual([
        r.peeringId,
      ]);
    }
  });
});

test('createDatabaseNetwork, then deleteDatabaseNetwork, with lost EC2 and Route 53 replies and Route 53 throttling: each thing made and removed once', async () => {
  const customer = await makeCustomerVpc(fx);
  const databaseId = uniqueName('faults-net');
  const rules: FaultRule[] = [
    { action: 'CreateVpc', fault: 'lose-reply', times: 1 },
    { action: 'CreateSubnet', fault: 'lose-reply', times: 1 },
    { action: 'CreateHostedZone', fault: 'lose-reply', times: 1 },
    { action: 'ListHostedZonesByVPC', fault: 'throttle', times: 2 },
    { action: 'AssociateVPCWithHostedZone', fault: 'lose-reply', times: 1 },
    { action: 'ChangeResourceRecordSets', fault: 'lose-reply', times: 1 },
    { action: 'DeleteHostedZone', fault: 'lose-reply', times: 1 },
    { action: 'DeleteVpc', fault: 'lose-reply', times: 1 },
  ];
  await throughFaults(t, rules, async (proxy) => {
    const input = { databaseId, region: 'us-east-1', vpcId: customer.vpcId, timing: { pollInterval: '200ms' } };
    const r = (await t.client.workflow.execute('createDatabaseNetwork', {
      workflowId: uniqueName('faults-net'),
      taskQueue: t.taskQueue,
      args: [{ ...input, cidr: '10.241.0.0/19', availabilityZones: ['us-east-1a', 'us-east-1b'] }],
    })) as CreateNetworkResult;
    expect(proxy.executed.get('CreateVpc')).toBe(1);
    expect(proxy.executed.get('CreateSubnet')).toBe(2);
    expect(proxy.executed.get('CreateHostedZone')).toBe(1);
    expect(proxy.executed.get('AssociateVPCWithHostedZone')).toBe(1);
    expect(r.subnetIds).toHaveLength(2);
    expect(await zoneVpcs(fx, r.hostedZoneId)).toEqual(
      expect.arrayContaining([{ VPCId: customer.vpcId, VPCRegion: 'us-east-1' }]),
    );

    await fx.route53().send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: r.hostedZoneId,
        ChangeBatch: {
          Changes: [
            {
              Action: 'CREATE',
              ResourceRecordSet: {
                Name: `node-1.${databaseId}.db.internal`,
                Type: 'A',
                TTL: 60,
                ResourceRecords: [{ Value: '10.241.0.10' }],
              },
            },
          ],
        },
      }),
    );
    const d = (await t.client.workflow.execute('deleteDatabaseNetwork', {
      workflowId: uniqueName('faults-net-del'),
      taskQueue: t.taskQueue,
      args: [input],
    })) as DeleteNetworkResult;
    expect(d.databaseVpcId).toBe(r.databaseVpcId);
    expect(proxy.faults).toHaveLength(9); // every fault was served
    expect(proxy.executed.get('DeleteHostedZone')).toBe(1);
    expect(proxy.executed.get('DeleteVpc')).toBe(1);
    const vpcs =
      (
        await fx
          .ec2('us-east-1')
          .send(new DescribeVpcsCommand({ VpcIds: [r.databaseVpcId] }))
          .catch(() => ({ Vpcs: [] }))
      ).Vpcs ?? [];
    expect(vpcs).toEqual([]);
  });
});

test('refreshDblab with RDS throttling and lost restore and delete replies: one clone, deleted', async () => {
  const source = await makeRdsSource(fx);
  const fake = new DblabFake({ token: DBLAB_TOKEN });
  await fake.start();
  bindDblab(workerCfg, fake.url);
  const rules: FaultRule[] = [
    { action: 'DescribeDBInstances', fault: 'throttle', times: 3 },
    { action: 'RestoreDBInstanceFromDBSnapshot', fault: 'lose-reply', times: 1 },
    { action: 'DeleteDBInstance', fault: 'lose-reply', times: 1 },
  ];
  try {
    await throughFaults(
      t,
      rules,
      async (proxy) => {
        const r = (await t.client.workflow.execute('refreshDblab', {
          workflowId: uniqueName('faults-refresh'),
          taskQueue: t.taskQueue,
          args: [refreshConfig({ source, apiEndpoint: fake.url })],
        })) as RefreshResult;
        expect(r.outcome).toBe('refreshed');
        expect(proxy.faults).toHaveLength(5);
        expect(proxy.executed.get('RestoreDBInstanceFromDBSnapshot')).toBe(1);
        expect(proxy.executed.get('DeleteDBInstance')).toBe(1);
        expect(await instancesNamed(fx, r.clone!)).toEqual([]);
      },
      workerCfg,
    );
  } finally {
    await fake.stop();
  }
});
