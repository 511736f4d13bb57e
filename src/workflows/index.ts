/** Every workflow type the worker registers (the worker's workflowsPath points here). */
export { provisionDatabase } from './provision-database';
export { deprovisionDatabase } from './deprovision-database';
export { rotateDatabaseCredentials } from './rotate-database-credentials';
export { peerVpc } from './peer-vpc';
export { unpeerVpc } from './unpeer-vpc';
export { reconcilePeering } from './reconcile-peering';
export { createDatabaseNetwork } from './create-database-network';
export { deleteDatabaseNetwork } from './delete-database-network';
export { refreshDblab } from './refresh-dblab';
export { scheduledRefreshDblab } from './scheduled-refresh-dblab';
export { cleanupRefreshClones } from './cleanup-refresh-clones';
