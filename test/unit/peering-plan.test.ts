import { InvalidInput } from '../../src/domain/errors';
import { planResult } from '../../src/domain/plan';
import {
  asksForPlan,
  expectPlanRefusal,
  peeringChanges,
  planMode,
  planReconcilePeering,
  routeAction,
  stagePlanOutcome,
  type PeeringFacts,
} from '../../src/domain/peering-plan';
import { PEERING_STAGES } from '../../src/domain/peering';

const base: PeeringFacts = {
  stages: PEERING_STAGES,
  databaseId: 'db-1',
  customerVpcId: 'vpc-c',
  databaseVpcId: 'vpc-d',
  databaseCidr: '10.128.0.0/19',
  force: false,
  routeTables: 'all',
  peering: { peeringId: 'pcx-1', status: 'active' },
  peeringState: 'active',
  customerRoutes: [
    {
      routeTableId: 'rtb-a',
      cidr: '10.128.0.0/19',
      existing: { peeringId: 'pcx-1', target: 'pcx-1', blackhole: false },
    },
  ],
  returnRoutes: [
    { routeTableId: 'rtb-d', cidr: '10.1.0.0/16', existing: { peeringId: 'pcx-1', target: 'pcx-1', blackhole: false } },
  ],
  zone: { hostedZoneId: 'Z1', associated: true },
};

test('routeAction follows the route stage: same target present, blackhole replaced, other target refused unless forced', () => {
  expect(routeAction(undefined, 'pcx-1', false)).toBe('created');
  expect(routeAction({ peeringId: 'pcx-1', target: 'pcx-1', blackhole: false }, 'pcx-1', false)).toBe('present');
  expect(routeAction({ peeringId: 'pcx-1', target: 'pcx-1', blackhole: true }, 'pcx-1', false)).toBe(
    'replaced-blackhole',
  );
  expect(routeAction({ target: 'igw-1', blackhole: false }, 'pcx-1', false)).toBe('conflict');
  expect(routeAction({ target: 'igw-1', blackhole: false }, 'pcx-1', true)).toBe('replaced-forced');
  // No peering yet: a gateway route (no peering id) is not "ours".
  expect(routeAction({ target: 'igw-1', blackhole: false }, undefined, false)).toBe('conflict');
});

test('a peering as planned: no changes, nothing to repair', () => {
  expect(peeringChanges(base)).toEqual({
    changes: [],
    blocked: [],
    after: {},
    repairable: { customerRoutes: false, returnRoutes: false, association: false },
  });
});

test('drift on an active peering: a missing route and association are changes a reconcile may repair', () => {
  const r = peeringChanges({
    ...base,
    customerRoutes: [...base.customerRoutes, { routeTableId: 'rtb-b', cidr: '10.128.0.0/19' }],
    zone: { hostedZoneId: 'Z1', associated: false },
  });
  expect(r.changes).toEqual([
    { stage: 'route', action: 'create', what: 'route 10.128.0.0/19 in rtb-b → pcx-1', detail: 'missing' },
    { stage: 'associate-dns', action: 'create', what: 'association of vpc-c with zone Z1', detail: 'not associated' },
  ]);
  expect(r.repairable).toEqual({ customerRoutes: true, returnRoutes: false, association: true });
});

test('a conflicting route is blocked and makes its side unrepairable; a pending peering is to accept; no zone is blocked', () => {
  const r = peeringChanges({
    ...base,
    peeringState: 'pending-acceptance',
    customerRoutes: [
      { routeTableId: 'rtb-a', cidr: base.databaseCidr, existing: { target: 'igw-1', blackhole: false } },
    ],
    zone: undefined,
  });
  expect(r.changes).toEqual([
    { stage: 'accept', action: 'change', what: 'accept pcx-1', detail: 'pending-acceptance → active' },
  ]);
  expect(r.blocked.map((c) => [c.stage, c.what])).toEqual([
    ['route', 'route 10.128.0.0/19 in rtb-a → pcx-1'],
    ['associate-dns', 'association of vpc-c with the zone of db-1'],
  ]);
  expect(r.repairable).toEqual({ customerRoutes: false, returnRoutes: false, association: false });
  expect(stagePlanOutcome(r, 'route').problem).toMatch(/^would refuse: route: route 10.128.0.0\/19 in rtb-a .*igw-1/);
});

test('no peering: initiate creates it, later stages say they come after it, and only the selected stages plan', () => {
  const r = peeringChanges({
    ...base,
    peering: undefined,
    peeringState: undefined,
    customerRoutes: [{ routeTableId: 'rtb-a', cidr: base.databaseCidr }],
    returnRoutes: 'managed',
  });
  expect(r.changes.map((c) => `${c.stage} ${c.action} ${c.what}`)).toEqual([
    'initiate create VPC peering vpc-d ↔ vpc-c',
    'accept change accept VPC peering vpc-d ↔ vpc-c',
    'route create route 10.128.0.0/19 in rtb-a → the new peering',
  ]);
  expect(stagePlanOutcome(r, 'route').detail).toBe(
    'after initiate creates the peering: would create route 10.128.0.0/19 in rtb-a → the new peering (missing)',
  );
  expect(peeringChanges({ ...base, peering: undefined, stages: ['associate-dns'] }).changes).toEqual([]);
});

test('plan mode: plan and expectPlan are exclusive; asked only when the raw input names one', () => {
  const { fingerprint } = planResult([]);
  expect(planMode({})).toEqual({ kind: 'apply' });
  expect(planMode({ plan: true })).toEqual({ kind: 'plan' });
  expect(planMode({ expectPlan: { fingerprint } })).toEqual({ kind: 'expect', expect: { fingerprint } });
  expect(() => planMode({ plan: true, expectPlan: { fingerprint } })).toThrow(InvalidInput);
  expect(asksForPlan({ databaseId: 'x' })).toBe(false);
  expect(asksForPlan({ plan: false })).toBe(true);
  expect(asksForPlan(null)).toBe(false);
});

test('expectPlanRefusal: outdated before blocked; equal and unblocked goes on', () => {
  const live = peeringChanges({ ...base, zone: { hostedZoneId: 'Z1', associated: false } });
  const plan = planResult(live.changes);
  expect(expectPlanRefusal(plan, live)).toBeUndefined();
  const stale = planResult([]);
  expect(expectPlanRefusal(stale, live)).toMatchObject({
    type: 'PlanOutdated',
    message: expect.stringContaining('now also: create association of vpc-c with zone Z1'),
  });
  const blocked = { changes: [], blocked: live.changes };
  expect(expectPlanRefusal(stale, blocked)?.type).toBe('PlanBlocked');
});

test('the reconcile input is peerVpc input plus reportOnly, without plan fields', () => {
  const input = { databaseId: 'db-1', region: 'us-east-1', vpcId: 'default', cloud: { kind: 'aws' } };
  expect(planReconcilePeering({ ...input, reportOnly: true })).toEqual({ peer: input, reportOnly: true });
  expect(() => planReconcilePeering({ ...input, plan: true })).toThrow(InvalidInput);
  expect(() => planReconcilePeering({ ...input, reportOnly: 'yes' })).toThrow(InvalidInput);
});
