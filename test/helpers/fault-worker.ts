/** A worker whose AWS calls go through the fault proxy (test/fixtures/aws-fault-proxy.ts). */
import { createActivities } from '../../src/activities';
import { AwsClients } from '../../src/activities/aws-clients';
import type { WorkerConfig } from '../../src/worker-config';
import { AwsFaultProxy, type FaultRule } from '../fixtures/aws-fault-proxy';
import { motoEndpoint, testConfig } from './activities';
import { DBLAB_TOKEN, SOURCE_PASSWORD } from './dblab-fixtures';
import { makeWorker, type TestEnv } from './temporal';

/** Runs `fn` while a worker on `t`'s task queue polls, its AWS calls going through a proxy with these rules. */
export async function throughFaults<T>(
  t: TestEnv,
  rules: FaultRule[],
  fn: (proxy: AwsFaultProxy) => Promise<T>,
  config: WorkerConfig = testConfig(),
): Promise<T> {
  const proxy = new AwsFaultProxy(motoEndpoint(), rules);
  await proxy.start();
  const aws = new AwsClients({
    endpoint: proxy.url,
    defaultRegion: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    maxAttempts: 3,
  });
  try {
    const worker = await makeWorker(
      t,
      createActivities({ env: { DBLAB_TOKEN, SRC_PW: SOURCE_PASSWORD }, aws, temporal: t.client, config }),
    );
    return await worker.runUntil(() => fn(proxy));
  } finally {
    await proxy.stop();
  }
}
