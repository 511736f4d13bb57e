/** `dbops db provision|deprovision|rotate`: tenant databases and users on PostgreSQL and MySQL/MariaDB. */
import type { Command } from 'commander';
import type { PlanFlags, ProvisionFlags, ServerFlags } from '../actions/db';
import type { CliContext } from '../context';

/** Loaded when one of these commands runs, not for every `dbops` call. */
const actions = () => import('../actions/db');

function serverOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--engine <engine>', 'postgres or mysql')
    .requiredOption('--host <host>', 'database server host')
    .option('--port <port>', 'server port (default 5432 / 3306)')
    .requiredOption('--admin-user <user>', 'admin user that creates databases and users')
    .option('--admin-password-ref <ref>', 'admin password reference: env:NAME, file:/path or aws-sm:<id>')
    .option('--admin-database <db>', 'database the admin connects to (PostgreSQL, default postgres)')
    .option('--tls-mode <mode>', 'disable, require, verify-ca or verify-full')
    .option('--tls-ca-ref <ref>', 'CA bundle reference')
    .option('--tls-cert-ref <ref>', 'client certificate reference')
    .option('--tls-key-ref <ref>', 'client key reference')
    .option('--iam-region <region>', 'log the admin in with an RDS IAM token for this region')
    .option('--credentials-file <path>', 'store the credentials in this file on the worker')
    .option('--credentials-secret <name>', 'store the credentials in this AWS Secrets Manager secret')
    .option('--credentials-region <region>', 'region of that secret')
    .option('--detach', 'start the run and return without following it');
}

export function registerDbCommands(program: Command, ctx: CliContext): void {
  const db = program.command('db').description('tenant databases and least-privilege users');

  serverOptions(db.command('provision'))
    .description('create (or complete) a database and its user, and store a connection string')
    .requiredOption('--tenant <tenant>', 'tenant key; names are derived from it')
    .option('--database <name>', 'database name (default: derived from the tenant)')
    .option('--user <name>', 'user name (default: derived from the tenant)')
    .option('--auth <auth>', 'password or iam', 'password')
    .option('--plan', 'run the read-only checks only: print what the run would create or change, and its fingerprint')
    .option('--expect-plan <fingerprint>', "apply only while the live state still matches this plan's fingerprint")
    .option('--expect-plan-from <workflow-id>', 'apply only while the live state matches the result of that plan run')
    .option(
      '--schedule <cron>',
      "put a reconcile of this tenant on a Temporal schedule instead (overlap skip), e.g. '*/30 * * * *': drift is reported and repaired",
    )
    .option('--schedule-id <id>', 'schedule id (default: reconcile-db:<engine>:<host>:<database>)')
    .option('--report-only', 'with --schedule: report the drift, change nothing')
    .action(async (f: ProvisionFlags, cmd: Command) => (await actions()).provision(ctx, f, cmd));

  serverOptions(db.command('deprovision'))
    .description("remove a tenant's login and (with --reclaim-policy delete) its database")
    .option('--tenant <tenant>', 'tenant key (or give --database and --user)')
    .option('--database <name>', 'database name')
    .option('--user <name>', 'user name')
    .requiredOption('--reclaim-policy <policy>', 'delete (drop the data) or retain (keep it, drop the login)')
    .option('--plan', 'run the read-only checks only: print what the run would drop, and its fingerprint')
    .option('--expect-plan <fingerprint>', "apply only while the live state still matches this plan's fingerprint")
    .option('--expect-plan-from <workflow-id>', 'apply only while the live state matches the result of that plan run')
    .action(
      async (
        f: ServerFlags & PlanFlags & { tenant?: string; database?: string; user?: string; reclaimPolicy: string },
        cmd: Command,
      ) => (await actions()).deprovision(ctx, f, cmd),
    );

  serverOptions(db.command('rotate'))
    .description(
      "rotate a provisioned tenant's password without downtime: the other of its two logins gets a fresh one, the credentials target switches to it, the previous keeps working for the grace period",
    )
    .option('--tenant <tenant>', 'tenant key (or give --database and --user)')
    .option('--database <name>', 'database name')
    .option('--user <name>', 'the user provisioned for it (its twin is <user>_b)')
    .option('--grace <duration>', 'how long the previous credentials keep working, 1s..7d', '1h')
    .option('--schedule <cron>', "put the rotation on a Temporal schedule instead (overlap skip), e.g. '0 3 1 * *'")
    .option('--schedule-id <id>', 'schedule id (default: rotate-db:<engine>:<host>:<database>)')
    .action(
      async (
        f: ServerFlags & {
          tenant?: string;
          database?: string;
          user?: string;
          grace: string;
          schedule?: string;
          scheduleId?: string;
        },
        cmd: Command,
      ) => (await actions()).rotate(ctx, f, cmd),
    );
}
