/**
 * The crash harness: the product's worker as a real process (`node dist/worker.js`) whose AWS
 * endpoint is a proxy in front of moto run by the test, so the test can stop one mutating call at
 * a chosen point and SIGKILL the worker there:
 * - before: the call is held at the proxy, the worker is killed, the call is dropped (AWS never
 *   sees it);
 * - during: the call is held, the worker is killed, then the call is let through (AWS acts; the
 *   reply goes nowhere);
 * - after: the worker is killed the moment AWS's reply has been sent back to it.
 * Then a new worker process is started and the run must finish having done everything once.
 *
 * Speeding up the restart: a killed worker's activity attempt is only retried when Temporal times
 * it out (start-to-close 2-5 min for calls that do not heartbeat, heartbeat 5 min for
 * delete-clone). After the kill the harness shortens the running attempts' timeouts with
 * UpdateActivityOptions (start-to-close 10 s), so Temporal retries them within seconds. That is
 * exactly what happens after the real timeout, only sooner; retries, inputs and code are unchanged.
 */
import type http from 'node:http';
import { Readable } from 'node:stream';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { AwsFaultProxy } from '../fixtures/aws-fault-proxy';
import { spawnWorker, until, type WorkerProcess } from '../helpers/worker-process';

export type When = 'before' | 'during' | 'after';

/** Route 53 REST calls the harness may stop, by API name (the fixture names the rest). */
const ROUTE53: Array<[string, RegExp, string]> = [
  ['POST', /^\/2013-04-01\/hostedzone$/, 'CreateHostedZone'],
  ['DELETE', /^\/2013-04-01\/hostedzone\/[^/]+$/, 'DeleteHostedZone'],
  ['POST', /^\/2013-04-01\/hostedzone\/[^/]+\/associatevpc$/, 'AssociateVPCWithHostedZone'],
  ['POST', /^\/2013-04-01\/hostedzone\/[^/]+\/disassociatevpc$/, 'DisassociateVPCFromHostedZone'],
];

function actionOf(req: http.IncomingMessage, body: Buffer): string {
  const url = req.url ?? '';
  if (url.startsWith('/2013-04-01/')) {
    const p = url.split('?')[0];
    return ROUTE53.find(([m, re]) => m === req.method && re.test(p))?.[2] ?? `${req.method} ${p}`;
  }
  return new URLSearchParams(body.toString('utf8')).get('Action') ?? `${req.method} ${url}`;
}

/**
 * AwsFaultProxy (its counting and forwarding unchanged) plus one stop per run: `stopAt(action)`
 * holds the next call of that action until `forward()` or `drop()`; `onReply(action, fn)` calls
 * `fn` synchronously once moto's reply to the next such call has been written. `succeeded` counts
 * the calls moto answered with 2xx (the fixture's `executed` counts error replies too).
 */
export class CrashProxy extends AwsFaultProxy {
  readonly succeeded = new Map<string, number>();
  readonly dropped: string[] = [];
  private stopped?: { action: string; decide?: (forward: boolean) => void };
  private replyHook?: { action: string; fn: () => void };

  constructor(target: string) {
    super(target, []);
  }

  stopAt(action: string): void {
    this.stopped = { action };
  }

  onReply(action: string, fn: () => void): void {
    this.replyHook = { action, fn };
  }

  /** The stopped call has arrived and is being held. */
  isHolding(): boolean {
    return !!this.stopped?.decide;
  }

  forward(): void {
    this.settle(true);
  }

  drop(): void {
    this.settle(false);
  }

  ok(action: string): number {
    return this.succeeded.get(action) ?? 0;
  }

  reset(): void {
    this.seen.clear();
    this.executed.clear();
    this.succeeded.clear();
    this.dropped.splice(0);
  }

  private settle(forward: boolean): void {
    const s = this.stopped;
    if (!s?.decide) throw new Error('no call is being held');
    this.stopped = undefined;
    s.decide(forward);
  }

  protected override async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const action = actionOf(req, body);
    if (this.stopped && this.stopped.action === action && !this.stopped.decide) {
      const stop = this.stopped;
      const forward = await new Promise<boolean>((r) => (stop.decide = r));
      if (!forward) {
        this.dropped.push(action);
        req.socket.destroy();
        return;
      }
    }
    const writeHead = res.writeHead.bind(res) as (...a: unknown[]) => http.ServerResponse;
    (res as unknown as { writeHead: (...a: unknown[]) => http.ServerResponse }).writeHead = (...a: unknown[]) => {
      const status = a[0] as number;
      if (status >= 200 && status < 300) this.succeeded.set(action, this.ok(action) + 1);
      return writeHead(...a);
    };
    // The fixture reads the body again: hand it a replay of the request.
    const replay = Object.assign(Readable.from(body.length ? [body] : []), {
      method: req.method,
      url: req.url,
      headers: req.headers,
      socket: req.socket,
    });
    await super.handle(replay as unknown as http.IncomingMessage, res);
    const hook = this.replyHook;
    if (hook && hook.action === action && (this.executed.get(action) ?? 0) > 0) {
      this.replyHook = undefined;
      hook.fn();
    }
  }
}

/** A worker process that can be killed and replaced. */
export class CrashableWorker {
  w?: WorkerProcess;
  readonly logs: string[] = [];
  constructor(private readonly env: NodeJS.ProcessEnv) {}

  async start(): Promise<void> {
    const w = spawnWorker(this.env);
    this.w = w;
    await until(() => w.log().includes('polling task queue'), `the worker to start:\n${w.log()}`, 30_000);
  }

  /** SIGKILL now (synchronously), without waiting for the exit. */
  killNow(): Promise<void> {
    const w = this.w;
    if (!w || w.child.exitCode !== null || w.child.signalCode) return Promise.resolve();
    const exited = new Promise<void>((r) => w.child.once('exit', () => r()));
    w.child.kill('SIGKILL');
    this.logs.push(w.log());
    return exited;
  }

  async stop(): Promise<void> {
    await this.killNow();
  }

  log(): string {
    return [...this.logs, this.w?.log() ?? ''].join('\n--- restart ---\n');
  }
}

const PendingActivityState = temporal.api.enums.v1.PendingActivityState;

/**
 * Shortens the start-to-close timeout of every started activity of the run (and of its running
 * child runs) that would otherwise wait minutes for the killed worker: see the file comment.
 */
export async function expediteRetries(client: Client, workflowId: string, runId?: string): Promise<number> {
  const svc = client.workflowService;
  const d = await svc.describeWorkflowExecution({ namespace: 'default', execution: { workflowId, runId } });
  let n = 0;
  for (const a of d.pendingActivities ?? []) {
    if (a.state !== PendingActivityState.PENDING_ACTIVITY_STATE_STARTED) continue;
    const hb = Number(a.activityOptions?.heartbeatTimeout?.seconds ?? 0);
    if (hb > 0 && hb <= 10) continue; // a short heartbeat timeout notices the dead worker by itself
    await svc.updateActivityOptions({
      namespace: 'default',
      execution: { workflowId, runId: d.workflowExecutionInfo?.execution?.runId },
      identity: 'crash-harness',
      id: a.activityId,
      activityOptions: { startToCloseTimeout: { seconds: 10 as never /* protobufjs encodes a number for int64 */ } },
      updateMask: { paths: ['start_to_close_timeout'] },
    });
    n += 1;
  }
  for (const c of d.pendingChildren ?? []) n += await expediteRetries(client, c.workflowId!, c.runId ?? undefined);
  return n;
}

export interface CrashPoint {
  action: string;
  when: When;
}

/**
 * Brings the run to the point (the proxy stop must be armed by `arm` before the run reaches it),
 * kills the worker there, settles the stopped call, shortens the dead attempt's timeouts and
 * starts a new worker.
 */
export function arm(proxy: CrashProxy, worker: CrashableWorker, point: CrashPoint): { killed: Promise<void> } {
  if (point.when === 'after') {
    let resolveKilled!: (p: Promise<void>) => void;
    const killed = new Promise<Promise<void>>((r) => (resolveKilled = r));
    proxy.onReply(point.action, () => resolveKilled(worker.killNow()));
    return { killed: killed.then((p) => p) };
  }
  proxy.stopAt(point.action);
  const killed = (async () => {
    await until(() => proxy.isHolding(), `${point.action} to reach the proxy`, 90_000);
    await worker.killNow();
    if (point.when === 'during') {
      const before = proxy.executed.get(point.action) ?? 0;
      proxy.forward();
      await until(() => (proxy.executed.get(point.action) ?? 0) > before, `the held ${point.action} to reach moto`);
    } else {
      proxy.drop();
    }
  })();
  return { killed };
}

/** After the kill: expedite the dead attempts, start the new worker. */
export async function restart(client: Client, handle: WorkflowHandle, worker: CrashableWorker): Promise<void> {
  await expediteRetries(client, handle.workflowId);
  await worker.start();
}
