import { planProvision, planDeprovision, provisionWorkflowId, sqlTarget, InvalidInputError } from '../../src/domain/provision';

const ok = {
  engine: 'postgres',
  server: { host: 'db.example.com', adminUser: 'admin', adminPasswordRef: 'env:PG_ADMIN_PASSWORD' },
  tenant: 'acme',
  credentialsTarget: { kind: 'file', path: '/var/lib/dbops/acme.json' },
};

test('a valid input becomes a plan with derived names and defaults', () => {
  const plan = planProvision(ok);
  expect(plan).toMatchObject({ engine: 'postgres', database: 'acme', user: 'acme_app', auth: 'password', sslMode: 'disable' });
  expect(plan.server.port).toBe(5432);
  expect(provisionWorkflowId(plan)).toBe('provision-db:postgres:db.example.com:acme');
  expect(sqlTarget(ok)).toBe('postgres://db.example.com:5432/acme');
});

test('every problem is reported at once, each naming its field', () => {
  let message = '';
  try {
    planProvision({ ...ok, engine: 'oracle', server: { ...ok.server, port: 0 }, credentialsTarget: { kind: 'file', path: 'relative' } });
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidInputError);
    message = (e as Error).message;
  }
  expect(message).toMatch(/engine: /);
  expect(message).toMatch(/server\.port: /);
  expect(message).toMatch(/credentialsTarget\.path: must be an absolute path/);
});

test('a literal password where a reference belongs is refused', () => {
  expect(() => planProvision({ ...ok, server: { ...ok.server, adminPasswordRef: 'hunter2' } })).toThrow(
    /server.adminPasswordRef must be a secret reference \(env:NAME, file:\/path or aws-sm:<secret id>\), not a literal value/,
  );
});

test('TLS verification modes need a CA; client cert and key go together', () => {
  expect(() => planProvision({ ...ok, server: { ...ok.server, tls: { mode: 'verify-full' } } })).toThrow(/server.tls.caRef is required with mode verify-full/);
  expect(() => planProvision({ ...ok, server: { ...ok.server, tls: { mode: 'require', certRef: 'file:/c.pem' } } })).toThrow(/certRef and keyRef go together/);
  expect(planProvision({ ...ok, server: { ...ok.server, tls: { mode: 'verify-ca', caRef: 'file:/ca.pem' } } }).sslMode).toBe('verify-ca');
});

test('MySQL verify-full needs a DNS name: the driver would not check an IP address against the certificate', () => {
  const tls = { mode: 'verify-full', caRef: 'file:/ca.pem' };
  for (const host of ['10.0.0.5', '::1', 'fd00::5']) {
    expect(() => planProvision({ ...ok, engine: 'mysql', server: { ...ok.server, host, tls } })).toThrow(
      new RegExp(`verify-full needs server\\.host to be a DNS name on MySQL/MariaDB: .*\\(${host.replace(/[.]/g, '\\.')}\\)`),
    );
  }
  expect(planProvision({ ...ok, engine: 'mysql', server: { ...ok.server, tls } }).sslMode).toBe('verify-full');
  expect(planProvision({ ...ok, engine: 'mysql', server: { ...ok.server, host: '10.0.0.5', tls: { ...tls, mode: 'verify-ca' } } }).sslMode).toBe('verify-ca');
  expect(planProvision({ ...ok, server: { ...ok.server, host: '10.0.0.5', tls } }).sslMode).toBe('verify-full'); // PostgreSQL checks IPs
});

test('unknown fields are refused (a typo must not be silently ignored)', () => {
  expect(() => planProvision({ ...ok, tennant: 'x' })).toThrow(/Unrecognized key/);
});

test('deprovision needs a tenant or both names, and a reclaim policy', () => {
  const base = { engine: 'mysql', server: ok.server, reclaimPolicy: 'retain' };
  expect(planDeprovision({ ...base, database: 'acme', user: 'acme_app' })).toMatchObject({ database: 'acme', user: 'acme_app', reclaimPolicy: 'retain' });
  expect(() => planDeprovision({ ...base, database: 'acme' })).toThrow(/give a tenant, or both database and user/);
  expect(() => planDeprovision({ ...base, tenant: 'acme', reclaimPolicy: 'shred' })).toThrow(/reclaimPolicy/);
});
