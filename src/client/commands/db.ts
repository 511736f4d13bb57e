/** `dbops db provision|deprovision`: tenant databases and users on PostgreSQL and MySQL/MariaDB. */
import type { Command } from 'commander';
import { SA_OPERATION, SA_TARGET } from '../../api';
import {
  deprovisionWorkflowId,
  planDeprovision,
  planProvision,
  provisionWorkflowId,
  sqlTarget,
  type DeprovisionInput,
  type ProvisionInput,
} from '../../domain/provision';
import { setExitCode } from '../exit';
import type { CliContext } from '../context';
import { startRun, type WorkflowInput } from '../workflow-types';

interface ServerFlags {
  engine: string;
  host: string;
  port?: string;
  adminUser: string;
  adminPasswordRef?: string;
  adminDatabase?: string;
  tlsMode?: string;
  tlsCaRef?: string;
  tlsCertRef?: string;
  tlsKeyRef?: string;
  iamRegion?: string;
  credentialsFile?: string;
  credentialsSecret?: string;
  credentialsRegion?: string;
  detach?: boolean;
}

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

function server(f: ServerFlags): ProvisionInput['server'] {
  const tls = f.tlsMode
    ? { mode: f.tlsMode as 'require', caRef: f.tlsCaRef, certRef: f.tlsCertRef, keyRef: f.tlsKeyRef }
    : undefined;
  return {
    host: f.host,
    port: f.port !== undefined ? Number(f.port) : undefined,
    adminUser: f.adminUser,
    adminPasswordRef: f.adminPasswordRef,
    adminDatabase: f.adminDatabase,
    tls,
    iam: f.iamRegion ? { region: f.iamRegion } : undefined,
  };
}

function target(f: ServerFlags): ProvisionInput['credentialsTarget'] | undefined {
  if (f.credentialsFile && f.credentialsSecret)
    throw new Error('give --credentials-file or --credentials-secret, not both');
  if (f.credentialsFile) return { kind: 'file', path: f.credentialsFile };
  if (f.credentialsSecret)
    return { kind: 'aws-secretsmanager', name: f.credentialsSecret, region: f.credentialsRegion };
  return undefined;
}

/** Drops undefined fields so the input is the plain JSON a Temporal CLI user would write. */
function clean<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

async function startSqlRun<K extends 'provisionDatabase' | 'deprovisionDatabase'>(
  ctx: CliContext,
  f: ServerFlags,
  workflowType: K,
  workflowId: string,
  input: WorkflowInput<K>,
  staticSummary: string,
): Promise<number> {
  const { client, settings } = await ctx.connect();
  return startRun<K>(
    client,
    {
      workflowType,
      workflowId,
      input,
      taskQueue: settings.taskQueue,
      staticSummary,
      typedSearchAttributes: [
        { key: SA_OPERATION, value: workflowType },
        { key: SA_TARGET, value: sqlTarget(input) },
      ],
    },
    ctx.io,
    { detach: f.detach },
  );
}

export function registerDbCommands(program: Command, ctx: CliContext): void {
  const db = program.command('db').description('tenant databases and least-privilege users');

  serverOptions(db.command('provision'))
    .description('create (or complete) a database and its user, and store a connection string')
    .requiredOption('--tenant <tenant>', 'tenant key; names are derived from it')
    .option('--database <name>', 'database name (default: derived from the tenant)')
    .option('--user <name>', 'user name (default: derived from the tenant)')
    .option('--auth <auth>', 'password or iam', 'password')
    .action(
      async (f: ServerFlags & { tenant: string; database?: string; user?: string; auth: string }, cmd: Command) => {
        const input: ProvisionInput = clean({
          engine: f.engine as 'postgres',
          server: server(f),
          tenant: f.tenant,
          database: f.database,
          user: f.user,
          auth: f.auth as 'password',
          credentialsTarget: target(f)!,
        });
        const plan = planProvision(input); // bad input fails here, before anything starts
        const code = await startSqlRun(
          ctx,
          f,
          'provisionDatabase',
          provisionWorkflowId(plan),
          input,
          `provision ${plan.database} on ${plan.engine} ${plan.server.host}`,
        );
        setExitCode(cmd, code);
      },
    );

  serverOptions(db.command('deprovision'))
    .description("remove a tenant's login and (with --reclaim-policy delete) its database")
    .option('--tenant <tenant>', 'tenant key (or give --database and --user)')
    .option('--database <name>', 'database name')
    .option('--user <name>', 'user name')
    .requiredOption('--reclaim-policy <policy>', 'delete (drop the data) or retain (keep it, drop the login)')
    .action(
      async (
        f: ServerFlags & { tenant?: string; database?: string; user?: string; reclaimPolicy: string },
        cmd: Command,
      ) => {
        const input: DeprovisionInput = clean({
          engine: f.engine as 'postgres',
          server: server(f),
          tenant: f.tenant,
          database: f.database,
          user: f.user,
          reclaimPolicy: f.reclaimPolicy as 'delete',
          credentialsTarget: target(f),
        });
        const plan = planDeprovision(input);
        const summary = `deprovision ${plan.database} (${plan.reclaimPolicy}) on ${plan.engine} ${plan.server.host}`;
        const code = await startSqlRun(ctx, f, 'deprovisionDatabase', deprovisionWorkflowId(plan), input, summary);
        setExitCode(cmd, code);
      },
    );
}
