/** Sources in moto and configs for the DBLab refresh tests. */
import {
  CreateDBClusterCommand,
  CreateDBClusterSnapshotCommand,
  CreateDBInstanceCommand,
  CreateDBSnapshotCommand,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
} from '@aws-sdk/client-rds';
import type { Tag } from '@aws-sdk/client-rds';
import type { AwsClients } from '../../src/activities/aws-clients';
import { RUN_ID_TAG } from '../../src/domain/dblab-config';
import type { RefreshConfig } from '../../src/domain/dblab-config';
import { uniqueName } from './temporal';

export const DBLAB_TOKEN = 'dblab-token-very-secret-0042';
export const SOURCE_PASSWORD = 'production-password-never-in-history';

export async function makeRdsSource(aws: AwsClients, region = 'us-east-1'): Promise<string> {
  const id = uniqueName('prod').replace(/_/g, '-');
  await aws.rds(region).send(
    new CreateDBInstanceCommand({
      DBInstanceIdentifier: id,
      Engine: 'postgres',
      DBInstanceClass: 'db.t3.medium',
      MasterUsername: 'postgres',
      MasterUserPassword: 'source-master-pw',
      AllocatedStorage: 20,
      DBName: 'postgres',
      BackupRetentionPeriod: 7,
    }),
  );
  return id; // moto makes an automated snapshot rds:<id>-<date> right away
}

export async function makeManualSnapshots(
  aws: AwsClients,
  source: string,
  count: number,
  region = 'us-east-1',
): Promise<string[]> {
  const ids = [];
  for (let i = 0; i < count; i++) {
    const id = `${source}-manual-${i}`;
    await aws.rds(region).send(new CreateDBSnapshotCommand({ DBInstanceIdentifier: source, DBSnapshotIdentifier: id }));
    ids.push(id);
    await new Promise((r) => setTimeout(r, 1100)); // distinct creation times
  }
  return ids;
}

export async function makeAuroraSource(
  aws: AwsClients,
  region = 'us-east-1',
): Promise<{ cluster: string; snapshot: string }> {
  const cluster = uniqueName('aurora').replace(/_/g, '-');
  await aws.rds(region).send(
    new CreateDBClusterCommand({
      DBClusterIdentifier: cluster,
      Engine: 'aurora-postgresql',
      MasterUsername: 'postgres',
      MasterUserPassword: 'source-master-pw',
      DatabaseName: 'postgres',
    }),
  );
  await aws.rds(region).send(
    new CreateDBInstanceCommand({
      DBInstanceIdentifier: `${cluster}-1`,
      DBClusterIdentifier: cluster,
      Engine: 'aurora-postgresql',
      DBInstanceClass: 'db.r6g.large',
    }),
  );
  const snapshot = `${cluster}-snap`;
  await aws
    .rds(region)
    .send(new CreateDBClusterSnapshotCommand({ DBClusterIdentifier: cluster, DBClusterSnapshotIdentifier: snapshot }));
  return { cluster, snapshot };
}

export async function instancesNamed(aws: AwsClients, prefix: string, region = 'us-east-1'): Promise<string[]> {
  const all = (await aws.rds(region).send(new DescribeDBInstancesCommand({}))).DBInstances ?? [];
  return all.map((i) => i.DBInstanceIdentifier!).filter((i) => i.startsWith(prefix));
}

export async function clustersNamed(aws: AwsClients, prefix: string, region = 'us-east-1'): Promise<string[]> {
  const all = (await aws.rds(region).send(new DescribeDBClustersCommand({}))).DBClusters ?? [];
  return all.map((c) => c.DBClusterIdentifier!).filter((c) => c.startsWith(prefix));
}

export function refreshConfig(o: {
  source: string;
  apiEndpoint: string;
  type?: 'rds' | 'aurora-cluster';
  extra?: Record<string, unknown>;
  /** Merged into `clone` (method, parameterGroup, …). */
  clone?: Record<string, unknown>;
  /** Default 3s: waits poll by retry about once a second at most, so slow phases want more. */
  startDeadline?: string;
}): RefreshConfig {
  return {
    source: {
      type: o.type ?? 'rds',
      identifier: o.source,
      dbName: 'postgres',
      username: 'postgres',
      password: 'env:SRC_PW',
    },
    clone: { instanceClass: 'db.t3.medium', tags: { team: 'data' }, maxAge: '48h', ...o.clone },
    dblab: {
      apiEndpoint: o.apiEndpoint,
      token: 'env:DBLAB_TOKEN',
      pollInterval: '100ms',
      timeout: '1m',
      startDeadline: o.startDeadline ?? '3s',
      requestTimeout: '1s',
    },
    aws: { region: 'us-east-1' },
    ...o.extra,
  } as RefreshConfig;
}

/** Every RDS instance and cluster tagged with this run id, whatever its name. */
export async function taggedWith(aws: AwsClients, runId: string, region = 'us-east-1'): Promise<string[]> {
  const rds = aws.rds(region);
  const ours = (tags: Tag[] | undefined) => (tags ?? []).some((x) => x.Key === RUN_ID_TAG && x.Value === runId);
  const instances = ((await rds.send(new DescribeDBInstancesCommand({}))).DBInstances ?? [])
    .filter((i) => ours(i.TagList))
    .map((i) => `instance ${i.DBInstanceIdentifier}`);
  const clusters = ((await rds.send(new DescribeDBClustersCommand({}))).DBClusters ?? [])
    .filter((c) => ours(c.TagList))
    .map((c) => `cluster ${c.DBClusterIdentifier}`);
  return [...instances, ...clusters];
}
