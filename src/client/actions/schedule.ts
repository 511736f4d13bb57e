/** What `dbops schedule create|list|delete|trigger` do (loaded only when one of them runs). */
import {
  Client,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type ScheduleOptionsStartWorkflowAction,
} from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import type { CliContext } from '../context';
import { readJsonInput } from '../input';
import { checkInput } from '../input-check';
import { isWorkflowName, type WorkflowInput, type WorkflowName, type Workflows } from '../workflow-types';
import { OVERLAP_NAMES, SCHEDULABLE, type OverlapName } from '../commands/schedule';

const OVERLAP: Record<OverlapName, ScheduleOverlapPolicy> = {
  skip: ScheduleOverlapPolicy.SKIP,
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
  'buffer-all': ScheduleOverlapPolicy.BUFFER_ALL,
  'cancel-other': ScheduleOverlapPolicy.CANCEL_OTHER,
  'terminate-other': ScheduleOverlapPolicy.TERMINATE_OTHER,
  'allow-all': ScheduleOverlapPolicy.ALLOW_ALL,
};

/** A schedule that starts the dbops workflow K: `input` must be what that workflow takes. */
export interface ScheduleRequest<K extends WorkflowName> {
  scheduleId: string;
  cron: string[];
  workflowType: K;
  workflowId: string;
  input: WorkflowInput<K>;
  taskQueue: string;
  overlap?: string;
  catchupWindow?: string;
  note?: string;
}

/** Creates a schedule; shared by `dbops schedule create` and the capability commands that schedule. */
export async function createSchedule<K extends WorkflowName>(client: Client, r: ScheduleRequest<K>): Promise<void> {
  const name = r.overlap ?? 'skip';
  if (!(OVERLAP_NAMES as readonly string[]).includes(name)) {
    throw new Error(`--overlap must be one of ${OVERLAP_NAMES.join(', ')}`);
  }
  const overlap = OVERLAP[name as OverlapName];
  if (r.catchupWindow !== undefined && !/^\d+(s|m|h|d)$/.test(r.catchupWindow)) {
    throw new Error('--catchup-window must be a duration like 10m, 1h or 1d');
  }
  const action = {
    type: 'startWorkflow',
    workflowType: r.workflowType,
    workflowId: r.workflowId,
    taskQueue: r.taskQueue,
    args: [r.input],
    // [input] is Parameters<Workflows[K]> (one argument), which TypeScript cannot see for a generic K.
  } as unknown as ScheduleOptionsStartWorkflowAction<Workflows[K]>;
  await client.schedule.create({
    scheduleId: r.scheduleId,
    spec: { cronExpressions: r.cron },
    action,
    policies: { overlap, catchupWindow: (r.catchupWindow ?? '1h') as Duration },
    state: { note: r.note ?? 'created by dbops' },
  });
}

export interface CreateFlags {
  type: string;
  input: string;
  cron: string[];
  workflowId?: string;
  overlap: string;
  catchupWindow: string;
}

export async function create(ctx: CliContext, scheduleId: string, o: CreateFlags): Promise<void> {
  const type = o.type;
  if (!isWorkflowName(type)) throw new Error(`--type must be a dbops workflow type: ${SCHEDULABLE.join(', ')}`);
  if (type === 'refreshDblab') {
    // Scheduled runs get their own ids, so a scheduled refreshDblab could run beside a manual one.
    throw new Error(
      'schedule scheduledRefreshDblab, not refreshDblab (or use `dbops refresh schedule`): it runs the refresh as refresh-dblab:<dblab host>, so a scheduled refresh never runs beside a manual one',
    );
  }
  // Checked before the schedule exists: a bad input would make every scheduled run fail.
  const input = readJsonInput(o.input) as WorkflowInput<typeof type>;
  checkInput(type, input);
  const { client, settings } = await ctx.connect();
  await createSchedule(client, {
    scheduleId,
    cron: o.cron,
    workflowType: type,
    workflowId: o.workflowId ?? scheduleId,
    input,
    taskQueue: settings.taskQueue,
    overlap: o.overlap,
    catchupWindow: o.catchupWindow,
  });
  ctx.io.out.write(`schedule ${scheduleId} created (${o.type}, cron ${o.cron.join(' | ')}, overlap ${o.overlap})\n`);
}

export async function list(ctx: CliContext, o: { output: string }): Promise<void> {
  const { client } = await ctx.connect();
  const rows: Array<{ scheduleId: string; workflowType: string; paused: boolean; next: string }> = [];
  for await (const s of client.schedule.list()) {
    rows.push({
      scheduleId: s.scheduleId,
      workflowType: s.action?.type === 'startWorkflow' ? s.action.workflowType : '',
      paused: s.state.paused,
      next: s.info.nextActionTimes[0]?.toISOString() ?? '',
    });
  }
  if (o.output === 'json') {
    ctx.io.out.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  if (rows.length === 0) ctx.io.out.write('no schedules\n');
  for (const r of rows) {
    ctx.io.out.write(`${r.scheduleId}  ${r.workflowType}  ${r.paused ? 'paused' : 'active'}  next ${r.next || '-'}\n`);
  }
}

export async function remove(ctx: CliContext, scheduleId: string): Promise<void> {
  const { client } = await ctx.connect();
  try {
    await client.schedule.getHandle(scheduleId).delete();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw new Error(`no schedule with id ${scheduleId}`);
    throw err;
  }
  ctx.io.out.write(`schedule ${scheduleId} deleted\n`);
}

export async function trigger(ctx: CliContext, scheduleId: string): Promise<void> {
  const { client } = await ctx.connect();
  await client.schedule.getHandle(scheduleId).trigger();
  ctx.io.out.write(`schedule ${scheduleId} triggered\n`);
}
