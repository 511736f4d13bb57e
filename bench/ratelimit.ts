/**
 * Rate-limit benchmark: BENCH_RL_RUNS (default 200) peerVpc runs started at once, the worker's AWS
 * calls going through the fault proxy with AWS's published rate limits (awsLikeRateCap: Route 53
 * 5/s per account, EC2 per API, RDS), without and then with the worker's client-side rate limit
 * (defaults). Reports AWS throttling answers, runs failed, the limit's fail-fast refusals
 * (AwsClientRateLimit, retried by the activity retry policy) and the time until every run ended.
 * The AWS SDK settings are the worker's own (5 attempts, throttling retried with backoff).
 * BENCH_RL_MODES=without,with (default) picks the modes.
 */
import { AwsClients } from '../src/activities/aws-clients';
import { AwsRateLimiter } from '../src/activities/aws-rate-limit';
import { createActivities } from '../src/activities';
import { AwsFaultProxy, awsLikeRateCap } from '../test/fixtures/aws-fault-proxy';
import { fixtureAws, makeAwsDatabase, makeCustomerVpc } from '../test/helpers/aws-fixtures';
import { median, startStack, timed } from './common';

const RUNS = Number(process.env.BENCH_RL_RUNS ?? 200);
const TIMING = { pollInterval: '500ms', initiateTimeout: '10m', activeTimeout: '10m', heartbeatTimeout: '1m' };

async function inBatches<T>(n: number, size: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += size) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(size, n - i) }, (_, j) => fn(i + j)))));
  }
  return out;
}

async function main(): Promise<void> {
  const stack = await startStack();
  const fx = fixtureAws();
  const results: Record<string, unknown> = {};
  let mode = 0;

  const modes = (process.env.BENCH_RL_MODES ?? 'without,with').split(',');
  for (const limited of [false, true].filter((l) => modes.includes(l ? 'with' : 'without'))) {
    mode += 1;
    // Fresh networks for every run (made directly in moto, not through the proxy).
    const inputs = await inBatches(RUNS, 10, async (i) => {
      const customer = await makeCustomerVpc(fx);
      const db = await makeAwsDatabase(fx, {
        databaseId: `rl-${mode}-${i}-${Date.now()}`,
        region: 'us-east-1',
        cidr: `172.${16 + (i % 16)}.${32 * (Math.floor(i / 16) % 8)}.0/19`,
      });
      return {
        databaseId: db.databaseId,
        region: 'us-east-1',
        vpcId: customer.vpcId,
        cloud: { kind: 'aws' as const },
        timing: TIMING,
      };
    });

    const proxy = new AwsFaultProxy(stack.motoEndpoint, [], { rateCap: awsLikeRateCap() });
    await proxy.start();
    const limiter = limited ? new AwsRateLimiter() : undefined;
    const aws = new AwsClients({
      endpoint: proxy.url,
      defaultRegion: 'us-east-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      rateLimiter: limiter,
    });
    const taskQueue = `bench-rl-${mode}-${Date.now()}`;
    const worker = await stack.makeWorker(taskQueue, createActivities({ env: {}, aws }));
    const perRun: number[] = [];
    const [wallMs, outcomes] = await worker.runUntil(() =>
      timed(() =>
        Promise.all(
          inputs.map(async (args, i) => {
            const t0 = Date.now();
            try {
              await stack.client.workflow.execute('peerVpc', {
                workflowId: `${taskQueue}-${i}`,
                taskQueue,
                args: [args],
              });
              return 'ok';
            } catch (err) {
              return `failed: ${(err as { cause?: { cause?: { type?: string } } }).cause?.cause?.type ?? (err as Error).message}`;
            } finally {
              perRun.push(Date.now() - t0);
            }
          }),
        ),
      ),
    );
    await proxy.stop();
    const failures: Record<string, number> = {};
    for (const o of outcomes) if (o !== 'ok') failures[o] = (failures[o] ?? 0) + 1;
    const throttlesByAction: Record<string, number> = {};
    for (const f of proxy.faults) throttlesByAction[f.action] = (throttlesByAction[f.action] ?? 0) + 1;
    const seen = [...proxy.seen.values()].reduce((a, b) => a + b, 0);
    results[limited ? 'withLimit' : 'withoutLimit'] = {
      runs: RUNS,
      failedRuns: outcomes.filter((o) => o !== 'ok').length,
      failures,
      awsThrottlingAnswers: proxy.faults.length,
      throttlesByAction,
      awsCallsSeen: seen,
      ...(limiter ? { limiter: limiter.counts } : {}),
      allRunsEndedMs: Math.round(wallMs),
      runMedianMs: Math.round(median(perRun)),
      runMaxMs: Math.round(Math.max(...perRun)),
    };
    process.stderr.write(
      `[bench ratelimit] ${limited ? 'with' : 'without'} limit: ${proxy.summary()}\n` +
        `${JSON.stringify(results[limited ? 'withLimit' : 'withoutLimit'])}\n`,
    );
  }
  await stack.stop();
  process.stdout.write(
    `${JSON.stringify({ benchmark: 'ratelimit', date: new Date().toISOString(), ...results }, null, 2)}\n`,
  );
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
