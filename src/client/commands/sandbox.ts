/** `dbops sandbox [demo|stop]`: all three jobs on this machine, with no cloud account. */
import type { Command } from 'commander';
import type { CliContext } from '../context';

/** Loaded when one of these commands runs, not for every `dbops` call. */
const actions = () => import('../actions/sandbox');

export interface SandboxFlags {
  port: string;
  uiPort: string;
  detach?: boolean;
}

function ports(cmd: Command): Command {
  return cmd
    .option('--port <port>', "the sandbox's Temporal dev server (gRPC) port", '17233')
    .option('--ui-port <port>', "the sandbox's Temporal Web UI port", '18233');
}

export function registerSandboxCommands(program: Command, ctx: CliContext): void {
  const sandbox = ports(
    program
      .command('sandbox')
      .description(
        'start (or reuse) a local sandbox: moto for AWS, a DBLab fake, PostgreSQL/MariaDB, a Temporal dev server and a worker; print the commands for each job; Ctrl-C stops it',
      )
      .enablePositionalOptions()
      .option('--detach', 'leave the sandbox running and return (stop it with "dbops sandbox stop")'),
  ).action(async (f: SandboxFlags, cmd: Command) => (await actions()).start(ctx, f, cmd));

  ports(sandbox.command('demo'))
    .description(
      'start (or reuse) the sandbox and run peering, refresh and provisioning end to end; the runs stay in its Web UI',
    )
    .action(async (f: SandboxFlags, cmd: Command) => (await actions()).demo(ctx, f, cmd));

  sandbox
    .command('stop')
    .description('stop everything the sandbox started')
    .action(async () => (await actions()).stop(ctx));
}
