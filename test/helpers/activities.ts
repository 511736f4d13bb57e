/** The product's activities wired to the test stack: moto for AWS, the real SQL servers. */
import os from 'node:os';
import { createActivities } from '../../src/activities';
import { AwsClients } from '../../src/activities/aws-clients';
import { workerConfig, type WorkerConfig, type WorkerConfigInput } from '../../src/worker-config';
import { DBLAB_TOKEN, SOURCE_PASSWORD } from './dblab-fixtures';

export function motoEndpoint(): string {
  const e = process.env.DBOPS_TEST_MOTO_ENDPOINT;
  if (!e) throw new Error('DBOPS_TEST_MOTO_ENDPOINT is not set: run the tests with "npm test"');
  return e;
}

export function motoAws(region = 'us-east-1'): AwsClients {
  return new AwsClients({
    endpoint: motoEndpoint(),
    defaultRegion: region,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    maxAttempts: 2,
  });
}

/**
 * A worker configuration for tests: unlisted loopback SQL servers without secrets (the machine's
 * trust-auth servers), credentials files under the OS temp directory, Secrets Manager names under
 * `dbops-test/`, plus whatever `extra` binds. The object is live: the activities read it at each
 * call, so a test may bind a fake it starts later (bindDblab).
 */
export function testConfig(extra: WorkerConfigInput = {}): WorkerConfig {
  return workerConfig(
    {
      allowLoopbackDatabases: true,
      credentials: { directories: [os.tmpdir()], secretsManagerPrefixes: ['dbops-test/'] },
      ...extra,
    },
    'test',
  );
}

/** The env the refresh tests' references name (env:DBLAB_TOKEN, env:SRC_PW). */
export const DBLAB_ENV = { DBLAB_TOKEN, SRC_PW: SOURCE_PASSWORD };

/** Binds the test DBLab token and source password to a DBLab fake's endpoint; returns the entry name. */
export function bindDblab(config: WorkerConfig, endpoint: string): string {
  const name = `fake-${new URL(endpoint).port}`;
  config.dblab[name] = { endpoint, token: 'env:DBLAB_TOKEN', sourcePassword: 'env:SRC_PW', sources: ['us-east-1:*'] };
  return name;
}

export function testActivities(env: NodeJS.ProcessEnv = {}, config: WorkerConfig = testConfig()) {
  return createActivities({ env, aws: motoAws(), config });
}
