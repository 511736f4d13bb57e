/**
 * Start a workflow and follow its progress live: a redrawn stage table on a terminal; otherwise
 * (a pipe, a log file, CI) plain lines, the title once and then one line per stage change, with no
 * terminal control codes; a clear final line, and exit code 0 only on success.
 */
import type { Writable } from 'node:stream';
import {
  Client,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
  type WorkflowStartOptions,
} from '@temporalio/client';
import type { TypedSearchAttributes, Workflow } from '@temporalio/common';
import { PROGRESS_QUERY, type Progress } from '../api';
import { progressChanges, progressText, progressTitle } from '../domain/progress-table';
import type { StartRequest, WorkflowName, Workflows } from './workflow-types';
import { failureMessage } from './failure-message';

export { failureMessage };

export interface Io {
  out: Writable & { isTTY?: boolean };
  err: Writable;
}

/**
 * A start of a workflow whose function type is W: `input` is W's first parameter. Callers name W
 * (dbops commands use StartRequest/startRun of ./workflow-types); left out, it is `never` and no
 * input compiles.
 */
export interface WorkflowStart<W extends Workflow> {
  workflowType: string;
  workflowId: string;
  input: Parameters<W>[0];
  taskQueue: string;
  staticSummary?: string;
  typedSearchAttributes?: TypedSearchAttributes | ConstructorParameters<typeof TypedSearchAttributes>[0];
}

export interface FollowOptions {
  /** Return right after the start instead of following. */
  detach?: boolean;
  pollIntervalMs?: number;
  json?: boolean;
}

export class AlreadyRunningError extends Error {}

export async function startWorkflow<W extends Workflow = never>(
  client: Client,
  req: WorkflowStart<W>,
): Promise<WorkflowHandleWithFirstExecutionRunId<W>> {
  try {
    return await client.workflow.start<W>(req.workflowType, {
      workflowId: req.workflowId,
      taskQueue: req.taskQueue,
      args: [req.input],
      staticSummary: req.staticSummary,
      typedSearchAttributes: req.typedSearchAttributes,
      // [input] is Parameters<W> (W takes one argument), which TypeScript cannot see for a generic W.
    } as unknown as WorkflowStartOptions<W>);
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      const running = await client.workflow
        .getHandle(req.workflowId)
        .describe()
        .catch(() => undefined);
      throw new AlreadyRunningError(
        `a run for this target is already in progress: workflow ${req.workflowId}` +
          (running ? ` (run ${running.runId}, started ${running.startTime.toISOString()})` : '') +
          `; follow it with "dbops status ${req.workflowId}" or stop it with "dbops cancel ${req.workflowId}"`,
      );
    }
    throw err;
  }
}

async function queryProgress(handle: WorkflowHandle): Promise<Progress | undefined> {
  try {
    return await handle.query<Progress>(PROGRESS_QUERY);
  } catch {
    return undefined; // not yet started by a worker, or the query raced a task: try again later
  }
}

/** Follows a started run until it closes; returns the process exit code. */
export async function follow(handle: WorkflowHandle, io: Io, opts: FollowOptions = {}): Promise<number> {
  const interval = opts.pollIntervalMs ?? 1000;
  const tty = Boolean(io.out.isTTY) && !opts.json;
  let lastText = '';
  let drawnLines = 0;
  let printed: Progress | undefined;
  const draw = (p: Progress | undefined) => {
    if (!p || opts.json) return;
    if (!tty) {
      const lines = [...(printed ? [] : [progressTitle(p)]), ...progressChanges(printed, p)];
      if (lines.length) io.out.write(`${lines.join('\n')}\n`);
      printed = p;
      return;
    }
    const text = progressText(p);
    if (text === lastText) return;
    if (tty && drawnLines > 0) io.out.write(`\x1b[${drawnLines}F\x1b[J`);
    io.out.write(`${text}\n`);
    drawnLines = text.split('\n').length;
    lastText = text;
  };

  let settled = false;
  const outcome = handle.result().then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  void outcome.then(() => (settled = true));
  // Ctrl-C stops following, not the run: say so, and how to look again.
  const detach = () => {
    io.err.write(`\ndetached; the run continues: dbops status ${handle.workflowId}\n`);
    process.exit(130);
  };
  process.once('SIGINT', detach);
  try {
    while (!settled) {
      draw(await queryProgress(handle));
      await Promise.race([outcome, new Promise((r) => setTimeout(r, interval))]);
    }
  } finally {
    process.removeListener('SIGINT', detach);
  }
  const final = await queryProgress(handle);
  draw(final);
  const result = await outcome;
  if (opts.json) {
    io.out.write(
      `${JSON.stringify({ workflowId: handle.workflowId, ok: result.ok, progress: final, error: result.ok ? undefined : failureMessage(result.error) }, null, 2)}\n`,
    );
  }
  if (result.ok) {
    io.out.write(`✔ ${handle.workflowId} completed\n`);
    return 0;
  }
  const reason = result.error instanceof WorkflowFailedError ? failureMessage(result.error) : String(result.error);
  io.err.write(`✘ ${handle.workflowId} failed: ${reason}\n`);
  return 1;
}

/** The shared way every command starts a workflow and follows it. */
export async function startAndFollow<W extends Workflow = never>(
  client: Client,
  req: WorkflowStart<W>,
  io: Io,
  opts: FollowOptions = {},
): Promise<number> {
  const handle = await startWorkflow<W>(client, req);
  io.err.write(`started ${req.workflowType} as ${handle.workflowId} (run ${handle.firstExecutionRunId})\n`);
  if (opts.detach) return 0;
  return follow(handle, io, opts);
}

/** Starts the dbops workflow K, type-checked against its input, and follows it (see startAndFollow). */
export function startRun<K extends WorkflowName>(
  client: Client,
  req: StartRequest<K>,
  io: Io,
  opts: FollowOptions = {},
): Promise<number> {
  return startAndFollow<Workflows[K]>(client, req, io, opts);
}
