/**
 * The refresh as users run it: the worker process killed with SIGKILL during wait-refresh and
 * started again (one clone made, one deleted, one refresh), and `dbops refresh schedule` with the
 * reference tool's YAML file, triggered once.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Progress } from '../../src/api';
import { createActivities } from '../../src/activities';
import { runCli } from '../../src/client/cli';
import type { RefreshResult } from '../../src/workflows/refresh-dblab';
import type { ScheduledRefreshResult } from '../../src/workflows/scheduled-refresh-dblab';
import { DblabFake } from '../fixtures/dblab-fake';
import { bindDblab, motoEndpoint, testConfig } from '../helpers/activities';
import { countingAws, fixtureAws } from '../helpers/aws-fixtures';
import { DBLAB_TOKEN, instancesNamed, makeRdsSource, refreshConfig, SOURCE_PASSWORD } from '../helpers/dblab-fixtures';
import { captureIo, makeWorker, openTestEnv, testAddress, uniqueName } from '../helpers/temporal';
import { spawnWorker, until, writeWorkerConfig } from '../helpers/worker-process';
import { freePort } from '../../src/temporal/dev-server';

const fx = fixtureAws();

test('SIGKILL during wait-refresh, restart: one clone made, one deleted, one refresh; the numbers recorded once', async () => {
  // Each phase lasts 4 polls: waits poll by activity retry, at most about once a second.
  const fake = new DblabFake({ token: DBLAB_TOKEN, pollsPerPhase: 4 });
  await fake.start();
  const t = await openTestEnv();
  const taskQueue = uniqueName('refresh-crash');
  const metricsPort = await freePort();
  const env: NodeJS.ProcessEnv = {
    DBOPS_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TEMPORAL_ADDRESS: testAddress(),
    DBOPS_TASK_QUEUE: taskQueue,
    AWS_ENDPOINT_URL: motoEndpoint(),
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    DBLAB_TOKEN,
    SRC_PW: SOURCE_PASSWORD,
    // The real worker reads its configuration file: the fake's endpoint is bound to the token.
    DBOPS_CONFIG: writeWorkerConfig({
      dblab: {
        fake: {
          endpoint: fake.url,
          token: 'env:DBLAB_TOKEN',
          sourcePassword: 'env:SRC_PW',
          sources: ['us-east-1:prod-*'],
        },
      },
    }),
  };
  let worker = spawnWorker(env);
  try {
    const source = await makeRdsSource(fx);
    await until(() => worker.log().includes('polling task queue'), 'worker start');
    const h = await t.client.workflow.start('refreshDblab', {
      workflowId: uniqueName('refresh-crash'),
      taskQueue,
      args: [refreshConfig({ source, apiEndpoint: fake.url, extra: {}, startDeadline: '30s' })],
    });
    await until(
      async () =>
        (await h.query<Progress>('progress')).stages.find((s) => s.name === 'wait-refresh')?.status === 'running' &&
        fake.status === 'refreshing',
      'wait-refresh',
    ).catch(async (e) => {
      const stages = (await h.query<Progress>('progress').catch(() => undefined))?.stages;
      throw new Error(`${(e as Error).message}; DBLab ${fake.status}; stages ${JSON.stringify(stages)}`);
    });
    worker.child.kill('SIGKILL');
    await new Promise((r) => worker.child.once('exit', r));
    worker = spawnWorker(env);

    const result = (await h.result()) as RefreshResult;
    expect(result.outcome).toBe('refreshed');
    expect(fake.refreshesStarted).toBe(1);
    const events = (await h.fetchHistory()).events ?? [];
    const scheduled = events
      .filter((e) => e.activityTaskScheduledEventAttributes)
      .map((e) => e.activityTaskScheduledEventAttributes!.activityType!.name);
    expect(scheduled.filter((n) => n === 'rdsCreateClone')).toHaveLength(1);
    expect(scheduled.filter((n) => n === 'rdsDeleteClone')).toHaveLength(1);
    const waits = events
      .filter((e) => e.activityTaskStartedEventAttributes)
      .map((e) => e.activityTaskStartedEventAttributes!.attempt ?? 0);
    expect(Math.max(...waits)).toBeGreaterThanOrEqual(2); // the killed attempt was retried
    expect(await instancesNamed(fx, result.clone!)).toEqual([]);

    // The restarted worker replayed the run's start and finished it: each number is recorded once
    // (workflow metrics are not emitted while replaying), as Prometheus metrics of that worker.
    // A run naming a DBLab the worker does not configure fails at check-dblab, and adds no series
    // named after it: anyone who may start a run could otherwise fill the registry.
    const unbound = uniqueName('not-configured');
    const bad = await t.client.workflow.start('refreshDblab', {
      workflowId: uniqueName('refresh-unbound'),
      taskQueue,
      args: [{ ...refreshConfig({ source, apiEndpoint: fake.url }), dblab: unbound }],
    });
    await expect(bad.result()).rejects.toThrow();
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).not.toContain(unbound);
    // labelled with the worker configuration's name for the DBLab, never the input's
    const dblab = 'fake';
    expect(metrics).not.toContain(`dblab="${new URL(fake.url).host}"`);
    const series = (name: string, labels: Record<string, string>) =>
      metrics
        .split('\n')
        .filter((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)))
        .map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)));
    for (const stage of Object.keys(result.stageSeconds!)) {
      expect({ stage, count: series('dbops_refresh_stage_seconds_count', { stage, dblab }) }).toEqual({
        stage,
        count: [1],
      });
      const sum = series('dbops_refresh_stage_seconds_sum', { stage, dblab })[0];
      expect(sum).toBeCloseTo(result.stageSeconds![stage], 3);
    }
    // the buckets the worker sets for the refresh (seconds up to 6 h), not the default ones
    expect(metrics).toMatch(/dbops_refresh_stage_seconds_bucket\{[^}]*le="21600"/);
    expect(series('dbops_refresh_clone_lifetime_seconds_count', { dblab })).toEqual([1]);
    expect(series('dbops_refresh_clone_lifetime_seconds_sum', { dblab })[0]).toBeCloseTo(
      result.cloneLifetimeSeconds!,
      3,
    );
    expect(series('dbops_refresh_runs_total', { dblab, outcome: 'refreshed' })).toEqual([1]);
    expect(series('dbops_refresh_runs_total', { dblab: 'unbound', outcome: 'failed' })).toEqual([1]);
    const last = series('dbops_refresh_last_success_timestamp_seconds', { dblab });
    expect(last).toHaveLength(1);
    const deleted = Date.parse((await h.query<Progress>('progress')).stages.at(-1)!.finishedAt!) / 1000;
    expect(last[0]).toBeCloseTo(deleted, 0);
  } finally {
    worker.child.kill('SIGKILL');
    await t.close();
    await fake.stop();
  }
}, 240_000); // a worker process killed and started again, on a machine that may be busy with the rest of the suite

test('dbops refresh schedule reads the reference YAML; the schedule (overlap Skip) runs the cycle when triggered', async () => {
  const fake = new DblabFake({ token: DBLAB_TOKEN });
  await fake.start();
  const t = await openTestEnv();
  const config = testConfig();
  bindDblab(config, fake.url);
  const worker = await makeWorker(
    t,
    createActivities({
      env: { DBLAB_TOKEN, SRC_PW: SOURCE_PASSWORD },
      aws: countingAws().aws,
      temporal: t.client,
      config,
    }),
  );
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-yaml-'));
  try {
    await worker.runUntil(async () => {
      const source = await makeRdsSource(fx);
      const file = path.join(dir, 'rds-refresh.yaml');
      fs.writeFileSync(
        file,
        [
          'source:',
          '  type: rds',
          `  identifier: \${SOURCE_ID}`,
          '  dbName: postgres',
          '  username: postgres',
          '  password: ${SRC_PW}',
          'clone:',
          '  instanceClass: db.t3.medium',
          '  maxAge: 48h',
          'dblab:',
          `  apiEndpoint: ${fake.url}`,
          '  token: ${DBLAB_TOKEN}',
          '  pollInterval: 100ms',
          '  timeout: 1m',
          '  startDeadline: 5s',
          'aws:',
          '  region: us-east-1',
          '',
        ].join('\n'),
      );
      const sid = uniqueName('refresh-sched');
      const env = { TEMPORAL_ADDRESS: testAddress(), DBOPS_TASK_QUEUE: t.taskQueue, SOURCE_ID: source };
      const io = captureIo();
      const code = await runCli(
        ['refresh', 'schedule', '--config', file, '--cron', '0 2 * * 0', '--schedule-id', sid],
        io.io,
        env,
      );
      expect(io.err()).toBe('');
      expect(code).toBe(0);
      const host = new URL(fake.url).host;
      expect(io.out()).toContain(
        `schedule ${sid} created: refresh of DBLab ${host} as refresh-dblab:${host}, cron 0 2 * * 0, overlap skip, catch-up 1h`,
      );
      const handle = t.client.schedule.getHandle(sid);
      const desc = await handle.describe();
      expect(desc.policies.overlap).toBe('SKIP');
      const action = desc.action as { args?: unknown[]; workflowType?: string; workflowId?: string };
      expect(action).toMatchObject({
        workflowType: 'scheduledRefreshDblab',
        workflowId: `scheduled-refresh-dblab:${host}`,
      });
      expect(JSON.stringify(action.args)).toContain('"token":"env:DBLAB_TOKEN"');
      expect(JSON.stringify(action.args)).not.toContain(DBLAB_TOKEN);

      // the same file for a dry run through dbops: checks pass, nothing is created
      const dry = captureIo();
      expect(await runCli(['refresh', '--config', file, '--dry-run'], dry.io, env)).toBe(0);
      expect(dry.out()).toMatch(/↷ create-clone\s+skipped\s.*dry run/);
      expect(dry.out()).toContain(`✔ refresh-dblab:${new URL(fake.url).host} completed`);
      expect(fake.refreshesStarted).toBe(0);

      await handle.trigger();
      await until(async () => (await handle.describe()).info.recentActions.length === 1, 'the triggered run');
      const started = (await handle.describe()).info.recentActions[0].action.workflow;
      const result = (await t.client.workflow
        .getHandle(started.workflowId, started.firstExecutionRunId)
        .result()) as ScheduledRefreshResult;
      expect(result).toMatchObject({ outcome: 'refreshed', refreshWorkflowId: `refresh-dblab:${host}` });
      expect(fake.refreshesStarted).toBe(1);
      // the refresh itself ran as the child refresh-dblab:<host>, the id a manual `dbops refresh` uses
      const child = await t.client.workflow.getHandle(`refresh-dblab:${host}`).describe();
      expect(child).toMatchObject({ type: 'refreshDblab', status: { name: 'COMPLETED' } });
      expect(child.parentExecution?.workflowId).toBe(started.workflowId);
      await handle.delete();
    });
  } finally {
    await t.close();
    await fake.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
