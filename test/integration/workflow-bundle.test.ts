/**
 * The workflow bundle prebuilt at build time: a worker started from it runs a workflow, and a
 * bundle whose sources changed since it was built is not used.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DefaultLogger, NativeConnection } from '@temporalio/worker';
import {
  buildWorkflowBundle,
  checkWorkflowBundle,
  MANIFEST_FILE,
  workflowBundleForWorker,
} from '../../src/temporal/workflow-bundle';
import { createDbopsWorker } from '../../src/worker';
import { openTestEnv, testAddress, uniqueName, type TestEnv } from '../helpers/temporal';

let t: TestEnv;
let dir: string;
beforeAll(async () => {
  t = await openTestEnv();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-bundle-'));
  await buildWorkflowBundle(dir, new DefaultLogger('WARN'));
});
afterAll(async () => {
  await t.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a worker started from the prebuilt bundle runs a workflow, and refuses a bad input in the run after', async () => {
  const lines: string[] = [];
  const bundle = await workflowBundleForWorker(dir, new DefaultLogger('WARN'), (l) => lines.push(l));
  expect(bundle).toEqual({ codePath: path.join(dir, 'workflows.bundle.js') });
  expect(lines).toEqual([`workflows: prebuilt bundle ${path.join(dir, 'workflows.bundle.js')}`]);
  const connection = await NativeConnection.connect({ address: testAddress() });
  const worker = await createDbopsWorker({
    connection,
    namespace: 'default',
    taskQueue: t.taskQueue,
    activities: { rdsListRefreshClones: async () => [] },
    env: {},
    workflowBundle: bundle,
    shutdownGraceTime: '1s',
  });
  const run = (input: object) =>
    t.client.workflow.execute('cleanupRefreshClones', {
      workflowId: uniqueName('bundle'),
      taskQueue: t.taskQueue,
      args: [input],
    });
  // The second and third run use the zod the sandbox loaded once for all runs (SHARED_MODULES), frozen.
  const [result, refused, again] = await worker.runUntil(async () => [
    await run({ region: 'us-east-1', dryRun: true }),
    await run({ region: 'us-east-1', dryrun: true }).catch((err: unknown) => err),
    await run({ region: 'us-east-1', dryRun: true }),
  ]);
  await connection.close();
  expect(result).toMatchObject({ region: 'us-east-1', dryRun: true, found: 0, deleted: [] });
  expect(again).toEqual(result);
  const cause = (refused as { cause?: { type?: string; message?: string } }).cause;
  expect(cause?.type).toBe('InvalidInput');
  expect(cause?.message).toBe('invalid input: input: Unrecognized key: "dryrun"');
  // Built so: the bundle loads the zod warm-up once per sandbox, before any run.
  expect(fs.readFileSync(path.join(dir, 'workflows.bundle.js'), 'utf8')).toMatch(
    /preloadModules\(\) \{\s*__webpack_require__\([^)]*domain\/zod-warm-up/,
  );
});

test('a bundle built from other sources is detected and not used', async () => {
  const manifestPath = path.join(dir, MANIFEST_FILE);
  const original = fs.readFileSync(manifestPath, 'utf8');
  try {
    const manifest = JSON.parse(original) as { files: Record<string, string> };
    const changed = Object.keys(manifest.files).find((f) => f.endsWith(path.join('workflows', 'peer-vpc.ts')))!;
    expect(changed).toBeDefined();
    // As if peer-vpc.ts had been edited after the bundle was built.
    manifest.files[changed] = '0'.repeat(64);
    fs.writeFileSync(manifestPath, JSON.stringify(manifest));
    expect(checkWorkflowBundle(dir)).toEqual({
      stale: `${path.resolve(dir, changed)} changed since the bundle was built`,
    });
    const lines: string[] = [];
    const infos: string[] = [];
    const logger = new DefaultLogger('INFO', (entry) => void (entry.level === 'INFO' && infos.push(entry.message)));
    const bundle = await workflowBundleForWorker(dir, logger, (l) => lines.push(l));
    // webpack's module listing is DEBUG: at INFO the bundler says only that it made a bundle
    expect(infos).toEqual(['Workflow bundle created']);
    expect('code' in bundle && bundle.code.length > 0).toBe(true);
    expect(lines).toEqual([
      `workflows: bundling at start (${path.resolve(dir, changed)} changed since the bundle was built; "npm run build" prebuilds it)`,
    ]);

    fs.rmSync(manifestPath);
    expect(checkWorkflowBundle(dir)).toEqual({ stale: `no prebuilt bundle in ${dir}` });
  } finally {
    fs.writeFileSync(manifestPath, original);
  }
  expect(checkWorkflowBundle(dir)).toEqual({ codePath: path.join(dir, 'workflows.bundle.js') });
  // The traced bundle (traces on) is its own file: this directory has only the plain one.
  expect(checkWorkflowBundle(dir, 'traced')).toEqual({ stale: `no prebuilt traced bundle in ${dir}` });
});
