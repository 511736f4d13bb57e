/** What AWS (moto) holds, read for assertions: database networks, subnets, zones, route tables, a peering done once. */
import { DescribeRouteTablesCommand, DescribeSubnetsCommand, DescribeVpcsCommand } from '@aws-sdk/client-ec2';
import { ListHostedZonesByNameCommand } from '@aws-sdk/client-route-53';
import { DATABASE_TAG } from '../../src/activities/database-side/aws';
import type { AwsClients } from '../../src/activities/aws-clients';
import { peeringsBetween, routesTo, zoneVpcs } from './aws-fixtures';

export async function routeTablesOf(aws: AwsClients, vpcId: string) {
  return (
    (
      await aws
        .ec2('us-east-1')
        .send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }))
    ).RouteTables ?? []
  );
}

/** VPCs tagged dbops:database-id=<databaseId>. */
export async function dbVpcs(aws: AwsClients, databaseId: string) {
  const all = (await aws.ec2('us-east-1').send(new DescribeVpcsCommand({}))).Vpcs ?? [];
  return all.filter((v) => v.Tags?.some((x) => x.Key === DATABASE_TAG && x.Value === databaseId));
}

export async function subnetsOf(aws: AwsClients, vpcId: string) {
  return ((await aws.ec2('us-east-1').send(new DescribeSubnetsCommand({}))).Subnets ?? []).filter(
    (s) => s.VpcId === vpcId,
  );
}

/** Hosted zones named `name` (moto keeps a zone whose VPC is gone). */
export async function zonesNamed(aws: AwsClients, name: string) {
  const r = await aws.route53().send(new ListHostedZonesByNameCommand({ DNSName: name }));
  return (r.HostedZones ?? []).filter((z) => z.Name === `${name}.`);
}

/** The peering is there once, active, with one route per table both ways and the VPC in the zone once. */
export async function expectPeeredOnce(
  aws: AwsClients,
  customer: { vpcId: string; cidr: string; mainTable: string; subnetTable: string },
  db: { vpcId: string; cidr: string; zoneId?: string },
  peeringId: string,
): Promise<void> {
  const pcx = await peeringsBetween(aws, 'us-east-1', customer.vpcId, db.vpcId);
  expect(pcx.map((p) => [p.VpcPeeringConnectionId, p.Status?.Code])).toEqual([[peeringId, 'active']]);
  for (const table of [customer.mainTable, customer.subnetTable]) {
    expect((await routesTo(aws, 'us-east-1', table, db.cidr)).map((r) => r.VpcPeeringConnectionId)).toEqual([
      peeringId,
    ]);
  }
  const back = (await routeTablesOf(aws, db.vpcId)).map(
    (rt) => (rt.Routes ?? []).filter((r) => r.DestinationCidrBlock === customer.cidr).length,
  );
  expect(back.every((n) => n <= 1)).toBe(true);
  expect(back.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1);
  if (db.zoneId) expect((await zoneVpcs(aws, db.zoneId)).filter((v) => v.VPCId === customer.vpcId)).toHaveLength(1);
}

/** createDatabaseNetwork's result exists once: one VPC, its subnets (two), one zone, one peering done once. */
export async function expectNetworkOnce(
  aws: AwsClients,
  customer: { vpcId: string; cidr: string; mainTable: string; subnetTable: string },
  databaseId: string,
  cidr: string,
  result: { databaseVpcId: string; subnetIds: string[]; hostedZoneId: string; peering: { peeringId?: string } },
): Promise<void> {
  expect((await dbVpcs(aws, databaseId)).map((v) => v.VpcId)).toEqual([result.databaseVpcId]);
  expect((await subnetsOf(aws, result.databaseVpcId)).map((s) => s.SubnetId).sort()).toEqual(
    [...result.subnetIds].sort(),
  );
  expect(result.subnetIds).toHaveLength(2);
  expect((await zonesNamed(aws, `${databaseId}.db.internal`)).map((z) => z.Id!.replace('/hostedzone/', ''))).toEqual([
    result.hostedZoneId,
  ]);
  await expectPeeredOnce(
    aws,
    customer,
    { vpcId: result.databaseVpcId, cidr, zoneId: result.hostedZoneId },
    result.peering.peeringId!,
  );
}
