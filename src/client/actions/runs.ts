/** What `dbops status`, `list` and `cancel` do (loaded only when one of them runs). */
import { WorkflowNotFoundError } from '@temporalio/client';
import { PROGRESS_QUERY, SA_OPERATION, SA_STAGE, SA_TARGET, type Progress } from '../../api';
import type { CliContext } from '../context';
import { failureMessage } from '../failure-message';
import { writeStatus } from '../status-view';

/** Builds a visibility query from the filters; values are quoted and escaped. */
export function listQuery(f: { operation?: string; target?: string; status?: string }): string {
  const q = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  const parts: string[] = [];
  if (f.operation) parts.push(`${SA_OPERATION.name} = ${q(f.operation)}`);
  if (f.target) parts.push(`${SA_TARGET.name} STARTS_WITH ${q(f.target)}`); // db-1 lists db-1:vpc-…
  if (f.status) parts.push(`ExecutionStatus = ${q(f.status)}`);
  if (parts.length === 0) parts.push(`${SA_OPERATION.name} IS NOT NULL`);
  return parts.join(' AND ');
}

/** `dbops status` through the Temporal SDK (src/client/light/status.ts does the same without it, and falls back to this). */
export async function status(ctx: CliContext, workflowId: string, opts: { output: string }): Promise<void> {
  const { client } = await ctx.connect();
  const handle = client.workflow.getHandle(workflowId);
  let desc;
  try {
    desc = await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new Error(`no run with workflow id ${workflowId}`);
    throw err;
  }
  const progress = await handle.query<Progress>(PROGRESS_QUERY);
  let error: string | undefined;
  if (desc.status.name === 'FAILED') error = await handle.result().then(() => undefined, failureMessage);
  writeStatus(
    ctx.io,
    { workflowId, runId: desc.runId, type: desc.type, status: desc.status.name, error, progress },
    opts.output,
  );
}

export interface ListFlags {
  operation?: string;
  target?: string;
  status?: string;
  limit: string;
  output: string;
}

export async function list(ctx: CliContext, opts: ListFlags): Promise<void> {
  const { client } = await ctx.connect();
  const limit = Number.parseInt(opts.limit, 10);
  if (!Number.isInteger(limit) || limit < 1) throw new Error('--limit must be a positive whole number');
  const rows: Array<Record<string, string>> = [];
  // Visibility lists open runs first, then closed ones by close time: a few pages more, sorted
  // by start time, give the newest started first.
  const scan = Math.min(limit * 4, 1000);
  for await (const wf of client.workflow.list({ query: listQuery(opts), pageSize: Math.min(scan, 200) })) {
    rows.push({
      workflowId: wf.workflowId,
      type: wf.type,
      status: wf.status.name,
      started: wf.startTime.toISOString(),
      target: wf.typedSearchAttributes.get(SA_TARGET) ?? '',
      stage: wf.typedSearchAttributes.get(SA_STAGE) ?? '',
    });
    if (rows.length >= scan) break;
  }
  rows.sort((a, b) => b.started.localeCompare(a.started));
  rows.splice(limit);
  if (opts.output === 'json') {
    ctx.io.out.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  if (rows.length === 0) {
    ctx.io.out.write('no runs\n');
    return;
  }
  const cols = ['workflowId', 'type', 'target', 'status', 'stage', 'started'];
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => r[c].length)));
  const line = (r: Record<string, string>) =>
    cols
      .map((c, i) => r[c].padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  ctx.io.out.write(`${line(Object.fromEntries(cols.map((c) => [c, c.toUpperCase()])))}\n`);
  for (const r of rows) ctx.io.out.write(`${line(r)}\n`);
}

export async function cancel(ctx: CliContext, workflowId: string, opts: { wait?: boolean }): Promise<void> {
  const { client } = await ctx.connect();
  const handle = client.workflow.getHandle(workflowId);
  // The server accepts a cancel of a run that has ended and does nothing: say so instead.
  const desc = await handle.describe().catch((err: unknown) => {
    if (err instanceof WorkflowNotFoundError) throw new Error(`no run with workflow id ${workflowId}`);
    throw err;
  });
  if (desc.status.name !== 'RUNNING') {
    throw new Error(`${workflowId} has already ended (${desc.status.name}): nothing to cancel`);
  }
  await handle.cancel();
  ctx.io.out.write(`cancellation requested for ${workflowId}\n`);
  if (opts.wait) {
    await handle.result().catch(() => undefined);
    const desc = await handle.describe();
    ctx.io.out.write(`${workflowId} is now ${desc.status.name}\n`);
  }
}
