/**
 * What moto cannot model, with client-level mocks (aws-sdk-client-mock), as the reference notes
 * list: blackhole routes, transitional peering states (provisioning → active, rejected, expired),
 * Route 53 PriorRequestNotComplete, and cross-account zone authorisation. The activity functions
 * are the product's own; only the AWS responses are scripted.
 */
import {
  AcceptVpcPeeringConnectionCommand,
  CreateRouteCommand,
  CreateVpcPeeringConnectionCommand,
  DescribeRouteTablesCommand,
  DescribeVpcPeeringConnectionsCommand,
  DescribeVpcsCommand,
  EC2Client,
  ReplaceRouteCommand,
  type VpcPeeringConnectionStateReasonCode,
} from '@aws-sdk/client-ec2';
import {
  AssociateVPCWithHostedZoneCommand,
  CreateVPCAssociationAuthorizationCommand,
  GetHostedZoneCommand,
  ListHostedZonesByVPCCommand,
  ListTagsForResourceCommand,
  Route53Client,
} from '@aws-sdk/client-route-53';
import { ApplicationFailure } from '@temporalio/common';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsClients } from '../../src/activities/aws-clients';
import { awsDatabaseSide } from '../../src/activities/database-side/aws';
import { createEc2Activities, ensureRoutesIn } from '../../src/activities/ec2';
import { createRoute53Activities } from '../../src/activities/route53';

const ec2Mock = mockClient(EC2Client);
const r53Mock = mockClient(Route53Client);
const aws = new AwsClients({
  defaultRegion: 'us-east-1',
  credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
  maxAttempts: 1,
});
const timing = { pollInterval: '10ms', activeTimeout: '2s' };

beforeEach(() => {
  ec2Mock.reset();
  r53Mock.reset();
});

/** The customer VPC as prepare resolves it. */
const customer = {
  vpcId: 'vpc-c',
  region: 'us-east-1',
  accountId: '123456789012',
  cidr: '10.0.0.0/16',
  cidrBlocks: ['10.0.0.0/16'],
};

const peering = (state: string) => ({
  VpcPeeringConnections: [
    { VpcPeeringConnectionId: 'pcx-1', Status: { Code: state as VpcPeeringConnectionStateReasonCode, Message: state } },
  ],
});

test('a blackhole route to the database CIDR is replaced in place (moto has no blackhole state)', async () => {
  ec2Mock.on(DescribeRouteTablesCommand).resolves({
    RouteTables: [
      {
        RouteTableId: 'rtb-1',
        VpcId: 'vpc-1',
        Associations: [{ Main: true }],
        Routes: [{ DestinationCidrBlock: '10.128.0.0/19', VpcPeeringConnectionId: 'pcx-old', State: 'blackhole' }],
      },
    ],
  });
  const changes = await ensureRoutesIn(aws.ec2('us-east-1'), {
    vpcId: 'vpc-1',
    cidr: '10.128.0.0/19',
    peeringId: 'pcx-1',
    tables: 'all',
    force: false,
  });
  expect(changes).toEqual([
    { routeTableId: 'rtb-1', vpcId: 'vpc-1', action: 'replaced-blackhole', previousTarget: 'pcx-old' },
  ]);
  expect(ec2Mock.commandCalls(ReplaceRouteCommand)[0].args[0].input).toEqual({
    RouteTableId: 'rtb-1',
    DestinationCidrBlock: '10.128.0.0/19',
    VpcPeeringConnectionId: 'pcx-1',
  });
  expect(ec2Mock.commandCalls(CreateRouteCommand)).toHaveLength(0);
});

test('a blackhole route that already names this peering is also replaced (it is not working)', async () => {
  ec2Mock.on(DescribeRouteTablesCommand).resolves({
    RouteTables: [
      {
        RouteTableId: 'rtb-1',
        VpcId: 'vpc-1',
        Routes: [{ DestinationCidrBlock: '10.128.0.0/19', VpcPeeringConnectionId: 'pcx-1', State: 'blackhole' }],
      },
    ],
  });
  const changes = await ensureRoutesIn(aws.ec2('us-east-1'), {
    vpcId: 'vpc-1',
    cidr: '10.128.0.0/19',
    peeringId: 'pcx-1',
    tables: 'all',
    force: false,
  });
  expect(changes[0].action).toBe('replaced-blackhole');
});

test('accept waits through provisioning until active (transitional state moto skips)', async () => {
  // AWS answers an accept with the peering in "provisioning"; moto makes it active at once.
  ec2Mock
    .on(AcceptVpcPeeringConnectionCommand)
    .resolves({ VpcPeeringConnection: peering('provisioning').VpcPeeringConnections[0] });
  ec2Mock
    .on(DescribeVpcPeeringConnectionsCommand)
    .resolvesOnce(peering('provisioning'))
    .resolvesOnce(peering('provisioning'))
    .resolves(peering('active'));
  const r = await createEc2Activities({ aws }).acceptPeering({ region: 'us-east-1', peeringId: 'pcx-1', timing });
  expect(r).toEqual({ changed: true, detail: 'accepted pcx-1; active' });
  expect(ec2Mock.commandCalls(AcceptVpcPeeringConnectionCommand)).toHaveLength(1);
  expect(ec2Mock.commandCalls(DescribeVpcPeeringConnectionsCommand)).toHaveLength(3);
});

test.each(['rejected', 'expired', 'failed', 'deleted'])(
  'accept of a %s peering fails without retry, naming the state',
  async (state) => {
    // AWS refuses to accept a peering that is not pending acceptance (moto has no such states).
    ec2Mock
      .on(AcceptVpcPeeringConnectionCommand)
      .rejects(Object.assign(new Error(`cannot accept in state ${state}`), { name: 'InvalidStateTransition' }));
    ec2Mock.on(DescribeVpcPeeringConnectionsCommand).resolves(peering(state));
    const err = await createEc2Activities({ aws })
      .acceptPeering({ region: 'us-east-1', peeringId: 'pcx-1', timing })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect((err as ApplicationFailure).message).toBe(`peering pcx-1 is ${state} (${state}): it cannot be accepted`);
    expect(ec2Mock.commandCalls(AcceptVpcPeeringConnectionCommand)).toHaveLength(1); // refused by AWS
  },
);

test('accept gives up at its deadline with the last state seen', async () => {
  ec2Mock
    .on(AcceptVpcPeeringConnectionCommand)
    .rejects(Object.assign(new Error('already accepted'), { name: 'InvalidStateTransition' }));
  ec2Mock.on(DescribeVpcPeeringConnectionsCommand).resolves(peering('provisioning'));
  const err = (await createEc2Activities({ aws })
    .acceptPeering({
      region: 'us-east-1',
      peeringId: 'pcx-1',
      timing: { pollInterval: '20ms', activeTimeout: '100ms' },
    })
    .catch((e: unknown) => e)) as ApplicationFailure;
  expect(err.type).toBe('WaitTimeout');
  expect(err.message).toBe(
    'timed out after 100ms waiting for peering pcx-1 to be accepted and active (last status: provisioning)',
  );
});

test('accept polled by retry (poll once): accepts, looks again within the attempt, done once active', async () => {
  ec2Mock
    .on(AcceptVpcPeeringConnectionCommand)
    .resolves({ VpcPeeringConnection: peering('provisioning').VpcPeeringConnections[0] });
  ec2Mock.on(DescribeVpcPeeringConnectionsCommand).resolvesOnce(peering('provisioning')).resolves(peering('active'));
  const r = await createEc2Activities({ aws }).acceptPeering(
    { region: 'us-east-1', peeringId: 'pcx-1', timing },
    { poll: 'once' },
  );
  expect(r).toEqual({ changed: true, detail: 'accepted pcx-1; active' });
  expect(ec2Mock.commandCalls(AcceptVpcPeeringConnectionCommand)).toHaveLength(1);
  expect(ec2Mock.commandCalls(DescribeVpcPeeringConnectionsCommand)).toHaveLength(2);
});

test('accept polled by retry, still provisioning after its quick looks: a retryable StillWaiting naming the state', async () => {
  ec2Mock
    .on(AcceptVpcPeeringConnectionCommand)
    .resolves({ VpcPeeringConnection: peering('provisioning').VpcPeeringConnections[0] });
  ec2Mock.on(DescribeVpcPeeringConnectionsCommand).resolves(peering('provisioning'));
  const err = (await createEc2Activities({ aws })
    .acceptPeering({ region: 'us-east-1', peeringId: 'pcx-1', timing }, { poll: 'once' })
    .catch((e: unknown) => e)) as ApplicationFailure;
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect(err.type).toBe('StillWaiting');
  expect(err.nonRetryable).toBe(false);
  expect(err.message).toMatch(
    /^waiting for peering pcx-1 to be accepted and active \(last status: provisioning; check 1\)$/,
  );
  expect(err.details).toEqual([{ what: 'peering pcx-1 to be accepted and active', status: 'provisioning' }]);
  // The accept, a first look, and four quick looks within the attempt (after 100, 200, 400, 800 ms).
  expect(ec2Mock.commandCalls(AcceptVpcPeeringConnectionCommand)).toHaveLength(1);
  expect(ec2Mock.commandCalls(DescribeVpcPeeringConnectionsCommand)).toHaveLength(5);
});

test('accept of a peering still initiating (AWS, not moto, has this state): waits, then accepts once it is pending', async () => {
  // Initiate ends with the pcx id of the create answer, which AWS gives in initiating-request;
  // an accept sent then is refused with InvalidStateTransition, and accept looks again.
  ec2Mock
    .on(AcceptVpcPeeringConnectionCommand)
    .rejectsOnce(Object.assign(new Error('not pending acceptance'), { name: 'InvalidStateTransition' }))
    .resolves({ VpcPeeringConnection: peering('active').VpcPeeringConnections[0] });
  ec2Mock
    .on(DescribeVpcPeeringConnectionsCommand)
    .resolvesOnce(peering('initiating-request'))
    .resolves(peering('pending-acceptance'));
  const r = await createEc2Activities({ aws }).acceptPeering({ region: 'us-east-1', peeringId: 'pcx-1', timing });
  expect(r).toEqual({ changed: true, detail: 'accepted pcx-1; active' });
  expect(ec2Mock.commandCalls(AcceptVpcPeeringConnectionCommand)).toHaveLength(2);
});

test('initiate on the AWS side takes the pcx id from the create answer and does not read it again', async () => {
  ec2Mock.on(DescribeVpcPeeringConnectionsCommand).resolves({ VpcPeeringConnections: [] });
  ec2Mock.on(CreateVpcPeeringConnectionCommand).resolves({
    VpcPeeringConnection: { VpcPeeringConnectionId: 'pcx-new', Status: { Code: 'initiating-request' } },
  });
  const { createDatabaseSideActivities } = await import('../../src/activities/database-side');
  const { Authority } = await import('../../src/authority');
  const { workerConfig } = await import('../../src/worker-config');
  const noSecrets = () => Promise.reject(new Error('no secret is needed here'));
  const acts = createDatabaseSideActivities({ aws, authority: new Authority(workerConfig({}, 'test'), noSecrets) });
  const plan = {
    databaseId: 'db-1',
    region: 'us-east-1',
    cloud: { kind: 'aws' as const },
    timing: { pollInterval: '10ms', activeTimeout: '2s', initiateTimeout: '2s', heartbeatTimeout: '30s' },
    resolved: { vpcId: 'vpc-db', cidr: '10.128.0.0/19', accountId: '123456789012' },
  };
  const r = await acts.databaseInitiate(plan as never, customer as never, 'run-1', { poll: 'once' });
  expect(r).toMatchObject({ changed: true, peeringId: 'pcx-new', detail: 'requested pcx-new (initiating-request)' });
  // The read before creating (a retry or a reset run must not make a second peering), the create; no read after.
  expect(ec2Mock.commandCalls(DescribeVpcPeeringConnectionsCommand)).toHaveLength(1);
  expect(ec2Mock.commandCalls(CreateVpcPeeringConnectionCommand)).toHaveLength(1);
});

test('PriorRequestNotComplete from Route 53 is a retryable failure (the activity retry waits it out)', async () => {
  r53Mock.on(GetHostedZoneCommand).resolves({ HostedZone: { Id: 'Z1', Name: 'x', CallerReference: 'c' }, VPCs: [] });
  r53Mock
    .on(AssociateVPCWithHostedZoneCommand)
    .rejects(Object.assign(new Error('busy'), { name: 'PriorRequestNotComplete' }));
  const err = (await createRoute53Activities({ aws })
    .associateVpcWithZone({ hostedZoneId: 'Z1', vpcId: 'vpc-1', region: 'us-east-1', crossAccount: false })
    .catch((e: unknown) => e)) as ApplicationFailure;
  expect(err.type).toBe('PriorRequestNotComplete');
  expect(err.nonRetryable).toBe(false);
});

test('cross-account AWS side: the zone owner authorises, then the customer associates (moto lacks this)', async () => {
  ec2Mock.on(DescribeVpcsCommand).resolves({
    Vpcs: [
      {
        VpcId: 'vpc-db',
        OwnerId: '222222222222',
        CidrBlock: '10.128.0.0/19',
        Tags: [{ Key: 'dbops:database-id', Value: 'db-1' }],
      },
    ],
  });
  r53Mock.on(ListHostedZonesByVPCCommand).resolves({ HostedZoneSummaries: [] });
  r53Mock.on(ListTagsForResourceCommand).resolves({});
  r53Mock.on(GetHostedZoneCommand).resolves({
    HostedZone: { Id: 'Z1', Name: 'x', CallerReference: 'c' },
    VPCs: [{ VPCId: 'vpc-db', VPCRegion: 'us-east-1' }],
  });
  r53Mock.on(AssociateVPCWithHostedZoneCommand).resolves({});
  const noRole = new AwsClients({
    defaultRegion: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    maxAttempts: 1,
  });
  const side = awsDatabaseSide(noRole, { databaseId: 'db-1', region: 'us-east-1', cloud: { kind: 'aws' } });
  const auth = await side.authorizeZone(customer, 'Z1');
  expect(auth.crossAccount).toBe(true);
  expect(r53Mock.commandCalls(CreateVPCAssociationAuthorizationCommand)[0].args[0].input).toEqual({
    HostedZoneId: 'Z1',
    VPC: { VPCId: 'vpc-c', VPCRegion: 'us-east-1' },
  });
  const r = await createRoute53Activities({ aws: noRole }).associateVpcWithZone({
    hostedZoneId: 'Z1',
    vpcId: 'vpc-c',
    region: 'us-east-1',
    ...auth,
  });
  expect(r.changed).toBe(true);
  const order = r53Mock.calls().map((c) => (c.args[0] as object).constructor.name);
  expect(order.indexOf('CreateVPCAssociationAuthorizationCommand')).toBeLessThan(
    order.indexOf('AssociateVPCWithHostedZoneCommand'),
  );
});
