import { deletionBlockers, networkDeletionWorkflowId, planNetworkDeletion } from '../../src/domain/network-deletion';
import { acceptAction, initiateSettled, planPeering, selectStages, peeringWorkflowId } from '../../src/domain/peering';

const ok = { databaseId: 'db-1', region: 'us-east-1', vpcId: 'vpc-0abc12345def67890', cloud: { kind: 'aws' } };

test('no stages named: all four, in order, not "selected"; named: only those, canonical order', () => {
  expect(selectStages(undefined)).toEqual({ stages: ['initiate', 'accept', 'route', 'associate-dns'], selected: false });
  expect(selectStages([])).toEqual({ stages: ['initiate', 'accept', 'route', 'associate-dns'], selected: false });
  expect(selectStages(['associate-dns', 'initiate'])).toEqual({ stages: ['initiate', 'associate-dns'], selected: true });
  expect(() => selectStages(['accept', 'foo', 'bar'])).toThrow('unknown stages "foo", "bar": stages are initiate, accept, route, associate-dns');
});

test('plan defaults: all route tables, no force, upstream timing', () => {
  expect(planPeering(ok)).toMatchObject({
    routeTables: 'all', force: false, selected: false,
    timing: { pollInterval: '10s', initiateTimeout: '1h', activeTimeout: '30m', heartbeatTimeout: '1m' },
  });
  expect(peeringWorkflowId(ok)).toBe('peer-vpc:db-1:vpc-0abc12345def67890');
});

test('bad input is refused with every problem named', () => {
  expect(() => planPeering({ ...ok, vpcId: 'vpc-1', region: 'useast1', databaseId: '' })).toThrow(/databaseId: .*; region: must be an AWS region.*; vpcId: must be a VPC id/);
  expect(() => planPeering({ ...ok, cloud: { kind: 'aerospike-cloud', apiUrl: 'https://api', tokenUrl: 'https://t', clientIdRef: 'my-id', clientSecretRef: 'env:S' } }))
    .toThrow(/cloud.clientIdRef: must be a secret reference/);
  expect(() => planPeering({ ...ok, cloud: { kind: 'aws', roleArn: 'role/x' } })).toThrow(/cloud.roleArn: must be an IAM role ARN/);
  expect(() => planPeering({ ...ok, extra: 1 })).toThrow(/Unrecognized key/);
});

test('accept handles every EC2 peering state', () => {
  expect(acceptAction('pending-acceptance')).toBe('accept');
  expect(acceptAction('active')).toBe('done');
  expect(acceptAction('provisioning')).toBe('wait');
  expect(acceptAction('initiating-request')).toBe('wait');
  for (const s of ['rejected', 'expired', 'failed', 'deleting', 'deleted', undefined]) expect(acceptAction(s)).toBe('fail');
});

test('initiate waits until the database side reports a pcx id past initiating-request', () => {
  expect(initiateSettled({ status: 'initiating-request', peeringId: null })).toBe('wait');
  expect(initiateSettled({ status: 'initiating-request', peeringId: 'pcx-1' })).toBe('wait');
  expect(initiateSettled({ status: 'pending-acceptance', peeringId: 'pcx-1' })).toBe('ready');
  expect(initiateSettled({ status: 'active', peeringId: 'pcx-1' })).toBe('ready');
  expect(initiateSettled({ status: 'failed', peeringId: 'pcx-1' })).toBe('fail');
  expect(initiateSettled({ status: 'not-operable' })).toBe('fail');
});

describe('deleting a database network', () => {
  const net = {
    vpcId: 'vpc-0aaaaaaaaaaaaaaaa', cidr: '10.128.0.0/19', managedByDbops: true, hostedZoneId: 'Z1',
    subnets: [{ id: 'subnet-1', ours: true }], peerings: [{ peeringId: 'pcx-1', vpcId: 'vpc-0customer0000000', status: 'active' }], networkInterfaces: [],
  };

  test('the customer peering is not a blocker; other peerings, interfaces, foreign subnets and a VPC not made by dbops are, all named', () => {
    expect(deletionBlockers(net, 'vpc-0customer0000000')).toEqual([]);
    const busy = {
      ...net, managedByDbops: false,
      subnets: [...net.subnets, { id: 'subnet-2', ours: false }],
      peerings: [...net.peerings, { peeringId: 'pcx-2', vpcId: 'vpc-0other000000000', status: 'pending-acceptance' }],
      networkInterfaces: Array.from({ length: 7 }, (_, i) => ({ id: `eni-${i}`, description: i === 0 ? 'RDSNetworkInterface' : '' })),
    };
    expect(deletionBlockers(busy, 'vpc-0customer0000000')).toEqual([
      'VPC vpc-0aaaaaaaaaaaaaaaa was not made by dbops (no ManagedBy=dbops tag); delete it yourself',
      'it is still peered with vpc-0other000000000 (pcx-2, pending-acceptance): unpeer those first',
      '7 network interface(s) are in use in it (eni-0 "RDSNetworkInterface", eni-1, eni-2, eni-3, eni-4 and 2 more): delete the databases and endpoints in it first',
      'subnet(s) subnet-2 were not made by dbops: delete them first',
    ]);
    // naming another customer VPC: its peering with the real customer counts as "other"
    expect(deletionBlockers(net, 'vpc-0someoneelse0000')).toHaveLength(1);
  });

  test('input: the network fields only; the unpeer input points at the database side', () => {
    const plan = planNetworkDeletion({ databaseId: 'db-1', region: 'eu-west-1', vpcId: 'default', cloud: { kind: 'aws', region: 'us-east-1', roleArn: 'arn:aws:iam::123456789012:role/dbops' } });
    expect(plan).toMatchObject({ databaseRegion: 'us-east-1', roleArn: 'arn:aws:iam::123456789012:role/dbops' });
    expect(plan.unpeer).toEqual({ databaseId: 'db-1', region: 'eu-west-1', vpcId: 'default', cloud: { kind: 'aws', region: 'us-east-1', roleArn: 'arn:aws:iam::123456789012:role/dbops' } });
    expect(networkDeletionWorkflowId(plan)).toBe('delete-db-network:db-1:default');
    expect(() => planNetworkDeletion({ databaseId: 'db-1', region: 'eu-west-1', vpcId: 'default', cidr: '10.0.0.0/19' })).toThrow(/Unrecognized key.*cidr/);
  });
});
