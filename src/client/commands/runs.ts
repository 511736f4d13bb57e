/** `dbops status`, `dbops list`, `dbops cancel`: look at and stop runs. */
import type { Command } from 'commander';
import type { ListFlags } from '../actions/runs';
import type { CliContext } from '../context';

/** Loaded when one of these commands runs, not for every `dbops` call. */
const actions = () => import('../actions/runs');

export function registerRunCommands(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description("show a run's stage table (the progress query)")
    .argument('<workflow-id>')
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (workflowId: string, opts: { output: string }) => {
      // Without the Temporal SDK (it is most of the command's time), unless told otherwise or the
      // light client cannot do exactly what the SDK path does.
      if (ctx.env.DBOPS_STATUS_SDK !== '1') {
        if (await (await import('../light/status')).statusLight(ctx, workflowId, opts)) return;
      }
      await (await actions()).status(ctx, workflowId, opts);
    });

  program
    .command('list')
    .description('list runs, newest first (uses the Dbops* search attributes)')
    .option('--operation <name>', 'only this operation, e.g. peerVpc')
    .option('--target <prefix>', 'only targets that start with this, e.g. a database id')
    .option('--status <status>', 'Running, Completed, Failed, Canceled, Terminated, TimedOut')
    .option('--limit <n>', 'at most this many', '20')
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (opts: ListFlags) => (await actions()).list(ctx, opts));

  program
    .command('cancel')
    .description('ask a run to stop; it cleans up what it created before it ends')
    .argument('<workflow-id>')
    .option('--wait', 'wait until the run has finished cleaning up')
    .action(async (workflowId: string, opts: { wait?: boolean }) => (await actions()).cancel(ctx, workflowId, opts));
}
