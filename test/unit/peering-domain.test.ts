import { deletionBlockers, networkDeletionWorkflowId, planNetworkDeletion } from '../../src/domain/network-deletion';
import {
  acceptAction,
  initiateSettled,
  planNetwork,
  planPeering,
  planUnpeering,
  selectStages,
  peeringTarget,
  peeringWorkflowId,
} from '../../src/domain/peering';
import { InvalidInput } from '../../src/domain/errors';

const ok = { databaseId: 'db-1', region: 'us-east-1', vpcId: 'vpc-0abc12345def67890', cloud: { kind: 'aws' } };

test('no stages named: all four, in order, not "selected"; named: only those, canonical order', () => {
  expect(selectStages(undefined)).toEqual({
    stages: ['initiate', 'accept', 'route', 'associate-dns'],
    selected: false,
  });
  expect(selectStages([])).toEqual({ stages: ['initiate', 'accept', 'route', 'associate-dns'], selected: false });
  expect(selectStages(['associate-dns', 'initiate'])).toEqual({
    stages: ['initiate', 'associate-dns'],
    selected: true,
  });
  expect(() => selectStages(['accept', 'foo', 'bar'])).toThrow(
    'unknown stages "foo", "bar": stages are initiate, accept, route, associate-dns',
  );
});

test('plan defaults: all route tables, no force, upstream timing', () => {
  expect(planPeering(ok)).toMatchObject({
    routeTables: 'all',
    force: false,
    selected: false,
    timing: { pollInterval: '10s', initiateTimeout: '1h', activeTimeout: '30m', heartbeatTimeout: '1m' },
  });
  expect(peeringWorkflowId(ok)).toBe('peer-vpc:db-1:vpc-0abc12345def67890');
});

test('bad input is refused with every problem named', () => {
  expect(() => planPeering({ ...ok, vpcId: 'vpc-1', region: 'useast1', databaseId: '' })).toThrow(
    /databaseId: .*; region: must be an AWS region.*; vpcId: must be a VPC id/,
  );
  expect(() =>
    planPeering({
      ...ok,
      cloud: {
        kind: 'aerospike-cloud',
        apiUrl: 'https://api',
        tokenUrl: 'https://t',
        clientIdRef: 'my-id',
        clientSecretRef: 'env:S',
      },
    }),
  ).toThrow(/cloud.clientIdRef: must be a secret reference/);
  expect(() => planPeering({ ...ok, cloud: { kind: 'aws', roleArn: 'role/x' } })).toThrow(
    /cloud.roleArn: must be an IAM role ARN/,
  );
  expect(() => planPeering({ ...ok, extra: 1 })).toThrow(/Unrecognized key/);
});

test('accept handles every EC2 peering state', () => {
  expect(acceptAction('pending-acceptance')).toBe('accept');
  expect(acceptAction('active')).toBe('done');
  expect(acceptAction('provisioning')).toBe('wait');
  expect(acceptAction('initiating-request')).toBe('wait');
  for (const s of ['rejected', 'expired', 'failed', 'deleting', 'deleted', undefined])
    expect(acceptAction(s)).toBe('fail');
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
    vpcId: 'vpc-0aaaaaaaaaaaaaaaa',
    cidr: '10.128.0.0/19',
    managedByDbops: true,
    hostedZoneId: 'Z1',
    subnets: [{ id: 'subnet-1', ours: true }],
    peerings: [{ peeringId: 'pcx-1', vpcId: 'vpc-0customer0000000', status: 'active' }],
    networkInterfaces: [],
  };

  test('the customer peering is not a blocker; other peerings, interfaces, foreign subnets and a VPC not made by dbops are, all named', () => {
    expect(deletionBlockers(net, 'vpc-0customer0000000')).toEqual([]);
    const busy = {
      ...net,
      managedByDbops: false,
      subnets: [...net.subnets, { id: 'subnet-2', ours: false }],
      peerings: [...net.peerings, { peeringId: 'pcx-2', vpcId: 'vpc-0other000000000', status: 'pending-acceptance' }],
      networkInterfaces: Array.from({ length: 7 }, (_, i) => ({
        id: `eni-${i}`,
        description: i === 0 ? 'RDSNetworkInterface' : '',
      })),
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
    const plan = planNetworkDeletion({
      databaseId: 'db-1',
      region: 'eu-west-1',
      vpcId: 'default',
      cloud: { kind: 'aws', region: 'us-east-1', roleArn: 'arn:aws:iam::123456789012:role/dbops' },
    });
    expect(plan).toMatchObject({ databaseRegion: 'us-east-1', roleArn: 'arn:aws:iam::123456789012:role/dbops' });
    expect(plan.unpeer).toEqual({
      databaseId: 'db-1',
      region: 'eu-west-1',
      vpcId: 'default',
      cloud: { kind: 'aws', region: 'us-east-1', roleArn: 'arn:aws:iam::123456789012:role/dbops' },
    });
    expect(networkDeletionWorkflowId(plan)).toBe('delete-db-network:db-1:default');
    expect(() =>
      planNetworkDeletion({ databaseId: 'db-1', region: 'eu-west-1', vpcId: 'default', cidr: '10.0.0.0/19' }),
    ).toThrow(/Unrecognized key.*cidr/);
  });
});

describe('malformed input is refused before anything is looked up, naming the field', () => {
  const msg = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidInput);
      return (e as Error).message;
    }
    throw new Error('expected a refusal');
  };
  const huge = 'x'.repeat(100_000);
  const inline = {
    kind: 'aerospike-cloud',
    apiUrl: 'https://api.example.com',
    tokenUrl: 'https://auth.example.com/token',
    clientIdRef: 'env:ID',
    clientSecretRef: 'env:SECRET',
  };
  const net = { databaseId: 'db-2', region: 'us-east-1', vpcId: 'vpc-0abc12345def67890' };

  test('misspelt options, top-level and nested, in every peering workflow', () => {
    expect(msg(() => planPeering({ ...ok, forceRouteCreaton: true }))).toBe(
      'invalid input: input: Unrecognized key: "forceRouteCreaton"',
    );
    expect(msg(() => planPeering({ ...ok, timing: { pollIntervall: '1s' } }))).toBe(
      'invalid input: timing: Unrecognized key: "pollIntervall"',
    );
    expect(msg(() => planPeering({ ...ok, cloud: { kind: 'aws', regoin: 'eu-west-1' } }))).toBe(
      'invalid input: cloud: Unrecognized key: "regoin"',
    );
    expect(msg(() => planPeering({ ...ok, cloud: { ...inline, clientSecret: 'env:S' } }))).toBe(
      'invalid input: cloud: Unrecognized key: "clientSecret"',
    );
    expect(msg(() => planUnpeering({ ...ok, stages: ['route'] }))).toBe(
      'invalid input: input: Unrecognized key: "stages"',
    );
    expect(msg(() => planNetwork({ ...net, availabilityZone: 'us-east-1a' }))).toBe(
      'invalid input: input: Unrecognized key: "availabilityZone"',
    );
    expect(msg(() => planNetwork({ ...net, cloud: { kind: 'aws', rolearn: 'x' } }))).toBe(
      'invalid input: cloud: Unrecognized key: "rolearn"',
    );
    expect(msg(() => planNetworkDeletion({ ...net, forceRouteCreation: true }))).toBe(
      'invalid input: input: Unrecognized key: "forceRouteCreation"',
    );
  });

  test('over-long strings in every kind of field', () => {
    const cases: Array<[() => unknown, string]> = [
      [() => planPeering({ ...ok, databaseId: huge }), 'databaseId: must be at most 128 characters'],
      [() => planPeering({ ...ok, region: huge }), 'region: must be at most 32 characters'],
      [() => planPeering({ ...ok, vpcId: huge }), 'vpcId: must be at most 21 characters'],
      [() => planPeering({ ...ok, stages: [huge] }), 'stages.0: must be at most 32 characters'],
      [
        () => planPeering({ ...ok, cloud: { kind: 'aws', roleArn: `arn:aws:iam::123456789012:role/${huge}` } }),
        'cloud.roleArn: must be at most 2048 characters',
      ],
      [
        () => planPeering({ ...ok, cloud: { ...inline, apiUrl: `https://${huge}.example.com` } }),
        'cloud.apiUrl: must be at most 2048 characters',
      ],
      [
        () => planPeering({ ...ok, cloud: { ...inline, clientIdRef: `env:${huge}` } }),
        'cloud.clientIdRef: must be at most 1024 characters',
      ],
      [
        () => planPeering({ ...ok, cloud: { kind: 'aerospike-cloud', account: huge } }),
        'cloud.account: must be at most 63 characters',
      ],
      [
        () => planPeering({ ...ok, timing: { pollInterval: `${'9'.repeat(100)}s` } }),
        'timing.pollInterval: must be at most 16 characters',
      ],
      [() => planUnpeering({ ...ok, vpcId: huge }), 'vpcId: must be at most 21 characters'],
      [() => planNetwork({ ...net, zoneName: `${huge}.internal` }), 'zoneName: must be at most 253 characters'],
      [() => planNetwork({ ...net, cidr: huge }), 'cidr: must be at most 18 characters'],
      [() => planNetwork({ ...net, availabilityZones: [huge] }), 'availabilityZones.0: must be at most 32 characters'],
      [() => planNetworkDeletion({ ...net, databaseId: huge }), 'databaseId: must be at most 128 characters'],
    ];
    for (const [f, problem] of cases) expect(msg(f)).toBe(`invalid input: ${problem}`);
  });

  test('bounded arrays and durations', () => {
    expect(msg(() => planPeering({ ...ok, stages: ['initiate', 'accept', 'route', 'associate-dns', 'route'] }))).toBe(
      'invalid input: stages: must name at most 4 stages',
    );
    expect(
      msg(() => planNetwork({ ...net, availabilityZones: Array.from({ length: 9 }, () => 'us-east-1a') })),
    ).toMatch(/^invalid input: availabilityZones: Too big/);
    expect(msg(() => planPeering({ ...ok, timing: { initiateTimeout: '9000h' } }))).toBe(
      'invalid input: timing.initiateTimeout: must be at most 365 days',
    );
    expect(msg(() => planPeering({ ...ok, timing: { heartbeatTimeout: '1d' } }))).toBe(
      'invalid input: timing.heartbeatTimeout: must be a duration like 500ms, 10s, 30m or 1h',
    );
    expect(planPeering({ ...ok, timing: { activeTimeout: '8760h' } }).timing.activeTimeout).toBe('8760h');
  });

  test('wrong types', () => {
    expect(msg(() => planPeering({ ...ok, forceRouteCreation: 'yes' }))).toBe(
      'invalid input: forceRouteCreation: Invalid input: expected boolean, received string',
    );
    expect(msg(() => planPeering({ ...ok, stages: 'route' }))).toMatch(
      /^invalid input: stages: Invalid input: expected array, received string/,
    );
    expect(msg(() => planPeering({ ...ok, databaseId: 7 }))).toBe(
      'invalid input: databaseId: Invalid input: expected string, received number',
    );
    expect(msg(() => planPeering({ ...ok, cloud: 'aws' }))).toBe(
      'invalid input: cloud: Invalid input: expected object, received string',
    );
    expect(msg(() => planPeering({ ...ok, routeTables: 'some' }))).toBe(
      'invalid input: routeTables: Invalid option: expected one of "all"|"main"',
    );
    expect(msg(() => planPeering(undefined))).toBe(
      'invalid input: input: Invalid input: expected object, received undefined',
    );
  });

  test('a requested CIDR is checked at once, before anything is looked up', () => {
    expect(msg(() => planNetwork({ ...net, cidr: '10.128.0.1/19' }))).toBe(
      'invalid input: cidr: requested CIDR "10.128.0.1/19" has host bits set; the block is 10.128.0.0/19',
    );
    expect(msg(() => planNetwork({ ...net, cidr: 'ten/8' }))).toMatch(
      /^invalid input: cidr: requested CIDR "ten\/8" is not a valid CIDR block/,
    );
    expect(planNetwork({ ...net, cidr: '10.130.0.0/19' }).requestedCidr).toBe('10.130.0.0/19');
  });

  test('the progress target of an absurd input is still a string (the tracker cuts it)', () => {
    expect(peeringTarget({ databaseId: huge, region: 'r', vpcId: 'v' })).toHaveLength(100_004);
  });
});

describe('Aerospike Cloud: an operator-configured account, or the API inline (exclusive)', () => {
  const inline = {
    kind: 'aerospike-cloud',
    apiUrl: 'https://api.example.com',
    tokenUrl: 'https://auth.example.com/token',
    clientIdRef: 'env:ID',
    clientSecretRef: 'env:SECRET',
  };
  const msg = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error('expected a refusal');
  };

  test('both forms are accepted and reach the plan as given', () => {
    expect(planPeering({ ...ok, cloud: { kind: 'aerospike-cloud', account: 'prod' } }).cloud).toEqual({
      kind: 'aerospike-cloud',
      account: 'prod',
    });
    expect(planPeering({ ...ok, cloud: inline }).cloud).toEqual(inline);
    expect(planUnpeering({ ...ok, cloud: { kind: 'aerospike-cloud', account: 'prod-eu-2' } }).cloud).toEqual({
      kind: 'aerospike-cloud',
      account: 'prod-eu-2',
    });
  });

  test("account names follow the worker configuration's entry names", () => {
    for (const bad of ['Prod', '1prod', 'prod_eu', '', 'a'.repeat(64)]) {
      expect(msg(() => planPeering({ ...ok, cloud: { kind: 'aerospike-cloud', account: bad } }))).toMatch(
        /^invalid input: cloud\.account: must (name an Aerospike Cloud account of the worker configuration|be at most 63)/,
      );
    }
  });

  test('the forms are exclusive; the inline form needs all four fields', () => {
    expect(msg(() => planPeering({ ...ok, cloud: { ...inline, account: 'prod' } }))).toBe(
      'invalid input: cloud: give either account (a configured Aerospike Cloud account) or apiUrl, tokenUrl, clientIdRef, clientSecretRef, not both (apiUrl, tokenUrl, clientIdRef, clientSecretRef given with account)',
    );
    expect(
      msg(() => planPeering({ ...ok, cloud: { kind: 'aerospike-cloud', account: 'prod', clientSecretRef: 'env:S' } })),
    ).toMatch(/not both \(clientSecretRef given with account\)$/);
    expect(
      msg(() =>
        planPeering({
          ...ok,
          cloud: { kind: 'aerospike-cloud', apiUrl: 'https://api.example.com', clientIdRef: 'env:ID' },
        }),
      ),
    ).toBe(
      'invalid input: cloud.tokenUrl: is required unless account names a configured Aerospike Cloud account; cloud.clientSecretRef: is required unless account names a configured Aerospike Cloud account',
    );
    expect(msg(() => planPeering({ ...ok, cloud: { kind: 'aerospike-cloud' } }))).toMatch(
      /^invalid input: cloud\.apiUrl: is required unless account/,
    );
    expect(msg(() => planPeering({ ...ok, cloud: { ...inline, apiUrl: 'ftp://api.example.com' } }))).toBe(
      'invalid input: cloud.apiUrl: must be an http(s) URL',
    );
  });
});
