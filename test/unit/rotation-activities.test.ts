/**
 * The order and the refusals of a rotation's switch and retirement (src/activities/sql/rotation.ts)
 * with a real file credentials target and a recording fake of the engine steps (the real engines
 * are exercised in test/integration/rotation.test.ts): the password is set, then tried, then
 * written, and never appears in a result or a failure message.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { AwsClients } from '../../src/activities/aws-clients';
import { rotationActivities, type RotationOps } from '../../src/activities/sql/rotation';
import { Authority } from '../../src/authority';
import { planRotation } from '../../src/domain/rotation';
import { workerConfig } from '../../src/worker-config';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-rot-unit-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const deps = {
  aws: new AwsClients({ endpoint: 'http://127.0.0.1:1', defaultRegion: 'us-east-1' }),
  authority: new Authority(
    workerConfig(
      {
        databaseServers: { db: { engine: 'postgres', host: 'db.example.com', adminUser: 'admin' } },
        credentials: { directories: [dir] },
      },
      'test',
    ),
    () => Promise.reject(new Error('no secret is needed here')),
  ),
};

let n = 0;
function setup(stored: { user: string; password: string } | undefined) {
  const file = path.join(dir, `t${++n}.json`);
  const plan = planRotation({
    engine: 'postgres',
    server: { host: 'db.example.com', adminUser: 'admin' },
    tenant: 'acme',
    credentialsTarget: { kind: 'file', path: file },
  });
  if (stored)
    fs.writeFileSync(
      file,
      JSON.stringify({ engine: 'postgres', host: 'db.example.com', port: 5432, database: 'acme', ...stored }),
    );
  const calls: string[] = [];
  const passwords = new Map<string, string>([[stored?.user ?? '', stored?.password ?? '']]);
  const ops: RotationOps & { failSet?: boolean; failLogin?: boolean; raceOnce?: boolean } = {
    async checkLogins() {
      calls.push('check');
      return 'ok';
    },
    async setPassword(_p, login, password) {
      if (ops.failSet) throw new Error(`ALTER ROLE ${login} PASSWORD '${password}' failed`);
      calls.push(`set ${login} (target names ${read().user})`);
      passwords.set(login, password);
    },
    async loginWorks(_p, login, password) {
      calls.push(`login ${login}`);
      if (ops.raceOnce && read().password === password) {
        // A stalled attempt of the same switch sets its own password after this one wrote.
        ops.raceOnce = false;
        passwords.set(login, 'stale-attempt-password');
      }
      return !ops.failLogin && passwords.get(login) === password;
    },
    async retire(_p, login) {
      calls.push(`retire ${login}`);
      passwords.delete(login);
    },
    async endSessions(_p, login) {
      calls.push(`end sessions of ${login}`);
      return { ended: 2 };
    },
  };
  const read = () => JSON.parse(fs.readFileSync(file, 'utf8')) as { user: string; password: string };
  return { plan, ops, calls, read, passwords, acts: rotationActivities(ops, deps) };
}

test('check reads the current login from the target; the switch sets, tries, then writes', async () => {
  const t = setup({ user: 'acme_app', password: 'old-password-1' });
  expect(await t.acts.check(t.plan)).toMatchObject({ current: 'acme_app', next: 'acme_app_b' });
  const r = await t.acts.switchTo({ ...t.plan, from: 'acme_app', to: 'acme_app_b' });
  expect(r.changed).toBe(true);
  expect(t.calls).toEqual([
    'check',
    'set acme_app_b (target names acme_app)',
    'login acme_app_b',
    'login acme_app_b', // after the write
  ]);
  const now = t.read();
  expect(now.user).toBe('acme_app_b');
  expect(now.password).toBe(t.passwords.get('acme_app_b'));
  expect(now.password).not.toBe('old-password-1');
  expect(JSON.stringify(r)).not.toContain(now.password);
  // Run again (a retry after the write): nothing more is set.
  expect((await t.acts.switchTo({ ...t.plan, from: 'acme_app', to: 'acme_app_b' })).changed).toBe(false);
  expect(t.calls.filter((c) => c.startsWith('set'))).toHaveLength(1);
});

test('a failed set or login leaves the target as it was, and no password in the message', async () => {
  const t = setup({ user: 'acme_app_b', password: 'old-password-2' });
  t.ops.failSet = true;
  const e1 = await t.acts.switchTo({ ...t.plan, from: 'acme_app_b', to: 'acme_app' }).catch((e: Error) => e);
  expect((e1 as Error).message).toMatch(/PASSWORD '\*\*\*' failed/);
  expect(t.read()).toMatchObject({ user: 'acme_app_b', password: 'old-password-2' });
  t.ops.failSet = false;
  t.ops.failLogin = true;
  const e2 = await t.acts.switchTo({ ...t.plan, from: 'acme_app_b', to: 'acme_app' }).catch((e: unknown) => e);
  expect(e2).toBeInstanceOf(ApplicationFailure);
  expect((e2 as ApplicationFailure).type).toBe('RotationLoginFailed');
  expect((e2 as ApplicationFailure).nonRetryable).toBe(false);
  expect((e2 as Error).message).not.toContain(t.passwords.get('acme_app')!);
  expect(t.read()).toMatchObject({ user: 'acme_app_b', password: 'old-password-2' });
});

test('refused: nothing stored, a target naming neither login, retiring the login the target names', async () => {
  const none = setup(undefined);
  await expect(none.acts.check(none.plan)).rejects.toMatchObject({ type: 'NothingToRotate' });
  const other = setup({ user: 'acme_app', password: 'old-password-3' });
  await expect(
    other.acts.switchTo({ ...other.plan, from: 'acme_app_b', to: 'acme_app_c' as string }),
  ).rejects.toMatchObject({ type: 'RotationTargetChanged', nonRetryable: true });
  await expect(other.acts.retire({ ...other.plan, previous: 'acme_app' })).rejects.toMatchObject({
    type: 'RotationTargetChanged',
  });
  expect(other.calls).not.toContain('retire acme_app');
  await other.acts.retire({ ...other.plan, previous: 'acme_app_b' });
  expect(other.calls).toContain('retire acme_app_b');
  expect(other.calls).not.toContain('end sessions of acme_app_b'); // runs before the endSessions patch
});

test("retire first gives the target's login the target's password when it no longer has it (a late write), never the reverse", async () => {
  const t = setup({ user: 'acme_app_b', password: 'written-late-6' });
  t.passwords.set('acme_app_b', 'set-by-the-retried-attempt');
  const r = await t.acts.retire({ ...t.plan, previous: 'acme_app' });
  expect(t.calls.filter((c) => c.startsWith('set') || c.startsWith('retire'))).toEqual([
    'set acme_app_b (target names acme_app_b)',
    'retire acme_app',
  ]);
  expect(t.passwords.get('acme_app_b')).toBe('written-late-6');
  expect(t.read().password).toBe('written-late-6');
  expect(r.detail).toContain('was given it again first');
  expect(r.detail).not.toContain('written-late-6');
  // The set works: nothing is set before the retirement.
  const fine = setup({ user: 'acme_app_b', password: 'works-7' });
  fine.passwords.set('acme_app_b', 'works-7');
  await fine.acts.retire({ ...fine.plan, previous: 'acme_app' });
  expect(fine.calls.filter((c) => c.startsWith('set'))).toEqual([]);
});

test('retire with endSessions: the login is retired first, then its open sessions are ended', async () => {
  const t = setup({ user: 'acme_app_b', password: 'new-password-5' });
  const r = await t.acts.retire({ ...t.plan, previous: 'acme_app', endSessions: true });
  expect(t.calls.slice(-2)).toEqual(['retire acme_app', 'end sessions of acme_app']);
  expect(r.detail).toBe('acme_app no longer logs in with its old password; 2 sessions still open with it ended');
});

test('a password changed under the switch after its write is set and written again: the target works', async () => {
  const t = setup({ user: 'acme_app', password: 'old-password-4' });
  t.ops.raceOnce = true;
  await t.acts.switchTo({ ...t.plan, from: 'acme_app', to: 'acme_app_b' });
  expect(t.calls.filter((c) => c.startsWith('set'))).toHaveLength(2);
  expect(t.read().user).toBe('acme_app_b');
  expect(t.read().password).toBe(t.passwords.get('acme_app_b'));
  expect(t.read().password).not.toBe('stale-attempt-password');
});
