/**
 * Mocked activities for the workflow-logic tests (test/workflows): plain async functions that
 * record each call (name, arguments, the calling workflow) and return canned results shaped like
 * the real activities', plus what those tests share (a worker per file, failure and progress
 * helpers, a gate that holds a call in flight until the test releases it).
 *
 * No time-skipping test server exists on this machine (and it cannot be downloaded), so these
 * tests run on the real Temporal dev server that jest's global setup starts; the mocks return at
 * once, so a run takes well under a second.
 */
import { Context } from '@temporalio/activity';
import {
  ApplicationFailure,
  CancelledFailure,
  WorkflowFailedError,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import type { Progress, StageStatus } from '../../src/api';
import { makeWorker, openTestEnv, uniqueName, type TestEnv } from './temporal';

export type Impl = (...args: any[]) => Promise<any>;

export interface Call {
  name: string;
  args: unknown[];
  /** The workflow that scheduled the call (a child's calls carry the child's id). */
  workflowId: string;
  workflowType: string;
  local: boolean;
}

/**
 * One dispatcher per activity name, registered once on the file's worker; each test resets the
 * record and may override any activity for its own run.
 */
export class MockActivities {
  readonly calls: Call[] = [];
  private readonly overrides = new Map<string, Impl>();

  constructor(private readonly defaults: Record<string, Impl>) {}

  /** The object to register on the worker. */
  activities(): Record<string, Impl> {
    const out: Record<string, Impl> = {};
    for (const name of Object.keys(this.defaults)) {
      out[name] = async (...args: unknown[]) => {
        const info = Context.current().info;
        this.calls.push({
          name,
          args,
          workflowId: info.workflowExecution?.workflowId ?? '',
          workflowType: info.workflowType ?? '',
          local: info.isLocal,
        });
        return (this.overrides.get(name) ?? this.defaults[name])(...args);
      };
    }
    return out;
  }

  /** An activity's current behaviour (its override, else its default), for a mock made of others. */
  impl(name: string): Impl {
    const f = this.overrides.get(name) ?? this.defaults[name];
    if (!f) throw new Error(`no mocked activity ${name}`);
    return f;
  }

  /** Replaces an activity's behaviour until the next reset. */
  set(name: string, impl: Impl): void {
    if (!(name in this.defaults)) throw new Error(`no mocked activity ${name}`);
    this.overrides.set(name, impl);
  }

  reset(): void {
    this.calls.length = 0;
    this.overrides.clear();
  }

  /** The activity names called, in order; only those `workflowId` scheduled, when given. */
  names(workflowId?: string): string[] {
    return this.of(workflowId).map((c) => c.name);
  }

  /** The argument lists of every call of `name`. */
  args(name: string, workflowId?: string): unknown[][] {
    return this.of(workflowId)
      .filter((c) => c.name === name)
      .map((c) => c.args);
  }

  private of(workflowId?: string): Call[] {
    return workflowId === undefined ? this.calls : this.calls.filter((c) => c.workflowId === workflowId);
  }
}

/** An activity that fails without retry, as a real one does for a permanent error. */
export function failing(message: string, type = 'SomeType'): Impl {
  return async () => {
    throw ApplicationFailure.nonRetryable(message, type);
  };
}

/**
 * Holds a call in flight: the mocked activity awaits `hold()`, the test awaits `entered`, does
 * what it tests (cancels the run) and calls `release()`. While held, the activity heartbeats, so
 * a cancellation the workflow sends it reaches it (then `hold()` throws CancelledFailure).
 */
export class Gate {
  readonly entered: Promise<void>;
  private enter!: () => void;
  private open!: () => void;
  private readonly opened: Promise<void>;
  private released = false;

  constructor() {
    this.entered = new Promise<void>((r) => (this.enter = r));
    this.opened = new Promise<void>((r) => (this.open = r));
  }

  async hold(): Promise<void> {
    this.enter();
    const ctx = Context.current();
    while (!this.released) {
      ctx.heartbeat();
      await Promise.race([ctx.sleep(50), this.opened]);
    }
  }

  release(): void {
    this.released = true;
    this.open();
  }

  /** An activity that holds, then returns `value`. */
  then<T>(value: T | (() => T)): Impl {
    return async () => {
      await this.hold();
      return typeof value === 'function' ? (value as () => T)() : value;
    };
  }
}

/** A client, a task queue and a worker running the bundled workflows with `mocks`, for one test file. */
export interface MockedWorld {
  t: TestEnv;
  worker: Worker;
  start<A extends unknown[]>(
    workflowType: string,
    prefix: string,
    args: A,
  ): Promise<WorkflowHandleWithFirstExecutionRunId>;
  close(): Promise<void>;
}

export async function mockedWorld(mocks: MockActivities): Promise<MockedWorld> {
  const t = await openTestEnv();
  const worker = await makeWorker(t, mocks.activities());
  const running = worker.run();
  return {
    t,
    worker,
    start: (workflowType, prefix, args) =>
      t.client.workflow.start(workflowType, { taskQueue: t.taskQueue, workflowId: uniqueName(prefix), args }),
    async close() {
      worker.shutdown();
      await running;
      await t.close();
    },
  };
}

/**
 * The per-file set-up of a mocked-activity test: one worker for the file, the calls reset before
 * each test. Returns the world once beforeAll has run.
 */
export function useMockedWorld(mocks: MockActivities): () => MockedWorld {
  let w: MockedWorld | undefined;
  beforeAll(async () => {
    w = await mockedWorld(mocks);
  });
  afterAll(async () => {
    await w?.close();
  });
  beforeEach(() => mocks.reset());
  return () => w!;
}

/** Cancels the run while `gate` holds its activity, lets the activity go, and expects the run to end cancelled. */
export async function cancelWhileHeld(gate: Gate, handle: WorkflowHandle): Promise<void> {
  await gate.entered;
  await handle.cancel();
  gate.release();
  await expectCancelled(handle);
}

/** The failure a run ended with (the cause of its WorkflowFailedError); throws if it completed. */
export async function runFailure(handle: WorkflowHandle): Promise<Error> {
  try {
    await handle.result();
  } catch (err) {
    if (err instanceof WorkflowFailedError && err.cause) return err.cause;
    throw err;
  }
  throw new Error(`${handle.workflowId} completed, expected it to fail`);
}

/** Asserts the run failed with a non-retryable ApplicationFailure of `type`; returns it. */
export async function expectFailure(handle: WorkflowHandle, type: string): Promise<ApplicationFailure> {
  const cause = await runFailure(handle);
  if (!(cause instanceof ApplicationFailure))
    throw new Error(`expected an ApplicationFailure, got ${cause.name}: ${cause.message}`);
  expect(cause.type).toBe(type);
  expect(cause.nonRetryable).toBe(true);
  return cause;
}

/** Asserts the run ended cancelled (status CANCELLED, its result a CancelledFailure). */
export async function expectCancelled(handle: WorkflowHandle): Promise<void> {
  const cause = await runFailure(handle);
  expect(cause).toBeInstanceOf(CancelledFailure);
  expect((await handle.describe()).status.name).toBe('CANCELLED');
}

export async function progressOf(handle: WorkflowHandle): Promise<Progress> {
  return handle.query<Progress>('progress');
}

/** Stage name → status, from the `progress` query. */
export async function stagesOf(handle: WorkflowHandle): Promise<Record<string, StageStatus>> {
  const p = await progressOf(handle);
  return Object.fromEntries(p.stages.map((s) => [s.name, s.status]));
}
