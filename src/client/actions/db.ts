/** What `dbops db provision|deprovision|rotate` do (loaded only when one of them runs). */
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
import { planRotation, rotateWorkflowId, type RotateInput } from '../../domain/rotation';
import { createSchedule } from './schedule';
import { setExitCode } from '../exit';
import type { CliContext } from '../context';
import { inFlagTerms, type FlagNames } from '../flag-terms';
import { startRun } from '../follow';
import type { WorkflowInput } from '../workflow-types';

const CREDENTIALS = 'give --credentials-file or --credentials-secret';

/** The input fields `db provision|deprovision` set, by flag (for messages in the user's terms). */
export const DB_FLAGS: FlagNames = {
  engine: '--engine',
  'server.host': '--host',
  'server.port': '--port',
  'server.adminUser': '--admin-user',
  'server.adminPasswordRef': '--admin-password-ref',
  'server.adminDatabase': '--admin-database',
  'server.tls': '--tls-mode',
  'server.tls.mode': '--tls-mode',
  'server.tls.caRef': '--tls-ca-ref',
  'server.tls.certRef': '--tls-cert-ref',
  'server.tls.keyRef': '--tls-key-ref',
  'server.iam': '--iam-region',
  'server.iam.region': '--iam-region',
  credentialsTarget: { flag: '--credentials-file or --credentials-secret', missing: CREDENTIALS },
  'credentialsTarget.path': '--credentials-file',
  'credentialsTarget.name': '--credentials-secret',
  'credentialsTarget.region': '--credentials-region',
  tenant: '--tenant',
  database: '--database',
  user: '--user',
  auth: '--auth',
  reclaimPolicy: '--reclaim-policy',
};

export interface ServerFlags {
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

async function startSqlRun<K extends 'provisionDatabase' | 'deprovisionDatabase' | 'rotateDatabaseCredentials'>(
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

export async function provision(
  ctx: CliContext,
  f: ServerFlags & { tenant: string; database?: string; user?: string; auth: string },
  cmd: Command,
): Promise<void> {
  const input: ProvisionInput = clean({
    engine: f.engine as 'postgres',
    server: server(f),
    tenant: f.tenant,
    database: f.database,
    user: f.user,
    auth: f.auth as 'password',
    credentialsTarget: target(f)!,
  });
  const plan = inFlagTerms(DB_FLAGS, () => planProvision(input)); // bad input fails here, before anything starts
  const code = await startSqlRun(
    ctx,
    f,
    'provisionDatabase',
    provisionWorkflowId(plan),
    input,
    `provision ${plan.database} on ${plan.engine} ${plan.server.host}`,
  );
  setExitCode(cmd, code);
}

export async function deprovision(
  ctx: CliContext,
  f: ServerFlags & { tenant?: string; database?: string; user?: string; reclaimPolicy: string },
  cmd: Command,
): Promise<void> {
  const input: DeprovisionInput = clean({
    engine: f.engine as 'postgres',
    server: server(f),
    tenant: f.tenant,
    database: f.database,
    user: f.user,
    reclaimPolicy: f.reclaimPolicy as 'delete',
    credentialsTarget: target(f),
  });
  const plan = inFlagTerms(DB_FLAGS, () => planDeprovision(input));
  const summary = `deprovision ${plan.database} (${plan.reclaimPolicy}) on ${plan.engine} ${plan.server.host}`;
  const code = await startSqlRun(ctx, f, 'deprovisionDatabase', deprovisionWorkflowId(plan), input, summary);
  setExitCode(cmd, code);
}

export async function rotate(
  ctx: CliContext,
  f: ServerFlags & {
    tenant?: string;
    database?: string;
    user?: string;
    grace: string;
    schedule?: string;
    scheduleId?: string;
  },
  cmd: Command,
): Promise<void> {
  if (f.scheduleId !== undefined && f.schedule === undefined) throw new Error('--schedule-id goes with --schedule');
  const input: RotateInput = clean({
    engine: f.engine as 'postgres',
    server: server(f),
    tenant: f.tenant,
    database: f.database,
    user: f.user,
    credentialsTarget: target(f)!,
    gracePeriod: f.grace,
  });
  const plan = planRotation(input); // bad input fails here, before anything starts or is scheduled
  const id = rotateWorkflowId(plan);
  if (f.schedule !== undefined) {
    const { client, settings } = await ctx.connect();
    const scheduleId = f.scheduleId ?? id;
    await createSchedule(client, {
      scheduleId,
      cron: [f.schedule],
      workflowType: 'rotateDatabaseCredentials',
      workflowId: id,
      input,
      taskQueue: settings.taskQueue,
      overlap: 'skip',
      note: `credential rotation of ${plan.database} on ${plan.engine} ${plan.server.host}`,
    });
    ctx.io.out.write(
      `schedule ${scheduleId} created: rotation of ${plan.database} (logins ${plan.logins.primary}, ${plan.logins.standby}; grace ${plan.gracePeriod}), cron ${f.schedule}, overlap skip\n`,
    );
    return;
  }
  const summary = `rotate the credentials of ${plan.database} on ${plan.engine} ${plan.server.host}`;
  const code = await startSqlRun(ctx, f, 'rotateDatabaseCredentials', id, input, summary);
  setExitCode(cmd, code);
}
