/**
 * The worker process is killed (SIGKILL) while initiate waits, then started again: the run
 * resumes and completes with exactly one peering request, one EC2 peering and one route per table.
 */
import type { Progress } from '../../src/api';
import type { PeerVpcResult } from '../../src/workflows/peer-vpc';
import { AerospikeCloudFake } from '../fixtures/aerospike-cloud-fake';
import { motoEndpoint } from '../helpers/activities';
import { fixtureAws, makeCustomerVpc, peeringsBetween, routesTo } from '../helpers/aws-fixtures';
import { openTestEnv, testAddress, uniqueName } from '../helpers/temporal';
import { spawnWorker, until, writeWorkerConfig } from '../helpers/worker-process';

test('SIGKILL during initiate, restart: one peering, one route per table', async () => {
  const fx = fixtureAws();
  const fake = new AerospikeCloudFake({
    aws: fx,
    clientId: 'c',
    clientSecret: 'crash-secret-xyz',
    initiatingLists: 25,
  });
  await fake.start();
  const t = await openTestEnv();
  const taskQueue = uniqueName('crash-tq');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TEMPORAL_ADDRESS: testAddress(),
    DBOPS_TASK_QUEUE: taskQueue,
    AWS_ENDPOINT_URL: motoEndpoint(),
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AS_ID: 'c',
    AS_SECRET: 'crash-secret-xyz',
    // The real worker reads its configuration file: the fake's URLs are bound to the keys.
    DBOPS_CONFIG: writeWorkerConfig({
      aerospikeCloud: {
        fake: { apiUrl: fake.apiUrl, tokenUrl: fake.tokenUrl, clientId: 'env:AS_ID', clientSecret: 'env:AS_SECRET' },
      },
    }),
  };
  let worker = spawnWorker(env);
  try {
    const customer = await makeCustomerVpc(fx);
    const databaseId = uniqueName('crash-db');
    const cluster = await fake.addCluster(databaseId, { cidrBlock: '10.251.0.0/19', region: 'us-east-1' });
    await until(() => worker.log().includes('polling task queue'), 'worker start');
    const h = await t.client.workflow.start('peerVpc', {
      workflowId: uniqueName('crash'),
      taskQueue,
      args: [
        {
          databaseId,
          region: 'us-east-1',
          vpcId: customer.vpcId,
          cloud: {
            kind: 'aerospike-cloud',
            apiUrl: fake.apiUrl,
            tokenUrl: fake.tokenUrl,
            clientIdRef: 'env:AS_ID',
            clientSecretRef: 'env:AS_SECRET',
          },
          timing: { pollInterval: '200ms', initiateTimeout: '2m', activeTimeout: '1m', heartbeatTimeout: '2s' },
        },
      ],
    });
    // initiate has asked for the peering and is waiting for its id
    await until(() => cluster.peerings.length === 1 && cluster.peerings[0].listsSeen > 2, 'the peering request');
    const mid = await h.query<Progress>('progress');
    expect(mid.stages.find((s) => s.name === 'initiate')?.status).toBe('running');

    worker.child.kill('SIGKILL');
    await new Promise((r) => worker.child.once('exit', r));
    worker = spawnWorker(env);

    const result = (await h.result()) as PeerVpcResult;
    const posts = fake.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/vpc-peerings'));
    expect(posts).toHaveLength(1);
    expect(cluster.peerings).toHaveLength(1);
    const ec2Peerings = await peeringsBetween(fx, 'us-east-1', customer.vpcId, cluster.vpcId!);
    expect(ec2Peerings.map((p) => p.VpcPeeringConnectionId)).toEqual([result.peeringId]);
    for (const table of [customer.mainTable, customer.subnetTable]) {
      expect(await routesTo(fx, 'us-east-1', table, '10.251.0.0/19')).toHaveLength(1);
    }
    const history = await h.fetchHistory();
    const initiateAttempts = history
      .events!.filter((e) => e.activityTaskStartedEventAttributes?.attempt)
      .map((e) => e.activityTaskStartedEventAttributes!.attempt!);
    expect(Math.max(...initiateAttempts)).toBeGreaterThanOrEqual(2); // the killed attempt was retried on the new worker
  } finally {
    worker.child.kill('SIGKILL');
    await t.close();
    await fake.stop();
  }
});
