/** `dbops refresh`, `dbops refresh schedule`, `dbops refresh cleanup`. */
import type { Command } from 'commander';
import type { CliContext } from '../context';

/** Loaded when one of these commands runs, not for every `dbops` call. */
const actions = () => import('../actions/refresh');

export function registerRefreshCommands(program: Command, ctx: CliContext): void {
  const refresh = program
    .command('refresh')
    .description('refresh DBLab Engine from a temporary RDS/Aurora clone (snapshot → clone → full refresh → delete)')
    .enablePositionalOptions()
    .option('--config <file>', 'the rds-refresh YAML (or JSON) config')
    .option('--dry-run', 'check everything, create nothing, report every problem')
    .option('--detach', 'start the run and return without following it')
    .action(async (o: { config?: string; dryRun?: boolean; detach?: boolean }, cmd: Command) =>
      (await actions()).refresh(ctx, o, cmd),
    );

  refresh
    .command('schedule')
    .description(
      'put the refresh on a Temporal schedule; a scheduled run is skipped while any refresh of that DBLab runs',
    )
    .requiredOption('--config <file>', 'the rds-refresh YAML (or JSON) config')
    .requiredOption('--cron <expr...>', "cron expression(s), e.g. '0 2 * * 0'")
    .option('--schedule-id <id>', 'schedule id (default: refresh-dblab:<dblab host>)')
    .option('--catchup-window <duration>', 'missed runs within this window still start after an outage', '1h')
    .action(async (o: { config: string; cron: string[]; scheduleId?: string; catchupWindow: string }) =>
      (await actions()).schedule(ctx, o),
    );

  refresh
    .command('cleanup')
    .description('delete refresh clones past DeleteAfter or whose run is over (the janitor)')
    .requiredOption('-r, --region <region>', 'AWS region')
    .option('--dry-run', 'list what would be deleted')
    .option('--detach', 'start the run and return without following it')
    .action(async (o: { region: string; dryRun?: boolean; detach?: boolean }, cmd: Command) =>
      (await actions()).cleanup(ctx, o, cmd),
    );
}
