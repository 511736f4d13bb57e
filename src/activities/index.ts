/**
 * Every activity the worker registers, built from its clients. Each external system has its own
 * module with a factory taking its clients, so tests inject endpoints (moto, local SQL servers,
 * HTTP fakes).
 */
import { Signer } from '@aws-sdk/rds-signer';
import type { Client } from '@temporalio/client';
import { Authority } from '../authority';
import { PROJECT_ROOT, sqlPoolSettings } from '../config';
import { createSecretResolver } from './secrets';
import { localDevelopmentConfig, type WorkerConfig } from '../worker-config';
import { AwsClients } from './aws-clients';
import type { AwsCallSpans } from './aws-tracing';
import { AwsRateLimiter } from './aws-rate-limit';
import { createClonePrepare } from './clone-prepare';
import { createCredentialsActivities } from './credentials';
import { createDblabActivities } from './dblab';
import { createRdsActivities } from './rds';
import { createTemporalRunActivities } from './temporal-runs';
import { createDatabaseNetworkActivities } from './database-network';
import { createDatabaseSideActivities } from './database-side';
import { withAwsErrors } from './aws-errors';
import { createEc2Activities } from './ec2';
import { createRoute53Activities } from './route53';
import { SqlPools } from './sql/admin-pools';
import type { EndpointResolver } from './sql/connection';
import { createMysqlActivities } from './sql/mysql';
import { createPostgresActivities } from './sql/postgres';
import { provisionStepRegistry } from './sql/provision-steps';
import { sqlActivityRegistry } from './sql/types';

export interface ActivityDeps {
  /** Environment used to resolve `env:NAME` secret references. */
  env: NodeJS.ProcessEnv;
  /**
   * What runs may use and where (DBOPS_CONFIG); default: the local-development default, which
   * binds no secret at all.
   */
  config?: WorkerConfig;
  /** PEM of the CA for RDS clone certificates (default: the RDS CA bundle). */
  cloneCa?: string;
  /** Default: from the environment, under the configuration's AWS rate limits (aws.rateLimits). */
  aws?: AwsClients;
  /** Maps database host/port to where to connect (tests, tunnels). */
  sqlEndpoint?: EndpointResolver;
  /** HTTP client for cloud APIs (tests inject slow or failing ones). */
  fetch?: typeof fetch;
  /** Per-request timeout for cloud APIs (default 30 s). */
  cloudRequestTimeoutMs?: number;
  /** Temporal client for activities that ask about runs (the clone janitor). */
  temporal?: Client;
  /**
   * The worker's SQL admin pools; the worker closes them when it stops. Default: pools of their
   * own, sized by DBOPS_SQL_POOL_MAX / DBOPS_SQL_POOL_IDLE in `env` (idle ones never keep the
   * process alive).
   */
  sqlPools?: SqlPools;
  /** One span per AWS call of the default clients, when traces are on (src/temporal/tracing-sdk.ts). */
  awsCallSpans?: AwsCallSpans;
}

export function createActivities(deps: ActivityDeps) {
  const config = deps.config ?? localDevelopmentConfig(`${PROJECT_ROOT}/.dbops`);
  const rateLimiter = new AwsRateLimiter({ limits: config.awsRateLimits, maxWaitMs: config.awsRateLimitMaxWaitMs });
  const aws = deps.aws ?? AwsClients.fromEnv(deps.env, { rateLimiter, callSpans: deps.awsCallSpans });
  const authority = new Authority(
    config,
    createSecretResolver({ env: deps.env, aws, defaultRegion: aws.defaultRegion }),
  );
  const iamToken = (hostname: string, port: number, username: string, region: string) =>
    new Signer({ hostname, port, username, region }).getAuthToken();
  const pools = deps.sqlPools ?? new SqlPools(sqlPoolSettings(deps.env));
  const sqlDeps = { authority, aws, iamToken, endpoint: deps.sqlEndpoint, pools, temporal: deps.temporal };
  const prepare = createClonePrepare({ aws, authority, endpoint: deps.sqlEndpoint, cloneCa: deps.cloneCa });
  const postgres = createPostgresActivities(sqlDeps);
  const mysql = createMysqlActivities(sqlDeps);
  const credentials = withAwsErrors(createCredentialsActivities({ aws, authority }));
  return {
    ...sqlActivityRegistry(postgres, mysql),
    ...credentials,
    // provisionDatabase's three activities (patch provision-database-fewer-activities): the steps above, combined.
    ...provisionStepRegistry(postgres, mysql, credentials),
    ...withAwsErrors(createEc2Activities({ aws, authority })),
    ...withAwsErrors(createRoute53Activities({ aws })),
    ...withAwsErrors(
      createDatabaseSideActivities({ aws, authority, fetch: deps.fetch, requestTimeoutMs: deps.cloudRequestTimeoutMs }),
    ),
    ...withAwsErrors(createDatabaseNetworkActivities({ aws, authority })),
    ...withAwsErrors(createRdsActivities({ aws })),
    ...withAwsErrors(prepare.activities),
    ...createDblabActivities({ authority, fetch: deps.fetch, cloneLogin: prepare.cloneLogin }),
    ...createTemporalRunActivities({ client: deps.temporal }),
  };
}
