/**
 * What a workflow's modules keep, in plain Node (issue 11: a light workflow sandbox). The SDK gives
 * each cached run its own module cache, so what a module keeps at module level is paid once per
 * cached run; here each module of a build's dist/ is loaded BENCH_LOADS (50) times, its own module
 * cache each time (every module under dist/ required again; zod and the SDK stay loaded once, as
 * the sandbox shares zod), and every copy is kept, as a cached run keeps its modules. "validated":
 * each copy also validated one good input through its module's own planning function (what a run
 * does first). Heap used after a forced GC, before and after, per load; each module in a fresh
 * process. BENCH_MEMORY_BEFORE=<dist dir> measures that build too (e.g. main's).
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

const LOADS = Number(process.env.BENCH_LOADS ?? 50);

/** A provisioning input, also a rotation's. */
const TENANT = {
  engine: 'postgres',
  server: { host: 'db.example.internal', adminUser: 'admin', adminPasswordRef: 'env:PG_ADMIN_PASSWORD' },
  tenant: 'acme',
  credentialsTarget: { kind: 'file', path: '/var/lib/dbops/acme.json' },
};

/** Each measured module and one good input of its planning function (a function of the module's exports). */
const MODULES: Record<string, ((m: Record<string, (raw: unknown) => unknown>) => unknown) | undefined> = {
  'domain/limits': undefined,
  'domain/plan': undefined,
  'domain/cleanup': (m) => m.planCleanup({ region: 'us-east-1' }),
  'domain/dblab-config': (m) =>
    m.planRefresh({
      source: { type: 'rds', identifier: 'app-prod', dbName: 'app' },
      clone: { instanceClass: 'db.t3.medium' },
      dblab: { apiEndpoint: 'http://dblab.example.internal:2345', token: 'env:DBLAB_TOKEN' },
      aws: { region: 'us-east-1' },
    }),
  'domain/peering': (m) =>
    m.planPeering({
      databaseId: 'db-1',
      region: 'us-east-1',
      vpcId: 'vpc-0123abcd',
      cloud: { kind: 'aerospike-cloud', account: 'bench' },
    }),
  'domain/peering-plan': (m) =>
    m.planReconcilePeering({ databaseId: 'db-1', region: 'us-east-1', vpcId: 'vpc-0123abcd', cloud: { kind: 'aws' } }),
  'domain/network-plan': undefined,
  'domain/network-deletion': (m) =>
    m.planNetworkDeletion({ databaseId: 'db-1', region: 'us-east-1', vpcId: 'vpc-0123abcd' }),
  'domain/provision': (m) => m.planProvision(TENANT),
  'domain/rotation': (m) => m.planRotation(TENANT),
  'domain/sql-plan': undefined,
  'workflows/refresh-dblab': undefined,
  'workflows/peer-vpc': undefined,
  'workflows/rotate-database-credentials': undefined,
  'workflows/provision-database': undefined,
  'workflows/create-database-network': undefined,
};

const MiB = 2 ** 20;
const round = (n: number) => Math.round(n * 1000) / 1000;

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (!g) throw new Error('run with --expose-gc');
  for (let i = 0; i < 3; i++) g();
}

/** In the child: load `name` of `dist` LOADS times (validating when `validate`), print the heap growth per load. */
function child(dist: string, name: string, validate: boolean): void {
  const file = path.join(dist, `${name}.js`);
  const fresh = () => {
    for (const k of Object.keys(require.cache)) if (k.startsWith(dist + path.sep)) delete require.cache[k];
    return require(file) as Record<string, (raw: unknown) => unknown>;
  };
  fresh(); // zod, the SDK and Node's own modules loaded once, before measuring
  const use = MODULES[name];
  if (validate && use) use(fresh());
  const kept: unknown[] = [];
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < LOADS; i++) {
    const m = fresh();
    if (validate && use) use(m);
    kept.push(m);
  }
  gc();
  const after = process.memoryUsage().heapUsed;
  process.stdout.write(JSON.stringify({ perLoadMiB: round((after - before) / LOADS / MiB), loads: kept.length }));
}

async function main(): Promise<void> {
  // Required here, not at the top: the children load nothing but the measured build.
  const { ROOT } = require('../test/helpers/stack') as typeof import('../test/helpers/stack');
  const builds: Array<[string, string]> = [['this build', path.join(ROOT, 'dist')]];
  if (process.env.BENCH_MEMORY_BEFORE) builds.unshift(['before', path.resolve(process.env.BENCH_MEMORY_BEFORE)]);
  const results: Array<Record<string, unknown>> = [];
  for (const [build, dist] of builds) {
    for (const [name, use] of Object.entries(MODULES)) {
      const run = (validate: boolean) =>
        (
          JSON.parse(
            execFileSync(process.execPath, ['--expose-gc', __filename, 'child', dist, name, String(validate)], {
              encoding: 'utf8',
            }),
          ) as { perLoadMiB: number }
        ).perLoadMiB;
      results.push({
        build,
        module: name,
        loadedMiB: run(false),
        ...(use ? { validatedMiB: run(true) } : {}),
      });
      process.stderr.write(`[bench module-memory] ${build} ${name}: ${JSON.stringify(results[results.length - 1])}\n`);
    }
  }
  const out = {
    benchmark: 'module-memory',
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
    loadAverage: os.loadavg().map((l) => Math.round(l * 10) / 10),
    loads: LOADS,
    results,
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

if (process.argv[2] === 'child') child(process.argv[3], process.argv[4], process.argv[5] === 'true');
else (require('./common') as typeof import('./common')).runBench(main);
