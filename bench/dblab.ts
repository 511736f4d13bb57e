/**
 * DBLab refresh benchmark: (1) history events of a run whose refresh takes many polls versus one
 * that takes few — waits poll inside one heartbeating activity, so they should be about equal;
 * (2) worker memory with 200 refreshes waiting at once (each polling its own DBLab fake).
 */
import { createActivities } from '../src/activities';
import { countingAws, fixtureAws } from '../test/helpers/aws-fixtures';
import { DBLAB_TOKEN, makeRdsSource, refreshConfig, SOURCE_PASSWORD } from '../test/helpers/dblab-fixtures';
import { DblabFake } from '../test/fixtures/dblab-fake';
import { bindDblab, testConfig } from '../test/helpers/activities';
import { startStack, timed } from './common';

const WAITING = Number(process.env.BENCH_WAITING ?? 200);

async function main(): Promise<void> {
  const stack = await startStack();
  const fx = fixtureAws();
  const config = testConfig();
  const acts = createActivities({
    env: { DBLAB_TOKEN, SRC_PW: SOURCE_PASSWORD },
    aws: countingAws().aws,
    temporal: stack.client,
    config,
  });
  const worker = await stack.makeWorker('bench-dblab', acts);
  const out: Record<string, unknown> = {};
  await worker.runUntil(async () => {
    const source = await makeRdsSource(fx);
    const run = async (pollsPerPhase: number, id: string) => {
      const fake = new DblabFake({ token: DBLAB_TOKEN, pollsPerPhase });
      await fake.start();
      bindDblab(config, fake.url);
      const cfg = refreshConfig({ source, apiEndpoint: fake.url });
      (cfg.dblab as Record<string, unknown>).pollInterval = '20ms';
      (cfg.dblab as Record<string, unknown>).startDeadline = '30s';
      const h = await stack.client.workflow.start('refreshDblab', {
        workflowId: id,
        taskQueue: 'bench-dblab',
        args: [cfg],
      });
      const [ms, result] = await timed(() => h.result());
      await fake.stop();
      return {
        ms: Math.round(ms),
        polls: (result as { polls: number }).polls,
        events: (await h.fetchHistory()).events?.length,
      };
    };
    const short = await run(1, `bench-short-${Date.now()}`);
    const long = await run(150, `bench-long-${Date.now()}`);
    out.history = { shortRefresh: short, longRefresh: long };

    // 200 refreshes waiting at once
    global.gc?.();
    const before = process.memoryUsage();
    const fakes: DblabFake[] = [];
    const handles = [];
    for (let i = 0; i < WAITING; i++) {
      const fake = new DblabFake({ token: DBLAB_TOKEN, pollsPerPhase: 1_000_000 });
      await fake.start();
      bindDblab(config, fake.url);
      fakes.push(fake);
      const cfg = refreshConfig({ source, apiEndpoint: fake.url });
      (cfg.dblab as Record<string, unknown>).pollInterval = '2s';
      (cfg.dblab as Record<string, unknown>).timeout = '1h';
      (cfg.dblab as Record<string, unknown>).startDeadline = '10m';
      handles.push(
        await stack.client.workflow.start('refreshDblab', {
          workflowId: `bench-wait-${i}-${Date.now()}`,
          taskQueue: 'bench-dblab',
          args: [cfg],
        }),
      );
    }
    const deadline = Date.now() + 10 * 60_000;
    let waiting = 0;
    while (Date.now() < deadline) {
      waiting = fakes.filter(
        (f) => f.refreshesStarted === 1 && f.requests.filter((r) => r.path === '/status').length >= 3,
      ).length;
      if (waiting === WAITING) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    await new Promise((r) => setTimeout(r, 5000));
    global.gc?.();
    const during = process.memoryUsage();
    out.waiting = {
      runs: WAITING,
      inWaitRefresh: waiting,
      rssBeforeMiB: Math.round(before.rss / 2 ** 20),
      rssDuringMiB: Math.round(during.rss / 2 ** 20),
      heapUsedBeforeMiB: Math.round(before.heapUsed / 2 ** 20),
      heapUsedDuringMiB: Math.round(during.heapUsed / 2 ** 20),
      note: 'one process: worker, client, the 200 DBLab fakes (HTTP servers) and the benchmark itself',
    };
    await Promise.all(handles.map((h) => h.cancel()));
    await Promise.all(handles.map((h) => h.result().catch(() => undefined)));
    await Promise.all(fakes.map((f) => f.stop()));
  });
  await stack.stop();
  process.stdout.write(`${JSON.stringify({ benchmark: 'dblab', date: new Date().toISOString(), ...out }, null, 2)}\n`);
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
