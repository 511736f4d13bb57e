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
