/**
 * What the sandbox puts in its moto: a customer VPC with two route tables (the main one and one
 * associated with a subnet), an AWS database network (a VPC and a private hosted zone tagged
 * `dbops:database-id`, as a database account has), and a production RDS instance with a manual
 * snapshot for the refresh. Only ever called with the sandbox's own moto (see host.ts).
 */
import {
  AssociateRouteTableCommand,
  CreateRouteTableCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeRouteTablesCommand,
} from '@aws-sdk/client-ec2';
import { CreateDBInstanceCommand, CreateDBSnapshotCommand } from '@aws-sdk/client-rds';
import { ChangeTagsForResourceCommand, CreateHostedZoneCommand } from '@aws-sdk/client-route-53';
import type { AwsClients } from '../activities/aws-clients';
import { DATABASE_TAG } from '../activities/database-side/aws';

export const SANDBOX_REGION = 'us-east-1';
export const SANDBOX_DATABASE_ID = 'sandbox-db';
export const SANDBOX_RDS_SOURCE = 'sandbox-production';
export const CUSTOMER_CIDR = '10.20.0.0/16';
export const DATABASE_CIDR = '10.200.0.0/16';

export interface PeeringSeed {
  databaseId: string;
  vpcId: string;
  routeTables: string[];
  databaseVpcId: string;
  zoneId: string;
}

export async function seedPeering(aws: AwsClients, region = SANDBOX_REGION): Promise<PeeringSeed> {
  const ec2 = aws.ec2(region);
  const name = (value: string) => [{ Key: 'Name', Value: value }];
  const vpc = (
    await ec2.send(
      new CreateVpcCommand({
        CidrBlock: CUSTOMER_CIDR,
        TagSpecifications: [{ ResourceType: 'vpc', Tags: name('sandbox-customer') }],
      }),
    )
  ).Vpc!;
  const main = (
    await ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc.VpcId!] }] }))
  ).RouteTables!.find((t) => t.VpcId === vpc.VpcId)!;
  const subnet = (await ec2.send(new CreateSubnetCommand({ VpcId: vpc.VpcId!, CidrBlock: '10.20.1.0/24' }))).Subnet!;
  const table = (await ec2.send(new CreateRouteTableCommand({ VpcId: vpc.VpcId! }))).RouteTable!;
  await ec2.send(new AssociateRouteTableCommand({ RouteTableId: table.RouteTableId!, SubnetId: subnet.SubnetId! }));

  const tag = [{ Key: DATABASE_TAG, Value: SANDBOX_DATABASE_ID }];
  const dbVpc = (
    await ec2.send(
      new CreateVpcCommand({ CidrBlock: DATABASE_CIDR, TagSpecifications: [{ ResourceType: 'vpc', Tags: tag }] }),
    )
  ).Vpc!;
  const r53 = aws.route53();
  const zone = await r53.send(
    new CreateHostedZoneCommand({
      Name: `${SANDBOX_DATABASE_ID}.db.internal`,
      CallerReference: `sandbox-${Date.now()}`,
      HostedZoneConfig: { PrivateZone: true },
      VPC: { VPCId: dbVpc.VpcId!, VPCRegion: region as never },
    }),
  );
  const zoneId = zone.HostedZone!.Id!.replace('/hostedzone/', '');
  await r53.send(new ChangeTagsForResourceCommand({ ResourceType: 'hostedzone', ResourceId: zoneId, AddTags: tag }));
  return {
    databaseId: SANDBOX_DATABASE_ID,
    vpcId: vpc.VpcId!,
    routeTables: [main.RouteTableId!, table.RouteTableId!],
    databaseVpcId: dbVpc.VpcId!,
    zoneId,
  };
}

/** The production instance the refresh clones, and its manual snapshot; returns the snapshot id. */
export async function seedRdsSource(aws: AwsClients, region = SANDBOX_REGION): Promise<string> {
  const rds = aws.rds(region);
  await rds.send(
    new CreateDBInstanceCommand({
      DBInstanceIdentifier: SANDBOX_RDS_SOURCE,
      Engine: 'postgres',
      DBInstanceClass: 'db.t3.medium',
      MasterUsername: 'postgres',
      // moto's fake instance; no server ever checks it. Not a secret of anything real.
      MasterUserPassword: 'sandbox-only-not-a-secret',
      AllocatedStorage: 20,
      DBName: 'postgres',
      BackupRetentionPeriod: 7,
    }),
  );
  const snapshot = `${SANDBOX_RDS_SOURCE}-snapshot-1`;
  await rds.send(
    new CreateDBSnapshotCommand({ DBInstanceIdentifier: SANDBOX_RDS_SOURCE, DBSnapshotIdentifier: snapshot }),
  );
  return snapshot;
}
