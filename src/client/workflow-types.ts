/**
 * The dbops workflow types as the client sees them: names and input types come from the workflow
 * functions themselves, imported for their types only (the CLI never loads workflow code).
 */
import type * as workflows from '../workflows';
import type { WorkflowStart } from './follow';

export type Workflows = typeof workflows;
export type WorkflowName = keyof Workflows;
export type WorkflowInput<K extends WorkflowName> = Parameters<Workflows[K]>[0];

/** A start of the dbops workflow K: `input` must be what that workflow function takes. */
export type StartRequest<K extends WorkflowName> = WorkflowStart<Workflows[K]> & { workflowType: K };

// Every name of the map and nothing else (the compiler checks both ways), for checks at run time.
const KNOWN: { [K in WorkflowName]: true } = {
  provisionDatabase: true,
  deprovisionDatabase: true,
  peerVpc: true,
  unpeerVpc: true,
  reconcilePeering: true,
  createDatabaseNetwork: true,
  deleteDatabaseNetwork: true,
  refreshDblab: true,
  scheduledRefreshDblab: true,
  cleanupRefreshClones: true,
  rotateDatabaseCredentials: true,
  reconcileDatabase: true,
};

export const WORKFLOW_NAMES = Object.keys(KNOWN) as WorkflowName[];

export function isWorkflowName(name: string): name is WorkflowName {
  return Object.hasOwn(KNOWN, name);
}
