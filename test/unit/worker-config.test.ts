/** The worker configuration (validation, default) and the Authority's binding rules. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { Authority, isLoopbackHost } from '../../src/authority';
import {
  describeConfig,
  loadWorkerConfig,
  localDevelopmentConfig,
  workerConfig,
  WorkerConfigError,
  type WorkerConfigInput,
} from '../../src/worker-config';

const resolved: string[] = [];
const resolver = async (ref: string) => {
  resolved.push(ref);
  return `value-of-${ref}`;
};

function authority(input: WorkerConfigInput): Authority {
  resolved.splice(0);
  return new Authority(workerConfig(input, 'test'), resolver);
}

function failure(fn: () => unknown): ApplicationFailure {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ApplicationFailure);
    return err as ApplicationFailure;
  }
  throw new Error('expected a refusal');
}

const CONFIG: WorkerConfigInput = {
  dblab: {
    staging: {
      endpoint: 'https://dblab.example.com:2345/',
      token: 'env:DBLAB_TOKEN',
      sourcePassword: 'env:DB_PASSWORD',
      sources: ['us-east-1:production-db', 'eu-west-1:analytics-*'],
    },
  },
  databaseServers: {
    main: {
      engine: 'postgres',
      host: 'db.internal',
      adminUser: 'dbops',
      adminPassword: 'aws-sm:prod/pg#password',
      tls: { mode: 'verify-full', ca: 'file:/etc/ssl/rds.pem' },
    },
  },
  aerospikeCloud: {
    prod: {
      apiUrl: 'https://api.example.com/v2',
      tokenUrl: 'https://auth.example.com/oauth/token',
      clientId: 'env:ASC_ID',
      clientSecret: 'env:ASC_SECRET',
    },
  },
  aws: { assumeRoles: ['arn:aws:iam::123456789012:role/dbops-db'] },
  credentials: { directories: ['/var/lib/dbops/credentials'], secretsManagerPrefixes: ['dbops/'] },
};

describe('worker configuration', () => {
  test('every problem names its entry', () => {
    const bad = () =>
      workerConfig(
        {
          dblab: { staging: { endpoint: 'ftp://x', token: 'hunter2' } },
          aerospikeCloud: {
            Prod: { apiUrl: 'https://a', tokenUrl: 'https://t', clientId: 'env:A', clientSecret: 'env:B' },
          },
          databaseServers: {
            a: { engine: 'postgres', host: 'h', adminUser: 'u', tls: { mode: 'verify-ca' } },
            b: { engine: 'postgres', host: 'H', port: 5432, adminUser: 'u' },
          },
          credentials: { directories: ['relative/dir'] },
          extra: true,
        },
        'DBOPS_CONFIG /etc/dbops.yaml',
      );
    expect(bad).toThrow(WorkerConfigError);
    const msg = (() => {
      try {
        bad();
      } catch (e) {
        return (e as Error).message;
      }
      return '';
    })();
    expect(msg).toMatch(/^DBOPS_CONFIG \/etc\/dbops.yaml: /);
    expect(msg).toContain('aerospikeCloud.Prod: Invalid key in record');
    expect(msg).toContain('dblab.staging.endpoint: must be an http(s) URL');
    expect(msg).toContain('dblab.staging.token: must be a secret reference');
    expect(msg).toContain('credentials.directories.0: must be an absolute path');
    expect(msg).toContain('Unrecognized key: "extra"');
  });

  test('semantic problems name their entry too', () => {
    expect(() =>
      workerConfig(
        {
          databaseServers: {
            a: { engine: 'postgres', host: 'h', adminUser: 'u', tls: { mode: 'verify-ca' } },
            b: { engine: 'postgres', host: 'H', port: 5432, adminUser: 'u' },
            c: { engine: 'postgres', host: 'h', port: 5432, adminUser: 'u' },
          },
        },
        'x',
      ),
    ).toThrow(
      /^x: databaseServers.a.tls.ca is required with mode verify-ca; databaseServers.b: the same server as databaseServers.a; databaseServers.c: the same server as databaseServers.b$/,
    );
  });

  test('loaded from a YAML file named by DBOPS_CONFIG; an unreadable file stops the worker', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-cfg-'));
    const file = path.join(dir, 'worker.yaml');
    fs.writeFileSync(
      file,
      'dblab:\n  staging:\n    endpoint: https://dblab.example.com:2345\n    token: env:DBLAB_TOKEN\n    sources: [us-east-1:prod]\n',
    );
    const c = loadWorkerConfig({ DBOPS_CONFIG: file }, dir);
    expect(Object.keys(c.dblab)).toEqual(['staging']);
    expect(c.allowLoopbackDatabases).toBe(false);
    expect(() => loadWorkerConfig({ DBOPS_CONFIG: path.join(dir, 'missing.yaml') }, dir)).toThrow(
      /cannot read it \(ENOENT\)/,
    );
    fs.writeFileSync(file, 'dblab: [');
    expect(() => loadWorkerConfig({ DBOPS_CONFIG: file }, dir)).toThrow(/not valid YAML/);
    fs.rmSync(dir, { recursive: true });
  });

  test('the default without DBOPS_CONFIG binds no secret, allows loopback servers and <data dir>/credentials only', () => {
    const c = loadWorkerConfig({}, '/srv/dbops-data');
    expect(c).toEqual(localDevelopmentConfig('/srv/dbops-data'));
    expect(c.dblab).toEqual({});
    expect(c.databaseServers).toEqual({});
    expect(c.aerospikeCloud).toEqual({});
    expect(c.assumeRoles).toEqual([]);
    expect(c.credentials).toMatchObject({ directories: ['/srv/dbops-data/credentials'], secretsManagerPrefixes: [] });
    expect(describeConfig(c)).toContain('unlisted loopback servers without secrets');
  });
});

describe('the authority binds each secret to one destination', () => {
  test('DBLab: by name, or by repeating the configured endpoint and token', async () => {
    const a = authority(CONFIG);
    expect(a.dblab({ instance: 'staging' }).endpoint).toBe('https://dblab.example.com:2345');
    const byEndpoint = a.dblab({
      apiEndpoint: 'https://DBLAB.example.com:2345',
      token: 'env:DBLAB_TOKEN',
      sourcePassword: 'env:DB_PASSWORD',
    });
    expect(await byEndpoint.token()).toBe('value-of-env:DBLAB_TOKEN');
    expect(await byEndpoint.sourcePassword()).toBe('value-of-env:DB_PASSWORD');
    expect(failure(() => a.dblab({ instance: 'prod' }))).toMatchObject({
      type: 'DestinationNotConfigured',
      nonRetryable: true,
    });
    const elsewhere = failure(() =>
      a.dblab({ apiEndpoint: 'https://evil.example.com:2345', token: 'env:DBLAB_TOKEN' }),
    );
    expect(elsewhere).toMatchObject({ type: 'SecretNotBound', nonRetryable: true });
    expect(elsewhere.message).toContain(
      'dblab.token env:DBLAB_TOKEN is not bound to DBLab https://evil.example.com:2345',
    );
    // Another port or scheme on the same host is another destination.
    expect(
      failure(() => a.dblab({ apiEndpoint: 'http://dblab.example.com:2345', token: 'env:DBLAB_TOKEN' })).type,
    ).toBe('SecretNotBound');
    expect(
      failure(() => a.dblab({ apiEndpoint: 'https://dblab.example.com:2345', token: 'env:AWS_SECRET_ACCESS_KEY' }))
        .message,
    ).toContain('binds another token');
    expect(
      failure(() => a.dblab({ instance: 'staging', sourcePassword: 'env:AWS_SECRET_ACCESS_KEY' })).message,
    ).toContain('source.password env:AWS_SECRET_ACCESS_KEY is not bound');
    expect(resolved).toEqual(['env:DBLAB_TOKEN', 'env:DB_PASSWORD']); // nothing resolved for a refusal
  });

  test('database servers: the input must agree with the configured entry; refs may be left out', async () => {
    const a = authority(CONFIG);
    const s = a.sqlServer('postgres', { host: 'db.internal', adminUser: 'dbops', tls: { mode: 'verify-full' } });
    expect(s).toMatchObject({ name: 'main', port: 5432, tlsMode: 'verify-full', adopt: false });
    expect(await s.adminPassword()).toBe('value-of-aws-sm:prod/pg#password');
    expect((await s.tlsMaterial()).ca).toBe('value-of-file:/etc/ssl/rds.pem');
    const cases: Array<[Parameters<Authority['sqlServer']>[1], string, RegExp]> = [
      [
        { host: 'db.internal', adminUser: 'dbops' },
        'ServerConfigMismatch',
        /server.tls.mode disable \(none given\) differs/,
      ],
      [
        { host: 'db.internal', adminUser: 'postgres', tls: { mode: 'verify-full' } },
        'ServerConfigMismatch',
        /server.adminUser postgres differs/,
      ],
      [
        { host: 'db.internal', adminUser: 'dbops', adminPasswordRef: 'env:OTHER', tls: { mode: 'verify-full' } },
        'SecretNotBound',
        /server.adminPasswordRef env:OTHER is not bound to postgres:\/\/db.internal:5432/,
      ],
      [
        { host: 'db.internal', port: 6432, adminUser: 'dbops', adminPasswordRef: 'aws-sm:prod/pg#password' },
        'SecretNotBound',
        /not bound to postgres:\/\/db.internal:6432/,
      ],
      [
        { host: 'evil.example.com', adminUser: 'dbops' },
        'DestinationNotConfigured',
        /database server postgres:\/\/evil.example.com:5432 is not configured/,
      ],
      [{ host: '127.0.0.1', adminUser: 'postgres' }, 'DestinationNotConfigured', /not configured/],
    ];
    for (const [req, type, msg] of cases) {
      const f = failure(() => a.sqlServer('postgres', req));
      expect(f.type).toBe(type);
      expect(f.message).toMatch(msg);
    }
    expect(
      failure(() => a.sqlServer('mysql', { host: 'db.internal', adminUser: 'dbops', tls: { mode: 'verify-full' } }))
        .type,
    ).toBe('DestinationNotConfigured');
  });

  test('local development: unlisted loopback servers only, and only without secrets', () => {
    const a = new Authority(localDevelopmentConfig('/tmp/x'), resolver);
    expect(a.sqlServer('postgres', { host: '127.0.0.1', adminUser: 'postgres' }).name).toBeUndefined();
    expect(a.sqlServer('mysql', { host: 'localhost', port: 3307, adminUser: 'root' }).port).toBe(3307);
    expect(
      failure(() =>
        a.sqlServer('postgres', { host: '127.0.0.1', adminUser: 'postgres', adminPasswordRef: 'env:PGPASSWORD' }),
      ).type,
    ).toBe('SecretNotBound');
    expect(failure(() => a.sqlServer('postgres', { host: 'db.example.com', adminUser: 'postgres' })).type).toBe(
      'DestinationNotConfigured',
    );
    expect(failure(() => a.dblab({ apiEndpoint: 'http://127.0.0.1:2345', token: 'env:DBLAB_TOKEN' })).type).toBe(
      'SecretNotBound',
    );
    expect(isLoopbackHost('127.8.9.10')).toBe(true);
    expect(isLoopbackHost('[::1]')).toBe(true);
    expect(isLoopbackHost('127.0.0.1.evil.com')).toBe(false);
    expect(isLoopbackHost('0.0.0.0')).toBe(false);
  });

  test('Aerospike Cloud: both URLs and both references must be the configured ones', async () => {
    const a = authority(CONFIG);
    const inline = {
      apiUrl: 'https://api.example.com/v2/',
      tokenUrl: 'https://auth.example.com/oauth/token',
      clientIdRef: 'env:ASC_ID',
      clientSecretRef: 'env:ASC_SECRET',
    };
    expect(await a.aerospike(inline).clientSecret()).toBe('value-of-env:ASC_SECRET');
    expect(a.aerospike({ account: 'prod' }).apiUrl).toBe('https://api.example.com/v2');
    expect(failure(() => a.aerospike({ ...inline, tokenUrl: 'https://evil.example.com/token' })).type).toBe(
      'SecretNotBound',
    );
    expect(failure(() => a.aerospike({ ...inline, clientSecretRef: 'env:AWS_SECRET_ACCESS_KEY' })).message).toContain(
      'cloud.clientSecretRef env:AWS_SECRET_ACCESS_KEY is not bound',
    );
    expect(failure(() => a.aerospike({ account: 'other' })).type).toBe('DestinationNotConfigured');
  });

  test('DBLab sources: a refresh may clone only what the entry lists; public clones only when allowed', () => {
    const a = authority(CONFIG);
    expect(a.dblab({ instance: 'staging', source: { region: 'us-east-1', identifier: 'production-db' } }).name).toBe(
      'staging',
    );
    expect(a.dblab({ instance: 'staging', source: { region: 'eu-west-1', identifier: 'analytics-7' } }).name).toBe(
      'staging',
    );
    for (const source of [
      { region: 'us-east-1', identifier: 'billing-db' },
      { region: 'us-west-2', identifier: 'production-db' },
      { region: 'eu-west-1', identifier: 'x-analytics-7' },
    ]) {
      const f = failure(() => a.dblab({ instance: 'staging', source }));
      expect(f).toMatchObject({ type: 'SourceNotAllowed', nonRetryable: true });
      expect(f.message).toContain(`source ${source.region}:${source.identifier} may not be cloned`);
    }
    expect(
      failure(() =>
        a.dblab({
          instance: 'staging',
          source: { region: 'us-east-1', identifier: 'production-db' },
          publicClone: true,
        }),
      ).message,
    ).toContain('allowPublicClone is off');
  });

  test('private zone names only under the configured suffixes (default db.internal)', () => {
    const a = authority(CONFIG);
    expect(() => a.privateZoneName('db-1.db.internal')).not.toThrow();
    expect(() => a.privateZoneName('db.internal.')).not.toThrow();
    for (const z of [
      'secretsmanager.us-east-1.amazonaws.com',
      'github.com',
      'evildb.internal',
      'db.internal.evil.com',
    ]) {
      expect(failure(() => a.privateZoneName(z))).toMatchObject({ type: 'ZoneNameNotAllowed', nonRetryable: true });
    }
  });

  test('roles and credentials locations', async () => {
    const a = authority(CONFIG);
    expect(() => a.assumeRole('arn:aws:iam::123456789012:role/dbops-db')).not.toThrow();
    expect(failure(() => a.assumeRole('arn:aws:iam::123456789012:role/admin'))).toMatchObject({
      type: 'RoleNotAllowed',
      nonRetryable: true,
    });
    await expect(
      a.credentialsTarget({ kind: 'file', path: '/var/lib/dbops/credentials/acme.json' }),
    ).resolves.toBeUndefined();
    await expect(
      a.credentialsTarget({ kind: 'file', path: '/var/lib/dbops/credentials/../../../etc/passwd' }),
    ).rejects.toMatchObject({ type: 'CredentialsTargetNotAllowed' });
    await expect(
      a.credentialsTarget({ kind: 'file', path: '/var/lib/dbops/credentials-evil/x.json' }),
    ).rejects.toMatchObject({ type: 'CredentialsTargetNotAllowed' });
    await expect(a.credentialsTarget({ kind: 'aws-secretsmanager', name: 'dbops/acme' })).resolves.toBeUndefined();
    await expect(a.credentialsTarget({ kind: 'aws-secretsmanager', name: 'prod/admin' })).rejects.toMatchObject({
      type: 'CredentialsTargetNotAllowed',
    });
  });
});

test('the README example configuration is valid', () => {
  const c = loadWorkerConfig(
    { DBOPS_CONFIG: path.join(__dirname, '..', '..', 'examples', 'worker-config.yaml') },
    '/tmp',
  );
  expect(Object.keys(c.databaseServers)).toEqual(['pg-main', 'mysql-main']);
  expect(c.dblab.staging.sourcePassword).toBe('env:DB_PASSWORD');
});
