/**
 * Peering benchmark against moto: a full peerVpc through Temporal versus the minimal hand-written
 * AWS SDK script doing the same peering (bench/plain-peering.ts, the baseline), and versus
 * dbops's own activities called one after another without Temporal (what orchestration adds);
 * history events and workflow tasks of a full run and of a no-op re-run; AWS calls of each.
 */
import { createActivities } from '../src/activities';
import { planPeering } from '../src/domain/peering';
import { countingAws, fixtureAws, makeAwsDatabase, makeCustomerVpc } from '../test/helpers/aws-fixtures';
import {
  breakdownOf,
  median,
  medianBreakdown,
  startStack,
  timed,
  workflowTaskTimes,
  type Breakdown,
  type HistoryEvent,
} from './common';
import { plainPeering } from './plain-peering';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const TIMING = { pollInterval: '100ms', initiateTimeout: '1m', activeTimeout: '1m', heartbeatTimeout: '30s' };

async function main(): Promise<void> {
  const stack = await startStack();
  const fx = fixtureAws();
  const counted = countingAws();
  const acts = createActivities({ env: {}, aws: counted.aws });
  /** Activity functions timed as the worker runs them (what each run spent in them). */
  const spent: Array<[string, number]> = [];
  const timedActs = Object.fromEntries(
    Object.entries(acts).map(([k, f]) => [
      k,
      async (...a: unknown[]) => {
        const t0 = performance.now();
        try {
          return await (f as (...x: unknown[]) => unknown)(...a);
        } finally {
          spent.push([k, performance.now() - t0]);
        }
      },
    ]),
  );
  const worker = await stack.makeWorker('bench-peering', timedActs);
  const results: Record<string, unknown> = {};

  await worker.runUntil(async () => {
    let n = 0;
    const fresh = async () => {
      n += 1;
      const customer = await makeCustomerVpc(fx);
      const db = await makeAwsDatabase(fx, {
        databaseId: `bench-${Date.now()}-${n}`,
        region: 'us-east-1',
        cidr: `10.${130 + (n % 100)}.0.0/19`,
      });
      return {
        databaseId: db.databaseId,
        region: 'us-east-1',
        vpcId: customer.vpcId,
        cloud: { kind: 'aws' as const },
        timing: TIMING,
      };
    };

    // warm-up (bundle load, connections, moto's first-call costs)
    await stack.client.workflow.execute('peerVpc', {
      workflowId: `warm-${Date.now()}`,
      taskQueue: 'bench-peering',
      args: [await fresh()],
    });

    spent.splice(0); // the warm-up's
    const viaTemporal: number[] = [];
    const breakdowns: Breakdown[] = [];
    const taskTimes: number[][] = [];
    /** Per run: the time the worker spent in the run's activity functions (ms). */
    const inActivities: number[] = [];
    const plain: number[] = [];
    const direct: number[] = [];
    const script = countingAws();
    let scriptCalls = 0;
    for (let i = 0; i < RUNS; i++) {
      const a = await fresh();
      const workflowId = `bench-${i}-${Date.now()}`;
      const [ms] = await timed(() =>
        stack.client.workflow.execute('peerVpc', { workflowId, taskQueue: 'bench-peering', args: [a] }),
      );
      viaTemporal.push(ms);
      inActivities.push(spent.splice(0).reduce((sum, [, t]) => sum + t, 0));
      const events = (await stack.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
      breakdowns.push(breakdownOf(events as HistoryEvent[]));
      taskTimes.push(workflowTaskTimes(events as HistoryEvent[]));

      const s = await fresh();
      script.log.reset();
      const [ms3] = await timed(() => plainPeering(script.aws, s));
      plain.push(ms3);
      scriptCalls = script.log.calls.length;

      const b = await fresh();
      const [ms2] = await timed(async () => {
        // The activities a new run sends, one after another, with what the workflow passes on.
        const plan = planPeering(b);
        const { customer, database } = await acts.lookUpPeering(plan);
        const resolved = { vpcId: database.vpcId!, cidr: database.cidr, accountId: database.accountId };
        const side = { ...plan, resolved: { ...resolved, hostedZoneId: database.hostedZoneId } };
        const init = await acts.databaseInitiate(side, customer);
        await acts.acceptPeering({ region: customer.region, peeringId: init.peeringId, timing: plan.timing });
        const route = { cidr: init.databaseCidr, peeringId: init.peeringId, tables: 'all' as const, force: false };
        await acts.ensurePeeringRoutes(side, customer, { ...route, timing: plan.timing, active: true });
        await acts.associateVpcWithZone(
          { hostedZoneId: init.hostedZoneId!, vpcId: customer.vpcId, region: customer.region, crossAccount: false },
          { associated: false },
        );
      });
      direct.push(ms2);
    }
    const stats = (xs: number[]) => ({
      medianMs: Math.round(median(xs)),
      minMs: Math.round(Math.min(...xs)),
      maxMs: Math.round(Math.max(...xs)),
    });
    results.wall = {
      runs: RUNS,
      temporal: stats(viaTemporal),
      plainScript: { ...stats(plain), awsCalls: scriptCalls },
      activitiesWithoutTemporal: stats(direct),
      ratioToPlainScript: Number((median(viaTemporal) / median(plain)).toFixed(2)),
      /** Where a run's time went (server-side event times, medians): task queue waits and executions. */
      temporalBreakdownMedian: medianBreakdown(breakdowns),
      /** Each workflow task's execution in a run (ms), median over the runs, in history order. */
      workflowTaskMsMedian: taskTimes[0]?.map((_, k) => median(taskTimes.map((t) => t[k] ?? 0))),
      temporalAllMs: viaTemporal.map(Math.round),
      plainAllMs: plain.map(Math.round),
      directAllMs: direct.map(Math.round),
    };

    const input = await fresh();
    counted.log.reset();
    const first = await stack.client.workflow.start('peerVpc', {
      workflowId: `bench-first-${Date.now()}`,
      taskQueue: 'bench-peering',
      args: [input],
    });
    await first.result();
    const firstCalls = {
      total: counted.log.calls.length,
      mutating: counted.log.mutating().length,
      commands: counted.log.calls.map((c) => c.command),
    };
    counted.log.reset();
    const again = await stack.client.workflow.start('peerVpc', {
      workflowId: `bench-again-${Date.now()}`,
      taskQueue: 'bench-peering',
      args: [input],
    });
    await again.result();
    const againCalls = {
      total: counted.log.calls.length,
      mutating: counted.log.mutating().length,
      commands: counted.log.calls.map((c) => c.command),
    };
    const shape = async (h: typeof first) => {
      const events = (await h.fetchHistory()).events ?? [];
      const count = (k: string) => events.filter((e) => (e as Record<string, unknown>)[k]).length;
      return {
        events: events.length,
        workflowTasks: count('workflowTaskCompletedEventAttributes'),
        activities: count('activityTaskScheduledEventAttributes'),
        searchAttributeUpserts: count('upsertWorkflowSearchAttributesEventAttributes'),
      };
    };
    const history = { fullRun: await shape(first), noOpRerun: await shape(again) };
    results.history = history;
    const orchestration = (median(viaTemporal) - median(direct)) / (history.fullRun.activities || 1);
    results.orchestrationMsPerActivity = Number(orchestration.toFixed(1));
    /**
     * Per stage (prepare and the four stages): what Temporal adds to the time the same run spent in
     * its activity functions (measured in the worker, run by run).
     */
    results.inActivitiesMsMedian = Math.round(median(inActivities));
    results.orchestrationMsPerStage = Number(
      (median(viaTemporal.map((t, k) => t - (inActivities[k] ?? 0))) / 5).toFixed(1),
    );
    results.awsCalls = { firstRun: firstCalls, rerun: againCalls };
  });
  await stack.stop();
  process.stdout.write(
    `${JSON.stringify({ benchmark: 'peering', date: new Date().toISOString(), ...results }, null, 2)}\n`,
  );
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
