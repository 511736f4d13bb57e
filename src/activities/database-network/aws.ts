/**
 * The AWS database network's lifecycle (createDatabaseNetwork, deleteDatabaseNetwork): its VPC,
 * subnets and private zone, each step check-then-act, all tagged dbops:database-id (the VPC also
 * with the creating run's dbops:run-id).
 */
import {
  CreateSubnetCommand,
  CreateVpcCommand,
  DeleteSubnetCommand,
  DeleteVpcCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSubnetsCommand,
  DescribeVpcPeeringConnectionsCommand,
  DescribeVpcsCommand,
  type Vpc,
} from '@aws-sdk/client-ec2';
import {
  ChangeResourceRecordSetsCommand,
  ChangeTagsForResourceCommand,
  CreateHostedZoneCommand,
  DeleteHostedZoneCommand,
  GetHostedZoneCommand,
  ListHostedZonesByVPCCommand,
  ListResourceRecordSetsCommand,
  ListTagsForResourceCommand,
  type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import { ApplicationFailure } from '@temporalio/common';
import type { DatabaseNetworkState } from '../../domain/network-deletion';
import type { NetworkFacts } from '../../domain/network-plan';
import type { AwsClients } from '../aws-clients';
import { AWS_ERRORS, isAwsError } from '../aws-errors';
import { awsDatabaseSide, bareZone, DATABASE_TAG, LIVE, networkZoneReference, RUN_TAG } from '../database-side/aws';
import type { NetworkRef, StepResult } from '../types';

/** Creating and removing a database network (createDatabaseNetwork), each step check-then-act. */
export function awsDatabaseNetwork(aws: AwsClients, o: NetworkRef) {
  const ec2 = () => aws.ec2(o.region, o.roleArn);
  const r53 = () => aws.route53(o.roleArn);
  const tags = [
    { Key: DATABASE_TAG, Value: o.databaseId },
    { Key: 'ManagedBy', Value: 'dbops' },
  ];
  // Unique per database VPC: a network removed and made again gets a fresh reference.
  const callerReference = (vpcId: string) => networkZoneReference(o.databaseId, vpcId);
  const side = awsDatabaseSide(aws, {
    databaseId: o.databaseId,
    region: o.region,
    cloud: { kind: 'aws', region: o.region, roleArn: o.roleArn },
  });
  /** Tagged dbops:database-id=<this database>. */
  const ours = (tags: Array<{ Key?: string; Value?: string }> | undefined) =>
    (tags ?? []).some((t) => t.Key === DATABASE_TAG && t.Value === o.databaseId);
  /** Tagged as made by this run (and this database). */
  const madeBy = (runId: string, tags: Array<{ Key?: string; Value?: string }> | undefined) =>
    ours(tags) && (tags ?? []).some((t) => t.Key === RUN_TAG && t.Value === runId);

  /** The database VPCs the run `runId` made (one, unless something else copied its tags). */
  async function vpcsOfRun(runId: string): Promise<Vpc[]> {
    const r = await ec2().send(
      new DescribeVpcsCommand({
        Filters: [
          { Name: `tag:${DATABASE_TAG}`, Values: [o.databaseId] },
          { Name: `tag:${RUN_TAG}`, Values: [runId] },
        ],
      }),
    );
    return (r.Vpcs ?? []).filter((v) => madeBy(runId, v.Tags)); // filtered in code too: emulators may ignore Filters
  }

  /** The subnets in the VPC (filtered in code too: emulators may ignore Filters). */
  async function subnetsIn(vpcId: string) {
    const r = await ec2().send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }));
    return (r.Subnets ?? []).filter((x) => x.VpcId === vpcId);
  }

  /** The private zone this tool made for the VPC (by caller reference), if any. */
  async function ourZone(vpcId: string): Promise<string | undefined> {
    const list = await r53().send(new ListHostedZonesByVPCCommand({ VPCId: vpcId, VPCRegion: o.region as never }));
    for (const z of list.HostedZoneSummaries ?? []) {
      const id = bareZone(z.HostedZoneId!);
      const got = await r53().send(new GetHostedZoneCommand({ Id: id }));
      if (got.HostedZone?.CallerReference === callerReference(vpcId)) return id;
    }
    return undefined;
  }

  return {
    /**
     * With `runId`, the VPC made is tagged dbops:run-id=<runId>, and one an earlier attempt of the
     * same run made (its reply lost) counts as made by this run (`changed`).
     */
    async ensureVpc(cidr: string, runId?: string): Promise<{ changed: boolean; vpcId: string }> {
      const existing = await side.findVpc();
      if (existing) {
        if (existing.CidrBlock !== cidr) {
          throw ApplicationFailure.nonRetryable(
            `database ${o.databaseId} already has VPC ${existing.VpcId} with CIDR ${existing.CidrBlock}, not ${cidr}`,
            'DatabaseNetworkConflict',
          );
        }
        return { changed: runId !== undefined && madeBy(runId, existing.Tags), vpcId: existing.VpcId! };
      }
      const runTags = runId !== undefined ? [{ Key: RUN_TAG, Value: runId }] : [];
      // Tags at creation: no window where the VPC exists untagged (a crash cannot orphan it).
      const v = await ec2().send(
        new CreateVpcCommand({
          CidrBlock: cidr,
          TagSpecifications: [
            { ResourceType: 'vpc', Tags: [...tags, ...runTags, { Key: 'Name', Value: `dbops-${o.databaseId}` }] },
          ],
        }),
      );
      return { changed: true, vpcId: v.Vpc!.VpcId! };
    },

    async ensureSubnets(
      vpcId: string,
      subnets: Array<{ az: string; cidr: string }>,
    ): Promise<{ changed: boolean; subnetIds: string[] }> {
      const have =
        (await ec2().send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }))).Subnets ??
        [];
      const ids: string[] = [];
      let changed = false;
      for (const s of subnets) {
        const found = have.find((x) => x.VpcId === vpcId && x.CidrBlock === s.cidr);
        if (found) {
          ids.push(found.SubnetId!);
          continue;
        }
        const made = await ec2().send(
          new CreateSubnetCommand({
            VpcId: vpcId,
            CidrBlock: s.cidr,
            AvailabilityZone: s.az,
            TagSpecifications: [
              { ResourceType: 'subnet', Tags: [...tags, { Key: 'Name', Value: `dbops-${o.databaseId}-${s.az}` }] },
            ],
          }),
        );
        ids.push(made.Subnet!.SubnetId!);
        changed = true;
      }
      return { changed, subnetIds: ids };
    },

    async ensureHostedZone(vpcId: string, zoneName: string): Promise<{ changed: boolean; hostedZoneId: string }> {
      // Found by our caller reference, so a zone made just before a crash (not yet tagged) is ours too.
      let id = await ourZone(vpcId);
      const changed = !id;
      if (!id) {
        const z = await r53().send(
          new CreateHostedZoneCommand({
            Name: zoneName,
            CallerReference: callerReference(vpcId),
            HostedZoneConfig: { PrivateZone: true, Comment: `dbops database ${o.databaseId}` },
            VPC: { VPCId: vpcId, VPCRegion: o.region as never },
          }),
        );
        id = bareZone(z.HostedZone!.Id!);
      }
      const have = await r53().send(new ListTagsForResourceCommand({ ResourceType: 'hostedzone', ResourceId: id }));
      const tagged = ours(have.ResourceTagSet?.Tags);
      if (!tagged)
        await r53().send(
          new ChangeTagsForResourceCommand({ ResourceType: 'hostedzone', ResourceId: id, AddTags: tags }),
        );
      return { changed: changed || !tagged, hostedZoneId: id };
    },

    /**
     * What the network is made of and what would stop deleting it. Read-only. Emulators ignore
     * some Filters, so everything is filtered in code too.
     */
    async inspect(): Promise<DatabaseNetworkState | undefined> {
      const v = await side.findVpc();
      if (!v) return undefined;
      const vpcId = v.VpcId!;
      const subnets = await subnetsIn(vpcId);
      const peerings = [];
      for (const filter of ['requester-vpc-info.vpc-id', 'accepter-vpc-info.vpc-id']) {
        const r = await ec2().send(
          new DescribeVpcPeeringConnectionsCommand({ Filters: [{ Name: filter, Values: [vpcId] }] }),
        );
        peerings.push(...(r.VpcPeeringConnections ?? []));
      }
      const live = new Map<string, { peeringId: string; vpcId: string; status: string }>();
      for (const p of peerings) {
        const other =
          p.RequesterVpcInfo?.VpcId === vpcId
            ? p.AccepterVpcInfo?.VpcId
            : p.AccepterVpcInfo?.VpcId === vpcId
              ? p.RequesterVpcInfo?.VpcId
              : undefined;
        if (other && LIVE.has(p.Status?.Code ?? ''))
          live.set(p.VpcPeeringConnectionId!, {
            peeringId: p.VpcPeeringConnectionId!,
            vpcId: other,
            status: p.Status!.Code!,
          });
      }
      const enis = (
        (await ec2().send(new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] })))
          .NetworkInterfaces ?? []
      )
        .filter((n) => n.VpcId === vpcId)
        .map((n) => ({ id: n.NetworkInterfaceId!, description: n.Description ?? '' }));
      return {
        vpcId,
        cidr: v.CidrBlock!,
        managedByDbops: (v.Tags ?? []).some((t) => t.Key === 'ManagedBy' && t.Value === 'dbops'),
        hostedZoneId: await ourZone(vpcId),
        subnets: subnets.map((x) => ({ id: x.SubnetId!, ours: ours(x.Tags) })),
        peerings: [...live.values()],
        networkInterfaces: enis,
      };
    },

    /** What createDatabaseNetwork's stages would find (its plan, issue 14): the VPC, its subnets, our zone. Read-only. */
    async read(): Promise<NetworkFacts | undefined> {
      const v = await side.findVpc();
      if (!v) return undefined;
      const vpcId = v.VpcId!;
      const subnets = await subnetsIn(vpcId);
      const zoneId = await ourZone(vpcId);
      const zoneTags = zoneId
        ? await r53().send(new ListTagsForResourceCommand({ ResourceType: 'hostedzone', ResourceId: zoneId }))
        : undefined;
      return {
        vpcId,
        cidr: v.CidrBlock!,
        managedByDbops: (v.Tags ?? []).some((t) => t.Key === 'ManagedBy' && t.Value === 'dbops'),
        subnets: subnets.map((x) => ({ id: x.SubnetId!, cidr: x.CidrBlock!, az: x.AvailabilityZone ?? '' })),
        ...(zoneId ? { zone: { hostedZoneId: zoneId, tagged: ours(zoneTags?.ResourceTagSet?.Tags) } } : {}),
      };
    },

    /** Deletes the zone this tool made for the VPC, with its records (all but the apex SOA and NS). */
    async deleteZone(hostedZoneId: string): Promise<StepResult> {
      try {
        const records: ResourceRecordSet[] = [];
        let start: { StartRecordName?: string; StartRecordType?: string; StartRecordIdentifier?: string } = {};
        for (;;) {
          const page = await r53().send(
            new ListResourceRecordSetsCommand({ HostedZoneId: hostedZoneId, ...start } as never),
          );
          records.push(...(page.ResourceRecordSets ?? []));
          if (!page.IsTruncated) break;
          start = {
            StartRecordName: page.NextRecordName,
            StartRecordType: page.NextRecordType,
            StartRecordIdentifier: page.NextRecordIdentifier,
          };
        }
        const apex = records.find((r) => r.Type === 'SOA')?.Name;
        const extra = records.filter((r) => !(r.Name === apex && (r.Type === 'SOA' || r.Type === 'NS')));
        for (let i = 0; i < extra.length; i += 500) {
          await r53().send(
            new ChangeResourceRecordSetsCommand({
              HostedZoneId: hostedZoneId,
              ChangeBatch: {
                Comment: `dbops: delete the network of ${o.databaseId}`,
                Changes: extra.slice(i, i + 500).map((r) => ({ Action: 'DELETE', ResourceRecordSet: r })),
              },
            }),
          );
        }
        await r53().send(new DeleteHostedZoneCommand({ Id: hostedZoneId }));
        return {
          changed: true,
          detail: `deleted hosted zone ${hostedZoneId}${extra.length ? ` and its ${extra.length} record(s)` : ''}`,
        };
      } catch (err) {
        if (isAwsError(err, AWS_ERRORS.hostedZoneNotFound))
          return { changed: false, detail: `hosted zone ${hostedZoneId} already gone` };
        throw err;
      }
    },

    /** Deletes the subnets of the VPC that carry this database's tag. */
    async deleteSubnets(vpcId: string): Promise<StepResult> {
      const all = await subnetsIn(vpcId);
      const mine = all.filter((x) => ours(x.Tags));
      const deleted: string[] = [];
      for (const sn of mine) {
        try {
          await ec2().send(new DeleteSubnetCommand({ SubnetId: sn.SubnetId! }));
          deleted.push(sn.SubnetId!);
        } catch (err) {
          if (!isAwsError(err, AWS_ERRORS.subnetNotFound)) throw err;
        }
      }
      return {
        changed: deleted.length > 0,
        detail: deleted.length ? `deleted ${deleted.join(', ')}` : 'no subnet left',
      };
    },

    async deleteVpc(vpcId: string): Promise<StepResult> {
      const there =
        (await ec2().send(new DescribeVpcsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }))).Vpcs ?? [];
      if (!there.some((v) => v.VpcId === vpcId)) return { changed: false, detail: `${vpcId} already gone` };
      try {
        await ec2().send(new DeleteVpcCommand({ VpcId: vpcId }));
        return { changed: true, detail: `deleted ${vpcId}` };
      } catch (err) {
        if (isAwsError(err, AWS_ERRORS.vpcNotFound)) return { changed: false, detail: `${vpcId} already gone` };
        throw err;
      }
    },

    /**
     * Removes what createDatabaseNetwork made (compensation); each part only if it is ours. With
     * `runId`: only the VPC that run made (tagged dbops:run-id=<runId>), with its zone and subnets;
     * a network that existed before the run is left alone.
     */
    async remove(runId?: string): Promise<string[]> {
      const found = runId !== undefined ? await vpcsOfRun(runId) : [await side.findVpc()];
      const done: string[] = [];
      for (const v of found) {
        if (!v) continue;
        const zone = await ourZone(v.VpcId!);
        const steps = [
          zone ? await this.deleteZone(zone) : undefined,
          await this.deleteSubnets(v.VpcId!),
          await this.deleteVpc(v.VpcId!),
        ];
        done.push(...steps.filter((x) => x?.changed).map((x) => x!.detail));
      }
      return done;
    },
  };
}
