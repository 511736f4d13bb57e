/**
 * RDS and Aurora for the DBLab refresh: validation, snapshot choice, the temporary clone's whole
 * life (restore, wait, password reset, delete — Aurora: instances first, waited for, then the
 * cluster), and the janitor's listing. Every step checks first, so a retry never makes a second clone.
 */
import { DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
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
  ModifyDBClusterCommand,
  ModifyDBInstanceCommand,
  RestoreDBClusterFromSnapshotCommand,
  RestoreDBInstanceFromDBSnapshotCommand,
  type DBCluster,
  type DBInstance,
  type RDSClient,
  type Tag,
} from '@aws-sdk/client-rds';
import { ApplicationFailure } from '@temporalio/common';
import { CLONE_PREFIX, cloneName, MANAGED_BY, RUN_ID_TAG, type RefreshPlan } from '../domain/dblab-config';
import type { AwsClients } from './aws-clients';
import { AWS_ERRORS, isAwsError } from './aws-errors';
import { pollOrCheck, pollUntil, type PollMode } from './poll';
import type { CloneEndpoint, StepResult } from './types';

export interface Snapshot {
  id: string;
  createdAt: string;
  type: string;
  engine?: string;
}

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

async function allSnapshots(rds: RDSClient, plan: RefreshPlan): Promise<Snapshot[]> {
  const src = plan.config.source;
  const type = src.snapshotType ?? 'automated';
  const out: Snapshot[] = [];
  let Marker: string | undefined;
  do {
    if (plan.aurora) {
      const r = await rds.send(
        new DescribeDBClusterSnapshotsCommand({
          DBClusterIdentifier: src.identifier,
          ...(type !== 'any' ? { SnapshotType: type } : {}),
          Marker,
        }),
      );
      for (const s of r.DBClusterSnapshots ?? []) {
        if (s.Status === 'available' && s.DBClusterIdentifier === src.identifier)
          out.push({
            id: s.DBClusterSnapshotIdentifier!,
            createdAt: s.SnapshotCreateTime!.toISOString(),
            type: s.SnapshotType ?? '',
            engine: s.Engine,
          });
      }
      Marker = r.Marker;
    } else {
      const r = await rds.send(
        new DescribeDBSnapshotsCommand({
          DBInstanceIdentifier: src.identifier,
          ...(type !== 'any' ? { SnapshotType: type } : {}),
          Marker,
        }),
      );
      for (const s of r.DBSnapshots ?? []) {
        if (s.Status === 'available' && s.DBInstanceIdentifier === src.identifier)
          out.push({
            id: s.DBSnapshotIdentifier!,
            createdAt: s.SnapshotCreateTime!.toISOString(),
            type: s.SnapshotType ?? '',
            engine: s.Engine,
          });
      }
      Marker = r.Marker;
    }
  } while (Marker);
  return out.filter((s) => type === 'any' || s.type === type);
}

/** A snapshot must be of the configured source: the operator binds sources, not snapshots, to a DBLab. */
function notOfSource(id: string, of: string | undefined, plan: RefreshPlan): string {
  return `snapshot ${id} is of ${of ?? 'an unknown source'}, not of source ${plan.config.source.identifier}`;
}

async function explicitSnapshot(
  rds: RDSClient,
  plan: RefreshPlan,
  id: string,
): Promise<Snapshot | { problem: string }> {
  try {
    if (plan.aurora) {
      const s = (await rds.send(new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: id })))
        .DBClusterSnapshots?.[0];
      if (!s) return { problem: `snapshot ${id} does not exist` };
      if (s.DBClusterIdentifier !== plan.config.source.identifier)
        return { problem: notOfSource(id, s.DBClusterIdentifier, plan) };
      if (s.Status !== 'available') return { problem: `snapshot ${id} is ${s.Status}, not available` };
      return { id, createdAt: s.SnapshotCreateTime!.toISOString(), type: s.SnapshotType ?? '', engine: s.Engine };
    }
    const s = (await rds.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: id }))).DBSnapshots?.[0];
    if (!s) return { problem: `snapshot ${id} does not exist` };
    if (s.DBInstanceIdentifier !== plan.config.source.identifier)
      return { problem: notOfSource(id, s.DBInstanceIdentifier, plan) };
    if (s.Status !== 'available') return { problem: `snapshot ${id} is ${s.Status}, not available` };
    return { id, createdAt: s.SnapshotCreateTime!.toISOString(), type: s.SnapshotType ?? '', engine: s.Engine };
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
    /** Every problem with the source, snapshot, subnet group, security groups and parameter group. Read-only. */
    async rdsValidate(plan: RefreshPlan): Promise<string[]> {
      const rds = rdsOf(plan);
      const c = plan.config;
      const problems: string[] = [];
      const src = plan.aurora ? await cluster(rds, c.source.identifier) : await instance(rds, c.source.identifier);
      if (!src)
        problems.push(
          `source ${plan.aurora ? 'cluster' : 'instance'} ${c.source.identifier} not found in ${c.aws.region}`,
        );
      if (c.source.snapshotIdentifier) {
        const s = await explicitSnapshot(rds, plan, c.source.snapshotIdentifier);
        if ('problem' in s) problems.push(s.problem);
      } else if (src && (await allSnapshots(rds, plan)).length === 0) {
        problems.push(`no available ${c.source.snapshotType ?? 'automated'} snapshot of ${c.source.identifier}`);
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
      return problems;
    },

    /** The configured snapshot (must exist and be available), or the newest available one. */
    async rdsFindSnapshot(plan: RefreshPlan): Promise<Snapshot> {
      const rds = rdsOf(plan);
      const c = plan.config.source;
      if (c.snapshotIdentifier) {
        const s = await explicitSnapshot(rds, plan, c.snapshotIdentifier);
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
     * never adopted: CloneNameTaken, nothing changed.
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
        let made = false;
        const cl = await cluster(rds, o.identifier);
        if (cl) ours('cluster', o.identifier, cl.TagList);
        else {
          await rds
            .send(
              new RestoreDBClusterFromSnapshotCommand({
                DBClusterIdentifier: o.identifier,
                SnapshotIdentifier: o.snapshot.id,
                Engine: o.snapshot.engine ?? 'aurora-postgresql',
                DBSubnetGroupName: c.subnetGroup,
                VpcSecurityGroupIds: c.securityGroups,
                DBClusterParameterGroupName: c.parameterGroup,
                EnableIAMDatabaseAuthentication: c.enableIAMAuth,
                DeletionProtection: false,
                Tags: o.tags,
              }),
            )
            .catch((err) => Promise.reject(raced(err, 'cluster', o.identifier)));
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
          detail: made ? `restoring cluster ${o.identifier} from ${o.snapshot.id}` : `cluster ${o.identifier} exists`,
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
            DBParameterGroupName: c.parameterGroup,
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
