import { cloneName, cloneTags, durationMs, planRefresh, refreshWorkflowId } from '../../src/domain/dblab-config';
import { interpretStatus, isBusy, startedSince, type StatusReply } from '../../src/domain/dblab-status';
import { readRefreshYaml, RefreshYamlError } from '../../src/client/rds-refresh-yaml';

const trigger = new Date('2026-01-01T10:00:00Z');
const reply = (status: string, lastRefresh: string | null = '2025-12-31T00:00:00Z', alerts = {}): StatusReply => ({ retrieving: { mode: 'logical', status, lastRefresh, alerts } });

test('a stale finished from an earlier refresh is not success', () => {
  expect(interpretStatus(reply('finished'), trigger, false)).toEqual({ kind: 'not-started', status: 'finished' });
});

test('finished counts once this refresh was seen running, or lastRefresh is newer than the trigger', () => {
  expect(interpretStatus(reply('finished'), trigger, true).kind).toBe('done');
  expect(interpretStatus(reply('finished', '2026-01-01T10:30:00Z'), trigger, false).kind).toBe('done');
});

test('refreshing, renewed and snapshotting are progress (and evidence of a start)', () => {
  for (const s of ['refreshing', 'renewed', 'snapshotting']) expect(interpretStatus(reply(s), trigger, false)).toEqual({ kind: 'running', status: s, sawStart: true });
});

test('failed reports the alert message; an old failed before our start is not ours', () => {
  const failed = reply('failed', null, { refresh_failed: { level: 'error', message: 'pg_dump: permission denied', lastSeen: '', count: 1 } });
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
  source: { type: 'rds', identifier: 'production-db', dbName: 'mydb', username: 'dblab_user', password: 'env:DB_PASSWORD' },
  clone: { instanceClass: 'db.t3.medium' },
  dblab: { apiEndpoint: 'https://dblab.example.com:2345', token: 'env:DBLAB_TOKEN' },
  aws: { region: 'us-east-1' },
};

test('reference defaults: poll 30s, timeout 4h, maxAge 48h; workflow id per DBLab host', () => {
  const p = planRefresh(base);
  expect(p).toMatchObject({ pollInterval: '30s', timeout: '4h', startDeadline: '15m', maxAgeMs: 48 * 3_600_000, aurora: false, dblabHost: 'dblab.example.com:2345' });
  expect(refreshWorkflowId(p)).toBe('refresh-dblab:dblab.example.com:2345');
  expect(durationMs('2d')).toBe(172_800_000);
});

test('inconsistent timing is refused', () => {
  expect(() => planRefresh({ ...base, dblab: { ...base.dblab, startDeadline: '5h', timeout: '4h' } })).toThrow(/startDeadline \(5h\) is longer than dblab.timeout \(4h\)/);
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
  const tags = Object.fromEntries(cloneTags({ workflowId: 'refresh-dblab:h', runId: 'r1', createdAt: new Date('2026-01-01T00:00:00Z'), maxAgeMs: 3_600_000, extra: { team: 'data' } }).map((t) => [t.Key, t.Value]));
  expect(tags).toEqual({ team: 'data', ManagedBy: 'dbops-dblab-refresh', AutoDelete: 'true', DeleteAfter: '2026-01-01T01:00:00Z', 'dbops:workflow-id': 'refresh-dblab:h', 'dbops:run-id': 'r1' });
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
  expect(c.source).toEqual({ type: 'rds', identifier: 'production-eu', dbName: 'mydb', username: 'dblab_user', password: 'env:DB_PASSWORD' });
  expect(c.dblab.token).toBe('env:DBLAB_TOKEN');
  expect(JSON.stringify(c)).not.toContain('should-not-be-read');
  expect(() => planRefresh(c)).not.toThrow();
});

test('a literal secret or an unset variable in the YAML is refused clearly', () => {
  expect(() => readRefreshYaml(yaml.replace('${DBLAB_TOKEN}', 'abc123'), { ENV_NAME: 'x' })).toThrow(RefreshYamlError);
  expect(() => readRefreshYaml(yaml.replace('${DBLAB_TOKEN}', 'abc123'), { ENV_NAME: 'x' })).toThrow(/dblab.token holds a literal secret/);
  expect(() => readRefreshYaml(yaml, {})).toThrow('source.identifier uses ${ENV_NAME}, which is not set');
});
