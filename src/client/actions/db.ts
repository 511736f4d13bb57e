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
import { planTable, type PlannedChange } from '../../domain/plan';
import {
  planDeprovisionRun,
  planProvisionRun,
  reconcileDatabaseWorkflowId,
  type PlanFields,
} from '../../domain/sql-plan';
import { planFields, type PlanFlags } from './plan-flags';
import { createSchedule } from './schedule';
import { setExitCode } from '../exit';
import type { CliContext } from '../context';
import { inFlagTerms, type FlagNames } from '../flag-terms';
import { AlreadyRunningError, follow, startRun, startWorkflow } from '../follow';
import { describeRotationRun, runningRotations } from '../../temporal/rotation-runs';
import type { StartRequest, WorkflowInput, Workflows } from '../workflow-types';

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
  plan: '--plan',
  expectPlan: '--expect-plan',
  'expectPlan.fingerprint': '--expect-plan',
  reportOnly: '--report-only',
};

export type { PlanFlags } from './plan-flags';

export type ProvisionFlags = ServerFlags &
  PlanFlags & {
    tenant: string;
    database?: string;
    user?: string;
    auth: string;
    schedule?: string;
    scheduleId?: string;
    reportOnly?: boolean;
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

type SqlWorkflow = 'provisionDatabase' | 'deprovisionDatabase' | 'rotateDatabaseCredentials';

/** The start of a SQL workflow run, with its search attributes. */
function sqlStart<K extends SqlWorkflow>(
  workflowType: K,
  workflowId: string,
  input: WorkflowInput<K>,
  staticSummary: string,
  taskQueue: string,
): StartRequest<K> {
  return {
    workflowType,
    workflowId,
    input,
    taskQueue,
    staticSummary,
    typedSearchAttributes: [
      { key: SA_OPERATION, value: workflowType },
      { key: SA_TARGET, value: sqlTarget(input) },
    ],
  } as StartRequest<K>;
}

async function startSqlRun<K extends SqlWorkflow>(
  ctx: CliContext,
  f: ServerFlags,
  workflowType: K,
  workflowId: string,
  input: WorkflowInput<K>,
  staticSummary: string,
): Promise<number> {
  const { client, settings } = await ctx.connect();
  return startRun<K>(client, sqlStart(workflowType, workflowId, input, staticSummary, settings.taskQueue), ctx.io, {
    detach: f.detach,
  });
}

export async function provision(ctx: CliContext, f: ProvisionFlags, cmd: Command): Promise<void> {
  if (f.scheduleId !== undefined && f.schedule === undefined) throw new Error('--schedule-id goes with --schedule');
  if (f.reportOnly && f.schedule === undefined) throw new Error('--report-only goes with --schedule');
  if (f.schedule !== undefined && (f.plan || f.expectPlan || f.expectPlanFrom))
    throw new Error('--schedule puts a reconcile on a schedule: it takes no --plan or --expect-plan');
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
  if (f.schedule !== undefined) {
    const id = reconcileDatabaseWorkflowId(plan);
    const scheduleId = f.scheduleId ?? id;
    const { client, settings } = await ctx.connect();
    await createSchedule(client, {
      scheduleId,
      cron: [f.schedule],
      workflowType: 'reconcileDatabase',
      workflowId: id,
      input: { ...input, ...(f.reportOnly ? { reportOnly: true } : {}) },
      taskQueue: settings.taskQueue,
      overlap: 'skip',
      note: `drift check of ${plan.database} on ${plan.engine} ${plan.server.host}${f.reportOnly ? ' (report only)' : ''}`,
    });
    ctx.io.out.write(
      `schedule ${scheduleId} created: reconcile of ${plan.database} (user ${plan.user}), cron ${f.schedule}, overlap skip, ${f.reportOnly ? 'report only' : 'drift repaired'}; each run's DbopsDrift says what it found\n`,
    );
    return;
  }
  const run: ProvisionInput & PlanFields = { ...input, ...(await planFields(ctx, f)) };
  inFlagTerms(DB_FLAGS, () => planProvisionRun(run));
  const id = provisionWorkflowId(plan);
  const where = `${plan.database} on ${plan.engine} ${plan.server.host}`;
  if (f.plan) {
    setExitCode(
      cmd,
      await planRun(ctx, f, 'provisionDatabase', `${id}:plan`, run, `plan: provision ${where}`, 'db provision'),
    );
    return;
  }
  const code = await startSqlRun(ctx, f, 'provisionDatabase', id, run, `provision ${where}`);
  setExitCode(cmd, code);
}

/** Starts a plan run, follows it, and prints the plan, its fingerprint and how to apply it. */
async function planRun<K extends 'provisionDatabase' | 'deprovisionDatabase'>(
  ctx: CliContext,
  f: ServerFlags,
  workflowType: K,
  workflowId: string,
  input: WorkflowInput<K>,
  staticSummary: string,
  command: string,
): Promise<number> {
  const { client, settings } = await ctx.connect();
  const handle = await startWorkflow<Workflows[K]>(
    client,
    sqlStart(workflowType, workflowId, input, staticSummary, settings.taskQueue),
  );
  ctx.io.err.write(`started ${workflowType} (plan) as ${handle.workflowId} (run ${handle.firstExecutionRunId})\n`);
  if (f.detach) return 0;
  const code = await follow(handle, ctx.io);
  if (code !== 0) return code;
  const r = (await handle.result()) as { changes: PlannedChange[]; fingerprint: string };
  ctx.io.out.write(`${planTable(r.changes)}\nfingerprint ${r.fingerprint}\n`);
  ctx.io.out.write(
    `apply it with: dbops ${command} … --expect-plan ${r.fingerprint} (or --expect-plan-from ${handle.workflowId} to be told what differs)\n`,
  );
  return 0;
}

export async function deprovision(
  ctx: CliContext,
  f: ServerFlags & PlanFlags & { tenant?: string; database?: string; user?: string; reclaimPolicy: string },
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
  const run: DeprovisionInput & PlanFields = { ...input, ...(await planFields(ctx, f)) };
  inFlagTerms(DB_FLAGS, () => planDeprovisionRun(run));
  const summary = `deprovision ${plan.database} (${plan.reclaimPolicy}) on ${plan.engine} ${plan.server.host}`;
  const id = deprovisionWorkflowId(plan);
  const code = f.plan
    ? await planRun(ctx, f, 'deprovisionDatabase', `${id}:plan`, run, `plan: ${summary}`, 'db deprovision')
    : await startSqlRun(ctx, f, 'deprovisionDatabase', id, run, summary);
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
  // One rotation of a tenant at a time: a scheduled run has another workflow id than this one, so
  // Temporal would start both (the run's check refuses too; this says so before anything starts).
  const [running] = await runningRotations((await ctx.connect()).client, plan);
  if (running)
    throw new AlreadyRunningError(
      `a rotation of ${plan.database} on ${plan.engine} ${plan.server.host} is already running: ${describeRotationRun(running)}; one rotation of a tenant runs at a time, so this one was not started: follow that run with "dbops status ${running.workflowId}"`,
    );
  const summary = `rotate the credentials of ${plan.database} on ${plan.engine} ${plan.server.host}`;
  const code = await startSqlRun(ctx, f, 'rotateDatabaseCredentials', id, input, summary);
  setExitCode(cmd, code);
}
