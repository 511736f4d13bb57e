/**
 * refreshDblab's clone side against moto and the DBLab fake: Aurora copy-on-write clones of the
 * live cluster, snapshots shared from another account (by ARN), encrypted snapshots and KMS keys,
 * option groups, and the parameter group applied after the restore (modify, then reboot if
 * `pending-reboot`), each also checked by the dry run.
 *
 * What moto cannot model is mocked at the client for that call only, and said at the test:
 * - moto applies a restore's parameter group at once and never reports `pending-reboot`: the test
 *   of "the restore ignored the group" drops it from the restore call and reports `pending-reboot`
 *   until the clone is rebooted (a middleware on the worker's RDS client);
 * - moto restores an ARN by its name in the caller's own account, so it cannot restore a snapshot
 *   that only another account holds: that one RestoreDBInstanceFromDBSnapshot call is answered by
 *   creating the clone in moto with the same identifier, class and tags.
 * moto does implement RestoreDBClusterToPointInTime with RestoreType copy-on-write, STS accounts
 * (AssumeRole into another account id), snapshot sharing and KMS (DescribeKey, DisableKey).
 */
import {
  CreateDBClusterParameterGroupCommand,
  CreateDBInstanceCommand,
  CreateDBParameterGroupCommand,
  CreateDBSnapshotCommand,
  DeleteDBInstanceCommand,
  DescribeDBClustersCommand,
  DescribeDBSnapshotAttributesCommand,
  DescribeDBSnapshotsCommand,
  ModifyDBSnapshotAttributeCommand,
  type Tag,
} from '@aws-sdk/client-rds';
import { CreateKeyCommand, DisableKeyCommand } from '@aws-sdk/client-kms';
import { WorkflowFailedError } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import type { Progress } from '../../src/api';
import { createActivities } from '../../src/activities';
import { createRdsActivities } from '../../src/activities/rds';
import { CLONE_PREFIX, planRefresh, RUN_ID_TAG } from '../../src/domain/dblab-config';
import { POLL_ONCE } from '../../src/domain/waits';
import type { RefreshResult } from '../../src/workflows/refresh-dblab';
import { DblabFake, ERR_NO_AVAILABLE_POOL } from '../fixtures/dblab-fake';
import { bindDblab, testConfig } from '../helpers/activities';
import { countingAws, fixtureAws, type CallLog } from '../helpers/aws-fixtures';
import {
  clustersNamed,
  DBLAB_TOKEN,
  instancesNamed,
  makeAuroraSource,
  makeRdsSource,
  refreshConfig,
  SOURCE_PASSWORD,
  taggedWith,
} from '../helpers/dblab-fixtures';
import { makeWorker, openTestEnv, uniqueName, type TestEnv } from '../helpers/temporal';

const fx = fixtureAws();
/** Another AWS account (moto maps an assumed role's credentials to the role's account). */
const OTHER_ACCOUNT = '111111111111';
const other = () => fx.rds('us-east-1', `arn:aws:iam::${OTHER_ACCOUNT}:role/snapshot-owner`);
let t: TestEnv;
let worker: Worker;
let running: Promise<void>;
let log: CallLog;
let workerAws: ReturnType<typeof countingAws>['aws'];
let fake: DblabFake;
const workerCfg = testConfig();

type Args = { input: Record<string, unknown> };
type Mw = (
  next: (a: Args) => Promise<{ output: Record<string, unknown> }>,
  ctx: { commandName?: string },
) => (args: Args) => Promise<{ output: Record<string, unknown> }>;
/** The worker's RDS client's middleware stack: where a test watches or (said so) mocks a call. */
const workerRds = () =>
  (
    workerAws.rds('us-east-1') as unknown as {
      middlewareStack: { add(mw: Mw, o: object): void; remove(name: string): boolean };
    }
  ).middlewareStack;

/** Records the input of every call the worker makes to RDS with these commands, while the test runs. */
function watch(...commands: string[]): { inputs: Array<{ command: string; input: Record<string, unknown> }> } {
  const seen = { inputs: [] as Array<{ command: string; input: Record<string, unknown> }> };
  workerRds().add(
    (next, ctx) => async (args) => {
      const command = (ctx.commandName ?? '').replace(/Command$/, '');
      if (commands.includes(command)) seen.inputs.push({ command, input: structuredClone(args.input) });
      return next(args);
    },
    { step: 'initialize', name: 'watch' },
  );
  return seen;
}

beforeAll(async () => {
  t = await openTestEnv();
  const counted = countingAws();
  log = counted.log;
  workerAws = counted.aws;
  worker = await makeWorker(
    t,
    createActivities({
      env: { DBLAB_TOKEN, SRC_PW: SOURCE_PASSWORD },
      aws: counted.aws,
      temporal: t.client,
      config: workerCfg,
    }),
  );
  running = worker.run();
});
afterAll(async () => {
  worker.shutdown();
  await running;
  await t.close();
});
beforeEach(async () => {
  fake = new DblabFake({ token: DBLAB_TOKEN });
  await fake.start();
  bindDblab(workerCfg, fake.url);
  log.reset();
});
afterEach(async () => {
  for (const name of ['watch', 'mock']) workerRds().remove(name);
  await fake.stop();
});

async function refresh(config: object) {
  const h = await t.client.workflow.start('refreshDblab', {
    workflowId: uniqueName('refresh-clone'),
    taskQueue: t.taskQueue,
    args: [config],
  });
  const result = await h.result().catch((e: unknown) => e);
  const progress = await h.query<Progress>('progress');
  return {
    h,
    runId: h.firstExecutionRunId,
    result,
    failure: result instanceof WorkflowFailedError ? result.cause?.message : undefined,
    detail: (stage: string) => progress.stages.find((s) => s.name === stage)?.detail,
    statuses: Object.fromEntries(progress.stages.map((s) => [s.name, s.status])),
  };
}

const runTag = (input: Record<string, unknown>) =>
  ((input.Tags as Tag[] | undefined) ?? []).find((x) => x.Key === RUN_ID_TAG)?.Value;

async function clusterParameterGroup(): Promise<string> {
  const name = uniqueName('cpg').replace(/_/g, '-');
  await fx.rds('us-east-1').send(
    new CreateDBClusterParameterGroupCommand({
      DBClusterParameterGroupName: name,
      DBParameterGroupFamily: 'aurora-postgresql13',
      Description: 'dbops test',
    }),
  );
  return name;
}

async function parameterGroup(): Promise<string> {
  const name = uniqueName('pg').replace(/_/g, '-');
  await fx.rds('us-east-1').send(
    new CreateDBParameterGroupCommand({
      DBParameterGroupName: name,
      DBParameterGroupFamily: 'postgres13',
      Description: 'dbops test',
    }),
  );
  return name;
}

describe('Aurora copy-on-write clones', () => {
  test('the live cluster is cloned (no snapshot read), cluster and instance carry the run tag, both deleted', async () => {
    const { cluster } = await makeAuroraSource(fx);
    const group = await clusterParameterGroup();
    const seen = watch('RestoreDBClusterToPointInTime', 'CreateDBInstance');
    const r = await refresh(
      refreshConfig({
        source: cluster,
        apiEndpoint: fake.url,
        type: 'aurora-cluster',
        clone: { method: 'copy-on-write', parameterGroup: group },
      }),
    );
    expect(r.failure).toBeUndefined();
    const res = r.result as RefreshResult;
    expect(res).toMatchObject({ outcome: 'refreshed', snapshot: cluster });
    expect(r.detail('find-snapshot')).toMatch(
      new RegExp(`^clone ${cluster} copy-on-write \\(latest restorable time \\d{4}-`),
    );
    expect(r.detail('create-clone')).toBe(`cloning cluster ${cluster} copy-on-write as ${res.clone}`);
    expect(r.detail('wait-clone')).toContain(`parameter group ${group} in sync`);
    expect(log.mutating()).toEqual(
      expect.arrayContaining([
        'RestoreDBClusterToPointInTime',
        'CreateDBInstance',
        'DeleteDBInstance',
        'DeleteDBCluster',
      ]),
    );
    expect(log.mutating()).not.toContain('RestoreDBClusterFromSnapshot');
    expect(log.calls.map((c) => c.command)).not.toContain('DescribeDBClusterSnapshots');

    const restore = seen.inputs.find((i) => i.command === 'RestoreDBClusterToPointInTime')!.input;
    expect(restore).toMatchObject({
      DBClusterIdentifier: res.clone,
      SourceDBClusterIdentifier: cluster,
      RestoreType: 'copy-on-write',
      UseLatestRestorableTime: true,
      DBClusterParameterGroupName: group,
      DeletionProtection: false,
    });
    expect(restore.RestoreToTime).toBeUndefined();
    const member = seen.inputs.find((i) => i.command === 'CreateDBInstance')!.input;
    expect(member).toMatchObject({ DBInstanceIdentifier: `${res.clone}-1`, DBClusterIdentifier: res.clone });
    expect([runTag(restore), runTag(member)]).toEqual([r.runId, r.runId]);

    expect((fake.configs[0] as any).retrieval.spec.logicalDump.options.source.connection.host).toMatch(
      new RegExp(`^${res.clone}\\.cluster-`),
    );
    expect(await clustersNamed(fx, res.clone!)).toEqual([]);
    expect(await instancesNamed(fx, res.clone!)).toEqual([]);
    expect(await taggedWith(fx, r.runId)).toEqual([]);
    // The source is untouched: still there with its instance.
    const src = (await fx.rds('us-east-1').send(new DescribeDBClustersCommand({ DBClusterIdentifier: cluster })))
      .DBClusters![0];
    expect(src.DBClusterMembers?.map((m) => m.DBInstanceIdentifier)).toEqual([`${cluster}-1`]);
  });

  test('a refresh that fails after the clone was made still deletes the copy-on-write cluster and its instance', async () => {
    const { cluster } = await makeAuroraSource(fx);
    fake.refuseTrigger = true;
    const r = await refresh(
      refreshConfig({
        source: cluster,
        apiEndpoint: fake.url,
        type: 'aurora-cluster',
        clone: { method: 'copy-on-write' },
      }),
    );
    expect(r.failure).toContain(ERR_NO_AVAILABLE_POOL);
    expect(r.statuses).toMatchObject({ 'create-clone': 'done', 'full-refresh': 'failed', 'delete-clone': 'done' });
    expect(log.mutating()).toEqual(expect.arrayContaining(['RestoreDBClusterToPointInTime', 'DeleteDBCluster']));
    expect(await taggedWith(fx, r.runId)).toEqual([]);
  });

  test('dry run: a clean copy-on-write plan passes and says what it would clone; a missing clone.kmsKeyId is a problem', async () => {
    const { cluster } = await makeAuroraSource(fx);
    const ok = await refresh(
      refreshConfig({
        source: cluster,
        apiEndpoint: fake.url,
        type: 'aurora-cluster',
        clone: { method: 'copy-on-write' },
        extra: { dryRun: true },
      }),
    );
    expect(ok.failure).toBeUndefined();
    expect(ok.result).toMatchObject({ outcome: 'dry-run-passed', snapshot: cluster });
    expect(ok.detail('find-snapshot')).toMatch(new RegExp(`^would clone ${cluster} copy-on-write`));

    const bad = await refresh(
      refreshConfig({
        source: cluster,
        apiEndpoint: fake.url,
        type: 'aurora-cluster',
        clone: { method: 'copy-on-write', kmsKeyId: 'alias/dbops-no-such-key' },
        extra: { dryRun: true },
      }),
    );
    expect(bad.failure).toBe(
      'dry run found 1 problem(s): (1) KMS key (clone.kmsKeyId) alias/dbops-no-such-key not found in us-east-1',
    );
    expect(log.mutating()).toEqual([]);
  });

  test('copy-on-write on an RDS instance source is refused before anything is read or made', async () => {
    const r = await refresh(
      refreshConfig({ source: 'prod-db', apiEndpoint: fake.url, clone: { method: 'copy-on-write' } }),
    );
    expect(r.failure).toContain('clone.method copy-on-write needs an Aurora source (source.type aurora-cluster)');
    expect(r.statuses.validate).toBe('failed');
    expect(log.calls).toEqual([]);
  });
});

describe('snapshots as people keep them', () => {
  /** A source and a manual snapshot in another account, shared with this one (restore attribute) unless `share` is false. */
  async function sharedSnapshot(share = true): Promise<{ source: string; arn: string; id: string }> {
    const source = uniqueName('other-prod').replace(/_/g, '-');
    await other().send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: source,
        Engine: 'postgres',
        DBInstanceClass: 'db.t3.medium',
        MasterUsername: 'postgres',
        MasterUserPassword: 'source-master-pw',
        AllocatedStorage: 20,
      }),
    );
    const id = `${source}-shared`;
    const s = await other().send(
      new CreateDBSnapshotCommand({ DBInstanceIdentifier: source, DBSnapshotIdentifier: id }),
    );
    if (share)
      await other().send(
        new ModifyDBSnapshotAttributeCommand({
          DBSnapshotIdentifier: id,
          AttributeName: 'restore',
          ValuesToAdd: ['123456789012'],
        }),
      );
    return { source, id, arn: s.DBSnapshot!.DBSnapshotArn! };
  }

  test('a snapshot shared from another account, by ARN: dry run passes, the run restores it and only reads it', async () => {
    const { source, id, arn } = await sharedSnapshot();
    expect(arn).toBe(`arn:aws:rds:us-east-1:${OTHER_ACCOUNT}:snapshot:${id}`);
    const config = refreshConfig({ source, apiEndpoint: fake.url, extra: {} });
    (config.source as Record<string, unknown>).snapshotIdentifier = arn;

    const dry = await refresh({ ...config, dryRun: true });
    expect(dry.failure).toBeUndefined();
    expect(dry.result).toMatchObject({ outcome: 'dry-run-passed', snapshot: arn });

    // Mocked (moto restores an ARN from the caller's own account): the restore of the other
    // account's snapshot makes the clone in moto as RDS would, with the identifier, class and tags asked for.
    const restored: Array<Record<string, unknown>> = [];
    workerRds().add(
      (next, ctx) => async (args) => {
        if (ctx.commandName !== 'RestoreDBInstanceFromDBSnapshotCommand' || args.input.DBSnapshotIdentifier !== arn)
          return next(args);
        restored.push(structuredClone(args.input));
        const made = await fx.rds('us-east-1').send(
          new CreateDBInstanceCommand({
            DBInstanceIdentifier: args.input.DBInstanceIdentifier as string,
            DBInstanceClass: args.input.DBInstanceClass as string,
            Engine: 'postgres',
            MasterUsername: 'postgres',
            MasterUserPassword: 'restored-from-snapshot',
            AllocatedStorage: 20,
            Tags: args.input.Tags as Tag[],
          }),
        );
        return { output: { DBInstance: made.DBInstance, $metadata: {} } };
      },
      { step: 'initialize', name: 'mock' },
    );
    const r = await refresh(config);
    expect(r.failure).toBeUndefined();
    expect(r.result).toMatchObject({ outcome: 'refreshed', snapshot: arn });
    expect(r.detail('find-snapshot')).toMatch(new RegExp(`^${arn.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(shared, `));
    expect(restored).toHaveLength(1);
    expect(runTag(restored[0])).toBe(r.runId);
    expect(await taggedWith(fx, r.runId)).toEqual([]);
    // Only read: no call that changes a snapshot, and the owner's snapshot and its sharing are as they were.
    expect(log.mutating().filter((c) => /Snapshot/.test(c) && !/^Restore/.test(c))).toEqual([]);
    const still = (await other().send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: id }))).DBSnapshots!;
    expect(still.map((s) => s.Status)).toEqual(['available']);
    const attrs = await other().send(new DescribeDBSnapshotAttributesCommand({ DBSnapshotIdentifier: id }));
    expect(attrs.DBSnapshotAttributesResult?.DBSnapshotAttributes).toEqual([
      { AttributeName: 'restore', AttributeValues: ['123456789012'] },
    ]);
  });

  test('dry run: an ARN not shared with this account, a disabled snapshot key and a missing option group are problems', async () => {
    const unshared = await sharedSnapshot(false);
    const config = refreshConfig({
      source: unshared.source,
      apiEndpoint: fake.url,
      clone: { optionGroup: 'dbops-no-such-option-group' },
      extra: { dryRun: true },
    });
    (config.source as Record<string, unknown>).snapshotIdentifier = unshared.arn;
    const r = await refresh(config);
    expect(r.failure).toBe(
      'dry run found 2 problem(s): ' +
        `(1) snapshot ${unshared.arn} does not exist or is not shared with this account (account ${OTHER_ACCOUNT} shares it); ` +
        '(2) option group dbops-no-such-option-group not found',
    );

    // An encrypted source whose key was disabled since: its newest snapshot cannot be restored.
    const kms = fx.kms('us-east-1');
    const key = (await kms.send(new CreateKeyCommand({ Description: 'dbops test' }))).KeyMetadata!;
    const source = uniqueName('enc-prod').replace(/_/g, '-');
    await fx.rds('us-east-1').send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: source,
        Engine: 'postgres',
        DBInstanceClass: 'db.t3.medium',
        MasterUsername: 'postgres',
        MasterUserPassword: 'source-master-pw',
        AllocatedStorage: 20,
        BackupRetentionPeriod: 7,
        StorageEncrypted: true,
        KmsKeyId: key.KeyId,
      }),
    );
    const group = await parameterGroup();
    const good = await refresh(
      refreshConfig({ source, apiEndpoint: fake.url, clone: { parameterGroup: group }, extra: { dryRun: true } }),
    );
    expect(good.failure).toBeUndefined();
    await kms.send(new DisableKeyCommand({ KeyId: key.KeyId }));
    const disabled = await refresh(
      refreshConfig({ source, apiEndpoint: fake.url, clone: { parameterGroup: group }, extra: { dryRun: true } }),
    );
    expect(disabled.failure).toMatch(
      new RegExp(
        `^dry run found 1 problem\\(s\\): \\(1\\) KMS key of snapshot rds:${source}-\\S+ ${key.KeyId} is Disabled, not Enabled$`,
      ),
    );
    expect(log.mutating()).toEqual([]);
  });
});

describe('the parameter group after the restore', () => {
  test('honoured by the restore (moto): confirmed in sync, nothing modified or rebooted', async () => {
    const source = await makeRdsSource(fx);
    const group = await parameterGroup();
    const r = await refresh(refreshConfig({ source, apiEndpoint: fake.url, clone: { parameterGroup: group } }));
    expect(r.failure).toBeUndefined();
    expect(r.detail('wait-clone')).toContain(`parameter group ${group} in sync`);
    expect(log.mutating().filter((c) => /^(ModifyDBInstance|RebootDBInstance)$/.test(c))).toEqual([]);
  });

  test('ignored by the restore, then pending-reboot (mocked: moto models neither): set once, rebooted once, then in sync', async () => {
    const source = await makeRdsSource(fx);
    const group = await parameterGroup();
    const seen = watch('ModifyDBInstance', 'RebootDBInstance');
    // Mocked: the restore leaves the clone on the default group, as RDS may; after the modify the
    // group is `pending-reboot` until the clone is rebooted, and the first look after the reboot
    // still shows it (available, pending-reboot): the next check must not reboot again.
    const pending = new Set<string>();
    const stale = new Set<string>();
    workerRds().add(
      (next, ctx) => async (args) => {
        const id = args.input.DBInstanceIdentifier as string | undefined;
        const clone = id?.startsWith(CLONE_PREFIX);
        if (ctx.commandName === 'RestoreDBInstanceFromDBSnapshotCommand') delete args.input.DBParameterGroupName;
        const out = await next(args);
        if (clone && ctx.commandName === 'ModifyDBInstanceCommand' && args.input.DBParameterGroupName) pending.add(id!);
        if (clone && ctx.commandName === 'RebootDBInstanceCommand' && pending.delete(id!)) stale.add(id!);
        if (ctx.commandName === 'DescribeDBInstancesCommand') {
          for (const i of (out.output.DBInstances ?? []) as Array<{
            DBInstanceIdentifier?: string;
            DBParameterGroups?: Array<{ ParameterApplyStatus?: string }>;
          }>) {
            const at = i.DBInstanceIdentifier ?? '';
            if (pending.has(at) || stale.delete(at))
              for (const g of i.DBParameterGroups ?? []) g.ParameterApplyStatus = 'pending-reboot';
          }
        }
        return out;
      },
      { step: 'initialize', name: 'mock' },
    );
    // A bounded wait: a clone never rebooted would fail here, not wait the default 2 h.
    const r = await refresh(
      refreshConfig({
        source,
        apiEndpoint: fake.url,
        clone: { parameterGroup: group },
        extra: { cloneTimeout: '30s' },
      }),
    );
    expect(r.failure).toBeUndefined();
    const clone = (r.result as RefreshResult).clone!;
    const groupSets = seen.inputs.filter((i) => i.command === 'ModifyDBInstance' && i.input.DBParameterGroupName);
    expect(groupSets.map((i) => i.input)).toEqual([
      { DBInstanceIdentifier: clone, DBParameterGroupName: group, ApplyImmediately: true },
    ]);
    expect(seen.inputs.filter((i) => i.command === 'RebootDBInstance').map((i) => i.input)).toEqual([
      { DBInstanceIdentifier: clone },
    ]);
    expect(r.detail('wait-clone')).toContain(`parameter group ${group} in sync`);
    expect(r.statuses['delete-clone']).toBe('done');
    expect(await taggedWith(fx, r.runId)).toEqual([]);
  });

  test('each check acts at most once and a repeated check changes nothing (moto, the activity itself)', async () => {
    const counted = countingAws();
    const rds = createRdsActivities({ aws: counted.aws });
    const source = await makeRdsSource(fx);
    const group = await parameterGroup();
    const plan = planRefresh(refreshConfig({ source, apiEndpoint: fake.url, clone: { parameterGroup: group } }));
    // A clone on the default group, as a restore that ignored the one asked for leaves it.
    const id = uniqueName('dblab-refresh-pg').replace(/_/g, '-');
    await fx.rds('us-east-1').send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: id,
        Engine: 'postgres',
        DBInstanceClass: 'db.t3.medium',
        MasterUsername: 'postgres',
        MasterUserPassword: 'clone-master-pw',
        AllocatedStorage: 20,
      }),
    );
    try {
      const first = await rds.rdsApplyParameterGroup(plan, id, POLL_ONCE).catch((e: unknown) => e);
      expect(first).toMatchObject({ type: 'StillWaiting' });
      expect((first as Error).message).toContain('setting the parameter group (was default.postgres');
      expect(counted.log.mutating()).toEqual(['ModifyDBInstance']);
      counted.log.reset();
      for (let i = 0; i < 2; i++)
        expect(await rds.rdsApplyParameterGroup(plan, id, POLL_ONCE)).toEqual({
          changed: false,
          detail: `parameter group ${group} in sync`,
        });
      expect(counted.log.mutating()).toEqual([]);
    } finally {
      await fx
        .rds('us-east-1')
        .send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: id, SkipFinalSnapshot: true }))
        .catch(() => undefined);
    }
  });
});
