/**
 * Failover proof, against the real stack (worker processes as users run them, real Temporal dev
 * servers, moto behind the crash proxy):
 * 1. Two worker processes poll one task queue. A mutating AWS call is held in flight at the proxy;
 *    the worker process running that attempt (found by the attempt's worker identity, pid@host) is
 *    SIGKILLed, the call is let through to AWS, and the other worker, already running, finishes
 *    the run: no worker is started, everything is done once (one peering, one route per table,
 *    one zone association; one VPC with its subnets and zone), the attempt after the kill and the
 *    run's last workflow task ran on the survivor, and the history names no other worker.
 * 2. The Temporal server goes away mid-run: a dev server of its own, with its state in a SQLite
 *    file, is stopped (SIGTERM; SIGKILL) while an AWS call is held, and started again on the same
 *    port with the same file. The worker process keeps running through the outage (it logs
 *    retried polls) and carries on by itself once the server is back. With the call let through
 *    after the restart, the held attempt's reply is taken as it is; with AWS answering while the
 *    server is down longer than the worker retries its report, the reply is lost, the attempt is
 *    retried after its heartbeat timeout and finds the peering: either way one peering, same worker.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { canConnect, freePort, startDevServer, type DevServer } from '../../src/temporal/dev-server';
import type { CreateNetworkResult } from '../../src/workflows/create-database-network';
import type { PeerVpcResult } from '../../src/workflows/peer-vpc';
import { motoEndpoint } from '../helpers/activities';
import { fixtureAws, makeAwsDatabase, makeCustomerVpc } from '../helpers/aws-fixtures';
import { VENV_BIN } from '../helpers/stack';
import { openTestEnv, testAddress, uniqueName, type TestEnv } from '../helpers/temporal';
import { expectNetworkOnce, expectPeeredOnce } from '../helpers/aws-state';
import { until } from '../helpers/worker-process';
import { CrashableWorker, CrashProxy, expediteRetries } from './crash-harness';

jest.setTimeout(300_000);

const fx = fixtureAws();
const PendingActivityState = temporal.api.enums.v1.PendingActivityState;

let cidrOctet = 200;
/** A distinct database CIDR per run (customer VPCs use 10.1-120.0.0/16, the crash suite 10.151+). */
const nextDbCidr = () => `10.${++cidrOctet}.0.0/19`;

const timeout = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([
    p,
    new Promise<never>((_, rej) =>
      setTimeout(() => rej(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms).unref(),
    ),
  ]);

/** The env of a worker process on `address`, its AWS endpoint the proxy. */
function workerEnv(address: string, taskQueue: string, proxy: CrashProxy): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TEMPORAL_ADDRESS: address,
    DBOPS_TASK_QUEUE: taskQueue,
    AWS_ENDPOINT_URL: proxy.url,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
  };
}

/** The worker identities (pid@host) of the run's started activities, its children's included. */
async function attemptHolders(client: Client, workflowId: string, runId?: string): Promise<string[]> {
  const d = await client.workflowService.describeWorkflowExecution({
    namespace: 'default',
    execution: { workflowId, runId },
  });
  const mine = (d.pendingActivities ?? [])
    .filter((a) => a.state === PendingActivityState.PENDING_ACTIVITY_STATE_STARTED)
    .map((a) => a.lastWorkerIdentity ?? '');
  const children = await Promise.all(
    (d.pendingChildren ?? []).map((c) => attemptHolders(client, c.workflowId!, c.runId ?? undefined)),
  );
  return [...mine, ...children.flat()];
}

const pidOf = (w: CrashableWorker) => w.w!.child.pid!;
const identityOf = (w: CrashableWorker) => `${pidOf(w)}@${os.hostname()}`;
const alive = (w: CrashableWorker) => w.w!.child.exitCode === null && w.w!.child.signalCode === null;

interface WorkerTrace {
  /** Every worker identity the run's history (and its child runs') records. */
  identities: Set<string>;
  /** Who ran the last workflow task (the one that completed the run). */
  completedBy?: string;
  /** The activity attempts that completed: type, attempt number, worker identity. */
  activities: Array<{ type: string; attempt: number; identity: string }>;
}

/** Who did what, from the run's history (a retried activity records the attempt that completed). */
async function traceOf(client: Client, workflowId: string): Promise<WorkerTrace> {
  const trace: WorkerTrace = { identities: new Set(), activities: [] };
  const visit = async (id: string) => {
    const events = (await client.workflow.getHandle(id).fetchHistory()).events ?? [];
    const scheduled = new Map<string, string>();
    for (const e of events) {
      const who =
        e.workflowTaskStartedEventAttributes?.identity ??
        e.workflowTaskCompletedEventAttributes?.identity ??
        e.activityTaskStartedEventAttributes?.identity;
      if (who) trace.identities.add(who);
      if (e.workflowTaskCompletedEventAttributes?.identity && id === workflowId)
        trace.completedBy = e.workflowTaskCompletedEventAttributes.identity;
      if (e.activityTaskScheduledEventAttributes)
        scheduled.set(String(e.eventId), e.activityTaskScheduledEventAttributes.activityType?.name ?? '?');
      const started = e.activityTaskStartedEventAttributes;
      if (started)
        trace.activities.push({
          type: scheduled.get(String(started.scheduledEventId)) ?? '?',
          attempt: started.attempt ?? 0,
          identity: started.identity ?? '',
        });
      const child = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId;
      if (child) await visit(child);
    }
  };
  await visit(workflowId);
  return trace;
}

/** The proxy counted one successful call of each step of a peering. */
function expectPeeringCallsOnce(proxy: CrashProxy): void {
  expect(proxy.ok('CreateVpcPeeringConnection')).toBe(1);
  expect(proxy.ok('AcceptVpcPeeringConnection')).toBe(1);
  expect(proxy.ok('CreateRoute')).toBe(3); // two customer tables, one return route
  expect(proxy.ok('AssociateVPCWithHostedZone')).toBe(1);
}

/** Waits until the proxy holds the call it was told to stop (`stopAt`, armed before the run started). */
async function untilHeld(proxy: CrashProxy, action: string, h: WorkflowHandle): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (!proxy.isHolding()) {
    const { status } = await h.describe();
    if (status.name !== 'RUNNING') throw new Error(`the run is ${status.name} before ${action} was held`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${action} to reach the proxy`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Lets the held call through and waits until moto has acted on it. */
async function forwardHeld(proxy: CrashProxy, action: string): Promise<void> {
  const before = proxy.executed.get(action) ?? 0;
  proxy.forward();
  await until(() => (proxy.executed.get(action) ?? 0) > before, `the held ${action} to reach moto`);
}

describe('two worker processes on one task queue, the one running the attempt SIGKILLed', () => {
  let t: TestEnv;
  beforeAll(async () => (t = await openTestEnv()));
  afterAll(async () => t?.close());

  /**
   * Two workers on a fresh task queue; `action` is held when the run reaches it, the worker whose
   * attempt sent it is killed, the call goes through to AWS, and `afterKill` (if any) runs. The
   * survivor must finish the run alone.
   */
  async function failover<R>(o: {
    action: string;
    start: (taskQueue: string) => Promise<WorkflowHandle>;
    afterKill?: (h: WorkflowHandle) => Promise<void>;
  }) {
    const proxy = new CrashProxy(motoEndpoint());
    await proxy.start();
    const taskQueue = uniqueName('failover-tq');
    const workers = [
      new CrashableWorker(workerEnv(testAddress(), taskQueue, proxy)),
      new CrashableWorker(workerEnv(testAddress(), taskQueue, proxy)),
    ];
    try {
      await Promise.all(workers.map((w) => w.start()));
      proxy.reset();
      proxy.stopAt(o.action);
      const h = await o.start(taskQueue);
      await untilHeld(proxy, o.action, h);
      const holders = await attemptHolders(t.client, h.workflowId);
      expect(holders).toHaveLength(1);
      const victim = workers.find((w) => identityOf(w) === holders[0]);
      if (!victim)
        throw new Error(`the attempt's worker ${holders[0]} is none of ours: ${workers.map(identityOf).join(', ')}`);
      const survivor = workers.find((w) => w !== victim)!;
      await victim.killNow();
      await forwardHeld(proxy, o.action);
      await o.afterKill?.(h);
      const result = (await timeout(h.result(), 180_000, 'the run to finish on the surviving worker')) as R;
      expect(victim.w!.child.signalCode).toBe('SIGKILL');
      expect(alive(survivor)).toBe(true);
      return { h, result, proxy, victim: identityOf(victim), survivor: identityOf(survivor) };
    } catch (err) {
      (err as Error).message += workers.map((w, i) => `\n--- worker ${i} log ---\n${w.log().slice(-3000)}`).join('');
      throw err;
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
      await proxy.stop();
    }
  }

  test('peerVpc: SIGKILL the worker with CreateVpcPeeringConnection in flight; the other finishes: one peering, one route per table, one association', async () => {
    const customer = await makeCustomerVpc(fx);
    const db = await makeAwsDatabase(fx, {
      databaseId: uniqueName('failover-db'),
      region: 'us-east-1',
      cidr: nextDbCidr(),
    });
    // initiate heartbeats: with the worker dead, Temporal times the attempt out after 15 s of
    // silence and gives the retry to the worker still polling (no UpdateActivityOptions needed).
    const timing = { pollInterval: '200ms', initiateTimeout: '2m', activeTimeout: '1m', heartbeatTimeout: '15s' };
    const { h, result, proxy, victim, survivor } = await failover<PeerVpcResult>({
      action: 'CreateVpcPeeringConnection',
      start: (taskQueue) =>
        t.client.workflow.start('peerVpc', {
          workflowId: uniqueName('failover-peer'),
          taskQueue,
          workflowTaskTimeout: '5s',
          args: [
            { databaseId: db.databaseId, region: 'us-east-1', vpcId: customer.vpcId, cloud: { kind: 'aws' }, timing },
          ],
        }),
    });
    await expectPeeredOnce(fx, customer, db, result.peeringId!);
    expectPeeringCallsOnce(proxy);
    // The attempt after the kill ran on the survivor, which also completed the run; no third worker.
    const trace = await traceOf(t.client, h.workflowId);
    const initiate = trace.activities.filter((a) => a.type === 'databaseInitiate');
    expect(initiate).toEqual([{ type: 'databaseInitiate', attempt: 2, identity: survivor }]);
    expect(trace.completedBy).toBe(survivor);
    expect([...trace.identities].filter((i) => i !== victim && i !== survivor)).toEqual([]);
  });

  test('createDatabaseNetwork: SIGKILL the worker with CreateVpc in flight; the other finishes: one VPC, its subnets and zone, one peering', async () => {
    const customer = await makeCustomerVpc(fx);
    const databaseId = uniqueName('failover-net');
    const cidr = nextDbCidr();
    const timing = { pollInterval: '200ms', initiateTimeout: '2m', activeTimeout: '1m', heartbeatTimeout: '2s' };
    const { h, result, proxy, victim, survivor } = await failover<CreateNetworkResult>({
      action: 'CreateVpc',
      start: (taskQueue) =>
        t.client.workflow.start('createDatabaseNetwork', {
          workflowId: uniqueName('failover-net'),
          taskQueue,
          workflowTaskTimeout: '5s',
          args: [
            {
              databaseId,
              region: 'us-east-1',
              vpcId: customer.vpcId,
              cidr,
              availabilityZones: ['us-east-1a', 'us-east-1b'],
              timing,
            },
          ],
        }),
      // The create does not heartbeat: its attempt would wait out start-to-close (2 min) for the
      // dead worker. Shorten it (crash-harness.ts): the retry then comes within seconds.
      afterKill: async (h) => void (await expediteRetries(t.client, h.workflowId)),
    });
    await expectNetworkOnce(fx, customer, databaseId, cidr, result);
    expect(proxy.ok('CreateVpc')).toBe(1);
    expect(proxy.ok('CreateSubnet')).toBe(2);
    expect(proxy.ok('CreateHostedZone')).toBe(1);
    expectPeeringCallsOnce(proxy);
    expect(proxy.seen.get('DeleteVpc')).toBeUndefined(); // nothing was undone and redone
    const trace = await traceOf(t.client, h.workflowId);
    expect(trace.activities.filter((a) => a.type === 'createDatabaseVpc').map((a) => [a.attempt, a.identity])).toEqual([
      [2, survivor],
    ]);
    expect(trace.completedBy).toBe(survivor);
    expect([...trace.identities].filter((i) => i !== victim && i !== survivor)).toEqual([]);
  });
});

describe('the Temporal server stopped and started again with its state file mid-run', () => {
  let dir: string;
  let port: number;
  let server: DevServer | undefined;
  let connection: Connection | undefined;
  let client: Client;
  let proxy: CrashProxy;
  let worker: CrashableWorker;
  const taskQueue = uniqueName('outage-tq');
  const address = () => `127.0.0.1:${port}`;

  /** A dev server of its own, as the embedded default runs it: state in a SQLite file; fixed port. */
  const startServer = async () => {
    server = await startDevServer({
      cli: path.join(VENV_BIN, 'temporal'),
      port,
      dbFile: path.join(dir, 'temporal.db'),
      logFile: path.join(dir, 'temporal.log'),
    });
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-failover-'));
    port = await freePort();
    await startServer();
    connection = await Connection.connect({ address: address() });
    client = new Client({ connection, namespace: 'default' });
    proxy = new CrashProxy(motoEndpoint());
    await proxy.start();
    // One worker process for every case: it must ride out each outage. It registers dbops's
    // search attributes on this fresh server itself (src/worker.ts).
    worker = new CrashableWorker(workerEnv(address(), taskQueue, proxy));
    await worker.start();
  });

  afterAll(async () => {
    await worker?.stop();
    await proxy?.stop();
    await connection?.close();
    await server?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /**
   * A peerVpc whose CreateVpcPeeringConnection is held; the server is taken down with `signal`,
   * stays down `downFor` ms and is started again on the same port with the same file. The held
   * call goes through to AWS either after the restart or right after the server went down.
   */
  async function throughOutage(o: {
    signal: 'SIGTERM' | 'SIGKILL';
    reply: 'after-restart' | 'while-down';
    downFor: number;
    heartbeatTimeout: string;
  }) {
    const customer = await makeCustomerVpc(fx);
    const db = await makeAwsDatabase(fx, {
      databaseId: uniqueName('outage-db'),
      region: 'us-east-1',
      cidr: nextDbCidr(),
    });
    const timing = {
      pollInterval: '200ms',
      initiateTimeout: '2m',
      activeTimeout: '1m',
      heartbeatTimeout: o.heartbeatTimeout,
    };
    proxy.reset();
    proxy.stopAt('CreateVpcPeeringConnection');
    const h = await client.workflow.start('peerVpc', {
      workflowId: uniqueName(`outage-${o.signal.toLowerCase()}`),
      taskQueue,
      workflowTaskTimeout: '5s',
      args: [{ databaseId: db.databaseId, region: 'us-east-1', vpcId: customer.vpcId, cloud: { kind: 'aws' }, timing }],
    });
    try {
      await untilHeld(proxy, 'CreateVpcPeeringConnection', h);
      if (o.signal === 'SIGKILL') process.kill(server!.pid, 'SIGKILL');
      await server!.stop(); // SIGTERM (after a SIGKILL: just waits for the exit)
      expect(await canConnect('127.0.0.1', port)).toBe(false);
      if (o.reply === 'while-down') await forwardHeld(proxy, 'CreateVpcPeeringConnection');
      await new Promise((r) => setTimeout(r, o.downFor));
      expect(alive(worker)).toBe(true); // polling a server that is not there does not stop the worker
      await startServer();
      if (o.reply === 'after-restart') await forwardHeld(proxy, 'CreateVpcPeeringConnection');
      const result = (await timeout(
        h.result(),
        180_000,
        'the run to finish after the server came back',
      )) as PeerVpcResult;
      await expectPeeredOnce(fx, customer, db, result.peeringId!);
      expectPeeringCallsOnce(proxy);
      // The same worker process did everything, before and after the outage, and is still running.
      expect(alive(worker)).toBe(true);
      const trace = await traceOf(client, h.workflowId);
      expect([...trace.identities]).toEqual([identityOf(worker)]);
      return { trace };
    } catch (err) {
      (err as Error).message += `\n--- worker log ---\n${worker.log().slice(-4000)}`;
      throw err;
    }
  }

  test.each(['SIGTERM', 'SIGKILL'] as const)(
    '%s the server while CreateVpcPeeringConnection is in flight, start it again, let the call through: one peering; the same worker finishes',
    async (signal) => {
      // The product's default heartbeat timeout (1 min) outlasts the outage: the held attempt is
      // still the current one when the server is back, and its reply is taken as it is.
      const { trace } = await throughOutage({ signal, reply: 'after-restart', downFor: 5_000, heartbeatTimeout: '1m' });
      expect(trace.activities.filter((a) => a.type === 'databaseInitiate').map((a) => a.attempt)).toEqual([1]);
    },
  );

  test('SIGKILL the server; AWS answers while it is down for longer than the worker retries its report: the retried attempt finds the peering, one peering', async () => {
    // The worker retries reporting the result for about 10 s ("Network error while completing
    // activity" in its log), then drops it. Once the server is back, the attempt times out on its
    // heartbeat (15 s) and is retried on the same worker, which finds the peering AWS made and
    // does not ask again.
    const { trace } = await throughOutage({
      signal: 'SIGKILL',
      reply: 'while-down',
      downFor: 20_000,
      heartbeatTimeout: '15s',
    });
    expect(trace.activities.filter((a) => a.type === 'databaseInitiate').map((a) => a.attempt)).toEqual([2]);
  });
});
