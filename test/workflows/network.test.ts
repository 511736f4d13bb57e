/**
 * Workflow logic of createDatabaseNetwork (with its child peerVpc) and deleteDatabaseNetwork
 * (with its child unpeerVpc) with mocked activities: stage order, skipping, failures and the
 * removal of what a failed or cancelled run made, invalid input.
 *
 * No time-skipping test server is available offline (TestWorkflowEnvironment.createTimeSkipping
 * downloads one), so these run on the real Temporal dev server that jest's global setup starts;
 * the mocked activities return at once, so each run takes a fraction of a second.
 */
import { Context } from '@temporalio/activity';
import type { WorkflowHandle } from '@temporalio/client';
import {
  Gate,
  MockActivities,
  expectCancelled,
  expectFailure,
  failing,
  useMockedWorld,
  cancelWhileHeld,
  progressOf,
  stagesOf,
} from '../helpers/mocked-activities';
import { uniqueName } from '../helpers/temporal';
import {
  CUSTOMER_VPC,
  DB_CIDR,
  DEFAULT_VPC,
  PCX,
  TIMING,
  ZONE,
  networkActivities,
  networkState,
  peeringActivities,
  withLookUp,
} from './canned';

const mocks: MockActivities = new MockActivities({
  ...peeringActivities,
  ...networkActivities,
  ...withLookUp({ impl: (n) => mocks.impl(n) }),
});
const world = useMockedWorld(mocks);

const REGION = 'us-east-1';
const DB_VPC = 'vpc-0db00000000000000';
const input = (over: Record<string, unknown> = {}) => ({
  databaseId: uniqueName('db'),
  region: REGION,
  vpcId: CUSTOMER_VPC,
  timing: TIMING,
  ...over,
});
const PEER_CALLS = [
  'lookUpPeering',
  'databaseInitiate',
  'acceptPeering',
  'ensureCustomerRoutes',
  'databaseReturnRoute',
  'databaseAuthorizeZone',
  'vpcAssociatedWithZone',
  'associateVpcWithZone',
];
const peerId = (databaseId: string, vpcId = CUSTOMER_VPC) => `peer-vpc:${databaseId}:${vpcId}`;
const unpeerId = (databaseId: string, vpcId = CUSTOMER_VPC) => `unpeer-vpc:${databaseId}:${vpcId}`;

describe('createDatabaseNetwork', () => {
  const create = (i: object) => world().start('createDatabaseNetwork', 'net', [i]);

  test('a full run plans the CIDR, creates VPC, subnets and zone, then peers them in a child peerVpc', async () => {
    const i = input();
    const h = await create(i);
    const r = await h.result();
    const where = { databaseId: i.databaseId, region: REGION };
    expect(mocks.names(h.workflowId)).toEqual([
      'findDatabaseNetwork',
      'describeInUse',
      'createDatabaseVpc',
      'createDatabaseSubnets',
      'createDatabaseHostedZone',
    ]);
    expect(mocks.args('findDatabaseNetwork')).toEqual([[{ ...where, zoneName: `${i.databaseId}.db.internal` }]]);
    expect(mocks.args('createDatabaseVpc')).toEqual([[{ ...where, cidr: DB_CIDR, runId: h.firstExecutionRunId }]]);
    expect(mocks.args('createDatabaseSubnets')).toEqual([
      [{ ...where, vpcId: DB_VPC, subnets: [{ az: 'us-east-1a', cidr: DB_CIDR }] }],
    ]);
    expect(mocks.args('createDatabaseHostedZone')).toEqual([
      [{ ...where, vpcId: DB_VPC, zoneName: `${i.databaseId}.db.internal` }],
    ]);
    // The child peers the customer VPC with the new network, after everything was created.
    expect(mocks.names(peerId(i.databaseId))).toEqual(PEER_CALLS);
    expect(mocks.calls.findIndex((c) => c.workflowId === peerId(i.databaseId))).toBe(5);
    expect(mocks.args('databaseInitiate')[0][0]).toMatchObject({
      databaseId: i.databaseId,
      cloud: { kind: 'aws', region: REGION },
      timing: TIMING,
    });
    expect(mocks.names()).not.toContain('removeDatabaseNetwork');
    expect(await stagesOf(h)).toEqual({
      'plan-cidr': 'done',
      'create-vpc': 'done',
      'create-subnets': 'done',
      'create-hosted-zone': 'done',
      peer: 'done',
    });
    expect(r).toMatchObject({
      databaseId: i.databaseId,
      databaseVpcId: DB_VPC,
      cidr: DB_CIDR,
      subnetIds: ['subnet-00'],
      hostedZoneId: ZONE,
      peering: { peeringId: PCX },
    });
  });

  test('one subnet per availability zone, each a slice of the planned CIDR', async () => {
    const h = await create(input({ availabilityZones: ['us-east-1a', 'us-east-1b', 'us-east-1c'] }));
    await h.result();
    expect(mocks.args('createDatabaseSubnets')[0][0]).toMatchObject({
      subnets: [
        { az: 'us-east-1a', cidr: '10.128.0.0/21' },
        { az: 'us-east-1b', cidr: '10.128.8.0/21' },
        { az: 'us-east-1c', cidr: '10.128.16.0/21' },
      ],
    });
  });

  test('an existing network is reused: plan-cidr and the creates that change nothing show skipped', async () => {
    mocks.set('findDatabaseNetwork', async () => ({ vpcId: DB_VPC, cidr: '10.200.0.0/19' }));
    mocks.set('createDatabaseVpc', async () => ({ changed: false, vpcId: DB_VPC }));
    mocks.set('createDatabaseSubnets', async () => ({ changed: false, subnetIds: ['subnet-00'] }));
    mocks.set('createDatabaseHostedZone', async () => ({ changed: false, hostedZoneId: ZONE }));
    const h = await create(input());
    await h.result();
    expect(mocks.names(h.workflowId)).toEqual([
      'findDatabaseNetwork',
      'createDatabaseVpc',
      'createDatabaseSubnets',
      'createDatabaseHostedZone',
    ]);
    expect(mocks.args('createDatabaseVpc')[0][0]).toMatchObject({ cidr: '10.200.0.0/19' });
    expect(await stagesOf(h)).toMatchObject({
      'create-vpc': 'skipped',
      'create-subnets': 'skipped',
      'create-hosted-zone': 'skipped',
      peer: 'done',
    });
    expect((await progressOf(h)).stages[0].detail).toBe(`database network ${DB_VPC} exists with 10.200.0.0/19`);
  });

  test('plan-cidr of a reused network shows skipped', async () => {
    mocks.set('findDatabaseNetwork', async () => ({ vpcId: DB_VPC, cidr: '10.200.0.0/19' }));
    const h = await create(input());
    await h.result();
    expect((await stagesOf(h))['plan-cidr']).toBe('skipped');
  });

  test("a requested CIDR other than the existing network's fails plan-cidr; nothing is created or removed", async () => {
    mocks.set('findDatabaseNetwork', async () => ({ vpcId: DB_VPC, cidr: '10.200.0.0/19' }));
    const h = await create(input({ cidr: '10.128.0.0/19' }));
    const f = await expectFailure(h, 'StageFailed');
    expect(f.message).toMatch(
      /^stage "plan-cidr" failed: database .* already has network vpc-0db00000000000000 with CIDR 10.200.0.0\/19, not 10.128.0.0\/19$/,
    );
    expect(mocks.names()).toEqual(['findDatabaseNetwork']);
    expect(await stagesOf(h)).toEqual({
      'plan-cidr': 'failed',
      'create-vpc': 'pending',
      'create-subnets': 'pending',
      'create-hosted-zone': 'pending',
      peer: 'pending',
    });
  });

  test('a requested CIDR the customer VPC already uses is refused as InvalidInput from inside plan-cidr', async () => {
    const h = await create(input({ cidr: '10.0.0.0/19' }));
    const f = await expectFailure(h, 'InvalidInput');
    expect(f.message).toMatch(/^stage "plan-cidr" failed: requested CIDR 10.0.0.0\/19 overlaps with 10.0.0.0\/16/);
    expect(mocks.names()).toEqual(['findDatabaseNetwork', 'describeInUse']);
  });

  test('a failure before the child starts removes the network this run made (by its run id); peer stays pending', async () => {
    mocks.set('createDatabaseHostedZone', failing('zone name taken', 'ConflictingDomainExists'));
    const i = input();
    const h = await create(i);
    const f = await expectFailure(h, 'StageFailed');
    expect(f.message).toBe('stage "create-hosted-zone" failed: zone name taken');
    expect(f.details).toEqual([{ stage: 'create-hosted-zone' }]);
    expect(mocks.names()).toEqual([
      'findDatabaseNetwork',
      'describeInUse',
      'createDatabaseVpc',
      'createDatabaseSubnets',
      'createDatabaseHostedZone',
      'removeDatabaseNetwork',
    ]);
    expect(mocks.args('removeDatabaseNetwork')).toEqual([
      [{ databaseId: i.databaseId, region: REGION, runId: h.firstExecutionRunId }],
    ]);
    expect(await stagesOf(h)).toEqual({
      'plan-cidr': 'done',
      'create-vpc': 'done',
      'create-subnets': 'done',
      'create-hosted-zone': 'failed',
      peer: 'pending',
    });
  });

  test('a failure in the child peerVpc fails the run at peer and leaves the network for a re-run', async () => {
    mocks.set('acceptPeering', failing('peering is rejected', 'PeeringFailed'));
    const i = input();
    const h = await create(i);
    const f = await expectFailure(h, 'StageFailed');
    expect(f.message).toMatch(/^stage "peer" failed: /);
    expect(f.details).toEqual([{ stage: 'peer' }]);
    expect(mocks.names(peerId(i.databaseId))).toEqual(['lookUpPeering', 'databaseInitiate', 'acceptPeering']);
    expect(mocks.names()).not.toContain('removeDatabaseNetwork');
    expect(await stagesOf(h)).toMatchObject({ 'create-hosted-zone': 'done', peer: 'failed' });
  });

  test('cancelled while subnets are created: they complete, the zone is never created, the network is removed', async () => {
    const gate = new Gate();
    mocks.set('createDatabaseSubnets', gate.then({ changed: true, subnetIds: ['subnet-00'] }));
    const i = input();
    const h = await create(i);
    await cancelWhileHeld(gate, h);
    expect(mocks.names()).toEqual([
      'findDatabaseNetwork',
      'describeInUse',
      'createDatabaseVpc',
      'createDatabaseSubnets',
      'removeDatabaseNetwork',
    ]);
    expect(mocks.args('removeDatabaseNetwork')).toEqual([
      [{ databaseId: i.databaseId, region: REGION, runId: h.firstExecutionRunId }],
    ]);
    expect(await stagesOf(h)).toEqual({
      'plan-cidr': 'done',
      'create-vpc': 'done',
      'create-subnets': 'done',
      'create-hosted-zone': 'failed',
      peer: 'pending',
    });
  });

  test('cancelled while the VPC is created: it completes and is removed, nothing else is created', async () => {
    const gate = new Gate();
    mocks.set('createDatabaseVpc', gate.then({ changed: true, vpcId: DB_VPC }));
    const i = input({
      cloud: { kind: 'aws', region: 'eu-west-1', roleArn: 'arn:aws:iam::222222222222:role/net' },
      availabilityZones: ['eu-west-1b'],
    });
    const h = await create(i);
    await cancelWhileHeld(gate, h);
    expect(mocks.names()).toEqual([
      'findDatabaseNetwork',
      'describeInUse',
      'createDatabaseVpc',
      'removeDatabaseNetwork',
    ]);
    // The database network lives in the cloud's region and account, not the customer's.
    expect(mocks.args('removeDatabaseNetwork')).toEqual([
      [
        {
          databaseId: i.databaseId,
          region: 'eu-west-1',
          roleArn: 'arn:aws:iam::222222222222:role/net',
          runId: h.firstExecutionRunId,
        },
      ],
    ]);
    expect(mocks.args('describeInUse')).toEqual([[{ region: REGION, vpcId: CUSTOMER_VPC }]]);
  });

  test('cancelled while the child peers: the child undoes the peering it made, then the parent removes any peering to its VPC, then the network', async () => {
    const gate = new Gate();
    mocks.set('databaseInitiate', async () => {
      await gate.hold();
      return peeringActivities.databaseInitiate();
    });
    // No peering at the child's prepare; then the one the child requested (tagged with the child's run id).
    let describes = 0;
    mocks.set('databaseDescribe', async () => {
      const database = { cidr: '10.200.0.0/19', hostedZoneId: ZONE, status: 'available' };
      if (describes++ === 0) return { database };
      return {
        database,
        peering: { peeringId: PCX, status: 'pending-acceptance', run: Context.current().info.workflowExecution?.runId },
      };
    });
    const i = input();
    const h = await create(i);
    await gate.entered;
    await h.cancel();
    try {
      await expectCancelled(h);
    } finally {
      gate.release();
    }
    const child = peerId(i.databaseId);
    expect(mocks.names(child)).toEqual([
      'lookUpPeering',
      'databaseInitiate',
      'databaseDescribe',
      'removeCustomerRoutes',
      'databaseRemoveReturnRoute',
      'databaseDeletePeering',
    ]);
    expect(mocks.names(h.workflowId).slice(-5)).toEqual([
      'resolveCustomerVpc',
      'databaseDescribe',
      'removeCustomerRoutes',
      'databaseDeletePeering',
      'removeDatabaseNetwork',
    ]);
    expect(mocks.args('removeDatabaseNetwork')).toEqual([
      [{ databaseId: i.databaseId, region: REGION, runId: h.firstExecutionRunId }],
    ]);
    // Order: the child's undo, then the parent's.
    const last = (wf: string) => mocks.calls.map((c) => c.workflowId).lastIndexOf(wf);
    expect(last(child)).toBeLessThan(last(h.workflowId));
    expect(await stagesOf(h)).toMatchObject({ 'create-hosted-zone': 'done', peer: 'failed' });
  });

  test('cancelled during a re-run of an existing network: neither the peering nor the network is undone', async () => {
    const gate = new Gate();
    mocks.set('findDatabaseNetwork', async () => ({ vpcId: DB_VPC, cidr: '10.200.0.0/19' }));
    mocks.set('createDatabaseVpc', async () => ({ changed: false, vpcId: DB_VPC }));
    mocks.set('acceptPeering', gate.then({ changed: false, detail: 'already active' }));
    const h = await create(input());
    await cancelWhileHeld(gate, h);
    expect(mocks.names(h.workflowId)).not.toContain('removeDatabaseNetwork');
    expect(mocks.names(h.workflowId)).not.toContain('databaseDeletePeering');
  });

  test.each([
    [
      'an availability zone outside the database region',
      { availabilityZones: ['us-west-2a'] },
      /not in the database region us-east-1/,
    ],
    ['a malformed CIDR', { cidr: '10.0.0.300/19' }, /cidr/],
    ['an Aerospike cloud', { cloud: { kind: 'aerospike-cloud', account: 'x' } }, /cloud/],
  ])('invalid input (%s) fails as InvalidInput and calls no activity', async (_what, over, message) => {
    const h = await create(input(over));
    const f = await expectFailure(h, 'InvalidInput');
    expect(f.message).toMatch(message);
    expect(mocks.names()).toEqual([]);
    expect(await stagesOf(h)).toMatchObject({ 'plan-cidr': 'failed', 'create-vpc': 'pending' });
  });
});

describe('deleteDatabaseNetwork', () => {
  const del = (i: object): Promise<WorkflowHandle> => world().start('deleteDatabaseNetwork', 'delnet', [i]);
  const peered = async () => ({
    database: { cidr: DB_CIDR, hostedZoneId: ZONE, status: 'available' },
    peering: { peeringId: PCX, status: 'active', managed: true },
  });

  test('a full run unpeers (child unpeerVpc), then deletes zone, subnets and VPC in order', async () => {
    mocks.set('databaseDescribe', peered);
    const i = input();
    const h = await del(i);
    const r = await h.result();
    const where = { databaseId: i.databaseId, region: REGION };
    expect(mocks.names(h.workflowId)).toEqual([
      'inspectDatabaseNetwork',
      'deleteDatabaseHostedZone',
      'deleteDatabaseSubnets',
      'deleteDatabaseVpc',
    ]);
    expect(mocks.names(unpeerId(i.databaseId))).toEqual([
      'resolveCustomerVpc',
      'databaseDescribe',
      'disassociateVpcFromZone',
      'removeCustomerRoutes',
      'databaseRemoveReturnRoute',
      'databaseDeletePeering',
    ]);
    expect(mocks.calls.findIndex((c) => c.name === 'deleteDatabaseHostedZone')).toBeGreaterThan(
      mocks.calls.findIndex((c) => c.name === 'databaseDeletePeering'),
    );
    expect(mocks.args('inspectDatabaseNetwork')).toEqual([[where]]);
    expect(mocks.args('deleteDatabaseHostedZone')).toEqual([[{ ...where, hostedZoneId: ZONE }]]);
    expect(mocks.args('deleteDatabaseSubnets')).toEqual([[{ ...where, vpcId: DB_VPC }]]);
    expect(mocks.args('deleteDatabaseVpc')).toEqual([[{ ...where, vpcId: DB_VPC }]]);
    expect(await stagesOf(h)).toEqual({
      prepare: 'done',
      unpeer: 'done',
      'delete-hosted-zone': 'done',
      'delete-subnets': 'done',
      'delete-vpc': 'done',
    });
    expect(r).toEqual({
      databaseId: i.databaseId,
      databaseVpcId: DB_VPC,
      deleted: [`peering ${PCX}`, `deleted hosted zone ${ZONE}`, 'deleted subnet-0a', `deleted ${DB_VPC}`],
    });
  });

  test('no network: only the inspection runs and every later stage is skipped', async () => {
    mocks.set('inspectDatabaseNetwork', async () => undefined);
    const i = input();
    const h = await del(i);
    const r = await h.result();
    expect(mocks.names()).toEqual(['inspectDatabaseNetwork']);
    expect(await stagesOf(h)).toEqual({
      prepare: 'done',
      unpeer: 'skipped',
      'delete-hosted-zone': 'skipped',
      'delete-subnets': 'skipped',
      'delete-vpc': 'skipped',
    });
    expect((await progressOf(h)).stages[1].detail).toBe('no database network');
    expect(r).toEqual({ databaseId: i.databaseId, deleted: [] });
  });

  test('no peering and no zone skip unpeer and delete-hosted-zone; deletes that find nothing show skipped', async () => {
    mocks.set('inspectDatabaseNetwork', async () => networkState({ peerings: [], hostedZoneId: undefined }));
    mocks.set('deleteDatabaseSubnets', async () => ({ changed: false, detail: 'no subnet left' }));
    const h = await del(input());
    const r = await h.result();
    expect(mocks.names()).toEqual(['inspectDatabaseNetwork', 'deleteDatabaseSubnets', 'deleteDatabaseVpc']);
    expect(await stagesOf(h)).toEqual({
      prepare: 'done',
      unpeer: 'skipped',
      'delete-hosted-zone': 'skipped',
      'delete-subnets': 'skipped',
      'delete-vpc': 'done',
    });
    expect(r).toMatchObject({ deleted: [`deleted ${DB_VPC}`] });
  });

  test('"default" is resolved to tell the customer peering from others', async () => {
    mocks.set('databaseDescribe', peered);
    mocks.set('inspectDatabaseNetwork', async () =>
      networkState({ peerings: [{ peeringId: PCX, vpcId: DEFAULT_VPC, status: 'active' }] }),
    );
    const i = input({ vpcId: 'default' });
    const h = await del(i);
    await h.result();
    expect(mocks.names(h.workflowId).slice(0, 2)).toEqual(['inspectDatabaseNetwork', 'resolveCustomerVpc']);
    expect(mocks.args('resolveCustomerVpc', h.workflowId)).toEqual([[{ region: REGION, vpcId: 'default' }]]);
    expect(mocks.names(unpeerId(i.databaseId, 'default'))).toContain('databaseDeletePeering');
    expect(await stagesOf(h)).toMatchObject({ unpeer: 'done', 'delete-vpc': 'done' });
  });

  test('a network something else uses is refused in prepare, naming every blocker, and nothing is changed', async () => {
    mocks.set('inspectDatabaseNetwork', async () =>
      networkState({
        managedByDbops: false,
        peerings: [
          { peeringId: PCX, vpcId: CUSTOMER_VPC, status: 'active' },
          { peeringId: 'pcx-other', vpcId: 'vpc-0ther000000000000', status: 'active' },
        ],
        networkInterfaces: [{ id: 'eni-1', description: 'RDS' }],
        subnets: [
          { id: 'subnet-0a', ours: true },
          { id: 'subnet-foreign', ours: false },
        ],
      }),
    );
    const h = await del(input());
    const f = await expectFailure(h, 'StageFailed');
    expect(f.message).toMatch(
      /^stage "prepare" failed: database network vpc-0db00000000000000 of .* cannot be deleted: /,
    );
    for (const m of ['not made by dbops', 'pcx-other', 'eni-1', 'subnet-foreign', 'nothing was changed'])
      expect(f.message).toContain(m);
    expect(f.message).not.toContain(PCX); // the customer's own peering is no blocker
    expect(mocks.names()).toEqual(['inspectDatabaseNetwork']);
    expect(await stagesOf(h)).toEqual({
      prepare: 'failed',
      unpeer: 'pending',
      'delete-hosted-zone': 'pending',
      'delete-subnets': 'pending',
      'delete-vpc': 'pending',
    });
  });

  test('a failing delete fails the run naming the stage; the VPC is not deleted', async () => {
    mocks.set('inspectDatabaseNetwork', async () => networkState({ peerings: [] }));
    mocks.set('deleteDatabaseSubnets', failing('subnet has dependencies', 'DependencyViolation'));
    const h = await del(input());
    const f = await expectFailure(h, 'StageFailed');
    expect(f.message).toBe('stage "delete-subnets" failed: subnet has dependencies');
    expect(f.details).toEqual([{ stage: 'delete-subnets' }]);
    expect(mocks.names()).toEqual(['inspectDatabaseNetwork', 'deleteDatabaseHostedZone', 'deleteDatabaseSubnets']);
    expect(await stagesOf(h)).toEqual({
      prepare: 'done',
      unpeer: 'skipped',
      'delete-hosted-zone': 'done',
      'delete-subnets': 'failed',
      'delete-vpc': 'pending',
    });
  });

  test('invalid input (createDatabaseNetwork-only fields) fails as InvalidInput and calls no activity', async () => {
    const h = await del(input({ cidr: '10.128.0.0/19' }));
    const f = await expectFailure(h, 'InvalidInput');
    expect(f.message).toMatch(/cidr/);
    expect(mocks.names()).toEqual([]);
  });
});
