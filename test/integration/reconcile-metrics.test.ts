/**
 * reconcilePeering's drift metrics as an operator sees them: a worker process (`node dist/worker.js`)
 * with its Prometheus endpoint, a route deleted out of band, one reconcile that repairs it.
 */
import { DeleteRouteCommand } from '@aws-sdk/client-ec2';
import type { ReconcilePeeringResult } from '../../src/workflows/reconcile-peering';
import { freePort } from '../../src/temporal/dev-server';
import { motoEndpoint } from '../helpers/activities';
import { fixtureAws, makeAwsDatabase, makeCustomerVpc } from '../helpers/aws-fixtures';
import { openTestEnv, testAddress, uniqueName } from '../helpers/temporal';
import { spawnWorker, until, writeWorkerConfig } from '../helpers/worker-process';

const fx = fixtureAws();

test('dbops_drift_total and dbops_reconcile_runs_total reach the worker’s Prometheus endpoint', async () => {
  const t = await openTestEnv();
  const taskQueue = uniqueName('reconcile-metrics');
  const metricsPort = await freePort();
  const worker = spawnWorker({
    DBOPS_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TEMPORAL_ADDRESS: testAddress(),
    DBOPS_TASK_QUEUE: taskQueue,
    AWS_ENDPOINT_URL: motoEndpoint(),
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    DBOPS_CONFIG: writeWorkerConfig({}),
  });
  try {
    await until(() => worker.log().includes('polling task queue'), 'worker start');
    const customer = await makeCustomerVpc(fx, 'us-east-1');
    const database = await makeAwsDatabase(fx, {
      databaseId: uniqueName('db'),
      region: 'us-east-1',
      cidr: '10.250.32.0/19',
    });
    const input = {
      databaseId: database.databaseId,
      region: 'us-east-1',
      vpcId: customer.vpcId,
      cloud: { kind: 'aws' },
      timing: { pollInterval: '200ms', initiateTimeout: '30s', activeTimeout: '30s', heartbeatTimeout: '10s' },
    };
    const start = (type: string, args: object) =>
      t.client.workflow.execute(type, { workflowId: uniqueName(type), taskQueue, args: [args] });
    await start('peerVpc', input);
    await fx
      .ec2('us-east-1')
      .send(new DeleteRouteCommand({ RouteTableId: customer.mainTable, DestinationCidrBlock: database.cidr }));
    const r = (await start('reconcilePeering', input)) as ReconcilePeeringResult;
    expect(r).toMatchObject({ outcome: 'repaired', drift: [{ stage: 'route', action: 'create' }] });

    const text = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const series = (metrics: string, name: string, tags: string[]) =>
      metrics
        .split('\n')
        .filter((l) => l.startsWith(`${name}{`) && tags.every((tag) => l.includes(tag)))
        .map((l) => Number(l.split(' ').pop()));
    // The SDK exports workflow metrics on its own schedule: wait until the counters appear.
    await until(async () => series(await text(), 'dbops_reconcile_runs_total', []).length > 0, 'metrics', 30_000);
    const metrics = await text();
    expect(series(metrics, 'dbops_drift_total', ['workflow="reconcilePeering"', 'action="create"'])).toEqual([1]);
    expect(
      series(metrics, 'dbops_reconcile_runs_total', ['workflow="reconcilePeering"', 'outcome="repaired"']),
    ).toEqual([1]);
  } finally {
    worker.child.kill('SIGTERM');
    await new Promise((r) => worker.child.once('exit', r));
    await t.close();
  }
});
