/** The SQL activity proxies shared by the provisioning workflows, picked by engine. */
import { proxyActivities, type RetryPolicy } from '@temporalio/workflow';
import type { createCredentialsActivities } from '../activities/credentials';
import type { Prefixed, SqlEngineActivities } from '../activities/sql/types';
import type { Engine } from '../domain/sql-names';

type Registered = Prefixed<'postgres', SqlEngineActivities> &
  Prefixed<'mysql', SqlEngineActivities> &
  ReturnType<typeof createCredentialsActivities>;

const retry: RetryPolicy = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 };

/** Connecting: a few quick retries for network trouble, then the run fails with the reason. */
const connecting = proxyActivities<Registered>({ startToCloseTimeout: '1m', retry: { ...retry, maximumAttempts: 4 } });
/** DDL and checks: bounded retries on transient errors. */
const acting = proxyActivities<Registered>({ startToCloseTimeout: '5m', retry });

export const credentials = {
  check: acting.checkCredentialsTarget,
  store: acting.storeCredentials,
  remove: acting.removeCredentials,
};

export function sqlActivities(engine: Engine) {
  const p = engine === 'postgres' ? 'postgres' : 'mysql';
  return {
    connect: connecting[`${p}Connect`],
    ensureDatabase: acting[`${p}EnsureDatabase`],
    ensureUser: acting[`${p}EnsureUser`],
    grant: acting[`${p}Grant`],
    verify: acting[`${p}Verify`],
    dropDatabase: acting[`${p}DropDatabase`],
    dropUser: acting[`${p}DropUser`],
  };
}
