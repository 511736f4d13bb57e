/**
 * The clone settings of the refresh config (pure): copy-on-write, KMS key, option and parameter
 * groups, bounded and validated by the schema; the reference tool's configs stay valid.
 */
import { readRefreshYaml } from '../../src/client/rds-refresh-yaml';
import { InvalidInput } from '../../src/domain/errors';
import { planRefresh, type RefreshConfig } from '../../src/domain/dblab-config';

const base = (o: { type?: 'rds' | 'aurora-cluster'; source?: object; clone?: object } = {}): RefreshConfig =>
  ({
    source: { type: o.type ?? 'aurora-cluster', identifier: 'prod', dbName: 'app', ...o.source },
    clone: { instanceClass: 'db.r6g.large', ...o.clone },
    dblab: 'staging',
    aws: { region: 'us-east-1' },
  }) as RefreshConfig;

const problem = (c: RefreshConfig) => {
  try {
    planRefresh(c);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidInput);
    return (err as Error).message;
  }
};

test("the reference tool's parameterGroup as people write it stays valid: empty, AWS's default groups, names", () => {
  for (const parameterGroup of ['', 'default.postgres16', 'default.aurora-postgresql15', 'my-params-1'])
    expect(problem(base({ type: 'rds', clone: { parameterGroup } }))).toBeUndefined();
  // As the reference YAML is read: an empty parameterGroup is "not set".
  const yaml = `
source: { type: rds, identifier: production-db, snapshotIdentifier: "", dbName: mydb, username: u, password: "\${P}" }
clone: { instanceClass: db.t3.medium, subnetGroup: default-vpc, securityGroups: [sg-0123abcd], publiclyAccessible: false,
         enableIAMAuth: true, parameterGroup: "", storageType: gp3, tags: {team: data}, maxAge: 48h }
dblab: { apiEndpoint: https://dblab.example.com:2345, token: "\${T}", pollInterval: 30s, timeout: 4h }
aws: { region: us-east-1 }
`;
  expect(() => planRefresh(readRefreshYaml(yaml, {}))).not.toThrow();
});

test('method copy-on-write: Aurora only, and not with the snapshot settings', () => {
  expect(problem(base({ clone: { method: 'copy-on-write' } }))).toBeUndefined();
  expect(problem(base({ clone: { method: 'snapshot' } }))).toBeUndefined();
  expect(problem(base({ type: 'rds', clone: { method: 'snapshot' } }))).toBeUndefined();
  expect(problem(base({ type: 'rds', clone: { method: 'copy-on-write' } }))).toBe(
    'invalid config: clone.method copy-on-write needs an Aurora source (source.type aurora-cluster)',
  );
  expect(
    problem(
      base({ source: { snapshotIdentifier: 'snap-1', snapshotType: 'manual' }, clone: { method: 'copy-on-write' } }),
    ),
  ).toBe(
    'invalid config: source.snapshotIdentifier is for snapshot restores; clone.method copy-on-write clones the live cluster; ' +
      'source.snapshotType is for snapshot restores; clone.method copy-on-write clones the live cluster',
  );
  expect(problem(base({ clone: { method: 'clone' } }))).toMatch(/clone\.method/);
});

test('kmsKeyId: a key id, alias or ARN, bounded; for Aurora clones only', () => {
  for (const kmsKeyId of [
    '1234abcd-12ab-34cd-56ef-1234567890ab',
    'mrk-1234abcd12ab34cd56ef1234567890ab',
    'alias/dblab-clones',
    'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    'arn:aws:kms:us-east-1:111122223333:alias/dblab-clones',
  ])
    expect(problem(base({ clone: { kmsKeyId } }))).toBeUndefined();
  for (const kmsKeyId of ['', 'my key', 'arn:aws:kms:us-east-1:1:key/x', `alias/${'a'.repeat(300)}`, 'x'.repeat(3000)])
    expect(problem(base({ clone: { kmsKeyId } }))).toMatch(/clone\.kmsKeyId/);
  expect(problem(base({ type: 'rds', clone: { kmsKeyId: 'alias/dblab-clones' } }))).toBe(
    "invalid config: clone.kmsKeyId is for Aurora clones: an RDS instance restored from a snapshot keeps the snapshot's key",
  );
});

test('optionGroup and parameterGroup: group names (AWS default groups too), bounded', () => {
  for (const optionGroup of ['default:postgres-16', 'dblab-options'])
    expect(problem(base({ type: 'rds', clone: { optionGroup } }))).toBeUndefined();
  for (const bad of ['1starts-with-digit', 'has space', 'semi;colon', `a${'b'.repeat(255)}`]) {
    expect(problem(base({ type: 'rds', clone: { optionGroup: bad } }))).toMatch(/clone\.optionGroup/);
    expect(problem(base({ type: 'rds', clone: { parameterGroup: bad } }))).toMatch(/clone\.parameterGroup/);
  }
});

test('the new settings are optional: a plan without them has none of their keys (runs in flight send the same plan)', () => {
  const plan = planRefresh(base({ type: 'rds' }));
  expect(Object.keys(plan.config.clone)).toEqual(['instanceClass']);
});
