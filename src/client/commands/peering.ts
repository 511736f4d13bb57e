/**
 * `dbops peer-vpc`, `dbops unpeer-vpc`, `dbops cidr plan`, `dbops db-network create|delete`. The flags
 * of peer-vpc are the upstream tool's (aerolab cloud databases peer-vpc), so its users can switch.
 */
import type { Command } from 'commander';
import { SA_OPERATION, SA_TARGET } from '../../api';
import { AwsClients } from '../../activities/aws-clients';
import { createEc2Activities } from '../../activities/ec2';
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
import { setExitCode } from '../exit';
import { startRun, type WorkflowInput } from '../workflow-types';

interface CloudFlags {
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

function target(cmd: Command): Command {
  return cmd
    .requiredOption('-d, --database-id <id>', 'the database (cluster) id')
    .requiredOption('-r, --region <region>', 'region of the customer VPC')
    .requiredOption('--vpc-id <vpc>', 'customer VPC id, or "default"', 'default')
    .option('--cloud <kind>', 'database side: aws or aerospike-cloud', 'aws')
    .option('--cloud-region <region>', 'aws: region of the database network (default: --region)')
    .option('--role-arn <arn>', 'aws: role to assume in the database account')
    .option('--api-url <url>', 'aerospike-cloud: API base URL', 'https://api.aerospike.cloud/v2')
    .option(
      '--token-url <url>',
      'aerospike-cloud: OAuth2 token URL',
      'https://auth.control.aerospike.cloud/oauth/token',
    )
    .option(
      '--client-id-ref <ref>',
      'aerospike-cloud: API key id reference (env:NAME, file:/path, aws-sm:…)',
      'env:AEROSPIKE_CLOUD_KEY',
    )
    .option('--client-secret-ref <ref>', 'aerospike-cloud: API key secret reference', 'env:AEROSPIKE_CLOUD_SECRET')
    .option(
      '--account <name>',
      "aerospike-cloud: an account of the worker's configuration (instead of the URLs and references)",
    )
    .option('--poll-interval <duration>', 'how often to poll while waiting (e.g. 10s)')
    .option('--detach', 'start the run and return without following it');
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

export function registerPeeringCommands(program: Command, ctx: CliContext): void {
  target(program.command('peer-vpc'))
    .description('peer a VPC with a cloud database: initiate, accept, route, associate-dns (all, or the ones named)')
    .option('--stage-initiate', 'run the initiate stage')
    .option('--stage-accept', 'run the accept stage')
    .option('--stage-route', 'run the route stage')
    .option('--stage-associate-dns', 'run the associate-dns stage')
    .option('--force-route-creation', 'replace a route to the database CIDR that points elsewhere')
    .option('--route-tables <which>', 'all (every route table of the VPC) or main', 'all')
    .option('--secure-connection', 'ask the database side for a secure connection')
    .action(async (f: CloudFlags & Record<string, unknown>, cmd: Command) => {
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
      planPeering(input); // bad input is refused here, before anything starts
      await start(ctx, cmd, 'peerVpc', peeringWorkflowId(input), input, f.detach);
    });

  target(program.command('unpeer-vpc'))
    .description('remove a peering: hosted zone association, routes via it, the peering itself')
    .action(async (f: CloudFlags, cmd: Command) => {
      const input = {
        databaseId: f.databaseId,
        region: f.region,
        vpcId: f.vpcId,
        cloud: cloud(f),
        ...(f.pollInterval ? { timing: { pollInterval: f.pollInterval } } : {}),
      };
      planUnpeering(input);
      await start(ctx, cmd, 'unpeerVpc', unpeeringWorkflowId(input), input, f.detach);
    });

  program
    .command('cidr')
    .description('CIDR planning for a database network')
    .command('plan')
    .description(
      'list what a VPC already reaches and choose a free block (read-only, runs here with your AWS credentials)',
    )
    .requiredOption('--vpc-id <vpc>', 'customer VPC id, or "default"')
    .requiredOption('-r, --region <region>', 'region of the VPC')
    .option('--cidr <cidr>', 'check this block instead of searching')
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (o: { vpcId: string; region: string; cidr?: string; output: string }) => {
      const ec2 = createEc2Activities({ aws: AwsClients.fromEnv(ctx.env) });
      const { vpc, inUse } = await ec2.describeInUse({ region: o.region, vpcId: o.vpcId });
      const plan = planCidr({ vpcId: vpc.vpcId, inUse, requested: o.cidr });
      if (o.output === 'json') {
        ctx.io.out.write(
          `${JSON.stringify({ vpcId: vpc.vpcId, inUse, chosen: plan.cidr, tried: plan.tried }, null, 2)}\n`,
        );
        return;
      }
      ctx.io.out.write(`in use by ${vpc.vpcId}:\n`);
      for (const u of inUse) ctx.io.out.write(`  ${u.cidr.padEnd(18)} ${u.source}\n`);
      ctx.io.out.write(`chosen: ${plan.cidr}\n`);
    });

  const network = program.command('db-network').description('database networks in an AWS account you control');
  target(network.command('create'))
    .description('plan a free CIDR, create the database VPC, subnets and private zone, then peer it')
    .option('--cidr <cidr>', 'database CIDR (default: first free /19 of 10.128.0.0/9)')
    .option('--az <zone...>', 'availability zones for subnets (default: <database region>a)')
    .option('--zone-name <name>', 'private hosted zone name (default: <database id>.db.internal)')
    .option('--route-tables <which>', 'all or main', 'all')
    .action(
      async (
        f: CloudFlags & { cidr?: string; az?: string[]; zoneName?: string; routeTables: string },
        cmd: Command,
      ) => {
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
        planNetwork(input);
        await start(ctx, cmd, 'createDatabaseNetwork', networkWorkflowId(input), input, f.detach);
      },
    );

  target(network.command('delete'))
    .description(
      'unpeer the customer VPC, then delete the private zone, subnets and VPC (refused, changing nothing, while anything else uses them)',
    )
    .action(async (f: CloudFlags, cmd: Command) => {
      if (f.cloud !== 'aws') throw new Error('db-network delete removes an AWS database network: --cloud must be aws');
      const input: DeleteNetworkInput = {
        databaseId: f.databaseId,
        region: f.region,
        vpcId: f.vpcId,
        cloud: awsCloud(f),
        ...(f.pollInterval ? { timing: { pollInterval: f.pollInterval } } : {}),
      };
      planNetworkDeletion(input);
      await start(ctx, cmd, 'deleteDatabaseNetwork', networkDeletionWorkflowId(input), input, f.detach);
    });
}
