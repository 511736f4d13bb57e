import { mysqlGrants, namesOnlyDatabase, onDatabase, reachesDatabase } from '../../src/activities/sql/mysql';
import { InvalidInput } from '../../src/domain/errors';
import { driftOutcome, planResult, change } from '../../src/domain/plan';
import {
  hasPlanFields,
  planDeprovisionRun,
  planProvisionRun,
  planReconcileDatabase,
  reconcileDatabaseWorkflowId,
} from '../../src/domain/sql-plan';

const ok = {
  engine: 'postgres',
  server: { host: 'db.example.com', adminUser: 'admin' },
  tenant: 'acme',
  credentialsTarget: { kind: 'file', path: '/var/lib/dbops/acme.json' },
};
const fingerprint = planResult([]).fingerprint;

const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidInput);
    return (e as Error).message;
  }
  throw new Error('not refused');
};

test('plan and expectPlan are split off the provisioning input and validated', () => {
  expect(planProvisionRun(ok).mode).toEqual({ plan: false });
  expect(planProvisionRun({ ...ok, plan: true })).toMatchObject({ sql: { database: 'acme' }, mode: { plan: true } });
  expect(planProvisionRun({ ...ok, expectPlan: { fingerprint } }).mode).toEqual({
    plan: false,
    expectPlan: { fingerprint },
  });
  expect(refusal(() => planProvisionRun({ ...ok, plan: true, expectPlan: { fingerprint } }))).toContain(
    'plan and expectPlan go apart',
  );
  expect(refusal(() => planProvisionRun({ ...ok, plan: 'yes' }))).toContain('plan');
  expect(refusal(() => planProvisionRun({ ...ok, expectPlan: { fingerprint: 'abc' } }))).toContain('fingerprint');
  // The rest is still the provisioning schema: unknown fields and bad names are refused.
  expect(refusal(() => planProvisionRun({ ...ok, plan: true, extra: 1 }))).toContain('extra');
  expect(planDeprovisionRun({ ...ok, reclaimPolicy: 'delete', plan: true }).sql.reclaimPolicy).toBe('delete');
});

test('only inputs with a plan field ask the plan patch', () => {
  expect(hasPlanFields(ok)).toBe(false);
  expect(hasPlanFields({ ...ok, plan: false })).toBe(true);
  expect(hasPlanFields({ ...ok, expectPlan: {} })).toBe(true);
  expect(hasPlanFields(null)).toBe(false);
});

test('a reconcile input is the provisioning input plus reportOnly, and refuses plan fields', () => {
  expect(planReconcileDatabase(ok).reportOnly).toBe(false);
  const p = planReconcileDatabase({ ...ok, reportOnly: true });
  expect(p).toMatchObject({ database: 'acme', user: 'acme_app', reportOnly: true });
  expect(reconcileDatabaseWorkflowId(p)).toBe('reconcile-db:postgres:db.example.com:acme');
  expect(refusal(() => planReconcileDatabase({ ...ok, reportOnly: 'no' }))).toContain('reportOnly');
  expect(refusal(() => planReconcileDatabase({ ...ok, plan: true }))).toContain('plan');
});

test('the DbopsDrift outcome', () => {
  const d = [change('grant', 'change', 'revoke CONNECT on database x from acme_app')];
  expect(driftOutcome([], [], false)).toBe('none');
  expect(driftOutcome(d, d, true)).toBe('reported');
  expect(driftOutcome(d, [], false)).toBe('repaired');
  expect(driftOutcome(d, d, false)).toBe('unrepaired');
});

test('MySQL grants: what is on the tenant database and what reaches beyond it', () => {
  const g = mysqlGrants([
    "GRANT USAGE ON *.* TO `acme_app`@`%` IDENTIFIED BY PASSWORD '*AB'",
    'GRANT ALL PRIVILEGES ON `acme\\_x`.* TO `acme_app`@`%`',
    'GRANT SELECT ON `other`.* TO `acme_app`@`%` WITH GRANT OPTION',
    'GRANT SELECT, INSERT ON `acme_x`.`t` TO `acme_app`@`%`',
    'GRANT EXECUTE ON PROCEDURE `other`.`p` TO `acme_app`@`%`',
  ]);
  expect(g.map((x) => [x.privs, x.on, onDatabase(x, 'acme_x')])).toEqual([
    ['ALL PRIVILEGES', '`acme\\_x`.*', true],
    ['SELECT', '`other`.*', false],
    ['SELECT, INSERT', '`acme_x`.`t`', true],
    ['EXECUTE', 'PROCEDURE `other`.`p`', false],
  ]);
  expect(g[1].grantOption).toBe(true);
  // An unescaped pattern is not the grant dbops makes: it also matches acmeXx, so it reaches beyond.
  expect(onDatabase(mysqlGrants(['GRANT ALL PRIVILEGES ON `acme_x`.* TO `a`@`%`'])[0], 'acme_x')).toBe(false);
});

test('a PUBLIC grant reaches the tenant database when its pattern covers it', () => {
  const on = (pattern: string) => mysqlGrants([`GRANT SELECT ON ${pattern} TO PUBLIC`])[0];
  expect(reachesDatabase(on('`acme\\_x`.*'), 'acme_x')).toBe(true);
  expect(reachesDatabase(on('`acme_x`.*'), 'acme_x')).toBe(true);
  expect(reachesDatabase(on('`acme%`.*'), 'acme_x')).toBe(true);
  expect(reachesDatabase(on('`acme\\_x`.*'), 'acmeXx')).toBe(false);
  expect(reachesDatabase(on('`other`.*'), 'acme_x')).toBe(false);
  expect(reachesDatabase(on('`acme_x`.`t`'), 'acme_x')).toBe(true);
});

test("only a PUBLIC grant on the tenant database alone is dbops's to revoke, not a pattern serving others", () => {
  const on = (pattern: string) => mysqlGrants([`GRANT SELECT ON ${pattern} TO PUBLIC`])[0];
  expect(namesOnlyDatabase(on('`acme\\_x`.*'), 'acme_x')).toBe(true);
  expect(namesOnlyDatabase(on('`acme_x`.*'), 'acme_x')).toBe(true);
  expect(namesOnlyDatabase(on('`acme_x`.`t`'), 'acme_x')).toBe(true);
  expect(namesOnlyDatabase(on('`acme%`.*'), 'acme_x')).toBe(false);
  expect(namesOnlyDatabase(on('`%`.*'), 'acme_x')).toBe(false);
  expect(namesOnlyDatabase(on('`acme\\_%`.*'), 'acme_x')).toBe(false);
  expect(namesOnlyDatabase(on('`ACME_X`.*'), 'acme_x')).toBe(false);
});
