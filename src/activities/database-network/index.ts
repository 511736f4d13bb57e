/**
 * Activities for the database network's lifecycle (createDatabaseNetwork, deleteDatabaseNetwork),
 * AWS kind only. A role named by the input is assumed only when the operator lists it.
 */
import type { Authority } from '../../authority';
import type { AwsClients } from '../aws-clients';
import { awsDatabaseSide } from '../database-side/aws';
import type { NetworkRef } from '../types';
import { awsDatabaseNetwork } from './aws';

export function createDatabaseNetworkActivities(deps: { aws: AwsClients; authority: Authority }) {
  const role = (roleArn: string | undefined): string | undefined => {
    if (roleArn !== undefined) deps.authority.assumeRole(roleArn);
    return roleArn;
  };
  const network = (o: NetworkRef) => awsDatabaseNetwork(deps.aws, { ...o, roleArn: role(o.roleArn) });

  return {
    /** The database network if it exists already (its VPC and CIDR). Read-only. */
    async findDatabaseNetwork(
      o: NetworkRef & { zoneName?: string },
    ): Promise<{ vpcId: string; cidr: string } | undefined> {
      // The zone createDatabaseNetwork would make: refused here, in its read-only first stage.
      if (o.zoneName !== undefined) deps.authority.privateZoneName(o.zoneName);
      const v = await awsDatabaseSide(deps.aws, {
        databaseId: o.databaseId,
        region: o.region,
        cloud: { kind: 'aws', region: o.region, roleArn: role(o.roleArn) },
      }).findVpc();
      return v ? { vpcId: v.VpcId!, cidr: v.CidrBlock! } : undefined;
    },
    async createDatabaseVpc(o: NetworkRef & { cidr: string; runId?: string }) {
      return network(o).ensureVpc(o.cidr, o.runId);
    },
    async createDatabaseSubnets(o: NetworkRef & { vpcId: string; subnets: Array<{ az: string; cidr: string }> }) {
      return network(o).ensureSubnets(o.vpcId, o.subnets);
    },
    async createDatabaseHostedZone(o: NetworkRef & { vpcId: string; zoneName: string }) {
      deps.authority.privateZoneName(o.zoneName);
      return network(o).ensureHostedZone(o.vpcId, o.zoneName);
    },
    async removeDatabaseNetwork(o: NetworkRef & { runId?: string }) {
      return network(o).remove(o.runId);
    },
    /** The database network and what would stop deleting it (deleteDatabaseNetwork). Read-only. */
    async inspectDatabaseNetwork(o: NetworkRef) {
      return network(o).inspect();
    },
    /** The network as createDatabaseNetwork's plan needs it (issue 14). Read-only. */
    async readDatabaseNetwork(o: NetworkRef & { zoneName: string }) {
      deps.authority.privateZoneName(o.zoneName);
      return network(o).read();
    },
    async deleteDatabaseHostedZone(o: NetworkRef & { hostedZoneId: string }) {
      return network(o).deleteZone(o.hostedZoneId);
    },
    async deleteDatabaseSubnets(o: NetworkRef & { vpcId: string }) {
      return network(o).deleteSubnets(o.vpcId);
    },
    async deleteDatabaseVpc(o: NetworkRef & { vpcId: string }) {
      return network(o).deleteVpc(o.vpcId);
    },
  };
}
