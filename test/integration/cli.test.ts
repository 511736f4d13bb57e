/**
 * `dbops status`, `list`, `cancel` and `schedule` against the real dev server, run in-process
 * exactly as the binary runs them (same argument parsing, output and exit codes).
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Progress } from '../../src/api';
import { runCli } from '../../src/client/cli';
import { startAndFollow } from '../../src/client/follow';
import type { twoStage } from '../fixtures/workflows/two-stage';
import { ROOT } from '../helpers/stack';
import { captureIo, openTestEnv, testAddress, uniqueName, withWorker, type TestEnv } from '../helpers/temporal';

let t: TestEnv;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  t = await openTestEnv();
  env = { TEMPORAL_ADDRESS: testAddress(), TEMPORAL_NAMESPACE: 'default', DBOPS_TASK_QUEUE: t.taskQueue };
});
afterAll(async () => t.close());

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const c = captureIo();
  const code = await runCli(argv, c.io, env);
  return { code, out: c.out(), err: c.err() };
}

async function eventually(fn: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await fn().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test('status prints the stage table, and -o json the progress object', async () => {
  await withWorker(t, {}, async () => {
    const id = uniqueName('cli-status');
    const handle = await t.client.workflow.start('twoStage', {
      workflowId: id,
      taskQueue: t.taskQueue,
      args: [{ target: 'db-1' }],
    });
    await eventually(async () => (await handle.query<Progress>('progress')).stages[1].status === 'running', 'stage 2');

    const text = await cli('status', id);
    expect(text.code).toBe(0);
    expect(text.out).toContain(`twoStage ${id}: RUNNING`);
    expect(text.out).toMatch(/✔ first\s+done/);
    expect(text.out).toMatch(/▶ second\s+running.*waiting for release/);

    const json = await cli('status', id, '-o', 'json');
    const parsed = JSON.parse(json.out);
    expect(parsed).toMatchObject({ workflowId: id, type: 'twoStage', status: 'RUNNING' });
    expect(parsed.progress.stages.map((s: { status: string }) => s.status)).toEqual(['done', 'running']);

    await handle.signal('release', { fail: true });
    await handle.result().catch(() => undefined);
    const failed = await cli('status', id);
    expect(failed.out).toContain(`twoStage ${id}: FAILED`);
    expect(failed.out).toContain('error: stage "second" failed: released with fail=true');
  });
});

test('status of an unknown run says so and exits non-zero', async () => {
  const r = await cli('status', 'no-such-run-' + Date.now());
  expect(r.code).toBe(1);
  expect(r.err).toMatch(/no run with workflow id no-such-run-/);
});

test('list filters by operation and target prefix, shows the target, newest started first', async () => {
  await withWorker(t, {}, async () => {
    const target = uniqueName('listed');
    const id = uniqueName('cli-list');
    const h = await t.client.workflow.start('twoStage', { workflowId: id, taskQueue: t.taskQueue, args: [{ target }] });
    const newer = uniqueName('cli-list-newer');
    const h2 = await t.client.workflow.start('twoStage', {
      workflowId: newer,
      taskQueue: t.taskQueue,
      args: [{ target: `${target}:second` }],
    });
    await eventually(async () => (await cli('list', '--target', target)).out.includes(newer), 'runs to be listed');
    const text = (await cli('list', '--target', target)).out.split('\n');
    expect(text[0]).toMatch(/^WORKFLOWID\s+TYPE\s+TARGET\s+STATUS/);
    expect(text[1]).toContain(newer); // started last, listed first
    expect(text[1]).toContain(`${target}:second`);
    expect(text[2]).toContain(id);
    await h2.signal('release', {});
    await h2.result();

    const byTarget = await cli('list', '--operation', 'twoStage', '--target', `${target}:`, '-o', 'json');
    expect(JSON.parse(byTarget.out)).toHaveLength(1);
    const rows = JSON.parse((await cli('list', '--target', target, '-o', 'json')).out).reverse();
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ workflowId: id, type: 'twoStage', status: 'RUNNING', target });

    const other = await cli('list', '--operation', 'peerVpc', '--target', target);
    expect(other.out).toBe('no runs\n');
    await h.signal('release', {});
    await h.result();
  });
});

test('cancel stops a running run and --wait reports its final state', async () => {
  await withWorker(t, {}, async () => {
    const id = uniqueName('cli-cancel');
    const h = await t.client.workflow.start('twoStage', {
      workflowId: id,
      taskQueue: t.taskQueue,
      args: [{ target: 'c' }],
    });
    await eventually(async () => (await h.query<Progress>('progress')).stages[1].status === 'running', 'stage 2');
    const r = await cli('cancel', id, '--wait');
    expect(r.code).toBe(0);
    expect(r.out).toContain(`cancellation requested for ${id}`);
    expect(r.out).toMatch(new RegExp(`${id} is now (CANCELLED|FAILED)`));
    const p = await h.query<Progress>('progress');
    expect(p.stages[1].status).toBe('failed');
  });
});

test('cancel of a run that has ended, and delete of a missing schedule, say so', async () => {
  await withWorker(t, {}, async () => {
    const id = uniqueName('cli-ended');
    const h = await t.client.workflow.start('twoStage', {
      workflowId: id,
      taskQueue: t.taskQueue,
      args: [{ target: 'e' }],
    });
    await h.signal('release', {});
    await h.result();
    const r = await cli('cancel', id);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`dbops: ${id} has already ended (COMPLETED): nothing to cancel\n`);
  });
  const missing = await cli('cancel', uniqueName('never-ran'));
  expect(missing.err).toMatch(/^dbops: no run with workflow id never-ran-/);
  const sid = uniqueName('no-sched');
  const del = await cli('schedule', 'delete', sid);
  expect(del.code).toBe(1);
  expect(del.err).toBe(`dbops: no schedule with id ${sid}\n`);
});

test('dbops --version prints the version of package.json', async () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  expect((await cli('--version')).out).toBe(`${pkg.version}\n`);
});

test('Ctrl-C while following a run detaches: the run continues, and dbops says how to look again', async () => {
  // The real binary, following a run nobody works on (its task queue has no worker).
  const cliEnv = { ...process.env, ...env, DBOPS_TASK_QUEUE: uniqueName('nobody') };
  const child = spawn(
    process.execPath,
    [
      path.join(ROOT, 'dist', 'client', 'cli.js'),
      'peer-vpc',
      '-d',
      uniqueName('db'),
      '-r',
      'us-east-1',
      '--vpc-id',
      'vpc-0abc12345def67890',
    ],
    { env: cliEnv, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  child.stderr!.on('data', (c) => (err += c));
  await eventually(async () => /started peerVpc as (\S+)/.test(err), 'the run to start');
  const id = /started peerVpc as (\S+)/.exec(err)![1]!;
  const code = await new Promise((res) => {
    child.once('exit', (c) => res(c));
    child.kill('SIGINT');
  });
  expect(code).toBe(130);
  expect(err).toContain(`detached; the run continues: dbops status ${id}`);
  const handle = t.client.workflow.getHandle(id);
  expect((await handle.describe()).status.name).toBe('RUNNING');
  await handle.terminate('test done');
});

test('the shared start-and-follow shows progress, a final line and exit code 0 only on success', async () => {
  await withWorker(t, {}, async () => {
    for (const fail of [false, true]) {
      const c = captureIo();
      const id = uniqueName('follow');
      const followed = startAndFollow<typeof twoStage>(
        t.client,
        { workflowType: 'twoStage', workflowId: id, input: { target: 'f' }, taskQueue: t.taskQueue },
        c.io,
        { pollIntervalMs: 100 },
      );
      const h = t.client.workflow.getHandle(id);
      // The follower polls on its own clock: wait until it has printed the running stage (what a
      // person watching sees) before letting the run finish, or the poll may never see it.
      await eventually(async () => /▶ second\s+running/.test(c.out()), 'follower to show stage 2 running');
      await h.signal('release', { fail });
      const code = await followed;
      expect(code).toBe(fail ? 1 : 0);
      expect(c.out()).toMatch(/✔ first\s+done/);
      if (fail) expect(c.err()).toContain(`✘ ${id} failed: stage "second" failed: released with fail=true`);
      else expect(c.out()).toContain(`✔ ${id} completed`);
    }
  });
});

test('following into a pipe prints plain lines, one per stage change; on a terminal it redraws the table', async () => {
  await withWorker(t, {}, async () => {
    for (const tty of [false, true]) {
      const c = captureIo();
      if (tty) Object.assign(c.io.out, { isTTY: true });
      const id = uniqueName(tty ? 'follow-tty' : 'follow-pipe');
      const followed = startAndFollow<typeof twoStage>(
        t.client,
        { workflowType: 'twoStage', workflowId: id, input: { target: 'p' }, taskQueue: t.taskQueue },
        c.io,
        { pollIntervalMs: 100 },
      );
      await eventually(async () => /▶ second\s+running/.test(c.out()), 'follower to show stage 2 running');
      await t.client.workflow.getHandle(id).signal('release', {});
      expect(await followed).toBe(0);
      const out = c.out();
      if (!tty) {
        // no control codes at all, the title once, each change once, in order
        expect(out.includes('\x1b')).toBe(false);
        const lines = out.trimEnd().split('\n');
        expect(lines[0]).toBe('twoStage  p');
        expect(lines.filter((l) => l === 'twoStage  p')).toHaveLength(1);
        const stageLines = lines.slice(1, -1).map((l) => l.trim().split(/\s+/).slice(0, 3).join(' '));
        expect(stageLines.filter((l) => l === '✔ first done')).toHaveLength(1);
        expect(stageLines.filter((l) => l === '✔ second done')).toHaveLength(1);
        expect(stageLines.indexOf('✔ first done')).toBeLessThan(stageLines.indexOf('✔ second done'));
        expect(lines.every((l) => !/· (first|second)/.test(l))).toBe(true); // pending stages are not news
        expect(lines.at(-1)).toBe(`✔ ${id} completed`);
      } else {
        expect(out).toContain('F\x1b[J'); // cursor moved up N lines and cleared: the table is redrawn in place
        expect(out).toContain(`✔ ${id} completed`);
      }
    }
  });
});

test('a second start for a target that is running is refused, naming the running one', async () => {
  await withWorker(t, {}, async () => {
    const id = uniqueName('dup');
    const req = { workflowType: 'twoStage', workflowId: id, input: { target: 'd' }, taskQueue: t.taskQueue };
    expect(await startAndFollow<typeof twoStage>(t.client, req, captureIo().io, { detach: true })).toBe(0);
    const err = await startAndFollow<typeof twoStage>(t.client, req, captureIo().io, { detach: true }).catch(
      (e: Error) => e,
    );
    expect((err as Error).message).toMatch(
      new RegExp(`already in progress: workflow ${id} \\(run [0-9a-f-]+, started`),
    );
    await t.client.workflow.getHandle(id).signal('release', {});
  });
});

test('schedule create refuses an input the workflow would refuse, before the schedule exists', async () => {
  const sid = uniqueName('sched-bad');
  const r = await cli(
    'schedule',
    'create',
    sid,
    '--type',
    'cleanupRefreshClones',
    '--input',
    '{"region":"us-east-1","dryrun":true}',
    '--cron',
    '0 2 * * 0',
  );
  expect(r.code).toBe(1);
  expect(r.err).toMatch(/--input is not a valid cleanupRefreshClones input: .*dryrun/);
  await expect(t.client.schedule.getHandle(sid).describe()).rejects.toThrow(/not found/i);
});

test('schedule create, list, trigger and delete', async () => {
  await withWorker(t, {}, async () => {
    const sid = uniqueName('sched');
    const created = await cli(
      'schedule',
      'create',
      sid,
      '--type',
      'cleanupRefreshClones',
      '--input',
      '{"region":"us-east-1","dryRun":true}',
      '--cron',
      '0 2 * * 0',
      '--workflow-id',
      `${sid}-run`,
    );
    expect(created.err).toBe('');
    expect(created.code).toBe(0);
    expect(created.out).toContain(`schedule ${sid} created (cleanupRefreshClones, cron 0 2 * * 0, overlap skip)`);

    const desc = await t.client.schedule.getHandle(sid).describe();
    expect(desc.policies.overlap).toBe('SKIP');
    expect(desc.policies.catchupWindow).toBe(3_600_000);
    expect(desc.action).toMatchObject({
      workflowType: 'cleanupRefreshClones',
      args: [{ region: 'us-east-1', dryRun: true }],
    });

    await eventually(async () => (await cli('schedule', 'list')).out.includes(sid), 'schedule to be listed');
    const listed = JSON.parse((await cli('schedule', 'list', '-o', 'json')).out);
    expect(listed.find((s: { scheduleId: string }) => s.scheduleId === sid)).toMatchObject({
      workflowType: 'cleanupRefreshClones',
      paused: false,
    });

    expect((await cli('schedule', 'trigger', sid)).code).toBe(0);
    await eventually(
      async () => (await t.client.schedule.getHandle(sid).describe()).info.recentActions.length === 1,
      'triggered run',
    );
    const started = (await t.client.schedule.getHandle(sid).describe()).info.recentActions[0].action.workflow;
    const run = t.client.workflow.getHandle(started.workflowId, started.firstExecutionRunId);
    expect(started.workflowId.startsWith(`${sid}-run-`)).toBe(true);
    expect((await run.describe()).type).toBe('cleanupRefreshClones');
    // This worker has no AWS activities: the started run is all this test looks at.
    await run.terminate('test done').catch(() => undefined);

    expect((await cli('schedule', 'delete', sid)).out).toBe(`schedule ${sid} deleted\n`);
    await expect(t.client.schedule.getHandle(sid).describe()).rejects.toThrow();
  });
});

test('bad schedule options are refused with a clear message', async () => {
  const r = await cli(
    'schedule',
    'create',
    'x',
    '--type',
    'cleanupRefreshClones',
    '--input',
    '{"region":"us-east-1"}',
    '--cron',
    '* * * * *',
    '--overlap',
    'sometimes',
  );
  expect(r.code).toBe(1);
  expect(r.err).toContain('--overlap must be one of skip, buffer-one');
  const bad = await cli(
    'schedule',
    'create',
    'x',
    '--type',
    'cleanupRefreshClones',
    '--input',
    '{not json',
    '--cron',
    '* * * * *',
  );
  expect(bad.err).toContain('--input is not valid JSON');
  const unknown = await cli('schedule', 'create', 'x', '--type', 'twoStage', '--input', '{}', '--cron', '* * * * *');
  expect(unknown.code).toBe(1);
  expect(unknown.err).toContain(
    '--type must be a dbops workflow type: provisionDatabase, deprovisionDatabase, peerVpc',
  );
  const refresh = await cli(
    'schedule',
    'create',
    'x',
    '--type',
    'refreshDblab',
    '--input',
    '{}',
    '--cron',
    '* * * * *',
  );
  expect(refresh.code).toBe(1);
  expect(refresh.err).toContain('schedule scheduledRefreshDblab, not refreshDblab (or use `dbops refresh schedule`)');
});

test('the built dbops binary runs as users run it (node dist/client/cli.js)', async () => {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const path = await import('node:path');
  const { ROOT } = await import('../helpers/stack');
  const bin = path.join(ROOT, 'dist', 'client', 'cli.js');
  const run = (...args: string[]) =>
    promisify(execFile)(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH, ...env } });
  const help = await run('--help');
  for (const cmd of [
    'status',
    'list',
    'cancel',
    'schedule',
    'db',
    'peer-vpc',
    'unpeer-vpc',
    'cidr',
    'db-network',
    'refresh',
    'codec-server',
  ]) {
    expect(help.stdout).toMatch(new RegExp(`^  ${cmd} `, 'm'));
  }
  // Each command's help is complete although its code is loaded only when it runs.
  expect((await run('peer-vpc', '--help')).stdout).toMatch(/--stage-associate-dns[\s\S]*--secure-connection/);
  expect((await run('schedule', 'create', '--help')).stdout).toContain('--overlap <policy>');
  const listed = await run('list', '--operation', 'twoStage', '-o', 'json', '--limit', '5');
  expect(Array.isArray(JSON.parse(listed.stdout))).toBe(true);
  const bad = await run('status', 'nope-' + Date.now()).catch((e: { code: number; stderr: string }) => e);
  expect((bad as { code: number }).code).toBe(1);
  expect((bad as { stderr: string }).stderr).toMatch(/^dbops: no run with workflow id nope-/);
});

test('the built binary keeps a code cache of what it loads; a corrupt, foreign or unwritable cache changes nothing', async () => {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const os = await import('node:os');
  const { readEntry } = await import('../../src/client/compile-cache');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-compile-cache-'));
  const bin = path.join(ROOT, 'dist', 'client', 'cli.js');
  const id = uniqueName('nope');
  const status = async (cacheDir = dir) => {
    const r = await promisify(execFile)(process.execPath, [bin, 'status', id], {
      env: { PATH: process.env.PATH, ...env, DBOPS_COMPILE_CACHE_DIR: cacheDir },
    }).catch((e: { code: number; stdout: string; stderr: string }) => e);
    return { code: (r as { code?: number }).code ?? 0, out: r.stdout, err: r.stderr };
  };
  const entries = () =>
    fs
      .readdirSync(dir, { recursive: true, withFileTypes: true })
      .flatMap((e) => (e.isFile() ? [path.join(e.parentPath, e.name)] : []));
  const expected = { code: 1, out: '', err: `dbops: no run with workflow id ${id}\n` };

  expect(await status()).toEqual(expected); // cold: compiles, then writes the cache
  const written = entries();
  expect(written.length).toBeGreaterThan(50); // the modules the command loads (commander, grpc-js, protobufjs, …)
  expect(written.every((f) => readEntry(f) !== undefined)).toBe(true);
  expect(await status()).toEqual(expected); // warm

  // Torn, garbage, and whole-looking entries that V8 refuses (not its code): each is compiled again and rewritten.
  written.forEach((f, i) => {
    const bytes = fs.readFileSync(f);
    if (i % 3 === 0) fs.writeFileSync(f, bytes.subarray(0, bytes.length >> 1));
    else if (i % 3 === 1) fs.writeFileSync(f, Buffer.alloc(64, 7));
    else {
      const foreign = Buffer.alloc(bytes.length - 20, 1);
      fs.writeFileSync(f, Buffer.concat([crypto.createHash('sha1').update(foreign).digest(), foreign]));
    }
  });
  expect(await status()).toEqual(expected);
  expect(entries().every((f) => readEntry(f)?.some((b) => b !== 1))).toBe(true);

  // A cache directory that cannot be made (a file is in the way): no cache, same command.
  const file = path.join(dir, 'not-a-dir');
  fs.writeFileSync(file, '');
  expect(await status(path.join(file, 'cache'))).toEqual(expected);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('db rotate refuses bad input before a run or a schedule exists', async () => {
  const sid = uniqueName('rot-sched-bad');
  const common = ['db', 'rotate', '--engine', 'postgres', '--host', 'db.example.com', '--admin-user', 'admin'];
  const bad = await cli(
    ...common,
    '--tenant',
    'acme',
    '--credentials-file',
    '/tmp/x.json',
    '--grace',
    '30d',
    '--schedule',
    '0 3 1 * *',
    '--schedule-id',
    sid,
  );
  expect(bad.code).toBe(1);
  expect(bad.err).toMatch(/gracePeriod 30d must be between 1s and 7d/);
  await expect(t.client.schedule.getHandle(sid).describe()).rejects.toThrow(/not found/i);
  const noTarget = await cli(...common, '--tenant', 'acme', '--schedule', '0 3 1 * *', '--schedule-id', sid);
  expect(noTarget.code).toBe(1);
  expect(noTarget.err).toMatch(/credentialsTarget/);
  const twin = await cli(
    ...common,
    '--database',
    'acme',
    '--user',
    `u${'x'.repeat(61)}`,
    '--credentials-file',
    '/tmp/x.json',
  );
  expect(twin.code).toBe(1);
  expect(twin.err).toMatch(/no room for its rotation twin/);
  await expect(t.client.schedule.getHandle(sid).describe()).rejects.toThrow(/not found/i);
});
