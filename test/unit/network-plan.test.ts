import { networkCreationChanges, withoutPlanFields, createNetworkPlanInputSchema } from '../../src/domain/network-plan';

const base = {
  databaseId: 'db-1',
  cidr: '10.128.0.0/19',
  subnets: [
    { az: 'us-east-1a', cidr: '10.128.0.0/20' },
    { az: 'us-east-1b', cidr: '10.128.16.0/20' },
  ],
  zoneName: 'db-1.db.internal',
};

test('a fresh network: the VPC, each subnet and the zone are creates', () => {
  const r = networkCreationChanges(base);
  expect(r.blocked).toEqual([]);
  expect(r.changes.map((c) => `${c.stage} ${c.action} ${c.what}`)).toEqual([
    'create-vpc create VPC 10.128.0.0/19 for db-1',
    'create-subnets create subnet 10.128.0.0/20 in us-east-1a',
    'create-subnets create subnet 10.128.16.0/20 in us-east-1b',
    'create-hosted-zone create private hosted zone db-1.db.internal',
  ]);
});

test('what exists is no change; a missing subnet and an untagged zone are', () => {
  const found = {
    vpcId: 'vpc-1',
    cidr: '10.128.0.0/19',
    managedByDbops: true,
    subnets: [{ id: 'subnet-1', cidr: '10.128.0.0/20', az: 'us-east-1a' }],
    zone: { hostedZoneId: 'Z1', tagged: false },
  };
  expect(networkCreationChanges({ ...base, found }).changes.map((c) => c.what)).toEqual([
    'subnet 10.128.16.0/20 in us-east-1b',
    'tag zone Z1 dbops:database-id=db-1',
  ]);
  const done = { ...found, subnets: [...found.subnets, { id: 'subnet-2', cidr: '10.128.16.0/20', az: 'us-east-1b' }] };
  expect(networkCreationChanges({ ...base, found: { ...done, zone: { hostedZoneId: 'Z1', tagged: true } } })).toEqual({
    changes: [],
    blocked: [],
  });
});

test('a requested CIDR other than the existing network is what the apply refuses', () => {
  const found = { vpcId: 'vpc-1', cidr: '10.129.0.0/19', managedByDbops: true, subnets: [] };
  const r = networkCreationChanges({ ...base, requestedCidr: '10.128.0.0/19', found });
  expect(r.changes).toEqual([]);
  expect(r.blocked).toEqual([
    expect.objectContaining({ stage: 'plan-cidr', detail: expect.stringContaining('vpc-1') }),
  ]);
});

test('the plan fields are taken off before the create schema sees the input', () => {
  const input = { databaseId: 'db-1', region: 'us-east-1', vpcId: 'default', plan: true };
  expect(createNetworkPlanInputSchema().safeParse(input).success).toBe(true);
  expect(createNetworkPlanInputSchema().safeParse({ ...input, bogus: 1 }).success).toBe(false);
  expect(withoutPlanFields(input)).toEqual({ databaseId: 'db-1', region: 'us-east-1', vpcId: 'default' });
});
