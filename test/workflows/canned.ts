/**
 * Canned activity results for the workflow-logic tests, shaped like the real activities' return
 * types (src/activities/**): each default is what the activity returns when it changes something.
 */
import type { CustomerVpc } from '../../src/activities/ec2';
import type { DatabaseNetworkState } from '../../src/domain/network-deletion';
import type { Impl } from '../helpers/mocked-activities';

export const CUSTOMER_VPC = 'vpc-0123456789abcdef0';
export const DEFAULT_VPC = 'vpc-0ddddddddddddddd0';
export const PCX = 'pcx-0aaaa1111bbbb2222';
export const ZONE = 'Z0DATABASEZONE';
export const DB_CIDR = '10.128.0.0/19';
/** Fast timings for the peering waits (the mocks do not wait anyway). */
export const TIMING = { pollInterval: '10ms', initiateTimeout: '5s', activeTimeout: '5s', heartbeatTimeout: '1s' };

export function customerVpc(region: string, vpcId: string): CustomerVpc {
  return {
    vpcId: vpcId === 'default' ? DEFAULT_VPC : vpcId,
    region,
    accountId: '111111111111',
    cidr: '10.0.0.0/16',
    cidrBlocks: ['10.0.0.0/16'],
  };
}

const step = (detail: string) => async () => ({ changed: true, detail });

/** ec2, route53 and database-side activities a peering (peerVpc, unpeerVpc) calls. */
export const peeringActivities: Record<string, Impl> = {
  resolveCustomerVpc: async (i: { region: string; vpcId: string }) => customerVpc(i.region, i.vpcId),
  databaseDescribe: async () => ({
    database: { cidr: DB_CIDR, hostedZoneId: ZONE, status: 'available', accountId: '222222222222' },
  }),
  databaseInitiate: async () => ({
    changed: true,
    peeringId: PCX,
    hostedZoneId: ZONE,
    databaseCidr: DB_CIDR,
    detail: `requested ${PCX} (pending-acceptance)`,
  }),
  acceptPeering: step(`accepted ${PCX}; active`),
  ensureCustomerRoutes: async () => ({
    changed: true,
    detail: 'rtb-1: created',
    changes: [{ routeTableId: 'rtb-1', action: 'created' }],
  }),
  databaseReturnRoute: step('return route created'),
  databaseAuthorizeZone: async () => ({ crossAccount: true }),
  vpcAssociatedWithZone: async () => false,
  associateVpcWithZone: step(`associated with ${ZONE}`),
  disassociateVpcFromZone: step(`disassociated from ${ZONE}`),
  removeCustomerRoutes: step(`removed rtb-1 ${DB_CIDR}`),
  databaseRemoveReturnRoute: step('removed return routes'),
  databaseDeletePeering: step(`deleted ${PCX}`),
  ensurePeeringRoutes: step('rtb-1: created; return route created'),
};

/**
 * lookUpPeering (peerVpc's prepare since 0.5.0) as the product composes it: the customer VPC, then
 * what databaseDescribe answers, so a test's override of either applies to it too.
 */
export function withLookUp(m: { impl(name: string): Impl }): Record<string, Impl> {
  return {
    lookUpPeering: async (plan: { region: string; vpcId: string }) => {
      const customer = (await m.impl('resolveCustomerVpc')({ region: plan.region, vpcId: plan.vpcId })) as CustomerVpc;
      return { customer, ...((await m.impl('databaseDescribe')(plan, customer)) as object) };
    },
  };
}

/** A database network as inspectDatabaseNetwork reports it: made by dbops, peered with the customer VPC. */
export function networkState(over: Partial<DatabaseNetworkState> = {}): DatabaseNetworkState {
  return {
    vpcId: 'vpc-0db00000000000000',
    cidr: DB_CIDR,
    managedByDbops: true,
    hostedZoneId: ZONE,
    subnets: [{ id: 'subnet-0a', ours: true }],
    peerings: [{ peeringId: PCX, vpcId: CUSTOMER_VPC, status: 'active' }],
    networkInterfaces: [],
    ...over,
  };
}

/** The database-network activities (createDatabaseNetwork, deleteDatabaseNetwork). */
export const networkActivities: Record<string, Impl> = {
  findDatabaseNetwork: async () => undefined,
  describeInUse: async (i: { region: string; vpcId: string }) => ({
    vpc: customerVpc(i.region, i.vpcId),
    inUse: [{ cidr: '10.0.0.0/16', source: `the CIDR of VPC ${i.vpcId}` }],
  }),
  createDatabaseVpc: async () => ({ changed: true, vpcId: 'vpc-0db00000000000000' }),
  createDatabaseSubnets: async (o: { subnets: unknown[] }) => ({
    changed: true,
    subnetIds: o.subnets.map((_, i) => `subnet-0${i}`),
  }),
  createDatabaseHostedZone: async () => ({ changed: true, hostedZoneId: ZONE }),
  removeDatabaseNetwork: async () => ['deleted vpc-0db00000000000000'],
  inspectDatabaseNetwork: async () => networkState(),
  deleteDatabaseHostedZone: step(`deleted hosted zone ${ZONE}`),
  deleteDatabaseSubnets: step('deleted subnet-0a'),
  deleteDatabaseVpc: step('deleted vpc-0db00000000000000'),
};
