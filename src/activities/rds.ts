/**
 * RDS and Aurora for the DBLab refresh: validation, snapshot choice, the temporary clone's whole
 * life (restore, wait, password reset, delete — Aurora: instances first, waited for, then the
 * cluster), and the janitor's listing. Every step checks first, so a retry never makes a second clone.
 */
import { DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import {
  CreateDBInstanceCommand,
  DeleteDBClusterCommand,
  DeleteDBInstanceCommand,
  DescribeDBClusterParameterGroupsCommand,
  DescribeDBClustersCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBInstancesCommand,
  DescribeDBParameterGroupsCommand,
  DescribeDBSnapshotsCommand,
  DescribeDBSubnetGroupsCommand,
  DescribeOptionGroupsCommand,
  ModifyDBClusterCommand,
  ModifyDBInstanceCommand,
  RebootDBInstanceCommand,
  RestoreDBClusterFromSnapshotCommand,
  RestoreDBClusterToPointInTimeCommand,
  RestoreDBInstanceFromDBSnapshotCommand,
  type DBCluster,
  type DBInstance,
  type RDSClient,
  type Tag,
} from '@aws-sdk/client-rds';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { ApplicationFailure } from '@temporalio/common';
import { CLONE_PREFIX, cloneName, MANAGED_BY, RUN_ID_TAG, type RefreshPlan } from '../domain/dblab-config';
import type { AwsClients } from './aws-clients';
import { AWS_ERRORS, isAwsError } from './aws-errors';
import { pollOrCheck, pollUntil, previousDetails, type PollMode } from './poll';
import type { CloneEndpoint, StepResult } from './types';

/**
 * What the clone is made from: a snapshot (`id`: its identifier, or its ARN when shared from
 * another account), or with clone.method copy-on-write the live source cluster (`id`: the
 * cluster, `type` copy-on-write, `createdAt` its latest restorable time).
 */
export interface Snapshot {
  id: string;
  createdAt: string;
  type: string;
  engine?: string;
  /** A snapshot shared from another account: that account (only read, never changed). */
  sharedBy?: string;
  /** An encrypted snapshot's KMS key. */
  kmsKeyId?: string;
}

/** How long after asking for a reboot the parameter-group step waits for it before asking again. */
const REBOOT_GRACE_MS = 5 * 60_000;

/** Whether the plan clones the live Aurora cluster (clone.method copy-on-write). */
const copyOnWrite = (plan: RefreshPlan) => plan.aurora && plan.config.clone.method === 'copy-on-write';

const SNAPSHOT_ARN = /^arn:aws[a-z-]*:rds:([a-z0-9-]+):(\d{12}):(snapshot|cluster-snapshot):(.+)$/;

async function instance(rds: RDSClient, id: string): Promise<DBInstance | undefined> {
  try {
    return (await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }))).DBInstances?.[0];
  } catch (err) {
    if (isAwsError(err, AWS_ERRORS.dbInstanceNotFound)) return undefined;
    throw err;
  }
}

async function cluster(rds: RDSClient, id: string): Promise<DBCluster | undefined> {
  try {
    return (await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: id }))).DBClusters?.[0];
  } catch (err) {
    if (isAwsError(err, AWS_ERRORS.dbClusterNotFound)) return undefined;
    throw err;
  }
}

/** One snapshot as either describe call (instance or cluster) tells it. */
interface SnapshotRow {
  id: string;
  arn?: string;
  /** The instance or cluster it is of (its identifier in the owner's account). */
  source?: string;
  status?: string;
  createdAt?: Date;
  type?: string;
  engine?: string;
  encrypted?: boolean;
  kmsKeyId?: string;
}

/**
 * One page of DescribeDBSnapshots or DescribeDBClusterSnapshots (by `plan.aurora`), as rows.
 * `by`: the source's snapshots (of a type), one snapshot by name, or those shared with this account.
 */
async function snapshotPage(
  rds: RDSClient,
  aurora: boolean,
  by: { source: string; type?: string } | { snapshot: string } | { shared: true },
  Marker: string | undefined,
): Promise<{ rows: SnapshotRow[]; marker?: string }> {
  const type = 'shared' in by ? 'shared' : 'type' in by ? by.type : undefined;
  const common = {
    ...(type ? { SnapshotType: type } : {}),
    ...('shared' in by ? { IncludeShared: true } : {}),
    Marker,
  };
  if (aurora) {
    const r = await rds.send(
      new DescribeDBClusterSnapshotsCommand({
        ...common,
        ...('source' in by ? { DBClusterIdentifier: by.source } : {}),
        ...('snapshot' in by ? { DBClusterSnapshotIdentifier: by.snapshot } : {}),
      }),
    );
    const rows = (r.DBClusterSnapshots ?? []).map((x) => ({
      id: x.DBClusterSnapshotIdentifier!,
      arn: x.DBClusterSnapshotArn,
      source: x.DBClusterIdentifier,
      status: x.Status,
      createdAt: x.SnapshotCreateTime,
      type: x.SnapshotType,
      engine: x.Engine,
      encrypted: x.StorageEncrypted,
      kmsKeyId: x.KmsKeyId,
    }));
    return { rows, marker: r.Marker };
  }
  const r = await rds.send(
    new DescribeDBSnapshotsCommand({
      ...common,
      ...('source' in by ? { DBInstanceIdentifier: by.source } : {}),
      ...('snapshot' in by ? { DBSnapshotIdentifier: by.snapshot } : {}),
    }),
  );
  const rows = (r.DBSnapshots ?? []).map((x) => ({
    id: x.DBSnapshotIdentifier!,
    arn: x.DBSnapshotArn,
    source: x.DBInstanceIdentifier,
    status: x.Status,
    createdAt: x.SnapshotCreateTime,
    type: x.SnapshotType,
    engine: x.Engine,
    encrypted: x.Encrypted,
    kmsKeyId: x.KmsKeyId,
  }));
  return { rows, marker: r.Marker };
}

/** A row as the refresh keeps it; `as` overrides what a shared snapshot is called by. */
function snapshotOf(row: SnapshotRow, as: Partial<Snapshot> = {}): Snapshot {
  return {
    id: row.id,
    createdAt: row.createdAt!.toISOString(),
    type: row.type ?? '',
    engine: row.engine,
    ...(row.encrypted && row.kmsKeyId ? { kmsKeyId: row.kmsKeyId } : {}),
    ...as,
  };
}

async function allSnapshots(rds: RDSClient, plan: RefreshPlan): Promise<Snapshot[]> {
  const src = plan.config.source;
  const type = src.snapshotType ?? 'automated';
  const out: Snapshot[] = [];
  let Marker: string | undefined;
  do {
    const page = await snapshotPage(
      rds,
      plan.aurora,
      { source: src.identifier, ...(type !== 'any' ? { type } : {}) },
      Marker,
    );
    for (const row of page.rows)
      if (row.status === 'available' && row.source === src.identifier) out.push(snapshotOf(row));
    Marker = page.marker;
  } while (Marker);
  return out.filter((s) => type === 'any' || s.type === type);
}

/** A snapshot must be of the configured source: the operator binds sources, not snapshots, to a DBLab. */
function notOfSource(id: string, of: string | undefined, plan: RefreshPlan): string {
  return `snapshot ${id} is of ${of ?? 'an unknown source'}, not of source ${plan.config.source.identifier}`;
}

/** The checks every named snapshot passes: of the configured source, and available. */
function checked(
  row: SnapshotRow,
  name: string,
  plan: RefreshPlan,
  as?: Partial<Snapshot>,
): Snapshot | { problem: string } {
  if (row.source !== plan.config.source.identifier) return { problem: notOfSource(name, row.source, plan) };
  if (row.status !== 'available') return { problem: `snapshot ${name} is ${row.status}, not available` };
  return snapshotOf(row, as);
}

/**
 * A snapshot shared from another account, by its ARN: found among the snapshots shared with this
 * account (paginated). It must be of the configured source (the identifier in the owner's account).
 */
async function sharedSnapshot(
  rds: RDSClient,
  plan: RefreshPlan,
  arn: string,
  owner: string,
): Promise<Snapshot | { problem: string }> {
  let Marker: string | undefined;
  do {
    const page = await snapshotPage(rds, plan.aurora, { shared: true }, Marker);
    const row = page.rows.find((x) => x.arn === arn);
    if (row) return checked(row, arn, plan, { id: arn, type: 'shared', sharedBy: owner });
    Marker = page.marker;
  } while (Marker);
  return { problem: `snapshot ${arn} does not exist or is not shared with this account (account ${owner} shares it)` };
}

/**
 * The configured snapshot: an identifier, or an ARN — this account's (read by its name) or one
 * shared from another account (sharedSnapshot). `account` is this account's id, asked only for an ARN.
 */
async function explicitSnapshot(
  rds: RDSClient,
  plan: RefreshPlan,
  given: string,
  account: () => Promise<string>,
): Promise<Snapshot | { problem: string }> {
  let id = given;
  const arn = SNAPSHOT_ARN.exec(given);
  if (arn) {
    const [, region, owner, kind, name] = arn;
    const want = plan.aurora ? 'cluster-snapshot' : 'snapshot';
    if (kind !== want)
      return {
        problem: `snapshot ${given} is a ${kind}; an ${plan.aurora ? 'Aurora cluster' : 'RDS instance'} is restored from a ${want}`,
      };
    if (region !== plan.config.aws.region)
      return { problem: `snapshot ${given} is in ${region}, not in ${plan.config.aws.region} where the clone is made` };
    if (owner !== (await account())) return sharedSnapshot(rds, plan, given, owner);
    id = name;
  }
  try {
    const row = (await snapshotPage(rds, plan.aurora, { snapshot: id }, undefined)).rows[0];
    if (!row) return { problem: `snapshot ${id} does not exist` };
    return checked(row, id, plan, { id });
  } catch (err) {
    if (isAwsError(err, AWS_ERRORS.snapshotNotFound)) return { problem: `snapshot ${id} does not exist` };
    throw err;
  }
}

const tagsOf = (list: Tag[] | undefined) => Object.fromEntries((list ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));

/** Where a clone lives: what the janitor knows of a clone it listed. */
export interface CloneSite {
  region: string;
  kind: CloneRecord['kind'];
}

/** The refresh's plan, as refreshDblab sends it to delete its clone (and the janitor before 0.3.0). */
type RefreshPlanSite = Pick<RefreshPlan, 'aurora' | 'pollInterval'> & { config: { aws: { region: string } } };

export interface CloneRecord {
  identifier: string;
  kind: 'instance' | 'cluster';
  status?: string;
  deleteAfter?: string;
  workflowId?: string;
  runId?: string;
}

/** Every instance and cluster whose dbops:run-id tag is this run's (paginated), whatever its name. */
async function taggedWith(rds: RDSClient, runId: string): Promise<{ instances: string[]; clusters: string[] }> {
  const out = { instances: [] as string[], clusters: [] as string[] };
  let Marker: string | undefined;
  do {
    const r = await rds.send(new DescribeDBInstancesCommand({ Marker }));
    for (const i of r.DBInstances ?? [])
      if (i.DBInstanceIdentifier && tagsOf(i.TagList)[RUN_ID_TAG] === runId) out.instances.push(i.DBInstanceIdentifier);
    Marker = r.Marker;
  } while (Marker);
  do {
    const r = await rds.send(new DescribeDBClustersCommand({ Marker }));
    for (const c of r.DBClusters ?? [])
      if (c.DBClusterIdentifier && tagsOf(c.TagList)[RUN_ID_TAG] === runId) out.clusters.push(c.DBClusterIdentifier);
    Marker = r.Marker;
  } while (Marker);
  return out;
}

/** Sets the clone's master password (called inside activities only: the value never enters history). */
export async function setMasterPassword(
  rds: RDSClient,
  aurora: boolean,
  identifier: string,
  password: string,
): Promise<void> {
  if (aurora)
    await rds.send(
      new ModifyDBClusterCommand({
        DBClusterIdentifier: identifier,
        MasterUserPassword: password,
        ApplyImmediately: true,
      }),
    );
  else
    await rds.send(
      new ModifyDBInstanceCommand({
        DBInstanceIdentifier: identifier,
        MasterUserPassword: password,
        ApplyImmediately: true,
      }),
    );
}

export function createRdsActivities(deps: { aws: AwsClients }) {
  const rdsOf = (plan: RefreshPlan) => deps.aws.rds(plan.config.aws.region);
  /** This account's id (STS GetCallerIdentity, needs no permission), asked at most once per call. */
  const accountOf = (plan: RefreshPlan) => {
    let asked: Promise<string> | undefined;
    return () =>
      (asked ??= deps.aws
        .sts(plan.config.aws.region)
        .send(new GetCallerIdentityCommand({}))
        .then((r) => r.Account ?? ''));
  };

  /** Why a KMS key cannot encrypt the clone (kms:DescribeKey), or undefined when it can. */
  async function keyProblem(region: string, key: string, what: string): Promise<string | undefined> {
    const inRegion = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):/.exec(key)?.[1];
    if (inRegion && inRegion !== region) return `${what} ${key} is in ${inRegion}; the clone is made in ${region}`;
    try {
      const m = (await deps.aws.kms(region).send(new DescribeKeyCommand({ KeyId: key }))).KeyMetadata;
      if (!m) return `${what} ${key} not found in ${region}`;
      if (m.KeyState !== 'Enabled') return `${what} ${key} is ${m.KeyState}, not Enabled`;
      if (m.KeyUsage && m.KeyUsage !== 'ENCRYPT_DECRYPT')
        return `${what} ${key} is a ${m.KeyUsage} key; RDS needs an ENCRYPT_DECRYPT key`;
      if (m.KeySpec && m.KeySpec !== 'SYMMETRIC_DEFAULT')
        return `${what} ${key} is ${m.KeySpec}; RDS needs a symmetric key (SYMMETRIC_DEFAULT)`;
      return undefined;
    } catch (err) {
      if (isAwsError(err, AWS_ERRORS.kmsKeyNotFound)) return `${what} ${key} not found in ${region}`;
      if (isAwsError(err, AWS_ERRORS.kmsAccessDenied))
        return `${what} ${key} may not be used by this account (kms:DescribeKey refused; another account's key must grant it, with kms:CreateGrant and kms:Decrypt)`;
      throw err;
    }
  }

  async function deleteInstance(rds: RDSClient, id: string): Promise<boolean> {
    const i = await instance(rds, id);
    if (!i || i.DBInstanceStatus === 'deleting') return false;
    if (i.DeletionProtection)
      await rds.send(
        new ModifyDBInstanceCommand({ DBInstanceIdentifier: id, DeletionProtection: false, ApplyImmediately: true }),
      );
    try {
      await rds.send(
        new DeleteDBInstanceCommand({
          DBInstanceIdentifier: id,
          SkipFinalSnapshot: true,
          DeleteAutomatedBackups: true,
        }),
      );
    } catch (err) {
      if (isAwsError(err, AWS_ERRORS.dbInstanceNotFound)) return false;
      throw err;
    }
    return true;
  }

  const acts = {
    /**
     * Every problem with the source, snapshot (or, copy-on-write, the live cluster), subnet group,
     * security groups, parameter group, option group and KMS keys. Read-only.
     */
    async rdsValidate(plan: RefreshPlan): Promise<string[]> {
      const rds = rdsOf(plan);
      const c = plan.config;
      const problems: string[] = [];
      const cow = copyOnWrite(plan);
      const given = cow ? undefined : c.source.snapshotIdentifier;
      const account = accountOf(plan);
      let snap = given ? await explicitSnapshot(rds, plan, given, account) : undefined;
      if (snap && 'problem' in snap) problems.push(snap.problem);
      // A snapshot of another account (by ARN): its source is in that account, not to be looked up here.
      const owner = given ? SNAPSHOT_ARN.exec(given)?.[2] : undefined;
      const shared = owner !== undefined && owner !== (await account());
      const src = shared
        ? undefined
        : plan.aurora
          ? await cluster(rds, c.source.identifier)
          : await instance(rds, c.source.identifier);
      if (!src && !shared)
        problems.push(
          `source ${plan.aurora ? 'cluster' : 'instance'} ${c.source.identifier} not found in ${c.aws.region}`,
        );
      if (cow && src) {
        const engine = (src as DBCluster).Engine ?? '';
        if (!engine.startsWith('aurora'))
          problems.push(`clone.method copy-on-write needs an Aurora cluster; ${c.source.identifier} is ${engine}`);
      } else if (!given && src) {
        const all = await allSnapshots(rds, plan);
        if (all.length === 0)
          problems.push(`no available ${c.source.snapshotType ?? 'automated'} snapshot of ${c.source.identifier}`);
        else snap = all.sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0];
      }
      if (c.clone.subnetGroup) {
        try {
          await rds.send(new DescribeDBSubnetGroupsCommand({ DBSubnetGroupName: c.clone.subnetGroup }));
        } catch (err) {
          if (!isAwsError(err, AWS_ERRORS.dbSubnetGroupNotFound)) throw err;
          problems.push(`subnet group ${c.clone.subnetGroup} not found`);
        }
      }
      if (c.clone.securityGroups?.length) {
        const ec2 = deps.aws.ec2(c.aws.region);
        for (const sg of c.clone.securityGroups) {
          try {
            const r = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [sg] }));
            if (!r.SecurityGroups?.length) problems.push(`security group ${sg} not found`);
          } catch (err) {
            if (!isAwsError(err, AWS_ERRORS.securityGroupNotFound)) throw err;
            problems.push(`security group ${sg} not found`);
          }
        }
      }
      if (c.clone.parameterGroup) {
        const name = c.clone.parameterGroup;
        let found: unknown[] | undefined;
        try {
          found = plan.aurora
            ? (await rds.send(new DescribeDBClusterParameterGroupsCommand({ DBClusterParameterGroupName: name })))
                .DBClusterParameterGroups
            : (await rds.send(new DescribeDBParameterGroupsCommand({ DBParameterGroupName: name }))).DBParameterGroups;
        } catch (err) {
          // only "not found" is a finding; throttling and the like are retried
          if (!isAwsError(err, AWS_ERRORS.dbParameterGroupNotFound)) throw err;
        }
        if (!found?.length) problems.push(`parameter group ${name} not found`);
      }
      if (c.clone.optionGroup) {
        const name = c.clone.optionGroup;
        try {
          const r = await rds.send(new DescribeOptionGroupsCommand({ OptionGroupName: name }));
          if (!r.OptionGroupsList?.length) problems.push(`option group ${name} not found`);
        } catch (err) {
          if (!isAwsError(err, AWS_ERRORS.optionGroupNotFound)) throw err;
          problems.push(`option group ${name} not found`);
        }
      }
      // The key the clone is encrypted with: the configured one, else the snapshot's or (copy-on-write) the source's.
      if (c.clone.kmsKeyId) {
        const p = await keyProblem(c.aws.region, c.clone.kmsKeyId, 'KMS key (clone.kmsKeyId)');
        if (p) problems.push(p);
      } else if (snap && !('problem' in snap) && snap.kmsKeyId) {
        const p = await keyProblem(c.aws.region, snap.kmsKeyId, `KMS key of snapshot ${snap.id}`);
        if (p) problems.push(p);
      } else if (cow && src && (src as DBCluster).StorageEncrypted && (src as DBCluster).KmsKeyId) {
        const p = await keyProblem(c.aws.region, (src as DBCluster).KmsKeyId!, `KMS key of ${c.source.identifier}`);
        if (p) problems.push(p);
      }
      return problems;
    },

    /**
     * The configured snapshot (must exist and be available; an ARN may name one shared from another
     * account), or the newest available one; copy-on-write: the live source cluster.
     */
    async rdsFindSnapshot(plan: RefreshPlan): Promise<Snapshot> {
      const rds = rdsOf(plan);
      const c = plan.config.source;
      if (copyOnWrite(plan)) {
        // Nothing to find: the clone is of the live cluster, at its latest restorable time.
        const cl = await cluster(rds, c.identifier);
        if (!cl)
          throw ApplicationFailure.nonRetryable(
            `source cluster ${c.identifier} not found in ${plan.config.aws.region}`,
            'SourceNotFound',
          );
        return snapshotOf({
          id: c.identifier,
          createdAt: cl.LatestRestorableTime ?? new Date(),
          type: 'copy-on-write',
          engine: cl.Engine,
          encrypted: cl.StorageEncrypted,
          kmsKeyId: cl.KmsKeyId,
        });
      }
      if (c.snapshotIdentifier) {
        const s = await explicitSnapshot(rds, plan, c.snapshotIdentifier, accountOf(plan));
        if ('problem' in s) throw ApplicationFailure.nonRetryable(s.problem, 'SnapshotNotFound');
        return s;
      }
      const source = plan.aurora ? await cluster(rds, c.identifier) : await instance(rds, c.identifier);
      if (!source) {
        throw ApplicationFailure.nonRetryable(
          `source ${plan.aurora ? 'cluster' : 'instance'} ${c.identifier} not found in ${plan.config.aws.region}`,
          'SourceNotFound',
        );
      }
      const all = await allSnapshots(rds, plan);
      if (all.length === 0)
        throw ApplicationFailure.nonRetryable(
          `no available ${c.snapshotType ?? 'automated'} snapshot of ${c.identifier}`,
          'SnapshotNotFound',
        );
      return all.sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0];
    },

    /**
     * Restores the clone under the name the run fixed, or adopts it when an earlier attempt of
     * this run made it (its dbops:run-id tag). A resource of that name owned by anything else is
     * never adopted: CloneNameTaken, nothing changed. Aurora with clone.method copy-on-write: a
     * copy-on-write clone of the live cluster (RestoreDBClusterToPointInTime), then its instance;
     * both carry the run's tags, like a restored cluster.
     */
    async rdsCreateClone(
      plan: RefreshPlan,
      o: { identifier: string; snapshot: Snapshot; tags: Tag[] },
    ): Promise<StepResult> {
      const rds = rdsOf(plan);
      const c = plan.config.clone;
      const runId = tagsOf(o.tags)[RUN_ID_TAG];
      const ours = (kind: string, id: string, tags: Tag[] | undefined) => {
        const owner = tagsOf(tags)[RUN_ID_TAG];
        if (owner !== runId) {
          throw ApplicationFailure.nonRetryable(
            `an RDS ${kind} named ${id} already exists and is not this run's clone (its ${RUN_ID_TAG} tag is ${owner ? `"${owner}"` : 'missing'}); nothing was changed`,
            'CloneNameTaken',
          );
        }
      };
      const raced = (err: unknown, kind: string, id: string) => {
        // Made by someone else between the check and the restore: the next attempt checks again.
        if (isAwsError(err, AWS_ERRORS.dbAlreadyExists)) {
          return ApplicationFailure.retryable(
            `RDS ${kind} ${id} appeared while restoring it; checking its owner again`,
            'CloneCreateRace',
          );
        }
        return err;
      };
      if (plan.aurora) {
        const cow = copyOnWrite(plan);
        let made = false;
        const cl = await cluster(rds, o.identifier);
        if (cl) ours('cluster', o.identifier, cl.TagList);
        else {
          const common = {
            DBClusterIdentifier: o.identifier,
            DBSubnetGroupName: c.subnetGroup,
            VpcSecurityGroupIds: c.securityGroups,
            DBClusterParameterGroupName: c.parameterGroup || undefined,
            OptionGroupName: c.optionGroup || undefined,
            KmsKeyId: c.kmsKeyId,
            EnableIAMDatabaseAuthentication: c.enableIAMAuth,
            DeletionProtection: false,
            Tags: o.tags,
          };
          const restore: Promise<unknown> = cow
            ? rds.send(
                new RestoreDBClusterToPointInTimeCommand({
                  ...common,
                  SourceDBClusterIdentifier: plan.config.source.identifier,
                  RestoreType: 'copy-on-write',
                  UseLatestRestorableTime: true,
                }),
              )
            : rds.send(
                new RestoreDBClusterFromSnapshotCommand({
                  ...common,
                  SnapshotIdentifier: o.snapshot.id,
                  Engine: o.snapshot.engine ?? 'aurora-postgresql',
                }),
              );
          await restore.catch((err) => Promise.reject(raced(err, 'cluster', o.identifier)));
          made = true;
        }
        const member = await instance(rds, `${o.identifier}-1`);
        if (member) ours('instance', `${o.identifier}-1`, member.TagList);
        else {
          await rds
            .send(
              new CreateDBInstanceCommand({
                DBInstanceIdentifier: `${o.identifier}-1`,
                DBClusterIdentifier: o.identifier,
                Engine: o.snapshot.engine ?? 'aurora-postgresql',
                DBInstanceClass: c.instanceClass,
                PubliclyAccessible: c.publiclyAccessible,
                Tags: o.tags,
              }),
            )
            .catch((err) => Promise.reject(raced(err, 'instance', `${o.identifier}-1`)));
          made = true;
        }
        return {
          changed: made,
          detail: !made
            ? `cluster ${o.identifier} exists`
            : cow
              ? `cloning cluster ${plan.config.source.identifier} copy-on-write as ${o.identifier}`
              : `restoring cluster ${o.identifier} from ${o.snapshot.id}`,
        };
      }
      const existing = await instance(rds, o.identifier);
      if (existing) {
        ours('instance', o.identifier, existing.TagList);
        return { changed: false, detail: `instance ${o.identifier} exists` };
      }
      await rds
        .send(
          new RestoreDBInstanceFromDBSnapshotCommand({
            DBInstanceIdentifier: o.identifier,
            DBSnapshotIdentifier: o.snapshot.id,
            DBInstanceClass: c.instanceClass,
            DBSubnetGroupName: c.subnetGroup,
            VpcSecurityGroupIds: c.securityGroups,
            PubliclyAccessible: c.publiclyAccessible,
            EnableIAMDatabaseAuthentication: c.enableIAMAuth,
            DBParameterGroupName: c.parameterGroup || undefined,
            OptionGroupName: c.optionGroup || undefined,
            StorageType: c.storageType,
            DeletionProtection: false,
            Tags: o.tags,
          }),
        )
        .catch((err) => Promise.reject(raced(err, 'instance', o.identifier)));
      return { changed: true, detail: `restoring ${o.identifier} from ${o.snapshot.id}` };
    },

    /**
     * Waits until the clone is available; its endpoint (Aurora: the writer). Heartbeating in place,
     * or with `mode` { poll: 'once' } one check per attempt (src/activities/poll.ts).
     */
    async rdsWaitClone(plan: RefreshPlan, identifier: string, mode?: PollMode): Promise<CloneEndpoint> {
      const rds = rdsOf(plan);
      return pollOrCheck(
        mode,
        { what: `clone ${identifier} to become available`, interval: plan.pollInterval, timeout: plan.cloneTimeout },
        async () => {
          if (plan.aurora) {
            const cl = await cluster(rds, identifier);
            const member = await instance(rds, `${identifier}-1`);
            if (!cl) throw ApplicationFailure.nonRetryable(`clone cluster ${identifier} disappeared`, 'CloneGone');
            if (cl.Status !== 'available' || member?.DBInstanceStatus !== 'available')
              return { done: false, status: `cluster ${cl.Status}, instance ${member?.DBInstanceStatus ?? 'missing'}` };
            return {
              done: true,
              value: { identifier, host: cl.Endpoint!, port: cl.Port ?? 5432, masterUsername: cl.MasterUsername },
            };
          }
          const i = await instance(rds, identifier);
          if (!i) throw ApplicationFailure.nonRetryable(`clone ${identifier} disappeared`, 'CloneGone');
          if (i.DBInstanceStatus !== 'available' || !i.Endpoint?.Address)
            return { done: false, status: i.DBInstanceStatus ?? 'unknown' };
          return {
            done: true,
            value: {
              identifier,
              host: i.Endpoint.Address,
              port: i.Endpoint.Port ?? 5432,
              masterUsername: i.MasterUsername,
            },
          };
        },
      );
    },

    /**
     * Makes sure the clone runs with clone.parameterGroup: RDS may restore with the default group
     * and ignore the one asked for, or apply it only after a reboot (`pending-reboot`). One check
     * per attempt with `mode` { poll: 'once' } (polled by retry), else in place. Each check looks
     * first, then acts once: sets the group when it is another (ModifyDBInstance, Aurora
     * ModifyDBCluster; only while available), reboots when the group waits for one (only the
     * instance that is available and `pending-reboot`; the time of the reboot rides in the heartbeat
     * to the next check, which does not ask again for REBOOT_GRACE_MS even if RDS still shows the
     * instance available), and is done when the group is in sync and the clone available.
     */
    async rdsApplyParameterGroup(plan: RefreshPlan, identifier: string, mode?: PollMode): Promise<StepResult> {
      const rds = rdsOf(plan);
      const want = plan.config.clone.parameterGroup;
      if (!want) return { changed: false, detail: 'no parameter group configured' };
      let rebootedAt = previousDetails<{ rebootedAt: number }>().rebootedAt;
      /** Reboots `id` unless this wait asked for a reboot lately; the status to report. */
      const reboot = async (id: string): Promise<string> => {
        if (rebootedAt !== undefined && Date.now() - rebootedAt < REBOOT_GRACE_MS)
          return `reboot of ${id} requested, waiting for it to apply ${want}`;
        await rds.send(new RebootDBInstanceCommand({ DBInstanceIdentifier: id }));
        rebootedAt = Date.now();
        return `rebooting ${id} to apply ${want}`;
      };
      return pollOrCheck(
        mode,
        {
          what: `parameter group ${want} to be applied to ${identifier}`,
          interval: plan.pollInterval,
          timeout: plan.cloneTimeout,
        },
        async () => {
          if (plan.aurora) {
            const cl = await cluster(rds, identifier);
            if (!cl) throw ApplicationFailure.nonRetryable(`clone cluster ${identifier} disappeared`, 'CloneGone');
            if (cl.DBClusterParameterGroup !== want) {
              if (cl.Status !== 'available') return { done: false, status: `cluster ${cl.Status}` };
              await rds.send(
                new ModifyDBClusterCommand({
                  DBClusterIdentifier: identifier,
                  DBClusterParameterGroupName: want,
                  ApplyImmediately: true,
                }),
              );
              return {
                done: false,
                status: `setting the cluster's parameter group (was ${cl.DBClusterParameterGroup})`,
              };
            }
            for (const m of cl.DBClusterMembers ?? []) {
              const i = m.DBInstanceIdentifier ? await instance(rds, m.DBInstanceIdentifier) : undefined;
              if (!i) continue;
              if (i.DBInstanceStatus !== 'available')
                return { done: false, status: `${m.DBInstanceIdentifier} ${i.DBInstanceStatus}` };
              if (m.DBClusterParameterGroupStatus === 'pending-reboot')
                return { done: false, status: await reboot(m.DBInstanceIdentifier!) };
              if (m.DBClusterParameterGroupStatus && m.DBClusterParameterGroupStatus !== 'in-sync')
                return {
                  done: false,
                  status: `${m.DBInstanceIdentifier} parameters ${m.DBClusterParameterGroupStatus}`,
                };
            }
            if (cl.Status !== 'available') return { done: false, status: `cluster ${cl.Status}` };
            return { done: true, value: { changed: false, detail: `parameter group ${want} in sync` } };
          }
          const i = await instance(rds, identifier);
          if (!i) throw ApplicationFailure.nonRetryable(`clone ${identifier} disappeared`, 'CloneGone');
          const g = i.DBParameterGroups?.find((x) => x.DBParameterGroupName === want);
          if (i.DBInstanceStatus !== 'available')
            return { done: false, status: `${i.DBInstanceStatus}${g ? `, parameters ${g.ParameterApplyStatus}` : ''}` };
          if (!g) {
            const was = i.DBParameterGroups?.map((x) => x.DBParameterGroupName).join(', ') || 'none';
            await rds.send(
              new ModifyDBInstanceCommand({
                DBInstanceIdentifier: identifier,
                DBParameterGroupName: want,
                ApplyImmediately: true,
              }),
            );
            return { done: false, status: `setting the parameter group (was ${was})` };
          }
          if (g.ParameterApplyStatus === 'pending-reboot') return { done: false, status: await reboot(identifier) };
          if (g.ParameterApplyStatus !== 'in-sync')
            return { done: false, status: `parameters ${g.ParameterApplyStatus}` };
          return { done: true, value: { changed: false, detail: `parameter group ${want} in sync` } };
        },
        { state: () => (rebootedAt === undefined ? {} : { rebootedAt }) },
      );
    },

    /**
     * The clone's name for a run, run as a local activity so that the name is recorded in the
     * run's history (a marker) before anything exists: a replay takes it from there, so a release
     * that changes the naming rule cannot make a run in flight look for another clone.
     */
    async refreshCloneName(o: { startedAt: string; runId: string }): Promise<string> {
      return cloneName(new Date(o.startedAt), o.runId);
    },

    /**
     * Deletes the clone (Aurora: its instances, waited for with no fixed budget, then the
     * cluster). With `owner`, only a clone whose dbops:run-id tag is that run's: a resource of the
     * same name that belongs to anything else is left alone. With `owner.byTag`, also every
     * instance and cluster tagged with that run id, whatever its name: what the run made, even when
     * no attempt of its create reported it.
     */
    async rdsDeleteClone(
      at: CloneSite | RefreshPlanSite,
      identifier: string,
      owner?: { runId: string; byTag?: boolean },
    ): Promise<StepResult> {
      const plan =
        'kind' in at
          ? { region: at.region, aurora: at.kind === 'cluster', pollInterval: '30s' }
          : {
              region: at.config.aws.region,
              aurora: at.aurora,
              pollInterval: at.pollInterval,
            };
      const rds = deps.aws.rds(plan.region);
      const owned = (tags: Tag[] | undefined) => owner === undefined || tagsOf(tags)[RUN_ID_TAG] === owner.runId;
      const instances = new Set<string>();
      const clusters = new Set<string>();
      let refused: { kind: string; tags: Tag[] | undefined } | undefined;
      if (!plan.aurora) {
        const i = await instance(rds, identifier);
        if (i && owned(i.TagList)) instances.add(identifier);
        else if (i) refused = { kind: 'instance', tags: i.TagList };
      } else {
        const cl = await cluster(rds, identifier);
        if (cl && !owned(cl.TagList)) refused = { kind: 'cluster', tags: cl.TagList };
        else {
          if (cl) clusters.add(identifier);
          const lone = await instance(rds, `${identifier}-1`);
          if (lone && owned(lone.TagList)) instances.add(`${identifier}-1`);
        }
      }
      const named = instances.size + clusters.size;
      if (owner?.byTag) {
        const tagged = await taggedWith(rds, owner.runId);
        for (const i of tagged.instances) instances.add(i);
        for (const c of tagged.clusters) clusters.add(c);
      }
      const swept = [...instances, ...clusters].filter((x) => x !== identifier && x !== `${identifier}-1`);
      if (refused && instances.size + clusters.size === 0) {
        return {
          changed: false,
          detail: `${refused.kind} ${identifier} is not this run's clone (its ${RUN_ID_TAG} tag is ${tagsOf(refused.tags)[RUN_ID_TAG] ?? 'missing'}); left alone`,
        };
      }

      // Aurora: every member of a cluster being deleted goes first, and is waited for.
      const found = new Map<string, DBCluster>();
      for (const c of clusters) {
        const d = await cluster(rds, c);
        if (!d) continue;
        found.set(c, d);
        for (const m of d.DBClusterMembers ?? []) if (m.DBInstanceIdentifier) instances.add(m.DBInstanceIdentifier);
      }
      let changed = false;
      for (const m of instances) changed = (await deleteInstance(rds, m)) || changed;
      if (found.size || (plan.aurora && instances.size)) {
        await pollUntil(
          {
            what: `instances of ${[...found.keys()].join(', ') || identifier} to be deleted`,
            interval: plan.pollInterval,
            timeout: '6h',
          },
          async () => {
            const left = [];
            for (const m of instances) if (await instance(rds, m)) left.push(m);
            return left.length
              ? { done: false, status: `waiting for ${left.join(', ')}` }
              : { done: true, value: undefined };
          },
        );
      }
      for (const [c, d] of found) {
        if (d.Status === 'deleting') continue;
        if (d.DeletionProtection)
          await rds.send(
            new ModifyDBClusterCommand({ DBClusterIdentifier: c, DeletionProtection: false, ApplyImmediately: true }),
          );
        try {
          await rds.send(new DeleteDBClusterCommand({ DBClusterIdentifier: c, SkipFinalSnapshot: true }));
          changed = true;
        } catch (err) {
          if (!isAwsError(err, AWS_ERRORS.dbClusterNotFound)) throw err;
        }
      }
      const also = swept.length ? ` (also ${swept.join(', ')}, tagged with this run)` : '';
      if (!changed) return { changed, detail: `${identifier} already gone${also}` };
      if (plan.aurora && named) return { changed, detail: `deleted cluster ${identifier} and its instances${also}` };
      if (named) return { changed, detail: `deleted ${identifier}${also}` };
      return { changed, detail: `deleted ${swept.join(', ')}, tagged with this run (nothing named ${identifier})` };
    },

    /** Clones made by this tool (name prefix and ManagedBy tag), instances and clusters, paginated. */
    async rdsListRefreshClones(region: string): Promise<CloneRecord[]> {
      const rds = deps.aws.rds(region);
      const out: CloneRecord[] = [];
      let Marker: string | undefined;
      do {
        const r = await rds.send(new DescribeDBInstancesCommand({ Marker }));
        for (const i of r.DBInstances ?? []) {
          const tags = tagsOf(i.TagList);
          if (
            !i.DBInstanceIdentifier?.startsWith(CLONE_PREFIX) ||
            tags.ManagedBy !== MANAGED_BY ||
            i.DBClusterIdentifier
          )
            continue;
          out.push({
            identifier: i.DBInstanceIdentifier,
            kind: 'instance',
            status: i.DBInstanceStatus,
            deleteAfter: tags.DeleteAfter,
            workflowId: tags['dbops:workflow-id'],
            runId: tags['dbops:run-id'],
          });
        }
        Marker = r.Marker;
      } while (Marker);
      do {
        const r = await rds.send(new DescribeDBClustersCommand({ Marker }));
        for (const c of r.DBClusters ?? []) {
          const tags = tagsOf(c.TagList);
          if (!c.DBClusterIdentifier?.startsWith(CLONE_PREFIX) || tags.ManagedBy !== MANAGED_BY) continue;
          out.push({
            identifier: c.DBClusterIdentifier,
            kind: 'cluster',
            status: c.Status,
            deleteAfter: tags.DeleteAfter,
            workflowId: tags['dbops:workflow-id'],
            runId: tags['dbops:run-id'],
          });
        }
        Marker = r.Marker;
      } while (Marker);
      return out;
    },
  };
  return acts;
}
