/** The pure ownership rules the SQL steps share: marks, who may touch what, MySQL grant lines. */
import { ApplicationFailure } from '@temporalio/common';
import { classifyMysqlGrants } from '../../src/activities/sql/mysql';
import { judgeOwnership, makeMark, parseMark, type ObjectFacts } from '../../src/activities/sql/types';
import type { SqlPlan } from '../../src/domain/provision';

const plan = (over: Partial<SqlPlan> = {}): SqlPlan => ({
  engine: 'postgres',
  server: { host: 'db.internal', port: 5432, adminUser: 'admin' },
  database: 'acme',
  user: 'acme_app',
  auth: 'password',
  sslMode: 'disable',
  ...over,
});
const server = (adopt = false) => ({ adminUser: 'admin', adminDatabase: 'postgres', adopt, entryName: 'main' });
const ours = makeMark({ database: 'acme', user: 'acme_app' });

function refusal(fn: () => unknown): { type?: string; message: string; nonRetryable: boolean } {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ApplicationFailure);
    const f = e as ApplicationFailure;
    return { type: f.type ?? undefined, message: f.message, nonRetryable: f.nonRetryable === true };
  }
  throw new Error('expected a refusal');
}

describe('marks', () => {
  test('round trip; anything else is no mark', () => {
    expect(parseMark(JSON.stringify(makeMark({ database: 'a', user: 'b' }, 'file:/x.json')))).toEqual({
      managedBy: 'dbops',
      database: 'a',
      user: 'b',
      credentials: 'file:/x.json',
    });
    for (const c of [
      null,
      '',
      'hand made',
      '{"managedBy":"someone","database":"a","user":"b"}',
      '{"managedBy":"dbops","database":1,"user":"b"}',
      '[]',
    ]) {
      expect(parseMark(c)).toBeUndefined();
    }
  });
});

describe('judgeOwnership', () => {
  const exists = (f: Partial<ObjectFacts> = {}): ObjectFacts => ({ exists: true, ...f });

  test('absent and own objects pass; an unmarked one needs adopt; deprovision never adopts', () => {
    expect(
      judgeOwnership(plan(), server(), { database: { exists: false }, user: { exists: false } }, 'provision'),
    ).toEqual({ database: 'absent', user: 'absent' });
    expect(
      judgeOwnership(
        plan(),
        server(),
        { database: exists({ mark: ours }), user: exists({ mark: ours }) },
        'deprovision',
      ),
    ).toEqual({ database: 'ours', user: 'ours' });
    const r = refusal(() => judgeOwnership(plan(), server(), { database: exists() }, 'provision'));
    expect(r).toMatchObject({ type: 'NotOwnedByDbops', nonRetryable: true });
    expect(r.message).toMatch(/adopt: true on databaseServers\.main in DBOPS_CONFIG/);
    expect(judgeOwnership(plan(), server(true), { database: exists() }, 'provision').database).toBe('adopt');
    expect(refusal(() => judgeOwnership(plan(), server(true), { database: exists() }, 'deprovision')).type).toBe(
      'NotOwnedByDbops',
    );
  });

  test("another tenant's mark is refused, adopt or not", () => {
    const other = makeMark({ database: 'other', user: 'acme_app' });
    for (const adopt of [false, true]) {
      expect(
        refusal(() => judgeOwnership(plan(), server(adopt), { user: exists({ mark: other }) }, 'provision')),
      ).toMatchObject({ type: 'NotOwnedByDbops' });
    }
  });

  test('protected names and objects, whatever the mark or adopt says', () => {
    const cases: Array<[Partial<SqlPlan>, { database?: ObjectFacts; user?: ObjectFacts }]> = [
      [{ database: 'template1' }, { database: { exists: false } }],
      [{ database: 'postgres' }, { database: exists({ mark: makeMark({ database: 'postgres', user: 'acme_app' }) }) }],
      [{ user: 'ADMIN' }, { user: { exists: false } }],
      [{ user: 'pg_monitor' }, { user: exists() }],
      [{ engine: 'mysql', database: 'mysql' }, { database: { exists: false } }],
      [{ engine: 'mysql', database: '_dbops' }, { database: { exists: false } }],
      [{ engine: 'mysql', user: 'root' }, { user: { exists: false } }],
      [{}, { user: exists({ mark: ours, protectedReason: 'it is a privileged role (SUPERUSER)' }) }],
      [{}, { user: exists({ adoptBlocker: 'it owns objects elsewhere' }) }],
    ];
    for (const [over, facts] of cases) {
      const adopt = facts.user?.adoptBlocker !== undefined;
      expect(refusal(() => judgeOwnership(plan(over), server(adopt), facts, 'provision')).type).toBe('ProtectedObject');
    }
    // the session's own login counts as the admin too
    expect(
      refusal(() =>
        judgeOwnership(plan({ user: 'session_admin' }), server(), { user: { exists: false } }, 'provision', [
          'session_admin',
        ]),
      ).type,
    ).toBe('ProtectedObject');
  });
});

describe('classifyMysqlGrants', () => {
  test('USAGE and grants on the tenant database (escaped) are fine', () => {
    expect(
      classifyMysqlGrants(
        [
          "GRANT USAGE ON *.* TO `acme_app`@`%` IDENTIFIED BY PASSWORD '*ABC'",
          'GRANT ALL PRIVILEGES ON `acme\\_db`.* TO `acme_app`@`%`',
          'GRANT SELECT ON `acme_db`.`t` TO `acme_app`@`%`',
        ],
        'acme_db',
      ),
    ).toEqual({});
  });

  test('global privileges, PROXY and roles make an account untouchable (MariaDB and MySQL 8 forms)', () => {
    for (const line of [
      'GRANT RELOAD ON *.* TO `u`@`%`',
      'GRANT USAGE ON *.* TO `u`@`%` WITH GRANT OPTION',
      'GRANT BACKUP_ADMIN,SYSTEM_VARIABLES_ADMIN ON *.* TO `u`@`%`',
      "GRANT PROXY ON ''@'%' TO 'u'@'%'",
      'GRANT `dba` TO `u`@`%`',
      'GRANT `dba`@`%` TO `u`@`%`',
    ]) {
      expect(classifyMysqlGrants(['GRANT USAGE ON *.* TO `u`@`%`', line], 'acme_db').protectedReason).toBeDefined();
    }
  });

  test('privileges on other databases (or an unescaped wildcard pattern) block adoption only', () => {
    for (const line of [
      'GRANT SELECT ON `mysql`.* TO `u`@`%`',
      'GRANT ALL PRIVILEGES ON `acme_db`.* TO `u`@`%`',
      'GRANT EXECUTE ON PROCEDURE `other`.`p` TO `u`@`%`',
    ]) {
      const r = classifyMysqlGrants([line], 'acme_db');
      expect(r.protectedReason).toBeUndefined();
      expect(r.adoptBlocker).toMatch(/outside database acme_db/);
    }
  });
});
