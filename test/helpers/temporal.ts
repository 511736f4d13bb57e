/** Per-test-file helpers: a client and a real worker on the shared dev server. */
import crypto from 'node:crypto';
import { PassThrough } from 'node:stream';
import type { Io } from '../../src/client/follow';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, DefaultLogger, type Worker } from '@temporalio/worker';
import { createDbopsWorker } from '../../src/worker';

let runtimeInstalled = false;
function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // already installed in this jest worker
  }
}

export function testAddress(): string {
  const a = process.env.DBOPS_TEST_TEMPORAL_ADDRESS;
  if (!a) throw new Error('DBOPS_TEST_TEMPORAL_ADDRESS is not set: run the tests with "npm test"');
  return a;
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${crypto.randomBytes(4).toString('hex')}`;
}

export interface TestEnv {
  client: Client;
  connection: Connection;
  taskQueue: string;
  /** Env passed to worker and client (codec keys etc.). */
  env: NodeJS.ProcessEnv;
  close(): Promise<void>;
}

export async function openTestEnv(env: NodeJS.ProcessEnv = {}): Promise<TestEnv> {
  quietRuntime();
  const connection = await Connection.connect({ address: testAddress() });
  const { loadPayloadCodecs } = await import('../../src/temporal/codec-config');
  const client = new Client({
    connection,
    namespace: 'default',
    dataConverter: { payloadCodecs: loadPayloadCodecs(env) },
  });
  return { client, connection, taskQueue: uniqueName('tq'), env, close: () => connection.close() };
}

export async function makeWorker(
  t: TestEnv,
  activities: object,
  taskQueue = t.taskQueue,
  o: { maxConcurrentActivities?: number } = {},
): Promise<Worker> {
  quietRuntime();
  const connection = await NativeConnection.connect({ address: testAddress() });
  const bundle = process.env.DBOPS_TEST_WORKFLOW_BUNDLE;
  if (!bundle) throw new Error('DBOPS_TEST_WORKFLOW_BUNDLE is not set: run the tests with "npm test"');
  const worker = await createDbopsWorker({
    connection,
    namespace: 'default',
    taskQueue,
    activities,
    env: t.env,
    workflowBundle: { codePath: bundle },
    shutdownGraceTime: '1s',
    maxConcurrentActivities: o.maxConcurrentActivities,
  });
  return worker;
}

/** Runs `fn` while a worker polls the test task queue. */
export async function withWorker<T>(t: TestEnv, activities: object, fn: () => Promise<T>): Promise<T> {
  const worker = await makeWorker(t, activities);
  return worker.runUntil(fn);
}

/** Collects what a CLI run writes. */
export function captureIo(): { io: Io; out(): string; err(): string } {
  const out = new PassThrough();
  const err = new PassThrough();
  let o = '';
  let e = '';
  out.on('data', (c) => (o += c));
  err.on('data', (c) => (e += c));
  return { io: { out, err }, out: () => o, err: () => e };
}

/**
 * With DBOPS_RECORD_HISTORIES set, saves a run's history (as `temporal workflow show -o json`
 * exports it) as test/fixtures/histories/<package.json version>/<name>.json, where the replay test
 * replays it against every later version of the code (see CONTRIBUTING.md). A history already
 * kept for this version is not overwritten (histories of a release are never re-recorded by
 * later code) unless DBOPS_RECORD_HISTORIES=overwrite.
 */
/** The release in the making: histories of its new paths are recorded into its folder before the version bump. */
export const NEXT_RELEASE = '0.5.0';

export async function recordHistory(workflowId: string, name: string, forVersion?: string): Promise<void> {
  const mode = process.env.DBOPS_RECORD_HISTORIES;
  if (!mode) return;
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const path = await import('node:path');
  const fs = await import('node:fs');
  const { ROOT, VENV_BIN } = await import('./stack');
  // forVersion: a folder for the next release, recorded before package.json's version is bumped.
  const version =
    forVersion ?? (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const dir = path.join(ROOT, 'test', 'fixtures', 'histories', version);
  const file = path.join(dir, `${name}.json`);
  if (fs.existsSync(file) && mode !== 'overwrite') {
    throw new Error(
      `${path.relative(ROOT, file)} already exists: histories of version ${forVersion ?? version} are kept as recorded. ` +
        'Bump the version in package.json to record the next release, or set DBOPS_RECORD_HISTORIES=overwrite ' +
        `while ${version} is still unreleased.`,
    );
  }
  const { stdout } = await promisify(execFile)(
    `${VENV_BIN}/temporal`,
    ['workflow', 'show', '-w', workflowId, '-o', 'json', '--address', testAddress()],
    { maxBuffer: 1 << 26 },
  );
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(file, stdout);
}
