/**
 * provisionDatabase's combined activities (src/activities/sql/provision-steps.ts): the steps run in
 * order, each result under its stage; a failing step stops the rest and fails the activity as the
 * step failed (type, message, retryable or not), naming its stage and what the steps before it did.
 */
import { ApplicationFailure } from '@temporalio/common';
import { provisionStepActivities, type StepsFailure } from '../../src/activities/sql/provision-steps';
import type { SqlEngineActivities } from '../../src/activities/sql/types';
import type { SqlPlan } from '../../src/domain/provision';

const plan = { engine: 'postgres', database: 'acme', user: 'acme_app' } as unknown as SqlPlan;

function world(fail: Partial<Record<string, unknown>> = {}) {
  const called: string[] = [];
  const stepFn =
    (name: string, value: unknown) =>
    async (p: SqlPlan): Promise<never> => {
      expect(p).toBe(plan);
      called.push(name);
      if (name in fail) throw fail[name];
      return value as never;
    };
  const engine = {
    connect: stepFn('connect', { serverVersion: 'PostgreSQL 16', detail: 'PostgreSQL 16 as admin' }),
    ensureDatabase: stepFn('ensureDatabase', { changed: true, detail: 'created database acme' }),
    ensureUser: stepFn('ensureUser', { changed: false, detail: 'user acme_app already exists' }),
    grant: stepFn('grant', { changed: true, detail: 'owner admin → acme_app' }),
    verify: stepFn('verify', { changed: false, detail: 'acme_app logged in' }),
  } as unknown as SqlEngineActivities;
  const creds = {
    checkCredentialsTarget: stepFn('checkCredentialsTarget', undefined),
    storeCredentials: stepFn('storeCredentials', { changed: true, credentialsRef: 'file:/c.json' }),
  };
  return { called, acts: provisionStepActivities(engine, creds) };
}

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ApplicationFailure)) throw new Error(`expected an ApplicationFailure, got ${String(err)}`);
  return err;
}

const ms = expect.any(Number);

test('ensureTenant runs ensure-database, ensure-user and grant in order; each result under its stage, with how long each step took', async () => {
  const { called, acts } = world();
  expect(await acts.ensureTenant(plan)).toEqual({
    'ensure-database': { changed: true, detail: 'created database acme' },
    'ensure-user': { changed: false, detail: 'user acme_app already exists' },
    grant: { changed: true, detail: 'owner admin → acme_app' },
    stepMs: { 'ensure-database': ms, 'ensure-user': ms, grant: ms },
  });
  expect(called).toEqual(['ensureDatabase', 'ensureUser', 'grant']);
});

test('a non-retryable step failure stays non-retryable with its type and message, names its stage and the steps done before it', async () => {
  const { called, acts } = world({
    ensureUser: ApplicationFailure.nonRetryable('user acme_app belongs to another dbops tenant', 'NotOwnedByDbops'),
  });
  const f = await failureOf(acts.ensureTenant(plan));
  expect(f).toMatchObject({
    type: 'NotOwnedByDbops',
    message: 'user acme_app belongs to another dbops tenant',
    nonRetryable: true,
  });
  expect(f.details).toEqual([
    {
      stage: 'ensure-user',
      done: { 'ensure-database': { changed: true, detail: 'created database acme' } },
      stepMs: { 'ensure-database': ms, 'ensure-user': ms },
    } satisfies StepsFailure,
  ]);
  expect(called).toEqual(['ensureDatabase', 'ensureUser']); // grant never runs
});

test('a retryable step failure stays retryable (the whole activity is retried; its steps are idempotent)', async () => {
  const { acts } = world({
    storeCredentials: ApplicationFailure.retryable('cannot reach Secrets Manager', 'SqlServerUnreachable'),
  });
  const f = await failureOf(acts.verifyAndStore(plan));
  expect(f).toMatchObject({ type: 'SqlServerUnreachable', nonRetryable: false });
  expect((f.details?.[0] as StepsFailure).stage).toBe('store-credentials');
  expect((f.details?.[0] as StepsFailure).done).toEqual({ verify: { changed: false, detail: 'acme_app logged in' } });
});

test('an unclassified error becomes a retryable failure typed by its name, naming its stage', async () => {
  const { acts } = world({ ensureDatabase: new TypeError('x is undefined') });
  const f = await failureOf(acts.ensureTenant(plan));
  expect(f).toMatchObject({ type: 'TypeError', message: 'x is undefined', nonRetryable: false });
  expect(f.details).toEqual([{ stage: 'ensure-database', done: {}, stepMs: { 'ensure-database': ms } }]);
});

test('connectAndCheck: the login first, then the credentials target; its result is the login’s', async () => {
  const { called, acts } = world();
  expect(await acts.connectAndCheck(plan)).toEqual({
    serverVersion: 'PostgreSQL 16',
    detail: 'PostgreSQL 16 as admin',
  });
  expect(called).toEqual(['connect', 'checkCredentialsTarget']);
  const refused = world({ connect: ApplicationFailure.nonRetryable('login rejected', 'SqlAuthFailed') });
  await expect(refused.acts.connectAndCheck(plan)).rejects.toMatchObject({ type: 'SqlAuthFailed' });
  expect(refused.called).toEqual(['connect']);
});
