/**
 * The baseline: the same peering as peerVpc (AWS database side, one account and region) written
 * as the minimal one-shot script a person would write with the AWS SDK, no Temporal, no checks
 * beyond what the calls need. 12 calls when the database VPC has one zone and the customer VPC two
 * route tables. It takes its clients from an AwsClients so the benchmark counts its calls the
 * same way as dbops's.
 */
import {
  AcceptVpcPeeringConnectionCommand,
  CreateRouteCommand,
  CreateVpcPeeringConnectionCommand,
  DescribeRouteTablesCommand,
  DescribeVpcPeeringConnectionsCommand,
  DescribeVpcsCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { AssociateVPCWithHostedZoneCommand, ListHostedZonesByVPCCommand } from '@aws-sdk/client-route-53';
import type { AwsClients } from '../src/activities/aws-clients';

async function routeAll(ec2: EC2Client, vpcId: string, cidr: string, pcx: string): Promise<void> {
  const tables = await ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }));
  for (const t of (tables.RouteTables ?? []).filter((x) => x.VpcId === vpcId)) {
    await ec2.send(
      new CreateRouteCommand({ RouteTableId: t.RouteTableId, DestinationCidrBlock: cidr, VpcPeeringConnectionId: pcx }),
    );
  }
}

export async function plainPeering(
  aws: AwsClients,
  input: { databaseId: string; region: string; vpcId: string },
): Promise<{ peeringId: string }> {
  const ec2 = aws.ec2(input.region);
  const r53 = aws.route53();
  const customer = (await ec2.send(new DescribeVpcsCommand({ VpcIds: [input.vpcId] }))).Vpcs![0];
  const database = (
    await ec2.send(
      new DescribeVpcsCommand({ Filters: [{ Name: 'tag:dbops:database-id', Values: [input.databaseId] }] }),
    )
  ).Vpcs!.find((v) => v.Tags?.some((t) => t.Key === 'dbops:database-id' && t.Value === input.databaseId))!;
  const zone = (
    await r53.send(new ListHostedZonesByVPCCommand({ VPCId: database.VpcId, VPCRegion: input.region as never }))
  ).HostedZoneSummaries![0].HostedZoneId!;

  const pcx = (
    await ec2.send(
      new CreateVpcPeeringConnectionCommand({
        VpcId: database.VpcId,
        PeerVpcId: customer.VpcId,
        PeerOwnerId: customer.OwnerId,
        PeerRegion: input.region,
      }),
    )
  ).VpcPeeringConnection!.VpcPeeringConnectionId!;
  await ec2.send(new AcceptVpcPeeringConnectionCommand({ VpcPeeringConnectionId: pcx }));
  for (;;) {
    const p = await ec2.send(new DescribeVpcPeeringConnectionsCommand({ VpcPeeringConnectionIds: [pcx] }));
    if (p.VpcPeeringConnections?.[0]?.Status?.Code === 'active') break;
    await new Promise((r) => setTimeout(r, 100));
  }

  await routeAll(ec2, customer.VpcId!, database.CidrBlock!, pcx);
  await routeAll(ec2, database.VpcId!, customer.CidrBlock!, pcx);
  await r53.send(
    new AssociateVPCWithHostedZoneCommand({
      HostedZoneId: zone,
      VPC: { VPCId: customer.VpcId, VPCRegion: input.region as never },
    }),
  );
  return { peeringId: pcx };
}
