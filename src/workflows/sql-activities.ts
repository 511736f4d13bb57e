/** The SQL activity proxies shared by the provisioning workflows, picked by engine. */
import { proxyActivities, type RetryPolicy } from '@temporalio/workflow';
import type { createCredentialsActivities } from '../activities/credentials';
import type { provisionStepRegistry } from '../activities/sql/provision-steps';
import type { sqlActivityRegistry } from '../activities/sql/types';
import type { Engine } from '../domain/sql-names';

type Registered = ReturnType<typeof sqlActivityRegistry> &
  ReturnType<typeof createCredentialsActivities> &
  ReturnType<typeof provisionStepRegistry>;

// Measured under 20 % dropped connections (test/proof/faults.test.ts): verify (two connections per
// attempt) needed 5 attempts; 8 leaves room without hiding a server that is really down (~90 s).
const retry: RetryPolicy = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 8 };

/** Connecting: a few quick retries for network trouble, then the run fails with the reason. */
const connecting = proxyActivities<Registered>({ startToCloseTimeout: '1m', retry: { ...retry, maximumAttempts: 6 } });
/** DDL and checks: bounded retries on transient errors. */
const acting = proxyActivities<Registered>({ startToCloseTimeout: '5m', retry });
/** The undo of a cancelled run: retried until done (only a non-retryable error stops it). */
const undoing = proxyActivities<Registered>({
  startToCloseTimeout: '5m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' },
});

/** What a cancelled provisioning run calls to remove what it made. */
export const sqlUndo = {
  postgres: { dropDatabase: undoing.postgresDropDatabase, dropUser: undoing.postgresDropUser },
  mysql: { dropDatabase: undoing.mysqlDropDatabase, dropUser: undoing.mysqlDropUser },
  removeCredentials: undoing.removeCredentials,
};

export const credentials = {
  check: acting.checkCredentialsTarget,
  store: acting.storeCredentials,
  remove: acting.removeCredentials,
};

/**
 * A rotation's steps that change a login, heartbeating between their statements: a worker lost in
 * the middle of one (a crash, a kill) is noticed after the heartbeat timeout and the step is tried
 * again on another worker, instead of after the 5 minutes of its start-to-close timeout. Every
 * statement and call inside a step is bounded well below it (SQL and AWS calls are seconds).
 */
const rotating = proxyActivities<Registered>({ startToCloseTimeout: '5m', heartbeatTimeout: '30s', retry });

/**
 * Credential rotation's steps of one engine (rotation.ts). `heartbeats`: the switch and the
 * retirement with a heartbeat timeout (rotateDatabaseCredentials' patch `heartbeats`); without
 * it, as before.
 */
export function rotationActivities(engine: Engine, heartbeats = false) {
  const changing = heartbeats ? rotating : acting;
  if (engine === 'postgres') {
    return {
      check: acting.postgresRotateCheck,
      switchTo: changing.postgresRotateSwitch,
      retire: changing.postgresRotateRetire,
    };
  }
  return { check: acting.mysqlRotateCheck, switchTo: changing.mysqlRotateSwitch, retire: changing.mysqlRotateRetire };
}

/** The steps of one engine, by the names the worker registers them under. */
export function sqlActivities(engine: Engine) {
  if (engine === 'postgres') {
    return {
      connect: connecting.postgresConnect,
      ensureDatabase: acting.postgresEnsureDatabase,
      ensureUser: acting.postgresEnsureUser,
      grant: acting.postgresGrant,
      verify: acting.postgresVerify,
      dropDatabase: acting.postgresDropDatabase,
      dropUser: acting.postgresDropUser,
    };
  }
  return {
    connect: connecting.mysqlConnect,
    ensureDatabase: acting.mysqlEnsureDatabase,
    ensureUser: acting.mysqlEnsureUser,
    grant: acting.mysqlGrant,
    verify: acting.mysqlVerify,
    dropDatabase: acting.mysqlDropDatabase,
    dropUser: acting.mysqlDropUser,
  };
}

/**
 * provisionDatabase in three activities (patch provision-database-fewer-activities): connect with
 * the credentials target's check, ensure-database + ensure-user + grant, verify + store-credentials.
 */
export function provisionSteps(engine: Engine) {
  if (engine === 'postgres') {
    return {
      connect: connecting.postgresConnectAndCheck,
      ensureTenant: acting.postgresEnsureTenant,
      verifyAndStore: acting.postgresVerifyAndStore,
    };
  }
  return {
    connect: connecting.mysqlConnectAndCheck,
    ensureTenant: acting.mysqlEnsureTenant,
    verifyAndStore: acting.mysqlVerifyAndStore,
  };
}

/** Plan mode and reconcile (issue 14): the read-only plan activities and the reconcile's repair. */
export function planActivities(engine: Engine) {
  if (engine === 'postgres') {
    return {
      planProvision: acting.postgresPlanProvision,
      planDeprovision: acting.postgresPlanDeprovision,
      repair: acting.postgresRepairTenant,
    };
  }
  return {
    planProvision: acting.mysqlPlanProvision,
    planDeprovision: acting.mysqlPlanDeprovision,
    repair: acting.mysqlRepairTenant,
  };
}
