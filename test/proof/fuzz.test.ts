/**
 * Proof: nothing leaks, nothing doubles — the fuzz part. Malformed inputs for every workflow type
 * (test/proof/fuzz-inputs.ts: at least 30 per type, mutations of one valid base each) are started
 * through the Temporal client against a worker with the real activities (moto behind a counting
 * AWS client). Each run must fail (not be terminated or time out) within 5 s of its start, with a
 * non-retryable InvalidInput failure whose message names the field or the problem (and repeats no
 * literal secret), having scheduled no activity and started no child workflow, with no workflow
 * task failure on the way; and no AWS call at all is made.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Worker } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import { planCleanup } from '../../src/domain/cleanup';
import { planRefresh } from '../../src/domain/dblab-config';
import { planNetworkDeletion } from '../../src/domain/network-deletion';
import { planNetwork, planPeering, planUnpeering } from '../../src/domain/peering';
import { planDeprovision, planProvision } from '../../src/domain/provision';
import { testConfig } from '../helpers/activities';
import { countingAws, type CallLog } from '../helpers/aws-fixtures';
import { makeWorker, openTestEnv, uniqueName, type TestEnv } from '../helpers/temporal';
import { casesFor, SPECS, type FuzzCase } from './fuzz-inputs';

const MIN_PER_TYPE = 30;
const DEADLINE_MS = 5_000;
// Runs at once: enough to keep the file short, few enough that each run's 5 s bound measures dbops, not a queue.
const CONCURRENCY = 6;
/**
 * Runs per type through the server: an even spread of that many of the type's cases (every case
 * when it has fewer); DBOPS_FUZZ_PER_TYPE=all runs every one (about 3 600, some 90 s). The first
 * test checks every case against the same validation without the server.
 */
const PER_TYPE = process.env.DBOPS_FUZZ_PER_TYPE === 'all' ? Infinity : Number(process.env.DBOPS_FUZZ_PER_TYPE ?? 150);

function spread<T>(items: T[], k: number): T[] {
  if (items.length <= k) return items;
  return Array.from({ length: k }, (_, i) => items[Math.floor((i * items.length) / k)]);
}

/** The pure validation each workflow runs first (the same functions, outside the sandbox). */
const PLANS: Record<string, (raw: unknown) => unknown> = {
  peerVpc: planPeering,
  unpeerVpc: planUnpeering,
  createDatabaseNetwork: planNetwork,
  deleteDatabaseNetwork: planNetworkDeletion,
  refreshDblab: planRefresh,
  scheduledRefreshDblab: planRefresh,
  cleanupRefreshClones: planCleanup,
  provisionDatabase: planProvision,
  deprovisionDatabase: planDeprovision,
};
const TYPES = Object.keys(SPECS);

/**
 * Known gaps: `<field>: <mutation>` cases that validation does not refuse yet. The first test
 * fails when this list is out of date (a gap fixed, or a new one); every other case must be
 * refused properly. Empty since every string refuses control characters (limits.ts).
 */
const GAP_FIELDS: Record<string, string[]> = {};
const KNOWN_GAPS = Object.entries(GAP_FIELDS).flatMap(([type, fields]) =>
  fields.flatMap((f) => ['nul', 'newline', 'control'].map((w) => `${type} ${f}: ${w}`)),
);
const isKnownGap = (type: string, c: FuzzCase) => KNOWN_GAPS.includes(`${type} ${c.label}`);

test('the fuzz set covers every workflow type, each base is valid and each case is refused by validation', () => {
  expect(TYPES.sort()).toEqual(Object.keys(PLANS).sort());
  const accepted: string[] = [];
  for (const type of TYPES) {
    const { bases, cases } = casesFor(type);
    expect(cases.length).toBeGreaterThanOrEqual(MIN_PER_TYPE);
    for (const b of bases) expect(() => PLANS[type](b)).not.toThrow();
    for (const c of cases) {
      let refused = false;
      try {
        PLANS[type](c.input);
      } catch {
        refused = true;
      }
      if (!refused) accepted.push(`${type} ${c.label}`);
    }
  }
  expect(accepted.sort()).toEqual([...KNOWN_GAPS].sort());
});

describe('through the Temporal server', () => {
  let t: TestEnv;
  let worker: Worker;
  let running: Promise<void>;
  let log: CallLog;

  beforeAll(async () => {
    t = await openTestEnv();
    const counted = countingAws();
    log = counted.log;
    worker = await makeWorker(
      t,
      createActivities({ env: {}, aws: counted.aws, config: testConfig(), temporal: t.client }),
    );
    running = worker.run();
  });
  afterAll(async () => {
    worker?.shutdown();
    await running;
    await t?.close();
  });

  /** What is wrong with one run's outcome; empty when it was refused properly. */
  async function run(type: string, c: FuzzCase): Promise<{ problems: string[]; ms: number }> {
    const problems: string[] = [];
    const started = Date.now();
    const h = await t.client.workflow.start(type, {
      workflowId: uniqueName(`fuzz-${type}`),
      taskQueue: t.taskQueue,
      args: [c.input],
      workflowExecutionTimeout: '1m',
    });
    const err = await h.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    const ms = Date.now() - started;
    if (ms > DEADLINE_MS) problems.push(`took ${ms} ms`);
    if (!(err instanceof WorkflowFailedError)) {
      problems.push(err === undefined ? 'the run completed' : `not a WorkflowFailedError: ${String(err)}`);
    } else {
      const f = err.cause;
      if (!(f instanceof ApplicationFailure)) problems.push(`cause is ${f?.constructor?.name}: ${f?.message}`);
      else {
        if (f.type !== 'InvalidInput') problems.push(`type ${f.type}`);
        if (!f.nonRetryable) problems.push('retryable');
        for (const e of c.expect)
          if (!f.message.includes(e)) problems.push(`message does not name ${JSON.stringify(e.slice(0, 40))}`);
        if (c.secret && f.message.includes(c.secret)) problems.push('message repeats the literal secret');
        if (f.message.length > 4000) problems.push(`message is ${f.message.length} characters`);
        if (problems.length) problems.push(`message: ${f.message.slice(0, 300)}`);
      }
    }
    const events = (await h.fetchHistory()).events ?? [];
    // failed, not terminated or timed out
    if (!events[events.length - 1]?.workflowExecutionFailedEventAttributes)
      problems.push(`the run did not end failed (last event ${events[events.length - 1]?.eventType})`);
    const scheduled = events
      .filter((e) => e.activityTaskScheduledEventAttributes)
      .map((e) => e.activityTaskScheduledEventAttributes!.activityType?.name);
    if (scheduled.length) problems.push(`activities scheduled: ${scheduled.join(', ')}`);
    if (events.some((e) => e.startChildWorkflowExecutionInitiatedEventAttributes))
      problems.push('a child workflow was started');
    if (events.some((e) => e.workflowTaskFailedEventAttributes)) problems.push('a workflow task failed');
    return { problems, ms };
  }

  async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
    let next = 0;
    await Promise.all(
      Array.from({ length: n }, async () => {
        while (next < items.length) await fn(items[next++]);
      }),
    );
  }

  test('every malformed input fails fast, non-retryably, naming the problem, with nothing done', async () => {
    const work = TYPES.flatMap((type) =>
      spread(
        casesFor(type).cases.filter((c) => !isKnownGap(type, c)),
        PER_TYPE,
      ).map((c) => ({ type, c })),
    );
    const bad: string[] = [];
    const summary: Record<string, { cases: number; refused: number; slowestMs: number }> = {};
    const began = Date.now();
    await pool(work, CONCURRENCY, async ({ type, c }) => {
      const s = (summary[type] ??= { cases: 0, refused: 0, slowestMs: 0 });
      s.cases += 1;
      const { problems, ms } = await run(type, c).catch((e: unknown) => ({ problems: [`error: ${String(e)}`], ms: 0 }));
      s.slowestMs = Math.max(s.slowestMs, ms);
      if (problems.length) bad.push(`${type} [${c.label}]: ${problems.join('; ')}`);
      else s.refused += 1;
    });
    console.log(
      `fuzz: ${work.length} malformed inputs through Temporal (of ${TYPES.reduce((n, type) => n + casesFor(type).cases.length, 0)} generated) in ${((Date.now() - began) / 1000).toFixed(1)} s\n` +
        TYPES.map(
          (type) =>
            `  ${type.padEnd(22)} ${summary[type].refused}/${summary[type].cases} refused properly, slowest ${summary[type].slowestMs} ms`,
        ).join('\n'),
    );
    for (const type of TYPES) expect(summary[type].cases).toBeGreaterThanOrEqual(MIN_PER_TYPE);
    expect(bad).toEqual([]);
    expect(log.mutating()).toEqual([]);
    expect(log.calls).toEqual([]);
  }, 300_000);
});
