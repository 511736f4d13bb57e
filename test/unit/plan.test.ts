import {
  change,
  expectPlanSchema,
  planDifference,
  planFingerprint,
  planOutdatedMessage,
  planResult,
  planTable,
  stagePlanDetail,
} from '../../src/domain/plan';

const route = change('route', 'create', 'route 10.20.0.0/16 in rtb-1 via the peering', 'missing');
const zone = change('associate-dns', 'create', 'association of vpc-1 with zone Z1');
const drop = change('ensure-user', 'delete', 'grant ALL on db other to app_user', 'granted out of band');

describe('plan fingerprints', () => {
  it('do not depend on the order the checks ran in, nor on details', () => {
    expect(planFingerprint([route, zone])).toBe(planFingerprint([zone, { ...route, detail: 'other words' }]));
    expect(planFingerprint([route, zone])).toMatch(/^plan-v1:[0-9a-f]{64}$/);
  });

  it('differ when a change differs in stage, action or what', () => {
    const base = planFingerprint([route]);
    expect(planFingerprint([{ ...route, action: 'delete' }])).not.toBe(base);
    expect(planFingerprint([{ ...route, stage: 'accept' }])).not.toBe(base);
    expect(planFingerprint([{ ...route, what: route.what.replace('rtb-1', 'rtb-2') }])).not.toBe(base);
    expect(planFingerprint([])).not.toBe(base);
  });

  it('a plan result is in canonical order, without duplicates', () => {
    const r = planResult([route, zone, route]);
    expect(r.plan).toBe(true);
    expect(r.changes).toEqual([zone, route]);
    expect(r.fingerprint).toBe(planFingerprint([route, zone]));
  });
});

describe('an apply that brings a plan', () => {
  it('matches when the live changes are the planned ones', () => {
    expect(planDifference({ fingerprint: planFingerprint([route, zone]) }, [zone, route])).toBeUndefined();
  });

  it('names what is new and what is gone', () => {
    const expected = expectPlanSchema().parse(planResult([route, zone]));
    const diff = planDifference(expected, [route, drop]);
    expect(diff).toEqual({ added: [drop], gone: [zone] });
    const msg = planOutdatedMessage(expected, [route, drop], diff!);
    expect(msg).toContain('no longer matches plan');
    expect(msg).toContain('now also: delete grant ALL on db other to app_user');
    expect(msg).toContain('no longer: create association of vpc-1 with zone Z1');
  });

  it('with only a fingerprint, the refusal lists the live plan', () => {
    const expected = { fingerprint: planFingerprint([route]) };
    const diff = planDifference(expected, [zone])!;
    expect(planOutdatedMessage(expected, [zone], diff)).toContain(
      'now planned: create association of vpc-1 with zone Z1',
    );
  });

  it('refuses a plan whose changes do not match its fingerprint, unknown fields and bad fingerprints', () => {
    const r = planResult([route]);
    expect(expectPlanSchema().safeParse({ ...r, changes: [zone] }).success).toBe(false);
    expect(expectPlanSchema().safeParse({ fingerprint: r.fingerprint, extra: 1 }).success).toBe(false);
    expect(expectPlanSchema().safeParse({ fingerprint: 'sha256:abc' }).success).toBe(false);
    expect(expectPlanSchema().safeParse({ fingerprint: r.fingerprint, changes: r.changes }).success).toBe(true);
  });
});

describe('plan texts', () => {
  it('are bounded and free of control characters', () => {
    const c = change('s', 'change', `x\u001b[31m${'y'.repeat(1000)}`);
    expect(c.what).not.toContain('\u001b');
    expect(c.what.length).toBeLessThanOrEqual(300);
  });

  it('render as a stage detail and as a table', () => {
    expect(stagePlanDetail([route, zone], 'route')).toBe(
      'would create route 10.20.0.0/16 in rtb-1 via the peering (missing)',
    );
    expect(stagePlanDetail([route], 'accept')).toBe('no change');
    const table = planTable([route, zone]);
    expect(table.split('\n')[0]).toMatch(/^stage\s+action\s+what\s+detail$/);
    expect(table).toContain('associate-dns  create  association of vpc-1 with zone Z1');
    expect(planTable([])).toContain('no changes');
  });
});
