/**
 * Each dbops workflow's input schema, for checks in the client before anything is started or
 * scheduled (the workflow checks again when it runs). Loaded only by the commands that need it.
 */
import { planCleanup } from '../domain/cleanup';
import { planRefresh } from '../domain/dblab-config';
import { InvalidInput } from '../domain/errors';
import { planNetworkDeletion } from '../domain/network-deletion';
import { planNetwork, planPeering, planUnpeering } from '../domain/peering';
import { planReconcilePeering } from '../domain/peering-plan';
import { planDeprovisionRun, planProvisionRun, planReconcileDatabase } from '../domain/sql-plan';
import { planRotation } from '../domain/rotation';
import type { WorkflowName } from './workflow-types';

/** Every workflow's schema (the compiler asks for a new workflow's). */
export const INPUT_SCHEMAS: { [K in WorkflowName]: (input: unknown) => unknown } = {
  peerVpc: planPeering,
  unpeerVpc: planUnpeering,
  reconcilePeering: (i) => planPeering(planReconcilePeering(i).peer),
  createDatabaseNetwork: planNetwork,
  deleteDatabaseNetwork: planNetworkDeletion,
  provisionDatabase: planProvisionRun,
  deprovisionDatabase: planDeprovisionRun,
  reconcileDatabase: planReconcileDatabase,
  rotateDatabaseCredentials: planRotation,
  refreshDblab: planRefresh,
  scheduledRefreshDblab: planRefresh,
  cleanupRefreshClones: planCleanup,
};

/** Refuses an input the workflow would refuse, naming the flag. */
export function checkInput(type: WorkflowName, input: unknown, flag = '--input'): void {
  try {
    INPUT_SCHEMAS[type](input);
  } catch (err) {
    if (err instanceof InvalidInput) throw new Error(`${flag} is not a valid ${type} input: ${err.message}`);
    throw err;
  }
}
