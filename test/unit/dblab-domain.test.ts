import {
  cloneName,
  cloneTags,
  planRefresh,
  refreshTarget,
  refreshWorkflowId,
  scheduledRefreshWorkflowId,
} from '../../src/domain/dblab-config';
import { InvalidInput } from '../../src/domain/errors';
import { durationMs } from '../../src/domain/limits';
import { interpretStatus, isBusy, startedSince, type StatusReply } from '../../src/domain/dblab-status';
import { readRefreshYaml, RefreshYamlError } from '../../src/client/rds-refresh-yaml';

const trigger = new Date('2026-01-01T10:00:00Z');
const reply = (status: string, lastRefresh: string | null = '2025-12-31T00:00:00Z', alerts = {}): StatusReply => ({
  retrieving: { mode: 'logical', status, lastRefresh, alerts },
});

test('a stale finished from an earlier refresh is not success', () => {
  expect(interpretStatus(reply('finished'), trigger, false)).toEqual({ kind: 'not-started', status: 'finished' });
});

test('finished counts once this refresh was seen running, or lastRefresh is newer than the trigger', () => {
  expect(interpretStatus(reply('finished'), trigger, true).kind).toBe('done');
  expect(interpretStatus(reply('finished', '2026-01-01T10:30:00Z'), trigger, false).kind).toBe('done');
});

test('refreshing, renewed and snapshotting are progress (and evidence of a start)', () => {
  for (const s of ['refreshing', 'renewed', 'snapshotting'])
    expect(interpretStatus(reply(s), trigger, false)).toEqual({ kind: 'running', status: s, sawStart: true });
});

test('failed reports the alert message; an old failed before our start is not ours', () => {
  const failed = reply('failed', null, {
    refresh_failed: { level: 'error', message: 'pg_dump: permission denied', lastSeen: '', count: 1 },
  });
  expect(interpretStatus(failed, trigger, true)).toEqual({ kind: 'failed', message: 'pg_dump: permission denied' });
  expect(interpretStatus(failed, trigger, false).kind).toBe('not-started');
});

test('busy: a refresh running or retrieval pending', () => {
  expect(isBusy(reply('refreshing'))).toBe(true);
  expect(isBusy(reply('pending'))).toBe(true);
  expect(isBusy(reply('finished'))).toBe(false);
  expect(isBusy(reply('failed'))).toBe(false);
});

test('a 400 to a retried trigger means "already started" only if DBLab is busy or refreshed since the trigger', () => {
  expect(startedSince(reply('pending'), trigger)).toBe(true);
  expect(startedSince(reply('snapshotting'), trigger)).toBe(true);
  expect(startedSince(reply('finished', '2026-01-01T10:00:05Z'), trigger)).toBe(true); // a fast refresh, already over
  expect(startedSince(reply('finished'), trigger)).toBe(false); // the previous refresh's finished: a refusal
  expect(startedSince(reply('inactive', null), trigger)).toBe(false);
  expect(startedSince(reply('finished', '2026-01-01T10:00:05Z'), undefined)).toBe(false);
});

const base = {
  source: {
    type: 'rds',
    identifier: 'production-db',
    dbName: 'mydb',
    username: 'dblab_user',
    password: 'env:DB_PASSWORD',
  },
  clone: { instanceClass: 'db.t3.medium' },
  dblab: { apiEndpoint: 'https://dblab.example.com:2345', token: 'env:DBLAB_TOKEN' },
  aws: { region: 'us-east-1' },
};

test('reference defaults: poll 30s, timeout 4h, maxAge 48h; workflow id per DBLab host', () => {
  const p = planRefresh(base);
  expect(p).toMatchObject({
    pollInterval: '30s',
    timeout: '4h',
    startDeadline: '15m',
    maxAgeMs: 48 * 3_600_000,
    aurora: false,
    dblabHost: 'dblab.example.com:2345',
  });
  expect(refreshWorkflowId(p)).toBe('refresh-dblab:dblab.example.com:2345');
  expect(durationMs('2d')).toBe(172_800_000);
});

test('inconsistent timing is refused', () => {
  expect(() => planRefresh({ ...base, dblab: { ...base.dblab, startDeadline: '5h', timeout: '4h' } })).toThrow(
    /startDeadline \(5h\) is longer than dblab.timeout \(4h\)/,
  );
});

test('a reference-tool config is never refused for a dbops-only setting it does not set', () => {
  // rds-refresh accepts any timeout and pollInterval; startDeadline (dbops only) defaults within them.
  const short = planRefresh({ ...base, dblab: { ...base.dblab, timeout: '10m' } });
  expect(short.startDeadline).toBe(`${10 * 60_000}ms`);
  const slow = planRefresh({ ...base, dblab: { ...base.dblab, pollInterval: '20m', timeout: '4h' } });
  expect(slow.startDeadline).toBe(`${20 * 60_000}ms`);
  // Set by the user, it is checked against them.
  expect(() => planRefresh({ ...base, dblab: { ...base.dblab, pollInterval: '20m', startDeadline: '15m' } })).toThrow(
    /dblab.pollInterval is longer than dblab.startDeadline/,
  );
});

test('clone names are unique per run, valid RDS identifiers; tags carry owner and expiry', () => {
  const at = new Date('2026-03-04T05:06:07Z');
  const a = cloneName(at, '0193a7b2-1111-7222-8333-444455556666');
  expect(a).toMatch(/^dblab-refresh-20260304-050607-[0-9a-f]{10}$/);
  expect(a).toMatch(/^[a-z][a-z0-9-]{0,62}$/);
  expect(cloneName(at, '0193a7b2-1111-7222-8333-444455556666')).toBe(a); // deterministic (replay)
  // Run ids are UUIDv7: two runs started in the same second share the leading (time) digits.
  expect(cloneName(at, '0193a7b2-1112-7abc-9def-0123456789ab')).not.toBe(a);
  expect(cloneName(at, 'ffff0000-0000-0000-0000-000000000000')).not.toBe(a);
  const tags = Object.fromEntries(
    cloneTags({
      workflowId: 'refresh-dblab:h',
      runId: 'r1',
      createdAt: new Date('2026-01-01T00:00:00Z'),
      maxAgeMs: 3_600_000,
      extra: { team: 'data' },
    }).map((t) => [t.Key, t.Value]),
  );
  expect(tags).toEqual({
    team: 'data',
    ManagedBy: 'dbops-dblab-refresh',
    AutoDelete: 'true',
    DeleteAfter: '2026-01-01T01:00:00Z',
    'dbops:workflow-id': 'refresh-dblab:h',
    'dbops:run-id': 'r1',
  });
});

const yaml = `
source:
  type: rds
  identifier: production-\${ENV_NAME}
  snapshotIdentifier: ""
  dbName: mydb
  username: dblab_user
  password: \${DB_PASSWORD}
clone:
  instanceClass: db.t3.medium
  securityGroups: [sg-0123abcd]
  tags: {team: data}
  maxAge: 48h
dblab:
  apiEndpoint: https://dblab.example.com:2345
  token: \${DBLAB_TOKEN}
  pollInterval: 30s
  timeout: 4h
aws:
  region: us-east-1
`;

test('the reference YAML reads as it is: ${VAR} in secrets becomes env:VAR, elsewhere it expands', () => {
  const c = readRefreshYaml(yaml, { ENV_NAME: 'eu', DB_PASSWORD: 'should-not-be-read', DBLAB_TOKEN: 'nor-this' });
  expect(c.source).toEqual({
    type: 'rds',
    identifier: 'production-eu',
    dbName: 'mydb',
    username: 'dblab_user',
    password: 'env:DB_PASSWORD',
  });
  expect((c.dblab as { token?: string }).token).toBe('env:DBLAB_TOKEN');
  expect(JSON.stringify(c)).not.toContain('should-not-be-read');
  expect(() => planRefresh(c)).not.toThrow();
});

test('a literal secret or an unset variable in the YAML is refused clearly', () => {
  expect(() => readRefreshYaml(yaml.replace('${DBLAB_TOKEN}', 'abc123'), { ENV_NAME: 'x' })).toThrow(RefreshYamlError);
  expect(() => readRefreshYaml(yaml.replace('${DBLAB_TOKEN}', 'abc123'), { ENV_NAME: 'x' })).toThrow(
    /dblab.token holds a literal secret/,
  );
  expect(() => readRefreshYaml(yaml, {})).toThrow('source.identifier uses ${ENV_NAME}, which is not set');
});

describe('dblab: a configured instance by name, or the endpoint and token inline', () => {
  test('the string shorthand and { instance } name a configured DBLab; the plan always has an object', () => {
    const short = planRefresh({ ...base, dblab: 'staging' });
    expect(short.config.dblab).toEqual({ instance: 'staging' });
    expect(short).toMatchObject({ dblabInstance: 'staging', dblabHost: 'staging', pollInterval: '30s', timeout: '4h' });
    expect(refreshWorkflowId(short)).toBe('refresh-dblab:staging');
    expect(scheduledRefreshWorkflowId(short)).toBe('scheduled-refresh-dblab:staging');

    const named = planRefresh({
      ...base,
      dblab: {
        instance: 'staging',
        pollInterval: '10s',
        timeout: '2h',
        startDeadline: '5m',
        requestTimeout: '5s',
        parallelJobs: 4,
        restoreParallelJobs: 2,
      },
    });
    expect(named.config.dblab).toEqual({
      instance: 'staging',
      pollInterval: '10s',
      timeout: '2h',
      startDeadline: '5m',
      requestTimeout: '5s',
      parallelJobs: 4,
      restoreParallelJobs: 2,
    });
    expect(named).toMatchObject({
      dblabInstance: 'staging',
      dblabHost: 'staging',
      pollInterval: '10s',
      timeout: '2h',
      requestTimeoutMs: 5000,
    });

    const inline = planRefresh(base);
    expect(inline.dblabInstance).toBeUndefined();
    expect('dblabInstance' in inline).toBe(false);
    expect(inline.config.dblab).toEqual(base.dblab);
  });

  test('instance names are worker-configuration entry names', () => {
    for (const bad of ['Staging', '1st', 'dblab_1', 'dblab.example.com', '']) {
      expect(() => planRefresh({ ...base, dblab: bad })).toThrow(
        /^invalid config: dblab: must name a DBLab instance of the worker configuration/,
      );
      expect(() => planRefresh({ ...base, dblab: { instance: bad } })).toThrow(
        /^invalid config: dblab\.instance: must name a DBLab instance/,
      );
    }
    expect(() => planRefresh({ ...base, dblab: 'a'.repeat(64) })).toThrow(
      'invalid config: dblab: must be at most 63 characters',
    );
  });

  test('named and inline are exclusive; inline needs both apiEndpoint and token', () => {
    expect(() =>
      planRefresh({
        ...base,
        dblab: { instance: 'staging', apiEndpoint: 'https://dblab.example.com', token: 'env:T' },
      }),
    ).toThrow(
      'invalid config: dblab: give either instance (a configured DBLab) or apiEndpoint and token, not both (apiEndpoint and token given with instance)',
    );
    expect(() => planRefresh({ ...base, dblab: { instance: 'staging', token: 'env:T' } })).toThrow(
      /not both \(token given with instance\)$/,
    );
    expect(() => planRefresh({ ...base, dblab: { apiEndpoint: 'https://dblab.example.com' } })).toThrow(
      'invalid config: dblab.token: is required unless instance names a configured DBLab',
    );
    expect(() => planRefresh({ ...base, dblab: { timeout: '4h' } })).toThrow(
      'invalid config: dblab.apiEndpoint: is required unless instance names a configured DBLab; dblab.token: is required unless instance names a configured DBLab',
    );
    expect(() => planRefresh({ ...base, dblab: 42 })).toThrow(
      'invalid config: dblab: must be the name of a configured DBLab instance, { instance, … } or { apiEndpoint, token, … }',
    );
    expect(() => planRefresh({ ...base, dblab: undefined })).toThrow('invalid config: dblab: is required');
    expect(() => planRefresh({ ...base, dblab: { ...base.dblab, apiEndpoint: 'file:///etc/passwd' } })).toThrow(
      'invalid config: dblab.apiEndpoint: must be an http(s) URL',
    );
  });

  test('the progress target of any form, valid or not', () => {
    expect(refreshTarget(base)).toBe('dblab.example.com:2345');
    expect(refreshTarget({ dblab: 'staging' })).toBe('staging');
    expect(refreshTarget({ dblab: { instance: 'staging' } })).toBe('staging');
    expect(refreshTarget({ dblab: { apiEndpoint: 'not a url' } })).toBe('unknown');
    expect(refreshTarget({ dblab: { apiEndpoint: 42 } })).toBe('unknown');
    expect(refreshTarget(null)).toBe('unknown');
    expect(refreshTarget({ dblab: null })).toBe('unknown');
  });
});

describe('malformed refresh configs are refused at validate, naming the field', () => {
  const msg = (raw: unknown): string => {
    try {
      planRefresh(raw);
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidInput);
      return (e as Error).message;
    }
    throw new Error('expected a refusal');
  };
  const huge = 'x'.repeat(100_000);
  const with_ = (section: 'source' | 'clone' | 'dblab' | 'aws', fields: Record<string, unknown>) => ({
    ...base,
    [section]: { ...base[section], ...fields },
  });

  test('misspelt fields, top-level and nested', () => {
    expect(msg({ ...base, dryrun: true })).toBe('invalid config: config: Unrecognized key: "dryrun"');
    expect(msg(with_('source', { snapshotidentifier: 'snap-1' }))).toBe(
      'invalid config: source: Unrecognized key: "snapshotidentifier"',
    );
    expect(msg(with_('clone', { securityGroup: ['sg-0123abcd'] }))).toBe(
      'invalid config: clone: Unrecognized key: "securityGroup"',
    );
    expect(msg(with_('clone', { prepare: { dblabuser: 'dblab_reader' } }))).toMatch(
      /^invalid config: clone\.prepare\.dblabUser: .*; clone\.prepare: Unrecognized key: "dblabuser"$/,
    );
    expect(msg(with_('dblab', { pollIntervall: '10s' }))).toBe(
      'invalid config: dblab: Unrecognized key: "pollIntervall"',
    );
    expect(msg({ ...base, dblab: { instance: 'staging', pollIntervall: '10s' } })).toBe(
      'invalid config: dblab: Unrecognized key: "pollIntervall"',
    );
    expect(msg(with_('aws', { profile: 'prod' }))).toBe('invalid config: aws: Unrecognized key: "profile"');
  });

  test('over-long strings in every kind of field', () => {
    const cases: Array<[unknown, string]> = [
      [with_('source', { identifier: huge }), 'source.identifier: must be at most 63 characters'],
      [with_('source', { snapshotIdentifier: huge }), 'source.snapshotIdentifier: must be at most 512 characters'],
      [with_('source', { dbName: huge }), 'source.dbName: must be at most 63 characters'],
      [with_('source', { username: huge }), 'source.username: must be at most 63 characters'],
      [with_('source', { password: `env:${huge}` }), 'source.password: must be at most 1024 characters'],
      [with_('clone', { instanceClass: huge }), 'clone.instanceClass: must be at most 64 characters'],
      [with_('clone', { subnetGroup: huge }), 'clone.subnetGroup: must be at most 255 characters'],
      [with_('clone', { parameterGroup: huge }), 'clone.parameterGroup: must be at most 255 characters'],
      [with_('clone', { storageType: huge }), 'clone.storageType: must be at most 32 characters'],
      [with_('clone', { securityGroups: [huge] }), 'clone.securityGroups.0: must be at most 20 characters'],
      [with_('clone', { tags: { team: huge } }), 'clone.tags.team: must be at most 256 characters'],
      [with_('clone', { tags: { [huge]: 'x' } }), `clone.tags.${'x'.repeat(63)}…: must be at most 128 characters`],
      [with_('clone', { maxAge: `${'9'.repeat(50)}h` }), 'clone.maxAge: must be at most 16 characters'],
      [with_('clone', { prepare: { dblabUser: huge } }), 'clone.prepare.dblabUser: must be at most 63 characters'],
      [
        with_('dblab', { apiEndpoint: `https://${huge}.example.com` }),
        'dblab.apiEndpoint: must be at most 2048 characters',
      ],
      [with_('dblab', { token: `file:/${huge}` }), 'dblab.token: must be at most 1024 characters'],
      [{ ...base, dblab: { instance: huge } }, 'dblab.instance: must be at most 63 characters'],
      [with_('aws', { region: huge }), 'aws.region: must be at most 32 characters'],
      [{ ...base, cloneTimeout: huge }, 'cloneTimeout: must be at most 16 characters'],
    ];
    for (const [raw, problem] of cases) expect(msg(raw)).toBe(`invalid config: ${problem}`);
  });

  test('bounded counts and numbers; tags dbops or AWS set are refused', () => {
    const tags = Object.fromEntries(Array.from({ length: 46 }, (_, i) => [`t${i}`, 'v']));
    expect(msg(with_('clone', { tags }))).toBe(
      'invalid config: clone.tags: must have at most 45 tags (AWS allows 50 per resource and dbops adds 5)',
    );
    expect(
      planRefresh(with_('clone', { tags: Object.fromEntries(Object.entries(tags).slice(0, 45)) })).config.clone.tags,
    ).toBeDefined();
    expect(msg(with_('clone', { securityGroups: Array.from({ length: 6 }, () => 'sg-0123abcd') }))).toBe(
      'invalid config: clone.securityGroups: must name at most 5 security groups',
    );
    for (const key of ['ManagedBy', 'deleteafter', 'AutoDelete', 'dbops:run-id', 'aws:cloudformation:stack-name']) {
      expect(msg(with_('clone', { tags: { [key]: 'x' } }))).toBe(
        `invalid config: clone.tags.${key}: is a tag key dbops sets itself (ManagedBy, AutoDelete, DeleteAfter, dbops:*) or AWS reserves (aws:*)`,
      );
    }
    expect(msg(with_('clone', { tags: { '': 'x' } }))).toBe('invalid config: clone.tags.: tag keys must not be empty');
    expect(msg(with_('dblab', { parallelJobs: 65 }))).toMatch(/^invalid config: dblab\.parallelJobs: Too big/);
    expect(msg(with_('dblab', { timeout: '366d' }))).toBe('invalid config: dblab.timeout: must be at most 365 days');
    expect(msg(with_('clone', { prepare: { dblabUser: 'pg_reader' } }))).toBe(
      'invalid config: clone.prepare.dblabUser: is reserved: PostgreSQL reserves login names starting with pg_',
    );
    expect(msg(with_('clone', { prepare: { dblabUser: 'rdsadmin' } }))).toBe(
      'invalid config: clone.prepare.dblabUser: is a reserved or privileged PostgreSQL login',
    );
  });

  test('wrong types', () => {
    expect(msg(with_('clone', { publiclyAccessible: 'false' }))).toBe(
      'invalid config: clone.publiclyAccessible: Invalid input: expected boolean, received string',
    );
    expect(msg(with_('clone', { tags: ['team=data'] }))).toBe(
      'invalid config: clone.tags: Invalid input: expected record, received array',
    );
    expect(msg(with_('clone', { tags: { team: 1 } }))).toBe(
      'invalid config: clone.tags.team: Invalid input: expected string, received number',
    );
    expect(msg(with_('dblab', { parallelJobs: '4' }))).toBe(
      'invalid config: dblab.parallelJobs: Invalid input: expected number, received string',
    );
    expect(msg(with_('source', { type: 'mysql' }))).toBe(
      'invalid config: source.type: Invalid option: expected one of "rds"|"aurora-cluster"',
    );
    expect(msg({ ...base, source: 'production-db' })).toBe(
      'invalid config: source: Invalid input: expected object, received string',
    );
  });

  test('the shapes the tests and the reference YAML use still validate', () => {
    const full = {
      source: {
        type: 'aurora-cluster',
        identifier: 'prod-cluster',
        snapshotIdentifier: '',
        snapshotType: 'manual',
        dbName: 'mydb',
        username: 'dblab_user',
        password: 'aws-sm:prod/db#password',
      },
      clone: {
        instanceClass: 'db.r6g.large',
        subnetGroup: 'default-vpc',
        securityGroups: ['sg-0123abcd'],
        publiclyAccessible: false,
        enableIAMAuth: true,
        parameterGroup: '',
        storageType: 'gp3',
        tags: { team: 'data', 'cost-center': '42' },
        maxAge: '48h',
        prepare: { dblabUser: 'dblab_reader', auth: 'iam' },
      },
      dblab: {
        apiEndpoint: 'http://127.0.0.1:2345',
        token: 'env:DBLAB_TOKEN',
        pollInterval: '100ms',
        timeout: '1m',
        startDeadline: '3s',
        requestTimeout: '1s',
        parallelJobs: 4,
        restoreParallelJobs: 4,
      },
      aws: { region: 'us-east-1' },
      dryRun: true,
      cloneTimeout: '2h',
    };
    expect(planRefresh(full)).toMatchObject({ aurora: true, dblabHost: '127.0.0.1:2345', dryRun: true });
  });
});
