/** The product's activities wired to the test stack: moto for AWS, the real SQL servers. */
import { createActivities } from '../../src/activities';
import { AwsClients } from '../../src/activities/aws-clients';

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

export function testActivities(env: NodeJS.ProcessEnv = {}) {
  return createActivities({ env, aws: motoAws() });
}
