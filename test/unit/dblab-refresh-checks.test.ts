/**
 * The pure parts of issue 13: whether DBLab can take a refresh (pools, retrieval state), the quick
 * verdicts of the wait (fresh alerts), the source settings restore-dblab keeps and writes back,
 * and the numbers a run records.
 */
import { freshAlert, interpretWait, refreshBlocker, type StatusReply } from '../../src/domain/dblab-status';
import { cloneLifetimeSeconds, stageSeconds } from '../../src/domain/refresh-metrics';
import { restoreConfig, savedSource, writesPassword } from '../../src/activities/dblab';
import { planRefresh } from '../../src/domain/dblab-config';
import type { StageProgress } from '../../src/api';

const trigger = new Date('2026-01-01T10:00:00Z');
const before = '2026-01-01T09:00:00Z';
const after = '2026-01-01T10:00:05Z';
const pool = (name: string, clones: string[]) => ({ name, mode: 'zfs', status: 'active', cloneList: clones });
const status = (s: string, extra: Partial<StatusReply> = {}, retrieving: object = {}): StatusReply => ({
  ...extra,
  retrieving: { mode: 'logical', status: s, lastRefresh: '2025-12-31T00:00:00Z', alerts: {}, ...retrieving },
});

describe('refreshBlocker: why DBLab would refuse POST /full-refresh now', () => {
  test('a refresh under way or retrieval pending', () => {
    expect(refreshBlocker(status('refreshing'))).toBe('DBLab is already refreshing (refreshing)');
    expect(refreshBlocker(status('snapshotting'))).toBe('DBLab is already refreshing (snapshotting)');
    expect(refreshBlocker(status('pending'))).toMatch(/^DBLab retrieval is pending/);
  });
  test('every pool holds clones: refused, naming the pools; one pool free: accepted', () => {
    const held = status('finished', { pools: [pool('p1', ['c1', 'c2']), pool('p2', ['c3'])] });
    expect(refreshBlocker(held)).toBe(
      'every DBLab pool holds clones (p1: 2 clone(s), p2: 1 clone(s)): DBLab refreshes only a pool without clones',
    );
    expect(refreshBlocker(status('finished', { pools: [pool('p1', ['c1']), pool('p2', [])] }))).toBeUndefined();
    expect(refreshBlocker(status('failed', { pools: [pool('p1', [])] }))).toBeUndefined();
  });
  test('a reply without pools (an older DBLab) is not a refusal', () => {
    expect(refreshBlocker(status('finished'))).toBeUndefined();
    expect(refreshBlocker(status('inactive', { pools: [] }))).toBeUndefined();
  });
});

describe('interpretWait: failures and skips seen at once', () => {
  const alert = (type: string, lastSeen: string, message = 'pg_dump: could not connect') => ({
    [type]: { level: 'error', message, lastSeen, count: 1 },
  });
  test('a refresh_failed alert seen after the trigger fails at once, even before any start was seen', () => {
    expect(interpretWait(status('failed', {}, { alerts: alert('refresh_failed', after) }), trigger, false)).toEqual({
      kind: 'failed',
      message: 'pg_dump: could not connect',
    });
    expect(interpretWait(status('inactive', {}, { alerts: alert('refresh_failed', after) }), trigger, false).kind).toBe(
      'failed',
    );
  });
  test('an alert from before the trigger is an earlier refresh: not ours', () => {
    expect(interpretWait(status('failed', {}, { alerts: alert('refresh_failed', before) }), trigger, false)).toEqual({
      kind: 'not-started',
      status: 'failed',
    });
    expect(
      freshAlert(status('failed', {}, { alerts: alert('refresh_failed', before) }), 'refresh_failed', trigger),
    ).toBe(undefined);
  });
  test('a refresh_skipped alert after the trigger ends the wait with its reason', () => {
    const r = status(
      'finished',
      {},
      { alerts: alert('refresh_skipped', after, 'Pool to perform full refresh not found') },
    );
    expect(interpretWait(r, trigger, false)).toEqual({
      kind: 'skipped',
      message: 'Pool to perform full refresh not found',
    });
    // once this refresh was seen running, a skip alert is someone else's later trigger: keep waiting
    expect(interpretWait({ ...r, retrieving: { ...r.retrieving, status: 'refreshing' } }, trigger, true).kind).toBe(
      'running',
    );
  });
  test('without fresh alerts it is interpretStatus', () => {
    expect(interpretWait(status('refreshing'), trigger, false).kind).toBe('running');
    expect(interpretWait(status('finished', {}, { lastRefresh: after }), trigger, false).kind).toBe('done');
  });
});

describe('restore-dblab: what is kept, what is written back', () => {
  const projection = {
    retrieval: {
      spec: {
        logicalDump: {
          options: {
            source: {
              connection: { host: 'db.internal', port: 5433, dbname: 'app', username: 'dblab', password: '********' },
              rdsIam: { dbInstanceIdentifier: 'prod-1' },
            },
            parallelJobs: 4,
          },
        },
      },
    },
    retrievalMode: 'logical',
  };
  const plan = (extra: object = {}) =>
    planRefresh({
      source: { type: 'rds', identifier: 'prod-1', dbName: 'app', username: 'u', password: 'env:PW' },
      clone: { instanceClass: 'db.t3.medium', ...extra },
      dblab: { apiEndpoint: 'https://dblab.example:2345', token: 'env:T' },
      aws: { region: 'us-east-1' },
    });

  test('only the non-secret fields are kept; a masked password is not read', () => {
    expect(savedSource(projection)).toEqual({
      read: true,
      host: 'db.internal',
      port: 5433,
      dbname: 'app',
      username: 'dblab',
      rdsIamInstance: 'prod-1',
    });
    expect(JSON.stringify(savedSource(projection))).not.toContain('*');
    expect(savedSource({})).toEqual({ read: true });
    expect(
      savedSource({ retrieval: { spec: { logicalDump: { options: { source: { connection: { port: 'x' } } } } } } }),
    ).toEqual({ read: true });
  });

  const withConnection = (connection: object) => ({
    retrieval: { spec: { logicalDump: { options: { source: { connection } } } } },
  });

  test("a source naming a refresh clone (another run's, read while that run had DBLab on it) is not kept", () => {
    const host = 'dblab-refresh-20260101-100000-0123456789.aaaaaaaaaa.us-east-1.rds.amazonaws.com';
    const saved = savedSource(withConnection({ host, port: 5432, dbname: 'app', username: 'dblab' }));
    expect(saved).toEqual({
      read: false,
      note: `DBLab's source before the refresh was another refresh's clone (${host}), not its own source: not kept`,
    });
    // restore then writes only over the password: no clone host is put back
    expect(restoreConfig(plan(), saved, 'retired')).toEqual({
      retrieval: { spec: { logicalDump: { options: { source: { connection: { password: 'retired' } } } } } },
    });
    // a host that merely contains the prefix later is DBLab's own
    expect(savedSource(withConnection({ host: 'db.dblab-refresh-x.internal' }))).toMatchObject({ read: true });
  });

  test.each([
    ['a host with an escape', { host: 'db.internal\x1b]8;;http://x\x07' }, 'host'],
    ['a host too long', { host: `${'a'.repeat(63)}.`.repeat(5) }, 'host'],
    ['a dbname with a newline', { host: 'db.internal', dbname: 'app\nx' }, 'dbname'],
    ['a username beyond 63 characters', { host: 'db.internal', username: 'u'.repeat(64) }, 'username'],
  ])('%s: the source is not kept', (_n, connection, field) => {
    expect(savedSource(withConnection(connection))).toEqual({
      read: false,
      note: `DBLab's source before the refresh had a ${field} that is not a plain name: not kept`,
    });
  });

  test('an IP address or a plain host name is kept', () => {
    expect(savedSource(withConnection({ host: '10.0.0.5' }))).toEqual({ read: true, host: '10.0.0.5' });
    expect(savedSource(withConnection({ host: 'fd00::5' }))).toEqual({ read: true, host: 'fd00::5' });
    expect(savedSource(withConnection({ host: 'pg_1' }))).toEqual({ read: true, host: 'pg_1' });
  });

  test('the body sets the saved fields back and replaces the password dbops wrote', () => {
    const saved = savedSource(projection);
    expect(restoreConfig(plan(), saved, 'retired')).toEqual({
      retrieval: {
        spec: {
          logicalDump: {
            options: {
              source: {
                connection: { host: 'db.internal', port: 5433, dbname: 'app', username: 'dblab', password: 'retired' },
                rdsIam: { dbInstanceIdentifier: 'prod-1' },
              },
            },
          },
        },
      },
    });
    // IAM login: configure-dblab wrote no password, so none is written back (the original stays)
    const iam = plan({ prepare: { dblabUser: 'reader', auth: 'iam' } });
    expect(writesPassword(iam)).toBe(false);
    expect(JSON.stringify(restoreConfig(iam, saved, 'retired'))).not.toContain('retired');
    expect(writesPassword(plan({ prepare: { dblabUser: 'reader' } }))).toBe(true);
  });
});

describe('the numbers of a run', () => {
  const st = (
    name: string,
    status: StageProgress['status'],
    startedAt?: string,
    finishedAt?: string,
  ): StageProgress => ({
    name,
    status,
    startedAt,
    finishedAt,
  });
  const stages = [
    st('validate', 'done', '2026-01-01T10:00:00.000Z', '2026-01-01T10:00:00.250Z'),
    st('create-clone', 'done', '2026-01-01T10:00:01Z', '2026-01-01T10:00:31Z'),
    st('prepare-clone', 'skipped', undefined, '2026-01-01T10:05:00Z'),
    st('wait-refresh', 'failed', '2026-01-01T10:06:00Z', '2026-01-01T11:06:00Z'),
    st('delete-clone', 'done', '2026-01-01T11:06:00Z', '2026-01-01T11:07:01Z'),
    st('restore-dblab', 'pending'),
  ];
  test('seconds per stage that ran; the clone lived from create-clone to the end of delete-clone', () => {
    expect(stageSeconds(stages)).toEqual({
      validate: 0.25,
      'create-clone': 30,
      'wait-refresh': 3600,
      'delete-clone': 61,
    });
    expect(cloneLifetimeSeconds(stages)).toBe(4020);
  });
  test('no lifetime while the clone is not deleted', () => {
    expect(cloneLifetimeSeconds(stages.map((s) => (s.name === 'delete-clone' ? { ...s, status: 'failed' } : s)))).toBe(
      undefined,
    );
    expect(cloneLifetimeSeconds([stages[0]])).toBeUndefined();
  });
});
