/**
 * The shared progress convention on a real worker and the real dev server: the `progress` query,
 * the Web UI's current details and the Dbops* search attributes, read from a run mid-way and at
 * the end, and a failure that names its stage.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { SA_OPERATION, SA_STAGE, SA_TARGET, type Progress } from '../../src/api';
import { openTestEnv, uniqueName, withWorker, type TestEnv } from '../helpers/temporal';

let t: TestEnv;
beforeAll(async () => (t = await openTestEnv()));
afterAll(async () => t.close());

async function waitFor<T>(fn: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function currentDetails(handle: { query: (q: string) => Promise<unknown> }): Promise<string> {
  const meta = (await handle.query('__temporal_workflow_metadata')) as { currentDetails?: string };
  return meta.currentDetails ?? '';
}

test('a run shows its stages in the query, the Web UI details and the search attributes', async () => {
  const target = uniqueName('tgt');
  await withWorker(t, {}, async () => {
    const handle = await t.client.workflow.start('twoStage', {
      workflowId: uniqueName('two-stage'),
      taskQueue: t.taskQueue,
      args: [{ target }],
    });

    const mid = await waitFor(async () => {
      const p = await handle.query<Progress>('progress');
      return p.stages[1].status === 'running' && p.stages[1].detail ? p : undefined;
    }, 'second stage to run');
    expect(mid.operation).toBe('twoStage');
    expect(mid.target).toBe(target);
    expect(mid.stages[0]).toMatchObject({ name: 'first', status: 'done', detail: 'did the first thing' });
    expect(mid.stages[0].startedAt).toEqual(expect.any(String));
    expect(mid.stages[0].finishedAt).toEqual(expect.any(String));
    expect(mid.stages[1]).toMatchObject({ name: 'second', status: 'running', detail: 'waiting for release' });
    expect(mid.result).toBeUndefined();

    const details = await currentDetails(handle);
    expect(details).toContain('**twoStage**');
    // A padded text table (stage, status, took, detail): the Web UI renders a markdown table unspaced.
    expect(details).toMatch(/^✔ first +done +\d+(ms|s) +did the first thing$/m);
    expect(details).toMatch(/^▶ second +running +waiting for release$/m);

    const desc = await waitFor(async () => {
      const d = await handle.describe();
      return d.typedSearchAttributes.get(SA_STAGE) === 'second' ? d : undefined;
    }, 'DbopsStage=second');
    expect(desc.typedSearchAttributes.get(SA_OPERATION)).toBe('twoStage');
    expect(desc.typedSearchAttributes.get(SA_TARGET)).toBe(target);

    await handle.signal('release', {});
    expect(await handle.result()).toEqual({ target, stages: 2 });
    const end = await handle.query<Progress>('progress');
    expect(end.stages.map((s) => s.status)).toEqual(['done', 'done']);
    expect(end.stages[1].detail).toBe('released');
    expect(end.result).toEqual({ target, stages: 2 });
    expect((await handle.describe()).typedSearchAttributes.get(SA_STAGE)).toBe('finished');

    // DbopsStage is upserted when it changes, not twice per stage: one history event per value.
    const upserts = ((await handle.fetchHistory()).events ?? [])
      .map((e) => e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.[SA_STAGE.name])
      .filter((f) => f !== undefined && f !== null)
      .map((f) => JSON.parse(Buffer.from(f.data as Uint8Array).toString()) as string);
    expect(upserts).toEqual(['first', 'second', 'finished']);
  });
});

test('a stage whose work is already done shows as skipped', async () => {
  await withWorker(t, {}, async () => {
    const handle = await t.client.workflow.start('twoStage', {
      workflowId: uniqueName('two-stage'),
      taskQueue: t.taskQueue,
      args: [{ target: 'x', skipFirst: true }],
    });
    await handle.signal('release', {});
    await handle.result();
    const p = await handle.query<Progress>('progress');
    expect(p.stages[0]).toMatchObject({ status: 'skipped', detail: 'already done' });
    expect(await currentDetails(handle)).toMatch(/^↷ first +skipped +\d+ms +already done$/m);
  });
});

test('a failing stage fails the run with a message naming the stage, and shows as failed', async () => {
  await withWorker(t, {}, async () => {
    const handle = await t.client.workflow.start('twoStage', {
      workflowId: uniqueName('two-stage'),
      taskQueue: t.taskQueue,
      args: [{ target: 'y' }],
    });
    await handle.signal('release', { fail: true });
    const err = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause?.message).toBe('stage "second" failed: released with fail=true');
    const p = await handle.query<Progress>('progress');
    expect(p.stages[1]).toMatchObject({ status: 'failed', error: 'released with fail=true' });
    expect((await handle.describe()).typedSearchAttributes.get(SA_STAGE)).toBe('second:failed');
  });
});
