/**
 * Workflow logic of peerVpc and unpeerVpc with mocked activities: stage order, skipping, stage
 * selection, failures, cancellation and its undo, invalid input.
 *
 * No time-skipping test server is available offline (TestWorkflowEnvironment.createTimeSkipping
 * downloads one), so these run on the real Temporal dev server that jest's global setup starts;
 * the mocked activities return at once, so each run takes a fraction of a second.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure, type WorkflowHandle } from '@temporalio/client';
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
import { checkOnce } from '../../src/activities/poll';
import { uniqueName } from '../helpers/temporal';
import {
  CUSTOMER_VPC,
  DB_CIDR,
  DEFAULT_VPC,
  PCX,
  TIMING,
  ZONE,
  customerVpc,
  peeringActivities,
  withLookUp,
} from './canned';

const mocks: MockActivities = new MockActivities({
  ...peeringActivities,
  ...withLookUp({ impl: (n) => mocks.impl(n) }),
});
const world = useMockedWorld(mocks);

const REGION = 'us-east-1';
const input = (over: Record<string, unknown> = {}) => ({
  databaseId: uniqueName('db'),
  region: REGION,
  vpcId: CUSTOMER_VPC,
  cloud: { kind: 'aws' },
  timing: TIMING,
  ...over,
});
const peer = (i: object): Promise<WorkflowHandle> => world().start('peerVpc', 'peer', [i]);
const unpeer = (i: object): Promise<WorkflowHandle> => world().start('unpeerVpc', 'unpeer', [i]);
const CUSTOMER = customerVpc(REGION, CUSTOMER_VPC);
const ASSOCIATION = { hostedZoneId: ZONE, vpcId: CUSTOMER_VPC, region: REGION, crossAccount: true };
const UNDO = [
  'databaseDescribe',
  'disassociateVpcFromZone',
  'removeCustomerRoutes',
  'databaseRemoveReturnRoute',
  'databaseDeletePeering',
];
/** A check polled by retry that finds the wait not over (as src/activities/poll.ts fails). */
const stillWaiting = (what: string, status: string) =>
  ApplicationFailure.create({ type: 'StillWaiting', message: `waiting for ${what}`, details: [{ what, status }] });
/** A database side that already has the peering (made by dbops before this run: it carries dbops's tags). */
const existingPeering = async () => ({
  database: { cidr: DB_CIDR, hostedZoneId: ZONE, status: 'available' },
  peering: { peeringId: PCX, status: 'active', managed: true },
});
/**
 * No peering at prepare; from then on the peering the calling run requested: on AWS it carries
 * that run's id in its dbops:run-id tag (the run id the activity's workflow runs under).
 */
function peeringOfTheRun(peeringId: string | null = PCX) {
  let calls = 0;
  return async () => {
    const database = { cidr: DB_CIDR, hostedZoneId: ZONE, status: 'available', accountId: '222222222222' };
    if (calls++ === 0) return { database };
    return {
      database,
      peering: {
        ...(peeringId ? { peeringId } : {}),
        status: 'active',
        run: Context.current().info.workflowExecution?.runId,
      },
    };
  };
}

describe('peerVpc', () => {
  test('a full run calls every stage in order and ends with every stage done', async () => {
    const i = input();
    const h = await peer(i);
    const r = await h.result();
    expect(mocks.names()).toEqual([
      'lookUpPeering',
      'databaseInitiate',
      'acceptPeering',
      'ensureCustomerRoutes',
      'databaseReturnRoute',
      'databaseAuthorizeZone',
      'vpcAssociatedWithZone',
      'associateVpcWithZone',
    ]);
    expect(await stagesOf(h)).toEqual({
      prepare: 'done',
      initiate: 'done',
      accept: 'done',
      route: 'done',
      'associate-dns': 'done',
    });
    expect(r).toEqual({
      databaseId: i.databaseId,
      vpcId: CUSTOMER_VPC,
      region: REGION,
      peeringId: PCX,
      databaseCidr: DB_CIDR,
      hostedZoneId: ZONE,
      stagesRun: ['initiate', 'accept', 'route', 'associate-dns'],
    });
    // The peering id from initiate flows into the later stages.
    expect(mocks.args('lookUpPeering')[0][0]).toMatchObject({ region: REGION, vpcId: CUSTOMER_VPC });
    // The waits poll by retry: each call is one check ({ poll: 'once' }).
    expect(mocks.args('databaseInitiate')[0].slice(1)).toEqual([
      CUSTOMER,
      (await h.describe()).runId,
      { poll: 'once' },
    ]);
    expect(mocks.args('acceptPeering')).toEqual([
      [{ region: REGION, peeringId: PCX, timing: TIMING }, { poll: 'once' }],
    ]);
    expect(mocks.args('ensureCustomerRoutes')).toEqual([
      [
        {
          region: REGION,
          vpcId: CUSTOMER_VPC,
          cidr: DB_CIDR,
          peeringId: PCX,
          tables: 'all',
          force: false,
          timing: TIMING,
          active: true, // accept ended with it active: route does not wait for it again
        },
        { poll: 'once' },
      ],
    ]);
    expect(mocks.args('databaseReturnRoute')[0].slice(1)).toEqual([CUSTOMER, PCX]);
    // associate-dns reads once, then associates without reading again.
    expect(mocks.args('vpcAssociatedWithZone')).toEqual([[ASSOCIATION]]);
    expect(mocks.args('associateVpcWithZone')).toEqual([[ASSOCIATION, { associated: false }]]);
    expect((await progressOf(h)).result).toEqual(r);
  });

  test('stages whose work is already done show as skipped; a peering found in prepare is not checked for undo', async () => {
    mocks.set('databaseDescribe', existingPeering);
    mocks.set('databaseInitiate', async () => ({
      changed: false,
      peeringId: PCX,
      databaseCidr: DB_CIDR,
      detail: `found ${PCX} (active)`,
    }));
    mocks.set('acceptPeering', async () => ({ changed: false, detail: `${PCX} already active` }));
    mocks.set('ensureCustomerRoutes', async () => ({ changed: false, detail: 'already routed', changes: [] }));
    mocks.set('databaseReturnRoute', async () => ({ changed: false, detail: 'return route present' }));
    mocks.set('associateVpcWithZone', async () => ({ changed: false, detail: 'already associated' }));
    const h = await peer(input());
    await h.result();
    expect(await stagesOf(h)).toEqual({
      prepare: 'done',
      initiate: 'skipped',
      accept: 'skipped',
      route: 'skipped',
      'associate-dns': 'skipped',
    });
    // The association is read before associating, so an undo would know whether it was there before.
    expect(mocks.names().slice(-2)).toEqual(['vpcAssociatedWithZone', 'associateVpcWithZone']);
  });

  test('one changed half of the route stage makes the stage done', async () => {
    mocks.set('ensureCustomerRoutes', async () => ({ changed: false, detail: 'already routed', changes: [] }));
    const h = await peer(input());
    await h.result();
    const p = await progressOf(h);
    const route = p.stages.find((s) => s.name === 'route')!;
    expect(route.status).toBe('done');
    expect(route.detail).toBe('already routed; return route created');
  });

  test('named stages run alone, in canonical order, using the peering prepare found', async () => {
    mocks.set('databaseDescribe', async () => ({
      ...(await existingPeering()),
      peering: { peeringId: PCX, status: 'pending-acceptance' },
    }));
    const h = await peer(input({ stages: ['route', 'accept'] }));
    const r = await h.result();
    expect(mocks.names()).toEqual(['lookUpPeering', 'acceptPeering', 'ensureCustomerRoutes', 'databaseReturnRoute']);
    expect(mocks.args('acceptPeering')[0][0]).toMatchObject({ peeringId: PCX });
    expect(await stagesOf(h)).toEqual({
      prepare: 'done',
      initiate: 'skipped',
      accept: 'done',
      route: 'done',
      'associate-dns': 'skipped',
    });
    expect((await progressOf(h)).stages.find((s) => s.name === 'initiate')!.detail).toBe('not selected');
    expect(r).toMatchObject({ stagesRun: ['accept', 'route'], peeringId: PCX });
  });

  test('route alone on a peering prepare found pending waits for it to be active (no "active" given)', async () => {
    mocks.set('databaseDescribe', async () => ({
      ...(await existingPeering()),
      peering: { peeringId: PCX, status: 'pending-acceptance' },
    }));
    const h = await peer(input({ stages: ['route'] }));
    await h.result();
    expect(mocks.args('ensureCustomerRoutes')[0][0]).not.toHaveProperty('active');
  });

  test('a named stage that needs a peering which does not exist fails naming the stage, calling nothing', async () => {
    const h = await peer(input({ stages: ['accept'] }));
    const f = await expectFailure(h, 'StageFailed');
    expect(f.message).toMatch(
      /^stage "accept" failed: database .* has no peering with vpc-0123456789abcdef0 yet: run the initiate stage first$/,
    );
    expect(f.details).toEqual([{ stage: 'accept' }]);
    expect(mocks.names()).toEqual(['lookUpPeering']);
    expect(await stagesOf(h)).toMatchObject({
      initiate: 'skipped',
      accept: 'failed',
      route: 'pending',
      'associate-dns': 'pending',
    });
  });

  test('a failing stage fails the run as StageFailed naming it; later stages stay pending and nothing is undone', async () => {
    mocks.set('acceptPeering', failing('peering pcx-x is rejected: it cannot be accepted', 'PeeringFailed'));
    const h = await peer(input());
    const f = await expectFailure(h, 'StageFailed');
    expect(f.message).toBe('stage "accept" failed: peering pcx-x is rejected: it cannot be accepted');
    expect(f.details).toEqual([{ stage: 'accept' }]);
    expect(await stagesOf(h)).toEqual({
      prepare: 'done',
      initiate: 'done',
      accept: 'failed',
      route: 'pending',
      'associate-dns': 'pending',
    });
    expect((await progressOf(h)).stages.find((s) => s.name === 'accept')!.error).toBe(
      'peering pcx-x is rejected: it cannot be accepted',
    );
    expect(mocks.names()).toEqual(['lookUpPeering', 'databaseInitiate', 'acceptPeering']);
  });

  test('a database side without a hosted zone fails associate-dns without calling Route 53', async () => {
    mocks.set('databaseDescribe', async () => ({ database: { cidr: DB_CIDR, status: 'available' } }));
    mocks.set('databaseInitiate', async () => ({
      changed: true,
      peeringId: PCX,
      databaseCidr: DB_CIDR,
      detail: 'requested',
    }));
    const h = await peer(input());
    const f = await expectFailure(h, 'StageFailed');
    expect(f.message).toMatch(/^stage "associate-dns" failed: database .* has no private hosted zone to associate/);
    expect(mocks.names()).not.toContain('databaseAuthorizeZone');
    expect(mocks.names()).not.toContain('associateVpcWithZone');
  });

  test.each([
    ['an unknown stage', { stages: ['initiate', 'bogus'] }, /unknown stage "bogus"/],
    ['a malformed VPC id', { vpcId: 'vpc-123' }, /vpcId/],
    ['an unknown field', { extra: true }, /extra/],
  ])('invalid input (%s) fails as InvalidInput and calls no activity', async (_what, over, message) => {
    const h = await peer(input(over));
    const f = await expectFailure(h, 'InvalidInput');
    expect(f.message).toMatch(message);
    expect(mocks.names()).toEqual([]);
    expect(await stagesOf(h)).toEqual({
      prepare: 'failed',
      initiate: 'pending',
      accept: 'pending',
      route: 'pending',
      'associate-dns': 'pending',
    });
  });

  test('cancelled while initiate waits: its check in flight ends first, the peering request is deleted, the run ends cancelled', async () => {
    // A check polled by retry: it finds no peering id yet (held until the test lets it answer).
    const gate = new Gate();
    let checkEnded = false;
    let undoAfterCheck: boolean | undefined;
    mocks.set('databaseInitiate', async () => {
      await gate.hold().catch(() => undefined);
      checkEnded = true;
      throw stillWaiting('the database side to report a peering id', 'not listed yet');
    });
    const describe = peeringOfTheRun(null);
    mocks.set('databaseDescribe', async () => {
      if (mocks.names().includes('databaseInitiate')) undoAfterCheck = checkEnded;
      return describe();
    });
    const i = input();
    const h = await peer(i);
    await gate.entered;
    await h.cancel();
    gate.release();
    await expectCancelled(h);
    expect(undoAfterCheck).toBe(true); // the undo waited for the check to end (WAIT_CANCELLATION_COMPLETED)
    // No peering id yet: only the database-side request (tagged with the run) is deleted.
    expect(mocks.names()).toEqual(['lookUpPeering', 'databaseInitiate', 'databaseDescribe', 'databaseDeletePeering']);
    const runId = (await h.describe()).runId;
    expect(mocks.args('databaseInitiate')[0][2]).toBe(runId);
    expect(mocks.args('databaseDeletePeering')).toEqual([
      [expect.objectContaining({ databaseId: i.databaseId, vpcId: CUSTOMER_VPC }), CUSTOMER, { runId }],
    ]);
    expect(await stagesOf(h)).toEqual({
      prepare: 'done',
      initiate: 'failed',
      accept: 'pending',
      route: 'pending',
      'associate-dns': 'pending',
    });
    expect((await progressOf(h)).stages.find((s) => s.name === 'initiate')!.error).toBe('cancelled');
  });

  test('cancelled while the return route is being created: it completes, nothing more is created, routes and peering are undone', async () => {
    const gate = new Gate();
    mocks.set('databaseReturnRoute', gate.then({ changed: true, detail: 'return route created' }));
    mocks.set('databaseDescribe', peeringOfTheRun());
    const i = input();
    const h = await peer(i);
    await cancelWhileHeld(gate, h);
    expect(mocks.names()).toEqual([
      'lookUpPeering',
      'databaseInitiate',
      'acceptPeering',
      'ensureCustomerRoutes',
      'databaseReturnRoute',
      'databaseDescribe',
      'removeCustomerRoutes',
      'databaseRemoveReturnRoute',
      'databaseDeletePeering',
    ]);
    expect(mocks.args('databaseDeletePeering')[0][2]).toEqual({ peeringId: PCX, runId: (await h.describe()).runId });
    expect(mocks.args('removeCustomerRoutes')).toEqual([[{ region: REGION, vpcId: CUSTOMER_VPC, peeringId: PCX }]]);
    expect(mocks.args('databaseRemoveReturnRoute')).toEqual([
      [expect.objectContaining({ databaseId: i.databaseId }), CUSTOMER, PCX],
    ]);
    expect(await stagesOf(h)).toMatchObject({ route: 'done', 'associate-dns': 'failed' });
  });

  test('cancelled while associating: the association completes and is undone first, then routes and peering', async () => {
    const gate = new Gate();
    mocks.set('associateVpcWithZone', gate.then({ changed: true, detail: 'associated' }));
    mocks.set('databaseDescribe', peeringOfTheRun());
    const h = await peer(input());
    await cancelWhileHeld(gate, h);
    expect(mocks.names().slice(-5)).toEqual(UNDO);
    expect(mocks.args('disassociateVpcFromZone')).toEqual([[ASSOCIATION]]);
    expect(mocks.args('removeCustomerRoutes')).toEqual([[{ region: REGION, vpcId: CUSTOMER_VPC, peeringId: PCX }]]);
    expect(await stagesOf(h)).toEqual({
      prepare: 'done',
      initiate: 'done',
      accept: 'done',
      route: 'done',
      'associate-dns': 'done',
    });
  });

  test('a re-run of an active peering neither initiates nor accepts: both skipped without a call', async () => {
    mocks.set('databaseDescribe', existingPeering);
    const h = await peer(input());
    await h.result();
    expect(mocks.names()).not.toContain('databaseInitiate');
    expect(mocks.names()).not.toContain('acceptPeering');
    const p = await progressOf(h);
    expect(p.stages.slice(1, 3)).toMatchObject([
      { name: 'initiate', status: 'skipped', detail: `found ${PCX} (active)` },
      { name: 'accept', status: 'skipped', detail: `${PCX} is active` },
    ]);
    expect(mocks.names()).toContain('ensureCustomerRoutes');
  });

  test('the stages after prepare get the database network prepare found, not to look it up again', async () => {
    const found = {
      cidr: DB_CIDR,
      hostedZoneId: ZONE,
      status: 'available',
      accountId: '222222222222',
      vpcId: 'vpc-db',
    };
    mocks.set('databaseDescribe', async () => ({ database: found }));
    const h = await peer(input());
    await h.result();
    const resolved = { vpcId: 'vpc-db', cidr: DB_CIDR, accountId: '222222222222', hostedZoneId: ZONE };
    for (const a of ['databaseInitiate', 'ensurePeeringRoutes', 'databaseAuthorizeZone'])
      expect([a, (mocks.args(a)[0][0] as { resolved?: unknown }).resolved]).toEqual([a, resolved]);
    // prepare itself looks the database up.
    expect((mocks.args('lookUpPeering')[0][0] as { resolved?: unknown }).resolved).toBeUndefined();
  });

  test.each([
    [
      false,
      [
        'lookUpPeering',
        'databaseInitiate',
        'acceptPeering',
        'ensurePeeringRoutes',
        'vpcAssociatedWithZone',
        'associateVpcWithZone',
      ],
    ],
    [true, ['lookUpPeering', 'databaseInitiate', 'acceptPeering', 'ensurePeeringRoutes']],
  ])(
    "a database network in the customer's own account and region (associated before: %s): one route activity, no authorisation; when prepare found it associated, no zone activity",
    async (associated, calls) => {
      const found = {
        cidr: DB_CIDR,
        hostedZoneId: ZONE,
        status: 'available',
        accountId: CUSTOMER.accountId,
        vpcId: 'vpc-db',
        customerAssociated: associated,
      };
      mocks.set('databaseDescribe', async () => ({ database: found }));
      const h = await peer(input());
      await h.result();
      expect(mocks.names()).toEqual(calls);
      expect(mocks.args('ensurePeeringRoutes')[0].slice(1)).toEqual([
        CUSTOMER,
        expect.objectContaining({ cidr: DB_CIDR, peeringId: PCX, tables: 'all', force: false, active: true }),
        { poll: 'once' },
      ]);
      if (!associated)
        expect(mocks.args('associateVpcWithZone')).toEqual([
          [{ ...ASSOCIATION, crossAccount: false }, { associated: false }],
        ]);
      const assoc = (await progressOf(h)).stages.find((x) => x.name === 'associate-dns');
      expect(assoc?.detail).toBe(
        associated ? `${CUSTOMER_VPC} already associated with ${ZONE}` : `associated with ${ZONE}`,
      );
    },
  );

  test('cancelled while associating, when the VPC was associated before the run: the association is kept', async () => {
    const gate = new Gate();
    mocks.set('vpcAssociatedWithZone', gate.then(true));
    mocks.set('databaseDescribe', peeringOfTheRun());
    const h = await peer(input());
    await cancelWhileHeld(gate, h);
    // Associated already: nothing to associate, and nothing of the association to undo.
    expect(mocks.names()).not.toContain('associateVpcWithZone');
    expect(mocks.names()).not.toContain('disassociateVpcFromZone');
    expect(mocks.names().slice(-3)).toEqual([
      'removeCustomerRoutes',
      'databaseRemoveReturnRoute',
      'databaseDeletePeering',
    ]);
  });

  test("cancelled when the peering carries another run's id: nothing of it is undone", async () => {
    const gate = new Gate();
    let calls = 0;
    mocks.set('databaseDescribe', async () => ({
      database: { cidr: DB_CIDR, hostedZoneId: ZONE, status: 'available' },
      ...(calls++ === 0 ? {} : { peering: { peeringId: PCX, status: 'active', run: 'another-run' } }),
    }));
    mocks.set('acceptPeering', gate.then({ changed: true, detail: 'accepted' }));
    const h = await peer(input());
    await cancelWhileHeld(gate, h);
    expect(mocks.names().slice(-1)).toEqual(['databaseDescribe']);
    for (const u of UNDO.slice(1)) expect(mocks.names()).not.toContain(u);
  });

  test('cancelled when the peering existed before the run: nothing is undone', async () => {
    const gate = new Gate();
    mocks.set('databaseDescribe', existingPeering);
    mocks.set('databaseReturnRoute', gate.then({ changed: false, detail: 'present' }));
    const h = await peer(input());
    await cancelWhileHeld(gate, h);
    for (const u of UNDO.slice(1)) expect(mocks.names()).not.toContain(u);
  });
});

describe('unpeerVpc', () => {
  test('a full run removes the association, the routes on both sides and the peering, in order', async () => {
    mocks.set('databaseDescribe', async () => ({
      database: { cidr: DB_CIDR, hostedZoneId: ZONE, status: 'available', accountId: '222222222222' },
      peering: { peeringId: PCX, status: 'active', managed: true },
    }));
    const i = input({ cloud: { kind: 'aws', roleArn: 'arn:aws:iam::222222222222:role/db-owner' } });
    const h = await unpeer(i);
    const r = await h.result();
    expect(mocks.names()).toEqual([
      'resolveCustomerVpc',
      'databaseDescribe',
      'disassociateVpcFromZone',
      'removeCustomerRoutes',
      'databaseRemoveReturnRoute',
      'databaseDeletePeering',
    ]);
    expect(mocks.args('disassociateVpcFromZone')).toEqual([
      [{ ...ASSOCIATION, zoneOwnerRoleArn: 'arn:aws:iam::222222222222:role/db-owner' }],
    ]);
    expect(mocks.args('removeCustomerRoutes')).toEqual([[{ region: REGION, vpcId: CUSTOMER_VPC, peeringId: PCX }]]);
    // Only the peering prepare found and checked (since 0.5.0).
    expect(mocks.args('databaseDeletePeering')).toEqual([
      [expect.objectContaining({ databaseId: i.databaseId }), CUSTOMER, { peeringId: PCX }],
    ]);
    expect(await stagesOf(h)).toEqual({
      prepare: 'done',
      'disassociate-dns': 'done',
      'remove-routes': 'done',
      'delete-peering': 'done',
    });
    expect(r).toEqual({ databaseId: i.databaseId, vpcId: CUSTOMER_VPC, peeringId: PCX, removed: true });
  });

  test("a peering on an AWS network without dbops's tags is refused in prepare: nothing is removed", async () => {
    mocks.set('databaseDescribe', async () => ({
      database: { cidr: DB_CIDR, hostedZoneId: ZONE, status: 'available' },
      peering: { peeringId: PCX, status: 'active' },
    }));
    const h = await unpeer(input());
    const f = await expectFailure(h, 'StageFailed');
    expect(f.message).toMatch(/^stage "prepare" failed: peering pcx-\w+ between \S+ and vpc-\w+ was not made by dbops/);
    expect(mocks.names()).toEqual(['resolveCustomerVpc', 'databaseDescribe']);
  });

  test('nothing to remove: no zone and no peering skip their stages; a delete that finds nothing shows skipped', async () => {
    mocks.set('databaseDescribe', async () => ({ database: { cidr: DB_CIDR, status: 'available' } }));
    mocks.set('databaseDeletePeering', async () => ({ changed: false, detail: `no peering with ${DEFAULT_VPC}` }));
    const h = await unpeer(input({ vpcId: 'default' }));
    const r = await h.result();
    expect(mocks.names()).toEqual(['resolveCustomerVpc', 'databaseDescribe', 'databaseDeletePeering']);
    expect(mocks.args('databaseDeletePeering')[0][1]).toEqual(customerVpc(REGION, 'default'));
    expect(await stagesOf(h)).toEqual({
      prepare: 'done',
      'disassociate-dns': 'skipped',
      'remove-routes': 'skipped',
      'delete-peering': 'skipped',
    });
    expect(r).toMatchObject({ vpcId: DEFAULT_VPC, removed: false });
  });

  test('a failing stage fails the run naming it; the peering is not deleted', async () => {
    mocks.set('databaseDescribe', existingPeering);
    mocks.set('databaseRemoveReturnRoute', failing('database network unreachable'));
    const h = await unpeer(input());
    const f = await expectFailure(h, 'StageFailed');
    expect(f.message).toBe('stage "remove-routes" failed: database network unreachable');
    expect(f.details).toEqual([{ stage: 'remove-routes' }]);
    expect(await stagesOf(h)).toEqual({
      prepare: 'done',
      'disassociate-dns': 'done',
      'remove-routes': 'failed',
      'delete-peering': 'pending',
    });
    expect(mocks.names()).not.toContain('databaseDeletePeering');
  });

  test('invalid input (peerVpc-only stages) fails as InvalidInput and calls no activity', async () => {
    const h = await unpeer(input({ stages: ['accept'] }));
    const f = await expectFailure(h, 'InvalidInput');
    expect(f.message).toMatch(/stages/);
    expect(mocks.names()).toEqual([]);
  });
});

describe('peerVpc waits polled by retry', () => {
  test('initiate and accept check once per attempt until done; each wait is three history events', async () => {
    const attempts: Record<string, number[]> = { databaseInitiate: [], acceptPeering: [] };
    const upTo = (name: string, last: number, value: () => Promise<unknown>) => async () => {
      const n = Context.current().info.attempt;
      attempts[name].push(n);
      if (n < last) throw stillWaiting(name, 'pending');
      return value();
    };
    mocks.set('databaseInitiate', upTo('databaseInitiate', 3, peeringActivities.databaseInitiate));
    mocks.set('acceptPeering', upTo('acceptPeering', 2, peeringActivities.acceptPeering));
    const h = await peer(input());
    await h.result();
    expect(attempts).toEqual({ databaseInitiate: [1, 2, 3], acceptPeering: [1, 2] });
    const events = (await h.fetchHistory()).events ?? [];
    const of = (type: string) => {
      const ids = events
        .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === type)
        .map((e) => String(e.eventId));
      const later = events.filter((e) => {
        const a = e.activityTaskStartedEventAttributes ?? e.activityTaskCompletedEventAttributes;
        return a && ids.includes(String(a.scheduledEventId));
      });
      return ids.length + later.length;
    };
    expect([of('databaseInitiate'), of('acceptPeering'), of('ensureCustomerRoutes')]).toEqual([3, 3, 3]);
    expect(await stagesOf(h)).toMatchObject({ initiate: 'done', accept: 'done', route: 'done' });
  });

  test('initiate past its deadline fails the stage with the timeout and the last status; nothing is undone', async () => {
    // The product's own check (src/activities/poll.ts): it sees no time for another check and says so.
    mocks.set('databaseInitiate', (p: { timing: typeof TIMING }) =>
      checkOnce(
        {
          what: 'the database side to report a peering id',
          interval: p.timing.pollInterval,
          timeout: p.timing.initiateTimeout,
        },
        async () => ({ done: false, status: 'initiating-request' }),
      ),
    );
    const h = await peer(input({ timing: { ...TIMING, initiateTimeout: '3s' } }));
    const f = await expectFailure(h, 'StageFailed');
    expect(f.message).toBe(
      'stage "initiate" failed: timed out after 3s waiting for the database side to report a peering id (last status: initiating-request)',
    );
    expect(mocks.names()).not.toContain('databaseDeletePeering');
    expect(await stagesOf(h)).toMatchObject({ initiate: 'failed', accept: 'pending' });
  });
});
