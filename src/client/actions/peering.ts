/** What `dbops peer-vpc`, `unpeer-vpc`, `cidr plan` and `db-network create|delete` do (loaded only when one runs). */
import type { Command } from 'commander';
import { SA_OPERATION, SA_TARGET } from '../../api';
import { planCidr } from '../../domain/cidr';
import {
  networkWorkflowId,
  peeringTarget,
  peeringWorkflowId,
  planNetwork,
  planPeering,
  planUnpeering,
  unpeeringWorkflowId,
  type CreateNetworkInput,
  type PeerVpcInput,
} from '../../domain/peering';
import { networkDeletionWorkflowId, planNetworkDeletion, type DeleteNetworkInput } from '../../domain/network-deletion';
import type { CliContext } from '../context';
import { inFlagTerms, type FlagNames } from '../flag-terms';
import { setExitCode } from '../exit';
import { startRun } from '../follow';
import type { WorkflowInput } from '../workflow-types';

/** The input fields the peering and network commands set, by flag (for messages in the user's terms). */
export const PEERING_FLAGS: FlagNames = {
  databaseId: '--database-id',
  region: '--region',
  vpcId: '--vpc-id',
  cloud: '--cloud',
  'cloud.region': '--cloud-region',
  'cloud.roleArn': '--role-arn',
  'cloud.apiUrl': '--api-url',
  'cloud.tokenUrl': '--token-url',
  'cloud.clientIdRef': '--client-id-ref',
  'cloud.clientSecretRef': '--client-secret-ref',
  'cloud.account': '--account',
  stages: '--stage-*',
  forceRouteCreation: '--force-route-creation',
  routeTables: '--route-tables',
  secureConnection: '--secure-connection',
  'timing.pollInterval': '--poll-interval',
  cidr: '--cidr',
  availabilityZones: '--az',
  zoneName: '--zone-name',
};

export interface CloudFlags {
  databaseId: string;
  region: string;
  vpcId: string;
  cloud: string;
  cloudRegion?: string;
  roleArn?: string;
  apiUrl?: string;
  tokenUrl?: string;
  clientIdRef?: string;
  clientSecretRef?: string;
  account?: string;
  pollInterval?: string;
  detach?: boolean;
}

function awsCloud(f: CloudFlags): { kind: 'aws'; region?: string; roleArn?: string } {
  return {
    kind: 'aws',
    ...(f.cloudRegion ? { region: f.cloudRegion } : {}),
    ...(f.roleArn ? { roleArn: f.roleArn } : {}),
  };
}

function cloud(f: CloudFlags): PeerVpcInput['cloud'] {
  if (f.cloud === 'aerospike-cloud') {
    if (f.account) return { kind: 'aerospike-cloud', account: f.account };
    return {
      kind: 'aerospike-cloud',
      apiUrl: f.apiUrl!,
      tokenUrl: f.tokenUrl!,
      clientIdRef: f.clientIdRef!,
      clientSecretRef: f.clientSecretRef!,
    };
  }
  if (f.cloud !== 'aws') throw new Error('--cloud must be aws or aerospike-cloud');
  return awsCloud(f);
}

type PeeringWorkflow = 'peerVpc' | 'unpeerVpc' | 'createDatabaseNetwork' | 'deleteDatabaseNetwork';

async function start<K extends PeeringWorkflow>(
  ctx: CliContext,
  cmd: Command,
  workflowType: K,
  workflowId: string,
  input: WorkflowInput<K>,
  detach?: boolean,
): Promise<void> {
  const { client, settings } = await ctx.connect();
  const code = await startRun<K>(
    client,
    {
      workflowType,
      workflowId,
      input,
      taskQueue: settings.taskQueue,
      staticSummary: `${workflowType} ${peeringTarget(input)}`,
      typedSearchAttributes: [
        { key: SA_OPERATION, value: workflowType },
        { key: SA_TARGET, value: peeringTarget(input) },
      ],
    },
    ctx.io,
    { detach },
  );
  setExitCode(cmd, code);
}

export async function peerVpc(ctx: CliContext, f: CloudFlags & Record<string, unknown>, cmd: Command): Promise<void> {
  const stages = ['initiate', 'accept', 'route', 'associate-dns'].filter(
    (s) =>
      f[
        `stage${s
          .split('-')
          .map((w) => w[0].toUpperCase() + w.slice(1))
          .join('')}`
      ],
  );
  const input: PeerVpcInput = {
    databaseId: f.databaseId,
    region: f.region,
    vpcId: f.vpcId,
    cloud: cloud(f),
    ...(stages.length ? { stages } : {}),
    ...(f.forceRouteCreation ? { forceRouteCreation: true } : {}),
    routeTables: f.routeTables as 'all' | 'main',
    ...(f.secureConnection ? { secureConnection: true } : {}),
    ...(f.pollInterval ? { timing: { pollInterval: f.pollInterval } } : {}),
  };
  inFlagTerms(PEERING_FLAGS, () => planPeering(input)); // bad input is refused here, before anything starts
  await start(ctx, cmd, 'peerVpc', peeringWorkflowId(input), input, f.detach);
}

export async function unpeerVpc(ctx: CliContext, f: CloudFlags, cmd: Command): Promise<void> {
  const input = {
    databaseId: f.databaseId,
    region: f.region,
    vpcId: f.vpcId,
    cloud: cloud(f),
    ...(f.pollInterval ? { timing: { pollInterval: f.pollInterval } } : {}),
  };
  inFlagTerms(PEERING_FLAGS, () => planUnpeering(input));
  await start(ctx, cmd, 'unpeerVpc', unpeeringWorkflowId(input), input, f.detach);
}

export async function cidrPlan(
  ctx: CliContext,
  o: { vpcId: string; region: string; cidr?: string; output: string },
): Promise<void> {
  // The AWS SDK is loaded only here: the other commands of this group run on the worker.
  const [{ AwsClients }, { createEc2Activities }] = await Promise.all([
    import('../../activities/aws-clients'),
    import('../../activities/ec2'),
  ]);
  const ec2 = createEc2Activities({ aws: AwsClients.fromEnv(ctx.env) });
  const { vpc, inUse } = await ec2.describeInUse({ region: o.region, vpcId: o.vpcId });
  const plan = planCidr({ vpcId: vpc.vpcId, inUse, requested: o.cidr });
  if (o.output === 'json') {
    ctx.io.out.write(`${JSON.stringify({ vpcId: vpc.vpcId, inUse, chosen: plan.cidr, tried: plan.tried }, null, 2)}\n`);
    return;
  }
  ctx.io.out.write(`in use by ${vpc.vpcId}:\n`);
  for (const u of inUse) ctx.io.out.write(`  ${u.cidr.padEnd(18)} ${u.source}\n`);
  ctx.io.out.write(`chosen: ${plan.cidr}\n`);
}

export async function createNetwork(
  ctx: CliContext,
  f: CloudFlags & { cidr?: string; az?: string[]; zoneName?: string; routeTables: string },
  cmd: Command,
): Promise<void> {
  if (f.cloud !== 'aws') throw new Error('db-network create makes an AWS database network: --cloud must be aws');
  const input: CreateNetworkInput = {
    databaseId: f.databaseId,
    region: f.region,
    vpcId: f.vpcId,
    ...(f.cidr ? { cidr: f.cidr } : {}),
    ...(f.az ? { availabilityZones: f.az } : {}),
    ...(f.zoneName ? { zoneName: f.zoneName } : {}),
    cloud: awsCloud(f),
    routeTables: f.routeTables as 'all',
    ...(f.pollInterval ? { timing: { pollInterval: f.pollInterval } } : {}),
  };
  inFlagTerms(PEERING_FLAGS, () => planNetwork(input));
  await start(ctx, cmd, 'createDatabaseNetwork', networkWorkflowId(input), input, f.detach);
}

export async function deleteNetwork(ctx: CliContext, f: CloudFlags, cmd: Command): Promise<void> {
  if (f.cloud !== 'aws') throw new Error('db-network delete removes an AWS database network: --cloud must be aws');
  const input: DeleteNetworkInput = {
    databaseId: f.databaseId,
    region: f.region,
    vpcId: f.vpcId,
    cloud: awsCloud(f),
    ...(f.pollInterval ? { timing: { pollInterval: f.pollInterval } } : {}),
  };
  inFlagTerms(PEERING_FLAGS, () => planNetworkDeletion(input));
  await start(ctx, cmd, 'deleteDatabaseNetwork', networkDeletionWorkflowId(input), input, f.detach);
}
