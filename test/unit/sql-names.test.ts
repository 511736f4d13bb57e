import {
  connectionString,
  deriveNames,
  fitName,
  mysqlGrantDatabase,
  nameCost,
  quoteMysqlIdent,
  quotePgIdent,
  validateName,
} from '../../src/domain/sql-names';

test.each([
  ['', /is empty/],
  ['a\u0000b', /contains a NUL byte/],
  ['a\nb', /contains a control character/],
  ['ünïcode', /contains a non-ASCII character/],
  ["a'b", /contains a quote/],
  ['a"b', /contains a quote/],
  ['a`b', /contains a quote/],
  ['a;b', /contains ";"/],
  ['a.b', /contains "\."/],
  ['a%b', /contains "%"/],
  ['1abc', /must start with a letter/],
  ['a-b', /may only contain a-z, 0-9 and _/],
  ['a b', /may only contain/],
])('name %j is refused: %s', (name, why) => {
  expect(() => validateName(name, 'postgres', 'database', 'database')).toThrow(why);
});

test('names are lower-cased and kept when valid', () => {
  expect(validateName('Acme_1', 'postgres', 'user', 'user')).toBe('acme_1');
});

test('length limits per engine and kind: PostgreSQL 63, MySQL database 64 (escaped), user 32', () => {
  expect(validateName('a'.repeat(63), 'postgres', 'database', 'database')).toHaveLength(63);
  expect(() => validateName('a'.repeat(64), 'postgres', 'user', 'user')).toThrow(
    /is 64 bytes; postgres allows 63 for a user name/,
  );
  expect(() => validateName('a'.repeat(33), 'mysql', 'user', 'user')).toThrow(/allows 32 for a user name/);
  expect(validateName('a'.repeat(64), 'mysql', 'database', 'database')).toHaveLength(64);
  // 60 letters + 3 underscores = 63 characters, 66 once escaped for GRANT
  const underscored = `${'a'.repeat(20)}_${'b'.repeat(20)}_${'c'.repeat(19)}_d`;
  expect(nameCost(underscored, 'mysql', 'database')).toBe(underscored.length + 3);
  expect(() => validateName(underscored, 'mysql', 'database', 'database')).toThrow(
    /once "_" is escaped for GRANT; mysql allows 64/,
  );
});

test('derived names: tenant normalised, deterministic hash suffix when too long, within every limit', () => {
  expect(deriveNames('Acme-Corp', 'postgres')).toEqual({ database: 'acme_corp', user: 'acme_corp_app' });
  expect(deriveNames('42shop', 'mysql')).toEqual({ database: 't_42shop', user: 't_42shop_app' });
  const tenant = `tenant-${'x'.repeat(100)}`;
  const a = deriveNames(tenant, 'mysql');
  expect(a).toEqual(deriveNames(tenant, 'mysql'));
  expect(a.user.length).toBeLessThanOrEqual(32);
  expect(nameCost(a.database, 'mysql', 'database')).toBeLessThanOrEqual(64);
  expect(a.user).toMatch(/^tenant_x+_[0-9a-f]{8}$/);
  const p = deriveNames(tenant, 'postgres');
  expect(p.database.length).toBe(63);
  expect(p.database).not.toBe(deriveNames(`tenant-${'x'.repeat(101)}`, 'postgres').database);
  expect(() => deriveNames('bad;tenant', 'postgres')).toThrow(/tenant "bad;tenant" contains ";"/);
});

test('fitName keeps short names and never ends the kept part with an underscore', () => {
  expect(fitName('short', 10)).toBe('short');
  expect(fitName('abc_defghijklmnop', 14)).toMatch(/^abc_d_[0-9a-f]{8}$/);
  expect(fitName('abcd_efghijklmnop', 14)).toMatch(/^abcd_[0-9a-f]{8}$/); // not abcd__…
});

test('quoting doubles the quote character; MySQL grant names escape the wildcards', () => {
  expect(quotePgIdent('we"ird')).toBe('"we""ird"');
  expect(quoteMysqlIdent('we`ird')).toBe('`we``ird`');
  expect(mysqlGrantDatabase('app_1')).toBe('`app\\_1`');
  expect(mysqlGrantDatabase('a%b')).toBe('`a\\%b`');
});

test('connection strings in the kine formats, credentials percent-encoded', () => {
  expect(
    connectionString({
      engine: 'postgres',
      host: 'db.local',
      port: 5432,
      database: 'acme',
      user: 'acme_app',
      password: 'p@ss/w:rd?',
      sslMode: 'verify-full',
    }),
  ).toBe('postgres://acme_app:p%40ss%2Fw%3Ard%3F@db.local:5432/acme?sslmode=verify-full');
  expect(
    connectionString({
      engine: 'mysql',
      host: '10.0.0.5',
      port: 3306,
      database: 'acme',
      user: 'acme_app',
      password: 'a b',
    }),
  ).toBe('mysql://acme_app:a%20b@tcp(10.0.0.5:3306)/acme');
  expect(
    connectionString({
      engine: 'mysql',
      host: 'h',
      port: 3306,
      database: 'd',
      user: 'u',
      password: 'x',
      sslMode: 'verify-full',
    }),
  ).toMatch(/\?tls=true$/);
  expect(connectionString({ engine: 'postgres', host: '::1', port: 5432, database: 'd', user: 'u' })).toBe(
    'postgres://u@[::1]:5432/d?sslmode=disable',
  );
});
