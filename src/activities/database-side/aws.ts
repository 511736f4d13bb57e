/**
 * The AWS database side: a database network in an AWS account you control (possibly another
 * account, reached by assuming cloud.roleArn, and another region), found by the tag
 * dbops:database-id=<id>. Initiate creates the peering from the database VPC to the customer VPC.
 */
import {
  CreateVpcPeeringConnectionCommand,
  DeleteVpcPeeringConnectionCommand,
  DescribeVpcPeeringConnectionsCommand,
  DescribeVpcsCommand,
  type Vpc,
} from '@aws-sdk/client-ec2';
import {
  CreateVPCAssociationAuthorizationCommand,
  GetHostedZoneCommand,
  ListHostedZonesByVPCCommand,
  ListTagsForResourceCommand,
  type VPC,
} from '@aws-sdk/client-route-53';
import { ApplicationFailure } from '@temporalio/common';
import type { PeeringPlan } from '../../domain/peering';
import type { AwsClients } from '../aws-clients';
import { AWS_ERRORS, isAwsError } from '../aws-errors';
import {
  ensureRoutesIn,
  readRoutesIn,
  readRoutesVia,
  removeRoutesIn,
  type CustomerVpc,
  type RouteChange,
  type RouteTarget,
} from '../ec2';
import type { StepResult } from '../types';
import type { DatabasePeering, DatabaseSide, ResolvedDatabase } from './types';

export const DATABASE_TAG = 'dbops:database-id';
/**
 * On a database VPC: the createDatabaseNetwork run that made it (its first run id). The run's undo
 * removes the VPC carrying its id, whichever attempt of the create made it.
 */
export const RUN_TAG = 'dbops:run-id';
export const LIVE = new Set(['initiating-request', 'pending-acceptance', 'provisioning', 'active']);
export const bareZone = (id: string) => id.replace(/^\/hostedzone\//, '');
/** The caller reference createDatabaseNetwork gives the private zone it makes for a database VPC. */
export const networkZoneReference = (databaseId: string, vpcId: string) => `dbops-${databaseId}-${vpcId}`;

type AwsCloud = Extract<PeeringPlan['cloud'], { kind: 'aws' }>;

/** What the database side's return-route changes say in the stage table. */
export function returnRouteOutcome(changes: RouteChange[], customer: CustomerVpc, peeringId: string): StepResult {
  const made = changes.filter((c) => c.action !== 'present');
  return {
    changed: made.length > 0,
    detail: made.length
      ? `return route ${customer.cidrBlocks.join(', ')} → ${peeringId} in ${made.length} database route table(s)`
      : 'return route present',
  };
}

export function awsDatabaseSide(
  aws: AwsClients,
  plan: Pick<PeeringPlan, 'databaseId' | 'region'> & { cloud: AwsCloud; resolved?: ResolvedDatabase },
): DatabaseSide & {
  region: string;
  findVpc(): Promise<Vpc | undefined>;
  returnRouteTargets(customer: CustomerVpc, peeringId: string): Promise<RouteTarget[]>;
} {
  const region = plan.cloud.region ?? plan.region;
  const roleArn = plan.cloud.roleArn;
  const ec2 = () => aws.ec2(region, roleArn);
  const r53 = () => aws.route53(roleArn);

  async function findVpc(): Promise<Vpc | undefined> {
    const r = await ec2().send(
      new DescribeVpcsCommand({ Filters: [{ Name: `tag:${DATABASE_TAG}`, Values: [plan.databaseId] }] }),
    );
    return (r.Vpcs ?? []).find((v) =>
      (v.Tags ?? []).some((t) => t.Key === DATABASE_TAG && t.Value === plan.databaseId),
    );
  }

  // Looked up once per activity call (the side is made for each call), or not at all when the plan
  // carries what prepare found: a database VPC and its zone do not change during a run.
  const r = plan.resolved;
  let known: Vpc | undefined = r && { VpcId: r.vpcId, CidrBlock: r.cidr, OwnerId: r.accountId, State: 'available' };
  let knownZone: { of: string; id?: string; vpcs?: VPC[] } | undefined = r && {
    of: r.vpcId,
    id: r.hostedZoneId,
  };

  async function vpc(): Promise<Vpc> {
    if (known) return known;
    const v = await findVpc();
    if (!v) {
      throw ApplicationFailure.nonRetryable(
        `database ${plan.databaseId} not found: no VPC tagged ${DATABASE_TAG}=${plan.databaseId} in ${region}${roleArn ? ` (account of ${roleArn})` : ''}`,
        'DatabaseNotFound',
      );
    }
    return (known = v);
  }

  async function zoneOf(v: Vpc): Promise<string | undefined> {
    return (await zoneFound(v)).id;
  }

  async function zoneFound(v: Vpc) {
    if (knownZone && knownZone.of === v.VpcId) return knownZone;
    return (knownZone = { of: v.VpcId!, ...(await findZone(v)) });
  }

  /**
   * The database's zone among those associated with its VPC: the one createDatabaseNetwork made for
   * that VPC (its caller reference says so), or one tagged dbops:database-id=<id> (a network set up
   * by hand). GetHostedZone also lists the VPCs associated with it, so prepare knows whether the
   * customer VPC is associated already without another read.
   */
  async function findZone(v: Vpc): Promise<{ id?: string; vpcs?: VPC[] }> {
    const list = await r53().send(new ListHostedZonesByVPCCommand({ VPCId: v.VpcId!, VPCRegion: region as never }));
    for (const z of list.HostedZoneSummaries ?? []) {
      const id = bareZone(z.HostedZoneId!);
      const got = await r53().send(new GetHostedZoneCommand({ Id: id }));
      if (got.HostedZone?.CallerReference === networkZoneReference(plan.databaseId, v.VpcId!))
        return { id, vpcs: got.VPCs ?? [] };
      const tags = await r53().send(new ListTagsForResourceCommand({ ResourceType: 'hostedzone', ResourceId: id }));
      if ((tags.ResourceTagSet?.Tags ?? []).some((t) => t.Key === DATABASE_TAG && t.Value === plan.databaseId))
        return { id, vpcs: got.VPCs ?? [] };
    }
    return {};
  }

  async function peeringsOf(v: Vpc, customer: CustomerVpc) {
    const r = await ec2().send(
      new DescribeVpcPeeringConnectionsCommand({
        Filters: [
          { Name: 'requester-vpc-info.vpc-id', Values: [v.VpcId!] },
          { Name: 'accepter-vpc-info.vpc-id', Values: [customer.vpcId] },
        ],
      }),
    );
    // Filter in code too: emulators ignore these Filters.
    return (r.VpcPeeringConnections ?? []).filter(
      (p) =>
        p.RequesterVpcInfo?.VpcId === v.VpcId &&
        p.AccepterVpcInfo?.VpcId === customer.vpcId &&
        LIVE.has(p.Status?.Code ?? ''),
    );
  }

  const side = {
    region,
    findVpc,
    async describe(customer?: CustomerVpc) {
      const v = await vpc();
      const zone = await zoneFound(v);
      // From the zone's own VPC list (the owner's view): read when the zone was looked up.
      const associated =
        customer && zone.id && zone.vpcs
          ? { customerAssociated: zone.vpcs.some((x) => x.VPCId === customer.vpcId && x.VPCRegion === customer.region) }
          : {};
      return {
        cidr: v.CidrBlock!,
        hostedZoneId: zone.id,
        status: v.State ?? 'available',
        accountId: v.OwnerId,
        vpcId: v.VpcId,
        ...associated,
      };
    },
    async waitReady() {
      return side.describe(); // a VPC is usable as soon as it exists
    },
    async findPeering(customer: CustomerVpc): Promise<DatabasePeering | undefined> {
      const v = await vpc();
      const p = (await peeringsOf(v, customer))[0];
      const run = p?.Tags?.find((t) => t.Key === RUN_TAG)?.Value;
      const managed = (p?.Tags ?? []).some(
        (t) =>
          (t.Key === 'ManagedBy' && t.Value === 'dbops') || (t.Key === DATABASE_TAG && t.Value === plan.databaseId),
      );
      return p
        ? {
            peeringId: p.VpcPeeringConnectionId,
            status: p.Status?.Code ?? 'unknown',
            hostedZoneId: await zoneOf(v),
            ...(run ? { run } : {}),
            ...(managed ? { managed: true as const } : {}),
          }
        : undefined;
    },
    async requestPeering(customer: CustomerVpc, _secure: boolean, runId?: string): Promise<DatabasePeering | void> {
      const v = await vpc();
      const r = await ec2().send(
        new CreateVpcPeeringConnectionCommand({
          VpcId: v.VpcId!,
          PeerVpcId: customer.vpcId,
          PeerOwnerId: customer.accountId,
          PeerRegion: customer.region,
          TagSpecifications: [
            {
              ResourceType: 'vpc-peering-connection',
              Tags: [
                { Key: DATABASE_TAG, Value: plan.databaseId },
                { Key: 'ManagedBy', Value: 'dbops' },
                ...(runId ? [{ Key: RUN_TAG, Value: runId }] : []),
              ],
            },
          ],
        }),
      );
      const p = r.VpcPeeringConnection;
      if (!p?.VpcPeeringConnectionId) return;
      return {
        peeringId: p.VpcPeeringConnectionId,
        status: p.Status?.Code ?? 'initiating-request',
        hostedZoneId: await zoneOf(v),
        ...(runId ? { run: runId } : {}),
      };
    },
    /** The return routes (each customer CIDR → pcx, every database route table), for ensureRoutesIn. */
    async returnRouteTargets(customer: CustomerVpc, peeringId: string): Promise<RouteTarget[]> {
      const v = await vpc();
      return customer.cidrBlocks.map((cidr) => ({ vpcId: v.VpcId!, cidr, peeringId, tables: 'all', force: false }));
    },
    async ensureReturnRoute(customer: CustomerVpc, peeringId: string) {
      const changes = await ensureRoutesIn(ec2(), ...(await side.returnRouteTargets(customer, peeringId)));
      return returnRouteOutcome(changes, customer, peeringId);
    },
    async readReturnRoutes(customer: CustomerVpc) {
      const v = await vpc();
      return readRoutesIn(ec2(), { vpcId: v.VpcId!, cidrs: customer.cidrBlocks, tables: 'all' });
    },
    async readReturnRoutesVia(peeringId: string) {
      const v = await findVpc();
      return v ? readRoutesVia(ec2(), { vpcId: v.VpcId!, peeringId }) : [];
    },
    async removeReturnRoute(_customer: CustomerVpc, peeringId: string) {
      const v = await findVpc();
      if (!v) return { changed: false, detail: 'database network gone' };
      const removed = await removeRoutesIn(ec2(), { vpcId: v.VpcId!, peeringId });
      return {
        changed: removed.length > 0,
        detail: removed.length ? `removed return routes ${removed.join(', ')}` : 'no return route',
      };
    },
    async deletePeering(_customer: CustomerVpc, peering: DatabasePeering) {
      if (!peering.peeringId) return;
      try {
        await ec2().send(new DeleteVpcPeeringConnectionCommand({ VpcPeeringConnectionId: peering.peeringId }));
      } catch (err) {
        if (!isAwsError(err, AWS_ERRORS.peeringNotFound)) throw err;
      }
    },
    async authorizeZone(customer: CustomerVpc, hostedZoneId: string) {
      const v = await vpc();
      const crossAccount = v.OwnerId !== customer.accountId;
      if (crossAccount) {
        // The zone owner authorises; the VPC owner then associates. (Not modelled by moto.)
        await r53().send(
          new CreateVPCAssociationAuthorizationCommand({
            HostedZoneId: bareZone(hostedZoneId),
            VPC: { VPCId: customer.vpcId, VPCRegion: customer.region as never },
          }),
        );
      }
      return { crossAccount, zoneOwnerRoleArn: roleArn };
    },
  };
  return side;
}
