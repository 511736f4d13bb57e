import { InvalidInput } from '../../src/domain/errors';
import { otherLogin, planRotation, rotateWorkflowId, standbyName } from '../../src/domain/rotation';

const ok = {
  engine: 'postgres',
  server: { host: 'db.example.com', adminUser: 'admin', adminPasswordRef: 'env:PG_ADMIN_PASSWORD' },
  tenant: 'acme',
  credentialsTarget: { kind: 'file', path: '/var/lib/dbops/acme.json' },
};

const problem = (input: unknown): string => {
  try {
    planRotation(input);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidInput);
    return (e as Error).message;
  }
  throw new Error('accepted');
};

test('a valid input becomes a plan: the tenant names, its two logins, the grace period (default 1h)', () => {
  const plan = planRotation(ok);
  expect(plan).toMatchObject({
    engine: 'postgres',
    database: 'acme',
    user: 'acme_app',
    logins: { primary: 'acme_app', standby: 'acme_app_b' },
    gracePeriod: '1h',
    graceMs: 3_600_000,
    auth: 'password',
  });
  expect(plan.server.port).toBe(5432);
  expect(rotateWorkflowId(plan)).toBe('rotate-db:postgres:db.example.com:acme');
  expect(planRotation({ ...ok, gracePeriod: '3s' }).graceMs).toBe(3000);
  expect(planRotation({ ...ok, gracePeriod: '7d' }).graceMs).toBe(7 * 86_400_000);
});

test('the login to switch to is always the other one; an unknown login is an error', () => {
  const plan = planRotation(ok);
  expect(otherLogin(plan, 'acme_app')).toBe('acme_app_b');
  expect(otherLogin(plan, 'acme_app_b')).toBe('acme_app');
  expect(() => otherLogin(plan, 'someone')).toThrow(/neither/);
  expect(standbyName('x')).toBe('x_b');
});

test('bad input is refused with every problem named', () => {
  expect(problem({ ...ok, gracePeriod: '500ms' })).toMatch(/gracePeriod 500ms must be between 1s and 7d/);
  expect(problem({ ...ok, gracePeriod: '8d' })).toMatch(/between 1s and 7d/);
  expect(problem({ ...ok, gracePeriod: 'soon' })).toMatch(/gracePeriod.*must be a duration/);
  expect(problem({ ...ok, credentialsTarget: undefined })).toMatch(/credentialsTarget/);
  expect(problem({ ...ok, auth: 'iam' })).toMatch(/auth/); // strict: rotation is for password logins
  expect(problem({ ...ok, tenant: undefined, user: 'admin', database: 'acme' })).toMatch(/admin user/);
  expect(problem({ ...ok, tenant: undefined, user: 'postgres', database: 'acme' })).toMatch(/postgres/);
});

test("a user with no room for its twin's _b is refused, per engine limit", () => {
  const u31 = `u${'x'.repeat(30)}`; // 31 bytes: its twin is 33, over MySQL's 32
  expect(problem({ ...ok, engine: 'mysql', tenant: undefined, database: 'acme', user: u31 })).toMatch(
    /no room for its rotation twin/,
  );
  expect(planRotation({ ...ok, tenant: undefined, database: 'acme', user: u31 }).logins.standby).toBe(`${u31}_b`);
  const u62 = `u${'x'.repeat(61)}`;
  expect(problem({ ...ok, tenant: undefined, database: 'acme', user: u62 })).toMatch(/63/);
  // The twin may not be the admin login either.
  expect(problem({ ...ok, server: { ...ok.server, adminUser: 'acme_app_b' } })).toMatch(/admin user/);
});
