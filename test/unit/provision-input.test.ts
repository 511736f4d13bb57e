import { planProvision, planDeprovision, provisionWorkflowId, sqlTarget } from '../../src/domain/provision';
import { InvalidInput } from '../../src/domain/errors';

const ok = {
  engine: 'postgres',
  server: { host: 'db.example.com', adminUser: 'admin', adminPasswordRef: 'env:PG_ADMIN_PASSWORD' },
  tenant: 'acme',
  credentialsTarget: { kind: 'file', path: '/var/lib/dbops/acme.json' },
};

test('a valid input becomes a plan with derived names and defaults', () => {
  const plan = planProvision(ok);
  expect(plan).toMatchObject({
    engine: 'postgres',
    database: 'acme',
    user: 'acme_app',
    auth: 'password',
    sslMode: 'disable',
  });
  expect(plan.server.port).toBe(5432);
  expect(provisionWorkflowId(plan)).toBe('provision-db:postgres:db.example.com:acme');
  expect(sqlTarget(ok)).toBe('postgres://db.example.com:5432/acme');
});

test('every problem is reported at once, each naming its field', () => {
  let message = '';
  try {
    planProvision({
      ...ok,
      engine: 'oracle',
      server: { ...ok.server, port: 0 },
      credentialsTarget: { kind: 'file', path: 'relative' },
    });
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidInput);
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
  expect(() => planProvision({ ...ok, server: { ...ok.server, tls: { mode: 'verify-full' } } })).toThrow(
    /server.tls.caRef is required with mode verify-full/,
  );
  expect(() =>
    planProvision({ ...ok, server: { ...ok.server, tls: { mode: 'require', certRef: 'file:/c.pem' } } }),
  ).toThrow(/certRef and keyRef go together/);
  expect(
    planProvision({ ...ok, server: { ...ok.server, tls: { mode: 'verify-ca', caRef: 'file:/ca.pem' } } }).sslMode,
  ).toBe('verify-ca');
});

test('MySQL verify-full needs a DNS name: the driver would not check an IP address against the certificate', () => {
  const tls = { mode: 'verify-full', caRef: 'file:/ca.pem' };
  for (const host of ['10.0.0.5', '::1', 'fd00::5']) {
    expect(() => planProvision({ ...ok, engine: 'mysql', server: { ...ok.server, host, tls } })).toThrow(
      new RegExp(
        `verify-full needs server\\.host to be a DNS name on MySQL/MariaDB: .*\\(${host.replace(/[.]/g, '\\.')}\\)`,
      ),
    );
  }
  expect(planProvision({ ...ok, engine: 'mysql', server: { ...ok.server, tls } }).sslMode).toBe('verify-full');
  expect(
    planProvision({
      ...ok,
      engine: 'mysql',
      server: { ...ok.server, host: '10.0.0.5', tls: { ...tls, mode: 'verify-ca' } },
    }).sslMode,
  ).toBe('verify-ca');
  expect(planProvision({ ...ok, server: { ...ok.server, host: '10.0.0.5', tls } }).sslMode).toBe('verify-full'); // PostgreSQL checks IPs
});

test('unknown fields are refused (a typo must not be silently ignored)', () => {
  expect(() => planProvision({ ...ok, tennant: 'x' })).toThrow(/Unrecognized key/);
});

test('deprovision needs a tenant or both names, and a reclaim policy', () => {
  const base = { engine: 'mysql', server: ok.server, reclaimPolicy: 'retain' };
  expect(planDeprovision({ ...base, database: 'acme', user: 'acme_app' })).toMatchObject({
    database: 'acme',
    user: 'acme_app',
    reclaimPolicy: 'retain',
  });
  expect(() => planDeprovision({ ...base, database: 'acme' })).toThrow(/give a tenant, or both database and user/);
  expect(() => planDeprovision({ ...base, tenant: 'acme', reclaimPolicy: 'shred' })).toThrow(/reclaimPolicy/);
});

describe('malformed input is refused at validate, naming the field', () => {
  const msg = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidInput);
      return (e as Error).message;
    }
    throw new Error('expected a refusal');
  };
  const dep = { engine: 'postgres', server: ok.server, tenant: 'acme', reclaimPolicy: 'delete' };

  test('unknown fields, top-level and nested, in provision and deprovision', () => {
    expect(msg(() => planProvision({ ...ok, tennant: 'x' }))).toBe('invalid input: input: Unrecognized key: "tennant"');
    expect(msg(() => planProvision({ ...ok, server: { ...ok.server, adminuser: 'x' } }))).toBe(
      'invalid input: server: Unrecognized key: "adminuser"',
    );
    expect(
      msg(() =>
        planProvision({
          ...ok,
          server: { ...ok.server, tls: { mode: 'verify-ca', caRef: 'file:/ca', carRef: 'file:/x' } },
        }),
      ),
    ).toBe('invalid input: server.tls: Unrecognized key: "carRef"');
    expect(
      msg(() => planProvision({ ...ok, server: { ...ok.server, iam: { region: 'us-east-1', roleArn: 'x' } } })),
    ).toBe('invalid input: server.iam: Unrecognized key: "roleArn"');
    expect(
      msg(() => planProvision({ ...ok, credentialsTarget: { kind: 'file', path: '/x.json', mode: '0600' } })),
    ).toBe('invalid input: credentialsTarget: Unrecognized key: "mode"');
    expect(
      msg(() =>
        planProvision({
          ...ok,
          credentialsTarget: { kind: 'aws-secretsmanager', name: 'dbops/acme', regoin: 'us-east-1' },
        }),
      ),
    ).toBe('invalid input: credentialsTarget: Unrecognized key: "regoin"');
    expect(msg(() => planDeprovision({ ...dep, reclaimpolicy: 'retain' }))).toBe(
      'invalid input: input: Unrecognized key: "reclaimpolicy"',
    );
  });

  test('over-long strings in every kind of field', () => {
    const huge = 'x'.repeat(100_000);
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ tenant: huge }, 'tenant: must be at most 200 characters'],
      [{ database: huge }, 'database: must be at most 128 characters'],
      [{ user: huge }, 'user: must be at most 128 characters'],
      [{ server: { ...ok.server, host: huge } }, 'server.host: must be at most 253 characters'],
      [{ server: { ...ok.server, adminUser: huge } }, 'server.adminUser: must be at most 128 characters'],
      [
        { server: { ...ok.server, adminPasswordRef: `env:${huge}` } },
        'server.adminPasswordRef: must be at most 1024 characters',
      ],
      [{ server: { ...ok.server, adminDatabase: huge } }, 'server.adminDatabase: must be at most 63 characters'],
      [
        { server: { ...ok.server, tls: { mode: 'verify-ca', caRef: `file:/${huge}` } } },
        'server.tls.caRef: must be at most 1024 characters',
      ],
      [{ server: { ...ok.server, iam: { region: huge } } }, 'server.iam.region: must be at most 32 characters'],
      [
        { credentialsTarget: { kind: 'file', path: `/${huge}` } },
        'credentialsTarget.path: must be at most 4096 characters',
      ],
      [
        { credentialsTarget: { kind: 'aws-secretsmanager', name: huge } },
        'credentialsTarget.name: must be at most 512 characters',
      ],
      [
        { credentialsTarget: { kind: 'aws-secretsmanager', name: 'dbops/acme', region: huge } },
        'credentialsTarget.region: must be at most 32 characters',
      ],
    ];
    for (const [fields, problem] of cases)
      expect(msg(() => planProvision({ ...ok, ...fields }))).toBe(`invalid input: ${problem}`);
    expect(msg(() => planDeprovision({ ...dep, server: { ...ok.server, host: huge } }))).toBe(
      'invalid input: server.host: must be at most 253 characters',
    );
    // long but not absurd: the engine's own limit is named
    expect(msg(() => planProvision({ ...ok, database: 'd'.repeat(70) }))).toBe(
      `invalid input: database "${'d'.repeat(70)}" is 70 bytes; postgres allows 63 for a database name`,
    );
  });

  test('wrong types', () => {
    expect(msg(() => planProvision({ ...ok, tenant: 42 }))).toBe(
      'invalid input: tenant: Invalid input: expected string, received number',
    );
    expect(msg(() => planProvision({ ...ok, server: { ...ok.server, port: '5432' } }))).toBe(
      'invalid input: server.port: Invalid input: expected number, received string',
    );
    expect(msg(() => planProvision({ ...ok, server: { ...ok.server, port: 5432.5 } }))).toBe(
      'invalid input: server.port: Invalid input: expected int, received number',
    );
    expect(msg(() => planProvision({ ...ok, server: 'db.example.com' }))).toBe(
      'invalid input: server: Invalid input: expected object, received string',
    );
    expect(msg(() => planProvision({ ...ok, auth: 'kerberos' }))).toBe(
      'invalid input: auth: Invalid option: expected one of "password"|"iam"',
    );
    expect(msg(() => planProvision({ ...ok, credentialsTarget: { kind: 's3', path: '/x' } }))).toBe(
      "invalid input: credentialsTarget.kind: Invalid discriminator value. Expected 'aws-secretsmanager' | 'file'",
    );
    expect(msg(() => planProvision([ok]))).toBe('invalid input: input: Invalid input: expected object, received array');
  });

  test('system databases are refused, given or derived from a tenant, on each engine; deprovision too', () => {
    for (const db of ['postgres', 'template0', 'Template1']) {
      expect(msg(() => planProvision({ ...ok, database: db }))).toBe(
        `invalid input: database "${db}" is a PostgreSQL system database; give another database`,
      );
    }
    expect(msg(() => planProvision({ ...ok, tenant: 'postgres' }))).toBe(
      'invalid input: database "postgres" (derived from tenant "postgres") is a PostgreSQL system database; give another tenant, or name the database',
    );
    for (const db of ['mysql', 'information_schema', 'performance_schema', 'sys']) {
      expect(msg(() => planProvision({ ...ok, engine: 'mysql', database: db }))).toBe(
        `invalid input: database "${db}" is a MySQL/MariaDB system database; give another database`,
      );
      expect(msg(() => planProvision({ ...ok, engine: 'mysql', tenant: db }))).toMatch(
        new RegExp(`database "${db}" \\(derived from tenant "${db}"\\) is a MySQL/MariaDB system database`),
      );
    }
    expect(msg(() => planDeprovision({ ...dep, tenant: 'template1' }))).toMatch(
      /database "template1" \(derived from tenant "template1"\) is a PostgreSQL system database/,
    );
    expect(
      msg(() => planDeprovision({ ...dep, tenant: undefined, engine: 'mysql', database: 'mysql', user: 'acme_app' })),
    ).toBe('invalid input: database "mysql" is a MySQL/MariaDB system database; give another database');
    // another engine's system database is an ordinary name
    expect(planProvision({ ...ok, database: 'mysql' }).database).toBe('mysql');
    expect(planProvision({ ...ok, engine: 'mysql', database: 'postgres' }).database).toBe('postgres');
  });

  test('reserved and privileged logins are refused as the tenant user, given or derived', () => {
    for (const u of [
      'postgres',
      'pg_monitor',
      'PG_anything',
      'rdsadmin',
      'rds_superuser',
      'rds_replication',
      'rds_iam',
      'rds_password',
      'azure_superuser',
      'cloudsqlsuperuser',
      'public',
    ]) {
      expect(msg(() => planProvision({ ...ok, user: u }))).toMatch(
        new RegExp(
          `^invalid input: user "${u}" is (a reserved or privileged PostgreSQL login|reserved: PostgreSQL reserves login names starting with [a-z_]+); give another user$`,
        ),
      );
    }
    for (const u of ['root', 'mysql.sys', 'mysql.session', 'mysql.infoschema', 'mariadb.sys', 'rdsadmin', 'PUBLIC']) {
      expect(msg(() => planProvision({ ...ok, engine: 'mysql', user: u }))).toMatch(
        new RegExp(
          `^invalid input: user "${u.replace('.', '\\.')}" is (a reserved or privileged MySQL/MariaDB login|reserved: MySQL/MariaDB reserves login names starting with mysql\\.); give another user$`,
        ),
      );
    }
    // tenant "pg" derives the user pg_app, which PostgreSQL reserves; MySQL does not
    expect(msg(() => planProvision({ ...ok, tenant: 'pg' }))).toBe(
      'invalid input: user "pg_app" (derived from tenant "pg") is reserved: PostgreSQL reserves login names starting with pg_; give another tenant, or name the user',
    );
    expect(planProvision({ ...ok, engine: 'mysql', tenant: 'pg' }).user).toBe('pg_app');
    expect(
      msg(() => planDeprovision({ ...dep, tenant: undefined, database: 'acme', user: 'root', engine: 'mysql' })),
    ).toMatch(/user "root" is a reserved or privileged MySQL\/MariaDB login/);
  });

  test("the server's admin user (any case) is never the tenant user; the admin database never the tenant database", () => {
    const server = { ...ok.server, adminUser: 'Acme_App' };
    expect(msg(() => planProvision({ ...ok, server }))).toBe(
      'invalid input: user "acme_app" (derived from tenant "acme") is the server\'s admin user (server.adminUser); give another tenant, or name the user',
    );
    expect(msg(() => planProvision({ ...ok, server: { ...ok.server, adminUser: 'dbadmin' }, user: 'DBAdmin' }))).toBe(
      'invalid input: user "dbadmin" is the server\'s admin user (server.adminUser); give another user',
    );
    expect(msg(() => planDeprovision({ ...dep, server }))).toMatch(
      /user "acme_app" \(derived from tenant "acme"\) is the server's admin user/,
    );
    expect(planProvision({ ...ok, server, user: 'acme_rw' }).user).toBe('acme_rw');
    expect(
      msg(() => planProvision({ ...ok, server: { ...ok.server, adminDatabase: 'defaultdb' }, tenant: 'defaultdb' })),
    ).toBe(
      'invalid input: database "defaultdb" (derived from tenant "defaultdb") is the admin\'s database (server.adminDatabase); give another tenant, or name the database',
    );
  });

  test('valid inputs of every shape still validate', () => {
    expect(
      planProvision({
        ...ok,
        engine: 'mysql',
        database: 'acme_db',
        user: 'acme_rw',
        auth: 'iam',
        server: {
          host: 'db.example.com',
          port: 3306,
          adminUser: 'root',
          adminPasswordRef: 'aws-sm:arn:aws:secretsmanager:us-east-1:123456789012:secret:db#password',
          tls: { mode: 'verify-full', caRef: 'file:/etc/ca.pem', certRef: 'env:C', keyRef: 'env:K' },
          iam: { region: 'us-east-1' },
        },
        credentialsTarget: { kind: 'aws-secretsmanager', name: 'dbops/acme', region: 'eu-west-1' },
      }),
    ).toMatchObject({ database: 'acme_db', user: 'acme_rw', auth: 'iam', sslMode: 'verify-full' });
    expect(planDeprovision({ ...dep, credentialsTarget: { kind: 'file', path: '/x.json' } })).toMatchObject({
      database: 'acme',
      user: 'acme_app',
      reclaimPolicy: 'delete',
    });
  });
});
