/** Starts the Temporal dev server and moto for the whole test run; bundles the workflows once. */
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { SHARED_MODULES } from '../../src/temporal/workflow-bundle';
import { bundleWorkflowCode } from '@temporalio/worker';
import { ensureSearchAttributes } from '../../src/temporal/search-attributes';
import { STATE_DIR, startMoto, startTestTemporal } from './stack';

export default async function globalSetup(): Promise<void> {
  fs.mkdirSync(STATE_DIR, { recursive: true });
  const [temporal, moto] = await Promise.all([
    startTestTemporal(path.join(STATE_DIR, 'temporal.log')),
    startMoto(path.join(STATE_DIR, 'moto.log')),
  ]);
  (globalThis as Record<string, unknown>).__DBOPS_STACK__ = { temporal, moto };

  const connection = await Connection.connect({ address: temporal.address });
  await ensureSearchAttributes(connection, 'default');
  await connection.close();

  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../fixtures/workflows'),
    preloadModules: SHARED_MODULES, // as the worker's bundle (src/temporal/workflow-bundle.ts)
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error } as never,
  });
  const bundlePath = path.join(STATE_DIR, 'workflow-bundle.js');
  fs.writeFileSync(bundlePath, code);

  process.env.DBOPS_TEST_TEMPORAL_ADDRESS = temporal.address;
  process.env.DBOPS_TEST_MOTO_ENDPOINT = moto.endpoint;
  process.env.DBOPS_TEST_WORKFLOW_BUNDLE = bundlePath;
}
