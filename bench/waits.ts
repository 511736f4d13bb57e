/**
 * Waits benchmark (issue 11: a wait holds no worker slot). Written against what both the code
 * before and after polling by retry share, so the same script measures both:
 * (1) the latency of a one-activity run (cleanupRefreshClones, nothing to clean) alone and with
 *     BENCH_WAITS (1,000) refreshes open in wait-clone on a worker with the default 500 activity
 *     slots (the clone wait is the product's rdsWaitClone over a stub RDS that answers "creating");
 * (2) history events of a refresh whose wait ends after 5 and after 601 DBLab /status polls;
 * (3) a full peerVpc against moto with the default timing (10 s poll interval).
 * BENCH_PARTS selects parts (default "open,history,peering").
 */
import os from 'node:os';
import type { AwsClients } from '../src/activities/aws-clients';
import { createActivities } from '../src/activities';
import { createRdsActivities } from '../src/activities/rds';
import { cloneName } from '../src/domain/dblab-config';
import { countingAws, fixtureAws, makeAwsDatabase, makeCustomerVpc } from '../test/helpers/aws-fixtures';
import { DBLAB_TOKEN, makeRdsSource, refreshConfig, SOURCE_PASSWORD } from '../test/helpers/dblab-fixtures';
import { DblabFake } from '../test/fixtures/dblab-fake';
import { bindDblab, testConfig } from '../test/helpers/activities';
import { median, startStack, timed, type Stack } from './common';

const WAITS = Number(process.env.BENCH_WAITS ?? 1000);
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const PARTS = (process.env.BENCH_PARTS ?? 'open,history,peering').split(',');
/** How long a one-activity run may take with the waits open before it counts as blocked. */
const BLOCKED_MS = Number(process.env.BENCH_BLOCKED_MS ?? 120_000);

const stats = (xs: number[]) => ({
  medianMs: Math.round(median(xs)),
  minMs: Math.round(Math.min(...xs)),
  maxMs: Math.round(Math.max(...xs)),
  allMs: xs.map(Math.round),
});

/** (1) A one-activity run alone, then with WAITS refreshes polling their clone. */
async function openWaits(stack: Stack): Promise<object> {
  const creating = { send: async () => ({ DBInstances: [{ DBInstanceStatus: 'creating' }] }) };
  const rds = createRdsActivities({ aws: { rds: () => creating } as unknown as AwsClients });
  /** The clones whose wait has checked at least once. */
  const checked = new Set<string>();
  const acts = {
    dblabCheck: async () => ({ status: 'OK', busy: false }),
    rdsFindSnapshot: async () => ({ id: 'rds:src-1', createdAt: '2026-11-22T03:00:00.000Z', type: 'automated' }),
    refreshCloneName: async (o: { startedAt: string; runId: string }) => cloneName(new Date(o.startedAt), o.runId),
    rdsCreateClone: async () => ({ changed: true, detail: 'restoring' }),
    rdsWaitClone: (...args: Parameters<typeof rds.rdsWaitClone>) => {
      checked.add(args[1]);
      return rds.rdsWaitClone(...args);
    },
    rdsDeleteClone: async () => ({ changed: true, detail: 'deleted' }),
    rdsListRefreshClones: async () => [],
  };
  const worker = await stack.makeWorker('bench-waits', acts);
  return worker.runUntil(async () => {
    const oneActivity = async () => {
      const [ms] = await timed(() => {
        const run = stack.client.workflow.execute('cleanupRefreshClones', {
          workflowId: `bench-one-${Date.now()}-${Math.random()}`,
          taskQueue: 'bench-waits',
          args: [{ region: 'us-east-1' }],
        });
        run.catch(() => undefined); // a blocked run is abandoned when the stack stops
        return Promise.race([run, new Promise((r) => setTimeout(r, BLOCKED_MS))]);
      });
      return ms;
    };
    await oneActivity(); // warm-up
    const alone: number[] = [];
    for (let i = 0; i < RUNS; i++) alone.push(await oneActivity());
    const loadAlone = os.loadavg()[0];

    const cfg = {
      source: { type: 'rds', identifier: 'app-prod', dbName: 'app' },
      clone: { instanceClass: 'db.t3.medium' },
      dblab: { apiEndpoint: 'http://dblab.example.internal:2345', token: 'env:DBLAB_TOKEN' }, // polls every 30 s
      aws: { region: 'us-east-1' },
      cloneTimeout: '2h',
    };
    const handles: Array<{ terminate(reason: string): Promise<unknown> }> = [];
    for (let i = 0; i < WAITS; i++) {
      handles.push(
        await stack.client.workflow.start('refreshDblab', {
          workflowId: `bench-open-${i}-${Date.now()}`,
          taskQueue: 'bench-waits',
          args: [cfg],
        }),
      );
    }
    // Every run in wait-clone (its wait checked once) before the one-activity runs are timed, or
    // the worker's slots are full (before polling by retry, 500 waits held them: the count stops
    // at the slot count). A loaded machine can stall a while, so give up only after BENCH_SETTLE_MS
    // without progress, or BENCH_SETTLE_MAX_MS in all; the output says whether all got there.
    const startedAt = Date.now();
    const until = startedAt + Number(process.env.BENCH_SETTLE_MAX_MS ?? 20 * 60_000);
    const settle = Number(process.env.BENCH_SETTLE_MS ?? 60_000);
    for (let last = -1, since = Date.now(); Date.now() < until && checked.size < WAITS;) {
      await new Promise((r) => setTimeout(r, 2000));
      if (checked.size !== last) [last, since] = [checked.size, Date.now()];
      else if (Date.now() - since > settle) break;
    }
    const waiting = checked.size;
    const settledInMs = Date.now() - startedAt;
    const loadWithWaits = os.loadavg()[0];
    const withWaits: number[] = [];
    for (let i = 0; i < Number(process.env.BENCH_RUNS_OPEN ?? RUNS); i++) withWaits.push(await oneActivity());
    const out = {
      waitsOpen: waiting,
      allWaitsOpen: waiting >= WAITS,
      settledInMs,
      activitySlots: 500,
      loadAverage: { alone: loadAlone, withWaits: loadWithWaits },
      oneActivityAlone: stats(alone),
      oneActivityWithWaitsOpen: stats(withWaits),
      ratioMedian: Math.round((median(withWaits) / median(alone)) * 100) / 100,
      blockedAfterMs: BLOCKED_MS,
      blockedRuns: withWaits.filter((ms) => ms >= BLOCKED_MS).length,
    };
    process.stderr.write(`[bench waits] ${JSON.stringify(out)}\n`);
    await Promise.all(handles.map((h) => h.terminate('benchmark over').catch(() => undefined)));
    return out;
  });
}

/** (2) History events of a refresh that took 5 /status polls and one that took 601. */
async function historyEvents(stack: Stack): Promise<object> {
  const fx = fixtureAws();
  const config = testConfig();
  const acts = createActivities({
    env: { DBLAB_TOKEN, SRC_PW: SOURCE_PASSWORD },
    aws: countingAws().aws,
    temporal: stack.client,
    config,
  });
  const interval = process.env.BENCH_POLL_INTERVAL ?? '1s';
  const worker = await stack.makeWorker('bench-waits-history', acts);
  return worker.runUntil(async () => {
    const source = await makeRdsSource(fx);
    const run = async (pollsPerPhase: number) => {
      const fake = new DblabFake({ token: DBLAB_TOKEN, pollsPerPhase });
      await fake.start();
      bindDblab(config, fake.url);
      const cfg = refreshConfig({ source, apiEndpoint: fake.url });
      Object.assign(cfg.dblab as object, { pollInterval: interval, startDeadline: '1h', timeout: '2h' });
      const h = await stack.client.workflow.start('refreshDblab', {
        workflowId: `bench-history-${pollsPerPhase}-${Date.now()}`,
        taskQueue: 'bench-waits-history',
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
    return { pollInterval: interval, short: await run(1), long: await run(150) };
  });
}

/** (3) A full peerVpc against moto, default timing (poll interval 10 s). */
async function peering(stack: Stack): Promise<object> {
  const fx = fixtureAws();
  const worker = await stack.makeWorker('bench-waits-peering', createActivities({ env: {}, aws: countingAws().aws }));
  return worker.runUntil(async () => {
    const times: number[] = [];
    let events: number | null | undefined;
    for (let i = 0; i < Number(process.env.BENCH_PEERING_RUNS ?? 3); i++) {
      const customer = await makeCustomerVpc(fx);
      const db = await makeAwsDatabase(fx, {
        databaseId: `bench-w-${Date.now()}-${i}`,
        region: 'us-east-1',
        cidr: `10.${140 + i}.0.0/19`,
      });
      const h = await stack.client.workflow.start('peerVpc', {
        workflowId: `bench-peer-${i}-${Date.now()}`,
        taskQueue: 'bench-waits-peering',
        args: [{ databaseId: db.databaseId, region: 'us-east-1', vpcId: customer.vpcId, cloud: { kind: 'aws' } }],
      });
      const [ms] = await timed(() => h.result());
      times.push(ms);
      events = (await h.fetchHistory()).events?.length;
    }
    return { pollInterval: '10s (default)', fullRun: stats(times), historyEvents: events };
  });
}

async function main(): Promise<void> {
  const stack = await startStack();
  const out: Record<string, unknown> = { waits: WAITS };
  if (PARTS.includes('open')) out.openWaits = await openWaits(stack);
  if (PARTS.includes('history')) out.history = await historyEvents(stack);
  if (PARTS.includes('peering')) out.peering = await peering(stack);
  process.stdout.write(`${JSON.stringify({ benchmark: 'waits', date: new Date().toISOString(), ...out }, null, 2)}\n`);
  await stack.stop().catch(() => undefined);
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
