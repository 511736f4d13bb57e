/**
 * `dbops status` without the Temporal SDK (src/client/light/status.ts) against the real dev server:
 * on the same runs it prints exactly what the SDK path prints (DBOPS_STATUS_SDK=1), text and json,
 * for a running, a completed, a failed, a cancelled and a terminated run, with the encryption codec
 * on, for an unknown workflow id and an unreachable server; and it answers them itself, without
 * falling back to the SDK.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { WorkflowHandle } from '@temporalio/client';
import type { Progress } from '../../src/api';
import { runCli } from '../../src/client/cli';
import { statusLight } from '../../src/client/light/status';
import { freePort } from '../../src/temporal/dev-server';
import { ROOT } from '../helpers/stack';
import { captureIo, openTestEnv, testAddress, uniqueName, withWorker, type TestEnv } from '../helpers/temporal';

const codecKeys = `k1=${crypto.randomBytes(32).toString('base64')}`;

interface Outcome {
  code: number;
  out: string;
  err: string;
}

async function cli(env: NodeJS.ProcessEnv, ...argv: string[]): Promise<Outcome> {
  const c = captureIo();
  const code = await runCli(argv, c.io, env);
  return { code, out: c.out(), err: c.err() };
}

/** The light path on its own: what it printed, or the error it threw; `answered` false if it fell back. */
async function light(env: NodeJS.ProcessEnv, id: string, output: string) {
  const c = captureIo();
  const ctx = { io: c.io, env, connect: () => Promise.reject(new Error('the light path used the SDK')) };
  try {
    const answered = await statusLight(ctx, id, { output });
    return { answered, out: c.out(), err: '' };
  } catch (err) {
    return { answered: true, out: c.out(), err: `dbops: ${(err as Error).message}\n` };
  }
}

/** Both paths, text and json: the same output and exit code, and the light path answered itself. */
async function expectSameStatus(
  env: NodeJS.ProcessEnv,
  id: string,
  outputs = ['text', 'json'],
): Promise<Record<string, Outcome>> {
  const seen: Record<string, Outcome> = {};
  for (const output of outputs) {
    const sdk = await cli({ ...env, DBOPS_STATUS_SDK: '1' }, 'status', id, '-o', output);
    const dflt = await cli(env, 'status', id, '-o', output);
    const l = await light(env, id, output);
    expect(l.answered).toBe(true);
    expect({ out: l.out, err: l.err }).toEqual({ out: sdk.out, err: sdk.err });
    expect(dflt).toEqual(sdk);
    seen[output] = sdk;
  }
  return seen;
}

async function eventually(fn: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await fn().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function startAtSecondStage(t: TestEnv, id: string): Promise<WorkflowHandle> {
  const h = await t.client.workflow.start('twoStage', {
    workflowId: id,
    taskQueue: t.taskQueue,
    args: [{ target: 'db-1' }],
  });
  await eventually(async () => (await h.query<Progress>('progress')).stages[1].status === 'running', 'stage 2');
  return h;
}

for (const codec of [false, true]) {
  describe(codec ? 'with the encryption codec' : 'plain payloads', () => {
    let t: TestEnv;
    let env: NodeJS.ProcessEnv;
    beforeAll(async () => {
      const codecEnv = codec ? { DBOPS_CODEC_KEYS: codecKeys } : {};
      t = await openTestEnv(codecEnv);
      env = {
        TEMPORAL_ADDRESS: testAddress(),
        TEMPORAL_NAMESPACE: 'default',
        DBOPS_TASK_QUEUE: t.taskQueue,
        ...codecEnv,
      };
    });
    afterAll(async () => t.close());

    test('running, completed, failed, cancelled and terminated runs: the same output as the SDK path', async () => {
      await withWorker(t, {}, async () => {
        const running = await startAtSecondStage(t, uniqueName('light-running'));
        const failed = await startAtSecondStage(t, uniqueName('light-failed'));
        const cancelled = await startAtSecondStage(t, uniqueName('light-cancelled'));
        const terminated = await startAtSecondStage(t, uniqueName('light-terminated'));

        const r = await expectSameStatus(env, running.workflowId);
        expect(r.text.out).toContain(`twoStage ${running.workflowId}: RUNNING`);
        expect(JSON.parse(r.json.out)).toMatchObject({ status: 'RUNNING', type: 'twoStage' });

        await running.signal('release', {});
        await running.result();
        expect((await expectSameStatus(env, running.workflowId)).text.out).toContain(': COMPLETED');

        await failed.signal('release', { fail: true });
        await failed.result().catch(() => undefined);
        const f = await expectSameStatus(env, failed.workflowId);
        expect(f.text.out).toContain(`twoStage ${failed.workflowId}: FAILED`);
        expect(f.text.out).toContain('error: stage "second" failed: released with fail=true');
        expect(JSON.parse(f.json.out).error).toBe('stage "second" failed: released with fail=true');

        await cancelled.cancel();
        await cancelled.result().catch(() => undefined);
        expect((await expectSameStatus(env, cancelled.workflowId)).text.out).toContain(': CANCELLED');

        await terminated.terminate('by the test');
        expect((await expectSameStatus(env, terminated.workflowId)).text.out).toContain(': TERMINATED');
      });
    });

    if (codec) {
      test('the query result and the failure are encrypted in the server: the light path decodes them', async () => {
        await withWorker(t, {}, async () => {
          const h = await startAtSecondStage(t, uniqueName('light-encrypted'));
          await h.signal('release', { fail: true });
          await h.result().catch(() => undefined);
          const { stdout } = await promisify(execFile)(path.join(ROOT, '.venv', 'bin', 'temporal'), [
            'workflow',
            'show',
            '-w',
            h.workflowId,
            '-o',
            'json',
            '--address',
            testAddress(),
          ]);
          const events = (JSON.parse(stdout) as { events: any[] }).events;
          const failure = events.find((e) => e.workflowExecutionFailedEventAttributes)
            .workflowExecutionFailedEventAttributes.failure;
          const details = failure.applicationFailureInfo.details.payloads[0];
          expect(Buffer.from(details.metadata.encoding, 'base64').toString()).toBe('binary/encrypted');
          const out = await cli(env, 'status', h.workflowId);
          expect(out.out).toContain('error: stage "second" failed: released with fail=true');
          // Without the key neither path can read the progress: the same error.
          const noKey = { ...env, DBOPS_CODEC_KEYS: `k2=${crypto.randomBytes(32).toString('base64')}` };
          const r = await expectSameStatus(noKey, h.workflowId);
          expect(r.text).toMatchObject({
            code: 1,
            err: expect.stringContaining('"k1", which is not in DBOPS_CODEC_KEYS'),
          });
        });
      });
    }
  });
}

test('an unknown workflow id and an unreachable server: the same errors as the SDK path', async () => {
  const env = { TEMPORAL_ADDRESS: testAddress(), TEMPORAL_NAMESPACE: 'default' };
  const unknown = await expectSameStatus(env, uniqueName('no-such-run'));
  expect(unknown.text).toMatchObject({
    code: 1,
    out: '',
    err: expect.stringMatching(/^dbops: no run with workflow id no-such-run-/),
  });

  const closed = { TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}` };
  const down = await expectSameStatus(closed, 'any', ['text']); // each try waits out the 5 s connect deadline
  expect(down.text.code).toBe(1);
  expect(down.text.err).toMatch(/^dbops: cannot reach Temporal at 127\.0\.0\.1:\d+: .*Start the worker/);
});

test('the built binary answers `dbops status` without loading the Temporal SDK client or its protos', async () => {
  const preload = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-modules-')), 'modules.js');
  const list = `${preload}.txt`;
  fs.writeFileSync(
    preload,
    `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(list)}, Object.keys(require.cache).join('\\n')));`,
  );
  const bin = path.join(ROOT, 'dist', 'client', 'cli.js');
  const id = uniqueName('nope');
  const run = (env: NodeJS.ProcessEnv) =>
    promisify(execFile)(process.execPath, ['-r', preload, bin, 'status', id], {
      env: { PATH: process.env.PATH, TEMPORAL_ADDRESS: testAddress(), ...env },
    }).catch((e: { stderr: string }) => e);
  const loaded = () => fs.readFileSync(list, 'utf8').split('\n');
  const sdk = /node_modules\/@temporalio\/(proto\/|client\/lib\/(index|workflow-client)\.js)/;

  expect((await run({})).stderr).toBe(`dbops: no run with workflow id ${id}\n`);
  expect(loaded().filter((m) => sdk.test(m))).toEqual([]);
  expect(loaded().some((m) => m.includes('@grpc/grpc-js'))).toBe(true);

  expect((await run({ DBOPS_STATUS_SDK: '1' })).stderr).toBe(`dbops: no run with workflow id ${id}\n`);
  expect(loaded().some((m) => sdk.test(m))).toBe(true);
  fs.rmSync(path.dirname(preload), { recursive: true, force: true });
});
