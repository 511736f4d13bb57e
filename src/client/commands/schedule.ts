/** `dbops schedule create|list|delete|trigger`: Temporal Schedules for any dbops workflow. */
import type { Command } from 'commander';
import type { CreateFlags } from '../actions/schedule';
import type { CliContext } from '../context';
import { WORKFLOW_NAMES } from '../workflow-types';

/** The --overlap values (Temporal's overlap policies). */
export const OVERLAP_NAMES = [
  'skip',
  'buffer-one',
  'buffer-all',
  'cancel-other',
  'terminate-other',
  'allow-all',
] as const;
export type OverlapName = (typeof OVERLAP_NAMES)[number];

/** What --type accepts; refreshDblab is refused with the reason (see the create action). */
export const SCHEDULABLE = WORKFLOW_NAMES.filter((n) => n !== 'refreshDblab');

/** Loaded when one of these commands runs, not for every `dbops` call. */
const actions = () => import('../actions/schedule');

export function registerScheduleCommands(program: Command, ctx: CliContext): void {
  const schedule = program.command('schedule').description('Temporal schedules that start dbops workflows');

  schedule
    .command('create')
    .argument('<schedule-id>')
    .requiredOption('--type <workflow-type>', `workflow type: ${SCHEDULABLE.join(', ')}`)
    .requiredOption('--input <json>', 'the workflow input: JSON or @file.json')
    .requiredOption('--cron <expr...>', "cron expression(s), e.g. '0 2 * * 0'")
    .option('--workflow-id <id>', 'id of each started run (default: the schedule id)')
    .option('--overlap <policy>', `what to do when the previous run still runs: ${OVERLAP_NAMES.join(', ')}`, 'skip')
    .option('--catchup-window <duration>', 'missed runs within this window are still started after an outage', '1h')
    .action(async (scheduleId: string, o: CreateFlags) => (await actions()).create(ctx, scheduleId, o));

  schedule
    .command('list')
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (o: { output: string }) => (await actions()).list(ctx, o));

  schedule
    .command('delete')
    .argument('<schedule-id>')
    .action(async (scheduleId: string) => (await actions()).remove(ctx, scheduleId));

  schedule
    .command('trigger')
    .description("start one run now, with the schedule's overlap policy")
    .argument('<schedule-id>')
    .action(async (scheduleId: string) => (await actions()).trigger(ctx, scheduleId));
}
