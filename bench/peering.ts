/**
 * Peering benchmark against moto: a full peerVpc through Temporal versus the minimal hand-written
 * AWS SDK script doing the same peering (bench/plain-peering.ts, the baseline), and versus
 * dbops's own activities called one after another without Temporal (what orchestration adds);
 * history events and workflow tasks of a full run and of a no-op re-run; AWS calls of each.
 */
import { createActivities } from '../src/activities';
import { planPeering } from '../src/domain/peering';
import { countingAws, fixtureAws, makeAwsDatabase, makeCustomerVpc } from '../test/helpers/aws-fixtures';
import { median, startStack, timed } from './common';
import { plainPeering } from './plain-peering';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const TIMING = { pollInterval: '100ms', initiateTimeout: '1m', activeTimeout: '1m', heartbeatTimeout: '30s' };

async function main(): Promise<void> {
  const stack = await startStack();
  const fx = fixtureAws();
  const counted = countingAws();
  const acts = createActivities({ env: {}, aws: counted.aws });
  const worker = await stack.makeWorker('bench-peering', acts);
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

    const viaTemporal: number[] = [];
    const plain: number[] = [];
    const direct: number[] = [];
    const script = countingAws();
    let scriptCalls = 0;
    for (let i = 0; i < RUNS; i++) {
      const a = await fresh();
      const [ms] = await timed(() =>
        stack.client.workflow.execute('peerVpc', {
          workflowId: `bench-${i}-${Date.now()}`,
          taskQueue: 'bench-peering',
          args: [a],
        }),
      );
      viaTemporal.push(ms);

      const s = await fresh();
      script.log.reset();
      const [ms3] = await timed(() => plainPeering(script.aws, s));
      plain.push(ms3);
      scriptCalls = script.log.calls.length;

      const b = await fresh();
      const [ms2] = await timed(async () => {
        const plan = planPeering(b);
        const customer = await acts.resolveCustomerVpc({ region: plan.region, vpcId: plan.vpcId });
        await acts.databaseDescribe(plan, customer);
        const init = await acts.databaseInitiate(plan, customer);
        await acts.acceptPeering({ region: customer.region, peeringId: init.peeringId, timing: plan.timing });
        await acts.ensureCustomerRoutes({
          region: customer.region,
          vpcId: customer.vpcId,
          cidr: init.databaseCidr,
          peeringId: init.peeringId,
          tables: 'all',
          force: false,
          timing: plan.timing,
        });
        await acts.databaseReturnRoute(plan, customer, init.peeringId);
        const auth = await acts.databaseAuthorizeZone(plan, customer, init.hostedZoneId!);
        await acts.associateVpcWithZone({
          hostedZoneId: init.hostedZoneId!,
          vpcId: customer.vpcId,
          region: customer.region,
          ...auth,
        });
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
