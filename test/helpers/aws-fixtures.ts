/** Builds customer VPCs and AWS-kind database networks in moto, and counts AWS calls. */
import {
  AcceptVpcPeeringConnectionCommand,
  CreateVpcPeeringConnectionCommand,
  AssociateRouteTableCommand,
  CreateRouteTableCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeRouteTablesCommand,
  DescribeVpcPeeringConnectionsCommand,
} from '@aws-sdk/client-ec2';
import { ChangeTagsForResourceCommand, CreateHostedZoneCommand, GetHostedZoneCommand } from '@aws-sdk/client-route-53';
import { AwsClients } from '../../src/activities/aws-clients';
import { DATABASE_TAG, networkZoneReference } from '../../src/activities/database-side/aws';
import { motoEndpoint } from './activities';

export interface CallLog {
  calls: Array<{ service: string; command: string; region: string }>;
  mutating(): string[];
  reset(): void;
}

const MUTATING = /^(Restore|Create|Accept|Replace|Associate|Disassociate|Delete|Modify|ChangeTags|Put|Authorize)/;

export function countingAws(region = 'us-east-1'): { aws: AwsClients; log: CallLog } {
  const calls: CallLog['calls'] = [];
  const log: CallLog = {
    calls,
    mutating: () => calls.filter((c) => MUTATING.test(c.command)).map((c) => c.command),
    reset: () => void calls.splice(0),
  };
  const aws = new AwsClients({
    endpoint: motoEndpoint(),
    defaultRegion: region,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    maxAttempts: 2,
    onCall: (service, command, r) => calls.push({ service, command, region: r }),
  });
  return { aws, log };
}

/** A plain client set for arranging and asserting (not counted). */
export function fixtureAws(region = 'us-east-1'): AwsClients {
  return new AwsClients({
    endpoint: motoEndpoint(),
    defaultRegion: region,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
}

let octet = 0;
/** A distinct 10.x.0.0/16 per call so tests in one moto never collide. */
export function nextCustomerCidr(): string {
  octet = (octet % 120) + 1;
  return `10.${octet}.0.0/16`;
}

export interface CustomerFixture {
  vpcId: string;
  cidr: string;
  region: string;
  mainTable: string;
  subnetTable: string;
}

/** A customer VPC with its main route table and a second table associated with a subnet. */
export async function makeCustomerVpc(
  aws: AwsClients,
  region = 'us-east-1',
  cidr = nextCustomerCidr(),
): Promise<CustomerFixture> {
  const ec2 = aws.ec2(region);
  const vpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: cidr }))).Vpc!;
  const tables = (
    await ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc.VpcId!] }] }))
  ).RouteTables!.filter((t) => t.VpcId === vpc.VpcId);
  const subnet = (
    await ec2.send(new CreateSubnetCommand({ VpcId: vpc.VpcId!, CidrBlock: cidr.replace(/\.0\.0\/16$/, '.1.0/24') }))
  ).Subnet!;
  const rt = (await ec2.send(new CreateRouteTableCommand({ VpcId: vpc.VpcId! }))).RouteTable!;
  await ec2.send(new AssociateRouteTableCommand({ RouteTableId: rt.RouteTableId!, SubnetId: subnet.SubnetId! }));
  return { vpcId: vpc.VpcId!, cidr, region, mainTable: tables[0].RouteTableId!, subnetTable: rt.RouteTableId! };
}

export interface DatabaseFixture {
  databaseId: string;
  vpcId: string;
  cidr: string;
  zoneId?: string;
}

/** An AWS-kind database network: a tagged VPC and (optionally) a tagged private hosted zone. */
export async function makeAwsDatabase(
  aws: AwsClients,
  /**
   * `zone`: a private zone as createDatabaseNetwork makes it (its caller reference names the VPC,
   * and it is tagged; the default), 'by-hand' (only tagged, as an operator would set one up), or none.
   */
  o: { databaseId: string; region: string; cidr: string; roleArn?: string; zone?: boolean | 'by-hand' },
): Promise<DatabaseFixture> {
  const ec2 = aws.ec2(o.region, o.roleArn);
  const tag = [{ Key: DATABASE_TAG, Value: o.databaseId }];
  const vpc = (
    await ec2.send(new CreateVpcCommand({ CidrBlock: o.cidr, TagSpecifications: [{ ResourceType: 'vpc', Tags: tag }] }))
  ).Vpc!;
  let zoneId: string | undefined;
  if (o.zone !== false) {
    const r53 = aws.route53(o.roleArn);
    const z = await r53.send(
      new CreateHostedZoneCommand({
        Name: `${o.databaseId}.db.internal`,
        CallerReference:
          o.zone === 'by-hand' ? `${o.databaseId}-${Date.now()}` : networkZoneReference(o.databaseId, vpc.VpcId!),
        HostedZoneConfig: { PrivateZone: true },
        VPC: { VPCId: vpc.VpcId!, VPCRegion: o.region as never },
      }),
    );
    zoneId = z.HostedZone!.Id!.replace('/hostedzone/', '');
    await r53.send(new ChangeTagsForResourceCommand({ ResourceType: 'hostedzone', ResourceId: zoneId, AddTags: tag }));
  }
  return { databaseId: o.databaseId, vpcId: vpc.VpcId!, cidr: o.cidr, zoneId };
}

export async function routesTo(aws: AwsClients, region: string, tableId: string, cidr: string, roleArn?: string) {
  const t = (await aws.ec2(region, roleArn).send(new DescribeRouteTablesCommand({ RouteTableIds: [tableId] })))
    .RouteTables![0];
  return (t.Routes ?? []).filter((r) => r.DestinationCidrBlock === cidr);
}

/** An active peering made by hand between the two VPCs (no dbops tags), as an operator would. Its id. */
export async function handMadePeering(aws: AwsClients, region: string, fromVpcId: string, toVpcId: string) {
  const ec2 = aws.ec2(region);
  const pcx = (await ec2.send(new CreateVpcPeeringConnectionCommand({ VpcId: fromVpcId, PeerVpcId: toVpcId })))
    .VpcPeeringConnection!.VpcPeeringConnectionId!;
  await ec2.send(new AcceptVpcPeeringConnectionCommand({ VpcPeeringConnectionId: pcx }));
  return pcx;
}

export async function peeringsBetween(aws: AwsClients, region: string, a: string, b: string) {
  const all = (await aws.ec2(region).send(new DescribeVpcPeeringConnectionsCommand({}))).VpcPeeringConnections ?? [];
  return all.filter(
    (p) => [p.RequesterVpcInfo?.VpcId, p.AccepterVpcInfo?.VpcId].sort().join() === [a, b].sort().join(),
  );
}

export async function zoneVpcs(aws: AwsClients, zoneId: string, roleArn?: string) {
  return (await aws.route53(roleArn).send(new GetHostedZoneCommand({ Id: zoneId }))).VPCs ?? [];
}
