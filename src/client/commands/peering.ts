/**
 * `dbops peer-vpc`, `dbops unpeer-vpc`, `dbops cidr plan`, `dbops db-network create|delete`. The flags
 * of peer-vpc are the upstream tool's (aerolab cloud databases peer-vpc), so its users can switch.
 */
import type { Command } from 'commander';
import type { CloudFlags } from '../actions/peering';
import type { PlanFlags } from '../actions/plan-flags';
import type { CliContext } from '../context';

/** Loaded when one of these commands runs, not for every `dbops` call. */
const actions = () => import('../actions/peering');

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

/** --plan, --expect-plan, --expect-plan-from (issue 14), for the commands that change something. */
function planned(cmd: Command): Command {
  return cmd
    .option('--plan', 'only check: print what a run would create, change, delete or refuse, and the plan fingerprint')
    .option('--expect-plan <fingerprint>', 'apply only if the live state still matches this plan (else PlanOutdated)')
    .option(
      '--expect-plan-from <workflow-id>',
      'apply only if the live state still matches the plan that plan run returned (names what differs)',
    );
}

export function registerPeeringCommands(program: Command, ctx: CliContext): void {
  planned(target(program.command('peer-vpc')))
    .description('peer a VPC with a cloud database: initiate, accept, route, associate-dns (all, or the ones named)')
    .option('--stage-initiate', 'run the initiate stage')
    .option('--stage-accept', 'run the accept stage')
    .option('--stage-route', 'run the route stage')
    .option('--stage-associate-dns', 'run the associate-dns stage')
    .option('--force-route-creation', 'replace a route to the database CIDR that points elsewhere')
    .option('--route-tables <which>', 'all (every route table of the VPC) or main', 'all')
    .option('--secure-connection', 'ask the database side for a secure connection')
    .option(
      '--schedule <cron>',
      "put a reconcile on a Temporal schedule instead (overlap skip), e.g. '*/30 * * * *': each run checks the peering and repairs drift",
    )
    .option('--schedule-id <id>', 'schedule id (default: reconcile-peering:<database id>:<vpc>)')
    .option('--report-only', 'with --schedule: report drift, change nothing')
    .action(async (f: CloudFlags & PlanFlags & Record<string, unknown>, cmd: Command) =>
      (await actions()).peerVpc(ctx, f, cmd),
    );

  planned(target(program.command('unpeer-vpc')))
    .description('remove a peering: hosted zone association, routes via it, the peering itself')
    .action(async (f: CloudFlags & PlanFlags, cmd: Command) => (await actions()).unpeerVpc(ctx, f, cmd));

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
    .action(async (o: { vpcId: string; region: string; cidr?: string; output: string }) =>
      (await actions()).cidrPlan(ctx, o),
    );

  const network = program.command('db-network').description('database networks in an AWS account you control');
  planned(target(network.command('create')))
    .description('plan a free CIDR, create the database VPC, subnets and private zone, then peer it')
    .option('--cidr <cidr>', 'database CIDR (default: first free /19 of 10.128.0.0/9)')
    .option('--az <zone...>', 'availability zones for subnets (default: <database region>a)')
    .option('--zone-name <name>', 'private hosted zone name (default: <database id>.db.internal)')
    .option('--route-tables <which>', 'all or main', 'all')
    .action(
      async (
        f: CloudFlags & PlanFlags & { cidr?: string; az?: string[]; zoneName?: string; routeTables: string },
        cmd: Command,
      ) => (await actions()).createNetwork(ctx, f, cmd),
    );

  planned(target(network.command('delete')))
    .description(
      'unpeer the customer VPC, then delete the private zone, subnets and VPC (refused, changing nothing, while anything else uses them)',
    )
    .action(async (f: CloudFlags & PlanFlags, cmd: Command) => (await actions()).deleteNetwork(ctx, f, cmd));
}
