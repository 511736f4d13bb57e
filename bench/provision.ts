/**
 * provisionDatabase throughput: N runs started at once on one worker (N = 10, 100, 500 by
 * default), against a throw-away PostgreSQL with password logins (scram-sha-256, like a real
 * server), so every new connection pays its authentication. Beside it, in the same process and on
 * the same servers: a one-activity no-op workflow (the dev server's ceiling for one worker) and a
 * plain script running the same DDL through a pg pool of DBOPS_SQL_POOL_MAX connections
 * (PostgreSQL's own ceiling here). Reports runs/s (median and min–max over BENCH_REPS rounds),
 * per-run latency p50/p95, failed runs and PostgreSQL sessions opened per run.
 *
 * BENCH_BASELINE=<compiled dist/ of another version>: that version's workflows and activities on a
 * worker of their own. All kinds of rounds alternate, round for round (this version, the
 * baseline, no-op, plain script, then again), each round noting the 1-minute load it started at.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Worker } from '@temporalio/worker';
import { Client, Pool, escapeLiteral } from 'pg';
import { createActivities } from '../src/activities';
import { AwsClients } from '../src/activities/aws-clients';
import { SqlPools } from '../src/activities/sql/admin-pools';
import { provisionStepRegistry } from '../src/activities/sql/provision-steps';
import { sqlActivityRegistry, type SqlEngineActivities } from '../src/activities/sql/types';
import { scramVerifier } from '../src/activities/sql/passwords';
import { deriveNames, quotePgIdent as q } from '../src/domain/sql-names';
import { workerConfig } from '../src/worker-config';
import { startPasswordPostgres } from '../test/helpers/password-servers';
import { ROOT } from '../test/helpers/stack';
import {
  breakdownOf,
  median,
  medianBreakdown,
  startStack,
  timed,
  type Breakdown,
  type BundleSource,
  type HistoryEvent,
} from './common';

const NS = (process.env.BENCH_N ?? '10,100,500').split(',').map(Number);
const REPS = Number(process.env.BENCH_REPS ?? 3);
const POOL_MAX = Number(process.env.DBOPS_SQL_POOL_MAX ?? 10);
const WHICH = (process.env.BENCH_WHAT ?? 'provision,nosql,noop,plain').split(',');

interface Round {
  n: number;
  wallMs: number;
  runsPerSec: number;
  failed: number;
  p50Ms: number;
  p95Ms: number;
  sessionsPerRun?: number;
  /** Most connections dbops had open to the server at once (sampled every 50 ms). */
  peakConnections?: number;
  /** The machine's 1-minute load average when the round started (the machine is shared). */
  load1?: number;
  /** Where a run's time went (medians over up to 20 of the round's runs, from their histories). */
  breakdown?: Breakdown;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN;
}

/** N jobs at once; wall time from the first start to the last end, and each job's own latency. */
async function round(
  n: number,
  job: (i: number) => Promise<void>,
  sessions?: () => Promise<number>,
  connections?: () => Promise<number>,
): Promise<Round> {
  const before = sessions ? await sessions() : 0;
  let peak = 0;
  let sampling = Boolean(connections);
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await connections!());
      await new Promise((res) => setTimeout(res, 50));
    }
  })();
  const lat: number[] = [];
  let failed = 0;
  const [wallMs] = await timed(() =>
    Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const [ms] = await timed(() =>
          job(i).catch((err: unknown) => {
            failed += 1;
            if (failed <= 3) {
              const causes: string[] = [];
              for (let e: unknown = err; e instanceof Error && causes.length < 4; e = (e as { cause?: unknown }).cause)
                causes.push(e.message);
              process.stderr.write(`[bench] run failed: ${causes.join(' <- ')}\n`);
            }
          }),
        );
        lat.push(ms);
      }),
    ),
  );
  sampling = false;
  await sampler;
  const r: Round = {
    n,
    wallMs: Math.round(wallMs),
    runsPerSec: Math.round((n / (wallMs / 1000)) * 10) / 10,
    failed,
    p50Ms: Math.round(percentile(lat, 50)),
    p95Ms: Math.round(percentile(lat, 95)),
  };
  if (connections) r.peakConnections = peak;
  if (sessions) r.sessionsPerRun = Math.round((((await sessions()) - before) / n) * 10) / 10;
  process.stderr.write(`[bench] ${JSON.stringify(r)}\n`);
  return r;
}

function summary(rounds: Round[]) {
  const by = new Map<number, Round[]>();
  for (const r of rounds) by.set(r.n, [...(by.get(r.n) ?? []), r]);
  return [...by].map(([n, rs]) => ({
    n,
    runsPerSecMedian: median(rs.map((r) => r.runsPerSec)),
    runsPerSecMin: Math.min(...rs.map((r) => r.runsPerSec)),
    runsPerSecMax: Math.max(...rs.map((r) => r.runsPerSec)),
    p50MsMedian: median(rs.map((r) => r.p50Ms)),
    p95MsMedian: median(rs.map((r) => r.p95Ms)),
    failed: rs.reduce((a, r) => a + r.failed, 0),
    ...(rs[0].breakdown ? { breakdownMedian: medianBreakdown(rs.map((r) => r.breakdown!).filter(Boolean)) } : {}),
    ...(rs[0].load1 !== undefined
      ? { load1Range: [Math.min(...rs.map((r) => r.load1!)), Math.max(...rs.map((r) => r.load1!))] }
      : {}),
    ...(rs[0].sessionsPerRun !== undefined ? { sessionsPerRunMedian: median(rs.map((r) => r.sessionsPerRun!)) } : {}),
    ...(rs[0].peakConnections !== undefined
      ? { peakConnectionsMax: Math.max(...rs.map((r) => r.peakConnections!)) }
      : {}),
    rounds: rs,
  }));
}

async function main(): Promise<void> {
  const load = { uptimeBefore: os.loadavg(), cpus: os.cpus().length, memGiB: Math.round(os.totalmem() / 2 ** 30) };
  const stack = await startStack();
  const pg = await startPasswordPostgres();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-bench-prov-'));
  fs.chmodSync(dir, 0o700);
  const env = { BENCH_PG_PW: pg.adminPassword };
  const config = workerConfig(
    {
      credentials: { directories: [dir], secretsManagerPrefixes: ['dbops-bench/'] },
      databaseServers: {
        bench: {
          engine: 'postgres',
          host: pg.host,
          port: pg.port,
          adminUser: pg.adminUser,
          adminPassword: 'env:BENCH_PG_PW',
        },
      },
    },
    'bench',
  );
  const aws = new AwsClients({
    endpoint: stack.motoEndpoint,
    defaultRegion: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  const admin = new Pool({
    host: pg.host,
    port: pg.port,
    user: pg.adminUser,
    password: pg.adminPassword,
    database: 'postgres',
    max: POOL_MAX,
  });
  const sessions = async () =>
    Number((await admin.query<{ n: string }>('select sum(sessions)::text as n from pg_stat_database')).rows[0].n);
  const dbopsConnections = async () =>
    Number(
      (
        await admin.query<{ n: string }>(
          "select count(*)::text as n from pg_stat_activity where application_name = 'dbops'",
        )
      ).rows[0].n,
    );
  const maxConnections = (await admin.query<{ m: string }>('show max_connections')).rows[0].m;

  let seq = 0;
  const tenants: string[] = [];
  const nextTenant = () => {
    const t = `bench-${process.pid}-${++seq}`;
    tenants.push(t);
    return t;
  };
  /** Drops what a round made (not timed). */
  const cleanup = async () => {
    const list = tenants.splice(0);
    for (let i = 0; i < list.length; i += POOL_MAX) {
      await Promise.all(
        list.slice(i, i + POOL_MAX).map(async (t) => {
          const { database, user } = deriveNames(t, 'postgres');
          await admin.query(`DROP DATABASE IF EXISTS ${q(database)} WITH (FORCE)`);
          await admin.query(`DROP ROLE IF EXISTS ${q(user)}`);
          fs.rmSync(path.join(dir, `${t}.json`), { force: true });
        }),
      );
    }
  };

  const results: Record<string, unknown> = {
    benchmark: 'provision',
    date: new Date().toISOString(),
    machine: load,
    postgres: { maxConnections, auth: 'scram-sha-256', poolMax: POOL_MAX },
    reps: REPS,
  };

  // provisionDatabase through Temporal, with the worker's real activities. BENCH_BASELINE names
  // the compiled src/ (dist/) of another version (e.g. main's): its workflows and its activities
  // run on a worker of their own. Every kind of round (this version, the baseline, the no-op
  // workflow, the plain script) alternates with the others, round for round, so all see the same
  // machine load: only rows of one run compare.
  const sqlPools = new SqlPools({ max: POOL_MAX, idleSeconds: 30 });
  const variants: Array<{
    name: string;
    activities: object;
    workflows?: BundleSource;
    pools: { close(): Promise<void> };
  }> = [{ name: 'provisionDatabase', activities: createActivities({ env, aws, config, sqlPools }), pools: sqlPools }];
  if (process.env.BENCH_BASELINE) {
    const baseDir = path.resolve(process.env.BENCH_BASELINE);
    const base = require(path.join(baseDir, 'activities')) as { createActivities: typeof createActivities };
    const BasePools = (require(path.join(baseDir, 'activities', 'sql', 'admin-pools')) as { SqlPools: typeof SqlPools })
      .SqlPools;
    const basePools = new BasePools({ max: POOL_MAX, idleSeconds: 30 });
    variants.push({
      name: 'provisionDatabaseBaseline',
      activities: base.createActivities({ env, aws, config, sqlPools: basePools }),
      workflows: {
        workflowsPath: path.join(baseDir, 'workflows', 'index.js'),
        preloadModules: [path.join(baseDir, 'domain', 'zod-warm-up')],
      },
      pools: basePools,
    });
  }
  const input = (tenant: string) => ({
    engine: 'postgres',
    server: { host: pg.host, port: pg.port, adminUser: pg.adminUser, adminPasswordRef: 'env:BENCH_PG_PW' },
    tenant,
    credentialsTarget: { kind: 'file', path: path.join(dir, `${tenant}.json`) },
  });
  /** The workflow ids of the round in progress (for its breakdown). */
  let roundIds: string[] = [];
  const provision = (taskQueue: string) => async () => {
    const workflowId = `bench-prov-${process.pid}-${++seq}`;
    roundIds.push(workflowId);
    await stack.client.workflow.execute('provisionDatabase', {
      workflowId,
      taskQueue,
      args: [input(nextTenant())],
    });
  };
  const breakdown = async (ids: string[]): Promise<Breakdown | undefined> => {
    const sample = ids.filter((_, i) => i % Math.max(1, Math.floor(ids.length / 20)) === 0).slice(0, 20);
    const bs: Breakdown[] = [];
    for (const id of sample) {
      const h = await stack.client.workflow.getHandle(id).fetchHistory();
      bs.push(breakdownOf((h.events ?? []) as HistoryEvent[]));
    }
    return medianBreakdown(bs);
  };

  /** One kind of round: its name in the results, and one job. */
  const kinds: Array<{ name: string; job: () => Promise<void>; pg: boolean }> = [];
  const workers: Worker[] = [];
  if (WHICH.includes('provision')) {
    for (const v of variants) {
      workers.push(await stack.makeWorker(`bench-${v.name}`, v.activities, v.workflows));
      kinds.push({ name: v.name, job: provision(`bench-${v.name}`), pg: true });
    }
  }

  // The workflow's own cost: provisionDatabase (this version's and the baseline's) with activities
  // that answer at once (no SQL, no file): what orchestration alone allows for each path.
  if (WHICH.includes('nosql')) {
    const step = async () => ({ changed: true, detail: 'done (no SQL)' });
    const engine = {
      connect: async () => ({ serverVersion: 'none', detail: 'no SQL' }),
      ensureDatabase: step,
      ensureUser: step,
      grant: step,
      verify: step,
    } as unknown as SqlEngineActivities;
    const creds = {
      checkCredentialsTarget: async () => undefined,
      storeCredentials: async () => ({ changed: true, credentialsRef: 'file:/none' }),
    };
    const instant = {
      ...sqlActivityRegistry(engine, engine),
      ...creds,
      ...provisionStepRegistry(engine, engine, creds),
    };
    for (const v of variants) {
      const name = `${v.name}NoSql`;
      workers.push(await stack.makeWorker(`bench-${name}`, instant, v.workflows));
      kinds.push({ name, job: provision(`bench-${name}`), pg: false });
    }
  }

  // The dev server's ceiling: one no-op activity per workflow, on a worker of its own.
  if (WHICH.includes('noop')) {
    const { code } = await bundleWorkflowCode({
      workflowsPath: path.join(ROOT, 'bench', 'workflows', 'noop.ts'),
      logger: new DefaultLogger('ERROR'),
    });
    workers.push(
      await Worker.create({
        connection: await NativeConnection.connect({ address: stack.address }),
        taskQueue: 'bench-noop',
        workflowBundle: { code },
        activities: { benchNoop: async () => undefined },
        maxConcurrentActivityTaskExecutions: 500,
        shutdownGraceTime: '1s',
      }),
    );
    kinds.push({
      name: 'noopWorkflow',
      pg: false,
      job: async () => {
        const workflowId = `bench-noop-${process.pid}-${++seq}`;
        roundIds.push(workflowId);
        await stack.client.workflow.execute('benchNoopWorkflow', { workflowId, taskQueue: 'bench-noop' });
      },
    });
  }

  // PostgreSQL's ceiling: the same DDL a run makes, from a plain script with one pool (and the
  // tenant logins bounded to as many at once, so N=500 does not exceed max_connections).
  if (WHICH.includes('plain')) {
    let free = POOL_MAX;
    const waiting: Array<() => void> = [];
    const limited = async <T>(fn: () => Promise<T>): Promise<T> => {
      if (free > 0) free -= 1;
      else await new Promise<void>((res) => waiting.push(res));
      try {
        return await fn();
      } finally {
        const next = waiting.shift();
        if (next) next();
        else free += 1;
      }
    };
    const ddl = async () => {
      const t = nextTenant();
      const { database, user } = deriveNames(t, 'postgres');
      const password = 'bench-password-not-secret-0123456789';
      const mark = (run: string) => escapeLiteral(JSON.stringify({ managedBy: 'dbops', database, user, run }));
      const pending = `_dbops_pending_${database}`.slice(0, 63);
      await admin.query(`CREATE DATABASE ${q(pending)}`);
      const c = await admin.connect();
      try {
        await c.query('BEGIN');
        await c.query(`COMMENT ON DATABASE ${q(pending)} IS ${mark(t)}`);
        await c.query(`ALTER DATABASE ${q(pending)} RENAME TO ${q(database)}`);
        await c.query('COMMIT');
        await c.query('BEGIN');
        await c.query(`CREATE ROLE ${q(user)} LOGIN PASSWORD ${escapeLiteral(scramVerifier(password))}`);
        await c.query(`COMMENT ON ROLE ${q(user)} IS ${mark(t)}`);
        await c.query('COMMIT');
        await c.query(`ALTER DATABASE ${q(database)} OWNER TO ${q(user)}`);
        await c.query(`REVOKE ALL ON DATABASE ${q(database)} FROM PUBLIC`);
      } finally {
        c.release();
      }
      // The tenant's own login (a new connection, as verify makes).
      await limited(async () => {
        const me = new Client({ host: pg.host, port: pg.port, user, password, database });
        await me.connect();
        try {
          await me.query('BEGIN');
          await me.query('CREATE TABLE probe (id int)');
          await me.query('ROLLBACK');
        } finally {
          await me.end();
        }
      });
    };
    kinds.push({ name: 'plainScriptPool', job: ddl, pg: true });
  }

  const running = workers.map((w) => w.run());
  const rounds = new Map<string, Round[]>(kinds.map((k) => [k.name, []]));
  for (const k of kinds) await k.job(); // warm-up: bundles, first connections
  await cleanup();
  for (const n of NS)
    for (let r = 0; r < REPS; r++)
      for (const k of kinds) {
        const load1 = os.loadavg()[0];
        roundIds = [];
        const rd = await round(
          n,
          k.job,
          k.pg ? sessions : undefined,
          k.name.startsWith('provision') ? dbopsConnections : undefined,
        );
        const b = roundIds.length ? await breakdown(roundIds) : undefined;
        if (b) process.stderr.write(`[bench] ${k.name} breakdown ${JSON.stringify(b)}\n`);
        rounds.get(k.name)!.push({ ...rd, load1: Math.round(load1 * 10) / 10, ...(b ? { breakdown: b } : {}) });
        await cleanup();
      }
  for (const w of workers) w.shutdown();
  await Promise.all(running);
  for (const v of variants) await v.pools.close();
  for (const k of kinds) results[k.name] = summary(rounds.get(k.name)!);

  results.machine = { ...load, uptimeAfter: os.loadavg() };
  await admin.end();
  await pg.stop();
  await stack.stop();
  fs.rmSync(dir, { recursive: true, force: true });
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  },
);
