/**
 * peerVpc and unpeerVpc with the Aerospike Cloud database side, against the HTTP fake of its API
 * (test/fixtures/aerospike-cloud-fake.ts) whose peerings are real EC2 peerings in moto, made from
 * the fake's own account: the customer side accepts, routes and associates for real.
 */
import { WorkflowFailedError } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import type { Progress } from '../../src/api';
import { createActivities } from '../../src/activities';
import type { PeerVpcResult } from '../../src/workflows/peer-vpc';
import { AerospikeCloudFake } from '../fixtures/aerospike-cloud-fake';
import { testConfig } from '../helpers/activities';
import {
  countingAws,
  fixtureAws,
  makeCustomerVpc,
  peeringsBetween,
  routesTo,
  type CallLog,
} from '../helpers/aws-fixtures';
import { makeWorker, openTestEnv, uniqueName, type TestEnv } from '../helpers/temporal';

const TIMING = { pollInterval: '200ms', initiateTimeout: '30s', activeTimeout: '30s', heartbeatTimeout: '10s' };
const SECRET = 'fake-client-secret-123456';
const fx = fixtureAws();

let t: TestEnv;
let worker: Worker;
let running: Promise<void>;
let log: CallLog;
let fake: AerospikeCloudFake;

beforeAll(async () => {
  fake = new AerospikeCloudFake({
    aws: fx,
    clientId: 'client-1',
    clientSecret: SECRET,
    initiatingLists: 2,
    pageSize: 2,
  });
  await fake.start();
  t = await openTestEnv();
  const counted = countingAws();
  log = counted.log;
  const env = { AS_CLIENT_ID: 'client-1', AS_CLIENT_SECRET: SECRET, AS_WRONG_SECRET: 'not-the-secret-at-all' };
  // The operator binds the client id and secret to the fake's token URL (and the wrong secret to
  // a second account on the same URLs, for the rejected-credentials test).
  const config = testConfig({
    aerospikeCloud: {
      fake: {
        apiUrl: fake.apiUrl,
        tokenUrl: fake.tokenUrl,
        clientId: 'env:AS_CLIENT_ID',
        clientSecret: 'env:AS_CLIENT_SECRET',
      },
      'fake-wrong': {
        apiUrl: fake.apiUrl,
        tokenUrl: fake.tokenUrl,
        clientId: 'env:AS_CLIENT_ID',
        clientSecret: 'env:AS_WRONG_SECRET',
      },
    },
  });
  worker = await makeWorker(t, createActivities({ env, aws: counted.aws, cloudRequestTimeoutMs: 500, config }));
  running = worker.run();
});
afterAll(async () => {
  worker.shutdown();
  await running;
  await t.close();
  await fake.stop();
});

async function setup(o: { provisioningGets?: number; otherPeerings?: number } = {}) {
  const customer = await makeCustomerVpc(fx);
  const databaseId = uniqueName('as-db');
  const cluster = await fake.addCluster(databaseId, {
    cidrBlock: '10.250.0.0/19',
    region: 'us-east-1',
    provisioningGets: o.provisioningGets,
  });
  for (let i = 0; i < (o.otherPeerings ?? 0); i++) {
    cluster.peerings.push({
      id: `other-${i}`,
      vpcId: `vpc-0000000${i}`,
      accountId: '999999999999',
      region: 'us-east-1',
      status: 'active',
      peeringId: `pcx-other${i}`,
      cidrBlock: '172.16.0.0/16',
      privateHostedZoneId: null,
      isSecureConnection: false,
      listsSeen: 9,
    });
  }
  const input = {
    databaseId,
    region: 'us-east-1',
    vpcId: customer.vpcId,
    timing: TIMING,
    cloud: {
      kind: 'aerospike-cloud',
      apiUrl: fake.apiUrl,
      tokenUrl: fake.tokenUrl,
      clientIdRef: 'env:AS_CLIENT_ID',
      clientSecretRef: 'env:AS_CLIENT_SECRET',
    },
  };
  return { customer, cluster, input };
}

async function run(type: 'peerVpc' | 'unpeerVpc', input: object) {
  log.reset();
  fake.requests.splice(0);
  const h = await t.client.workflow.start(type, {
    workflowId: uniqueName(type),
    taskQueue: t.taskQueue,
    args: [input],
  });
  const result = await h.result().catch((e: unknown) => e);
  return {
    h,
    result,
    progress: await h.query<Progress>('progress'),
    mutating: log.mutating(),
    failure: result instanceof WorkflowFailedError ? result.cause?.message : undefined,
    api: fake.requests.map(
      (r) => `${r.method} ${r.path.replace(/\/v2\/database\/clusters\/[^/]+/, '/cluster')} ${r.status}`,
    ),
  };
}

test('full run waits out provisioning and initiating-request, pages through peerings, and a re-run changes nothing', async () => {
  const { customer, cluster, input } = await setup({ provisioningGets: 2, otherPeerings: 3 });
  const r = await run('peerVpc', input);
  expect(r.failure).toBeUndefined();
  const res = r.result as PeerVpcResult;
  const mine = cluster.peerings.find((p) => p.vpcId === customer.vpcId)!;
  expect(res.peeringId).toBe(mine.peeringId);
  expect(res.hostedZoneId).toBe(cluster.zoneId);
  expect(mine).toMatchObject({ accountId: '123456789012', region: 'us-east-1', cidrBlock: customer.cidr });
  expect(r.api.filter((x) => x.startsWith('POST /cluster/vpc-peerings'))).toEqual(['POST /cluster/vpc-peerings 201']);
  expect(r.api.filter((x) => x.startsWith('POST /oauth/token'))).toHaveLength(1); // token cached across calls
  expect(r.api).toContain('GET /cluster/vpc-peerings?limit=100&offset=2 200'); // the fake caps pages at 2
  const pcx = await peeringsBetween(fx, 'us-east-1', customer.vpcId, cluster.vpcId!);
  expect(pcx.map((p) => [p.Status?.Code, p.RequesterVpcInfo?.OwnerId])).toEqual([['active', '333333333333']]);
  expect((await routesTo(fx, 'us-east-1', customer.subnetTable, '10.250.0.0/19'))[0].VpcPeeringConnectionId).toBe(
    res.peeringId,
  );
  expect(r.progress.stages.find((s) => s.name === 'route')?.detail).toContain(
    'return route managed by Aerospike Cloud',
  );

  const again = await run('peerVpc', input);
  expect(again.failure).toBeUndefined();
  expect(again.mutating).toEqual([]);
  expect(again.api.filter((x) => !x.startsWith('GET'))).toEqual([]);
  expect(again.progress.stages.map((s) => s.status)).toEqual(['done', 'skipped', 'skipped', 'skipped', 'skipped']);
});

test('an expired token (401) is refreshed once and the run goes on', async () => {
  const { input } = await setup();
  await run('peerVpc', { ...input, stages: ['initiate'] });
  fake.expireTokens();
  const r = await run('peerVpc', input);
  expect(r.failure).toBeUndefined();
  expect(r.api[0]).toBe('GET /cluster 401');
  expect(r.api[1]).toBe('POST /oauth/token 200');
});

test('wrong API credentials fail at prepare without retry and without the secret in the message', async () => {
  const { input } = await setup();
  const r = await run('peerVpc', { ...input, cloud: { ...input.cloud, clientSecretRef: 'env:AS_WRONG_SECRET' } });
  expect(r.failure).toBe(
    'stage "prepare" failed: Aerospike Cloud rejected the API credentials (HTTP 401: Bad client credentials)',
  );
  expect(r.api.filter((x) => x.startsWith('POST /oauth/token'))).toHaveLength(1);
  expect(JSON.stringify(r.progress)).not.toContain('not-the-secret-at-all');
});

test('5xx replies and a reply slower than the request timeout are retried, and the run completes', async () => {
  const { input } = await setup();
  fake.failNext(1, 500);
  fake.slowNext(1, 1500); // the activity's request timeout is 500 ms
  const r = await run('peerVpc', input);
  expect(r.failure).toBeUndefined();
  expect(r.api).toContain('GET /cluster 500');
  // Retried: within the request (a GET is tried 3 times) or by the activity, depending on timing;
  // either way the cluster was read again after the 500.
  const failed = r.api.indexOf('GET /cluster 500');
  expect(r.api.slice(failed + 1)).toContain('GET /cluster 200');
});

test('an unknown database is a clear, non-retried error', async () => {
  const { input } = await setup();
  const r = await run('peerVpc', { ...input, databaseId: 'nope' });
  expect(r.failure).toBe('stage "prepare" failed: database nope not found in Aerospike Cloud');
});

test.each([
  ['a reply beyond 1 MiB', { padding: 2 * 1024 * 1024 }, /get cluster: reply larger than 1048576 bytes, not read/],
  [
    'a status with terminal escapes',
    { status: 'active\u001b]0;owned\u0007' },
    /reply has a cluster status that is not one/,
  ],
  [
    'a status that is an object',
    { status: { nested: 'x'.repeat(50) } },
    /reply has a cluster status that is not one \(object\)/,
  ],
])('%s from the API fails prepare non-retryably; nothing is created', async (_name, reply, message) => {
  const { customer, cluster, input } = await setup();
  fake.clusterReply = reply;
  try {
    const r = await run('peerVpc', input);
    expect(r.failure).toMatch(/^stage "prepare" failed: /);
    expect(r.failure).toMatch(message);
    expect(r.failure).not.toContain('\u001b');
    expect(r.api.filter((x) => x.startsWith('GET /cluster '))).toHaveLength(1); // not retried
    expect(r.mutating).toEqual([]);
    expect(cluster.peerings.filter((p) => p.vpcId === customer.vpcId)).toEqual([]);
  } finally {
    fake.clusterReply = {};
  }
});

test('unpeer deletes the peering through the API and cleans up the customer side', async () => {
  const { customer, cluster, input } = await setup();
  const peered = await run('peerVpc', input);
  const pcx = (peered.result as PeerVpcResult).peeringId!;
  const u = await run('unpeerVpc', {
    databaseId: input.databaseId,
    region: input.region,
    vpcId: input.vpcId,
    cloud: input.cloud,
    timing: TIMING,
  });
  expect(u.failure).toBeUndefined();
  expect(u.api).toContain(`DELETE /cluster/vpc-peerings/${pcx} 204`);
  expect(cluster.peerings.find((p) => p.peeringId === pcx)?.status).toBe('deleted');
  expect(await routesTo(fx, 'us-east-1', customer.mainTable, '10.250.0.0/19')).toEqual([]);
  const again = await run('unpeerVpc', {
    databaseId: input.databaseId,
    region: input.region,
    vpcId: input.vpcId,
    cloud: input.cloud,
    timing: TIMING,
  });
  expect(again.api.filter((x) => x.startsWith('DELETE'))).toEqual([]);
  expect(again.mutating).toEqual([]);
});

test('plan (issue 14): reads the Aerospike Cloud side only (GETs), lists what a run would do; no change on either side; a reconcile is refused', async () => {
  const { customer, cluster, input } = await setup();
  const plan = await run('peerVpc', { ...input, plan: true });
  expect(plan.failure).toBeUndefined();
  expect(plan.mutating).toEqual([]);
  expect(plan.api.filter((x) => !x.startsWith('GET ') && !x.startsWith('POST /oauth/token'))).toEqual([]);
  expect(cluster.peerings.filter((p) => p.vpcId === customer.vpcId)).toEqual([]);
  const changes = (plan.result as { changes: Array<{ stage: string; action: string; what: string }> }).changes;
  expect(changes.map((c) => `${c.stage} ${c.action} ${c.what}`)).toEqual(
    expect.arrayContaining([
      `initiate create VPC peering ${input.databaseId} ↔ ${customer.vpcId}`,
      `route create route 10.250.0.0/19 in ${customer.subnetTable} → the new peering`,
    ]),
  );
  // Aerospike Cloud routes its own side: no return route in the plan.
  expect(changes.filter((c) => c.what.includes('database VPC'))).toEqual([]);

  expect((await run('peerVpc', input)).failure).toBeUndefined();
  const again = await run('peerVpc', { ...input, plan: true });
  expect((again.result as { changes: unknown[] }).changes).toEqual([]);
  expect(again.mutating).toEqual([]);

  log.reset();
  const h = await t.client.workflow.start('reconcilePeering', {
    workflowId: uniqueName('reconcile'),
    taskQueue: t.taskQueue,
    args: [input],
  });
  const err = await h.result().catch((e: unknown) => e);
  expect((err as WorkflowFailedError).cause?.message).toContain('AWS database network only');
  expect(log.mutating()).toEqual([]);
});
