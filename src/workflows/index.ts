/**
 * Every workflow type the worker registers (the worker's workflowsPath points here).
 *
 * Each type's module is loaded when a run of it first runs, not when the bundle loads: the SDK
 * evaluates this module graph once per cached run (each run has its own module cache), so a
 * waiting refresh used to carry every workflow's domain schemas too (bench/RESULTS.md, "memory").
 * Loading adds no command: a run's history is the same either way.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- loaded lazily on purpose (above) */
import type * as ProvisionDatabase from './provision-database';
import type * as DeprovisionDatabase from './deprovision-database';
import type * as RotateDatabaseCredentials from './rotate-database-credentials';
import type * as PeerVpc from './peer-vpc';
import type * as UnpeerVpc from './unpeer-vpc';
import type * as CreateDatabaseNetwork from './create-database-network';
import type * as DeleteDatabaseNetwork from './delete-database-network';
import type * as RefreshDblab from './refresh-dblab';
import type * as ScheduledRefreshDblab from './scheduled-refresh-dblab';
import type * as CleanupRefreshClones from './cleanup-refresh-clones';
import type * as ReconcileDatabase from './reconcile-database';
import type * as ReconcilePeering from './reconcile-peering';

export const provisionDatabase: typeof ProvisionDatabase.provisionDatabase = (...a) =>
  (require('./provision-database') as typeof ProvisionDatabase).provisionDatabase(...a);
export const deprovisionDatabase: typeof DeprovisionDatabase.deprovisionDatabase = (...a) =>
  (require('./deprovision-database') as typeof DeprovisionDatabase).deprovisionDatabase(...a);
export const rotateDatabaseCredentials: typeof RotateDatabaseCredentials.rotateDatabaseCredentials = (...a) =>
  (require('./rotate-database-credentials') as typeof RotateDatabaseCredentials).rotateDatabaseCredentials(...a);
export const peerVpc: typeof PeerVpc.peerVpc = (...a) => (require('./peer-vpc') as typeof PeerVpc).peerVpc(...a);
export const unpeerVpc: typeof UnpeerVpc.unpeerVpc = (...a) =>
  (require('./unpeer-vpc') as typeof UnpeerVpc).unpeerVpc(...a);
export const createDatabaseNetwork: typeof CreateDatabaseNetwork.createDatabaseNetwork = (...a) =>
  (require('./create-database-network') as typeof CreateDatabaseNetwork).createDatabaseNetwork(...a);
export const deleteDatabaseNetwork: typeof DeleteDatabaseNetwork.deleteDatabaseNetwork = (...a) =>
  (require('./delete-database-network') as typeof DeleteDatabaseNetwork).deleteDatabaseNetwork(...a);
export const refreshDblab: typeof RefreshDblab.refreshDblab = (...a) =>
  (require('./refresh-dblab') as typeof RefreshDblab).refreshDblab(...a);
export const scheduledRefreshDblab: typeof ScheduledRefreshDblab.scheduledRefreshDblab = (...a) =>
  (require('./scheduled-refresh-dblab') as typeof ScheduledRefreshDblab).scheduledRefreshDblab(...a);
export const cleanupRefreshClones: typeof CleanupRefreshClones.cleanupRefreshClones = (...a) =>
  (require('./cleanup-refresh-clones') as typeof CleanupRefreshClones).cleanupRefreshClones(...a);
export const reconcileDatabase: typeof ReconcileDatabase.reconcileDatabase = (...a) =>
  (require('./reconcile-database') as typeof ReconcileDatabase).reconcileDatabase(...a);
export const reconcilePeering: typeof ReconcilePeering.reconcilePeering = (...a) =>
  (require('./reconcile-peering') as typeof ReconcilePeering).reconcilePeering(...a);
