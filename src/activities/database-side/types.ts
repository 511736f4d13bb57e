/** The database side of a peering, behind one interface so more kinds can be added. */
import type { PeeringPlan } from '../../domain/peering';
import type { CustomerVpc, Timing } from '../ec2';
import type { PollMode } from '../poll';
import type { StepResult } from '../types';
import type { RouteFact } from '../../domain/peering-plan';

export interface DatabaseInfo {
  cidr: string;
  /** The private hosted zone with the database host names, when the side has one. */
  hostedZoneId?: string;
  status: string;
  /** Account that owns the database network (AWS kind). */
  accountId?: string;
  /** The database network's VPC (AWS kind). */
  vpcId?: string;
  /**
   * Whether the customer VPC is associated with the zone, when describe was given the customer and
   * read the zone (AWS kind): prepare's read, recorded before associate-dns associates.
   */
  customerAssociated?: boolean;
}

/**
 * What prepare found of an AWS database network, carried in the plan of the stages after it (from
 * history), so they do not look it up again: it cannot change during a run.
 */
export interface ResolvedDatabase {
  vpcId: string;
  cidr: string;
  accountId?: string;
  /** The zone prepare found; absent: none. */
  hostedZoneId?: string;
}

export interface DatabasePeering {
  /** The EC2 peering connection id, once there is one. */
  peeringId?: string;
  status: string;
  hostedZoneId?: string;
  /** The run that requested it (its dbops:run-id tag; AWS kind only, where peerings carry tags). */
  run?: string;
  /** It carries dbops's tags (ManagedBy=dbops or dbops:database-id; AWS kind only): dbops made it. */
  managed?: true;
}

export interface DatabaseSide {
  /** `customer`: also say whether it is associated with the zone, where the side can tell from its reads. */
  describe(customer?: CustomerVpc): Promise<DatabaseInfo>;
  /** Until the database can be peered: in place, or with `mode` one check (a StillWaiting while not). */
  waitReady(timing: Timing & { initiateTimeout: string }, mode?: PollMode): Promise<DatabaseInfo>;
  findPeering(customer: CustomerVpc): Promise<DatabasePeering | undefined>;
  /**
   * `runId`: tag the request with the run that makes it, where the side can (AWS). Returns the
   * peering as the request's answer describes it, where the answer does (AWS: its pcx id).
   */
  requestPeering(customer: CustomerVpc, secure: boolean, runId?: string): Promise<DatabasePeering | void>;
  /** The route back (customer CIDR → pcx) on the database side, when the side is ours to route. */
  ensureReturnRoute(customer: CustomerVpc, peeringId: string): Promise<StepResult>;
  removeReturnRoute(customer: CustomerVpc, peeringId: string): Promise<StepResult>;
  /** Plan (issue 14): the return routes as found (what ensureReturnRoute would look at); `managed`: not ours to route. Read-only. */
  readReturnRoutes(customer: CustomerVpc): Promise<RouteFact[] | 'managed'>;
  /** Plan (issue 14): the routes via the peering on this side (what removeReturnRoute removes). Read-only. */
  readReturnRoutesVia(peeringId: string): Promise<Array<{ routeTableId: string; cidr: string }> | 'managed'>;
  deletePeering(customer: CustomerVpc, peering: DatabasePeering): Promise<void>;
  /** Lets the customer account associate its VPC with the zone (cross-account AWS kind). */
  authorizeZone(
    customer: CustomerVpc,
    hostedZoneId: string,
  ): Promise<{ crossAccount: boolean; zoneOwnerRoleArn?: string }>;
}

export type SideFactory = (plan: Pick<PeeringPlan, 'databaseId' | 'region' | 'cloud'>) => DatabaseSide;
