/**
 * refreshDblab: snapshot → temporary RDS/Aurora clone → DBLab full refresh → delete the clone.
 * The clone's name is fixed by the run before it is created (so a crash cannot orphan it), and it
 * is deleted on every path: success, failure of any later stage, timeout, cancellation, and after
 * a worker crash (the run resumes and still deletes it). One refresh per DBLab instance at a time:
 * workflow id refresh-dblab:<dblab host>.
 */
import {
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  metricMeter,
  patched,
  workflowInfo,
} from '@temporalio/workflow';
import type { SavedSource, WaitResult } from '../activities/dblab';
import {
  cloneName,
  cloneTags,
  planRefresh,
  refreshTarget,
  writesPassword,
  type RefreshConfig,
  type RefreshPlan,
} from '../domain/dblab-config';
import { cloneLifetimeSeconds, REFRESH_METRICS, stageSeconds } from '../domain/refresh-metrics';
import { errorText, ProgressTracker, realFailure, validInput } from './progress';
import { CancelGuard } from './undo';
import { checking, deleting, polled, quick, recorded, restoring as restoringDblab, waiting } from './dblab-activities';
import { POLL_ONCE, waitFor, waitingNote, type Wait } from './polling';

/**
 * Behaviour changes since release 0.1.0 (the landed code of commit 5fc1d90), each behind a patch
 * so that runs it started replay unchanged and send what they recorded
 * (test/fixtures/histories/0.1.0, CONTRIBUTING.md). Each is asked where its behaviour starts, so a
 * run in flight at an upgrade takes every change it has not yet passed. The old branches are
 * exactly what 0.1.0 sent.
 */
export const PATCHES = {
  /**
   * The clone's name (`cloneName`: a hash of the run id, unique per run) comes from a local
   * activity, recorded in history, so a later change of the rule cannot rename the clone of a run
   * in flight. 0.1.0: the same rule, computed in workflow code.
   */
  nameFromHistory: 'refresh-dblab-clone-name-from-history',
  /** The create is never abandoned: a cancellation waits for it to settle, then the clone is deleted. */
  createSettlesBeforeCleanup: 'refresh-dblab-create-clone-settles-before-cleanup',
  /**
   * delete-clone deletes only what carries this run's dbops:run-id tag: the clone of that name if
   * it is this run's, and whatever else is tagged with the run, whatever its name. 0.1.0: the
   * clone of that name, when it is this run's.
   */
  deleteByRunTag: 'refresh-dblab-delete-clone-by-run-tag',
  /**
   * wait-clone and wait-refresh poll by activity retry (./polling.ts): one check per attempt, no
   * worker slot held between checks. Before: one activity polling in place, heartbeating.
   */
  waitCloneByRetry: 'refresh-dblab-wait-clone-by-retry',
  waitRefreshByRetry: 'refresh-dblab-wait-refresh-by-retry',
  /**
   * check-dblab ends the run as skipped when DBLab would refuse a full refresh (a refresh under
   * way, retrieval pending, or every pool holding clones), before any AWS call; the dry run reports
   * it as a problem. Before: only a refresh under way (or pending) skipped the run.
   */
  poolPrecheck: 'refresh-dblab-pool-precheck',
  /**
   * configure-dblab first reads DBLab's source settings (GET /admin/config, non-secret fields) and
   * the configure cannot be abandoned halfway by a cancellation; restore-dblab puts them back on
   * every path after it (success, failure, cancellation). Before: DBLab kept naming the deleted
   * clone, with the password configure-dblab wrote.
   */
  restoreSource: 'refresh-dblab-restore-source',
  /** A refresh DBLab skipped after the trigger (a refresh_skipped alert) ends the run as skipped, not failed. */
  skippedByDblab: 'refresh-dblab-skipped-alert-ends-skipped',
  /**
   * The result carries seconds per stage and the clone's lifetime (workflow time), and the run
   * records them as worker metrics (dbops_refresh_stage_seconds{stage}, …; src/domain/refresh-metrics.ts).
   */
  stageMetrics: 'refresh-dblab-stage-metrics',
  /**
   * wait-clone, once the clone is available, makes sure it runs with clone.parameterGroup: set it
   * when the restore ignored it, reboot when it is `pending-reboot` (rdsApplyParameterGroup,
   * polled by retry). Before: the clone as the restore left it.
   */
  applyParameterGroup: 'refresh-dblab-apply-parameter-group',
  /**
   * Region names are checked against the AWS SDK's list (us-eest-1 is refused when the run starts).
   * Before: any name of the region shape was accepted, and planning without the marker still does.
   */
  knownRegions: 'refresh-dblab-known-regions',
  /**
   * A dry-run check that found problems ends its stage failed (✘ in the progress table) and
   * upserts DbopsStage "<stage>:failed". Before: such a stage showed done, and no upsert was sent.
   */
  dryRunFailedStages: 'refresh-dblab-dry-run-failed-stages',
} as const;

export const REFRESH_STAGES = [
  'validate',
  'check-dblab',
  'find-snapshot',
  'create-clone',
  'wait-clone',
  'prepare-clone',
  'configure-dblab',
  'full-refresh',
  'wait-refresh',
  'restore-dblab',
  'delete-clone',
] as const;

export interface RefreshResult {
  outcome: 'refreshed' | 'skipped' | 'dry-run-passed';
  dblabHost: string;
  reason?: string;
  snapshot?: string;
  clone?: string;
  lastRefresh?: string;
  polls?: number;
  transientErrors?: number;
  /** Seconds each stage took, from the run's own clock (runs from release 0.4). */
  stageSeconds?: Record<string, number>;
  /** From the start of create-clone to the end of delete-clone, when the clone was deleted. */
  cloneLifetimeSeconds?: number;
}

/** DBLab would refuse a refresh now: a refresh under way (`busy`), or, in runs with the pool pre-check, any reason. */
function refusal(c: { busy: boolean; status: string; blocked?: string }): string | undefined {
  if (patched(PATCHES.poolPrecheck)) return c.blocked ?? (c.busy ? `DBLab is busy (${c.status})` : undefined);
  return c.busy ? `DBLab is already refreshing (${c.status})` : undefined;
}

/** find-snapshot's result with clone.method copy-on-write: the live cluster, not a snapshot. */
const COPY_ON_WRITE = 'copy-on-write';

/** "restore <snapshot>", or for a copy-on-write clone "clone <cluster> copy-on-write (latest restorable time …)". */
function snapshotText(s: { id: string; type: string; createdAt: string }, verb: string): string {
  return s.type === COPY_ON_WRITE
    ? `clone ${s.id} copy-on-write (latest restorable time ${s.createdAt})`
    : `${verb} ${s.id}`;
}

/** The plan, or the input's problems as a non-retryable InvalidInput failure. */
export function validRefreshPlan(input: unknown, knownRegions: boolean): RefreshPlan {
  return validInput(() => planRefresh(input), knownRegions);
}

/** DBLab's reason when the wait ended on a refresh_skipped alert, in runs where that ends the run skipped. */
function skipReason(err: unknown, skipEnds: boolean): string | undefined {
  const real = realFailure(err);
  const skipped = real instanceof ApplicationFailure && real.type === 'DblabRefreshSkipped';
  return skipped && skipEnds ? real.message : undefined;
}

/** Dry run: every check, nothing created; all problems in one error. */
async function dryRun(progress: ProgressTracker<RefreshResult>, plan: RefreshPlan): Promise<RefreshResult> {
  const problems: string[] = [];
  const upserted = patched(PATCHES.dryRunFailedStages);
  /** A stage that added problems is shown failed, with them (the progress state; no command without the patch). */
  const outcomeOf = (before: number, detail: string) => {
    const mine = problems.slice(before);
    return mine.length ? { detail, problem: mine.join('; '), problemUpserted: upserted } : { detail };
  };
  const dblabProblems = problems.length;
  await progress.run(
    'check-dblab',
    async () => {
      try {
        const c = await checking.dblabCheck.executeWithOptions({ summary: `check DBLab at ${plan.dblabHost}` }, [plan]);
        const why = refusal(c);
        if (why) problems.push(`${why}: a refresh now would be skipped`);
        await checking.dblabCheckConfigAccess.executeWithOptions({ summary: 'check DBLab accepts config changes' }, [
          plan,
        ]);
      } catch (err) {
        problems.push(errorText(err));
      }
    },
    () => outcomeOf(dblabProblems, 'reachable, token, free pool, config access checked'),
  );
  const rdsProblems = problems.length;
  const snapshot = await progress.run(
    'find-snapshot',
    async () => {
      const found = await checking.rdsValidate.executeWithOptions(
        { summary: 'check source, snapshot, subnet/security/parameter groups' },
        [plan],
      );
      problems.push(...found);
      return found.length
        ? undefined
        : checking.rdsFindSnapshot
            .executeWithOptions({ summary: 'find the snapshot' }, [plan])
            .catch((e) => void problems.push(errorText(e)));
    },
    (s) => outcomeOf(rdsProblems, s ? `would ${snapshotText(s, 'restore')}` : 'see problems'),
  );
  progress.skipAfter('find-snapshot', 'dry run');
  if (problems.length) {
    throw ApplicationFailure.nonRetryable(
      `dry run found ${problems.length} problem(s): ${problems.map((p, i) => `(${i + 1}) ${p}`).join('; ')}`,
      'DryRunProblems',
      problems,
    );
  }
  return { outcome: 'dry-run-passed', dblabHost: plan.dblabHost, snapshot: snapshot?.id };
}

export async function refreshDblab(input: RefreshConfig): Promise<RefreshResult> {
  const progress = new ProgressTracker<RefreshResult>('refreshDblab', refreshTarget(input), REFRESH_STAGES);
  const info = workflowInfo();
  let plan: RefreshPlan | undefined;
  let clone: string | undefined;
  let result: RefreshResult | undefined;
  let failure: unknown;
  // restore-dblab (PATCHES.restoreSource): what DBLab had, and whether configure-dblab was sent.
  let restoring: boolean | undefined;
  let saved: SavedSource | undefined;
  let reconfigured = false;
  const guard = new CancelGuard(true);
  // The operator's name for the DBLab (check-dblab's result): the metrics' label, never a name from the input.
  let dblabName: string | undefined;
  /** The result with its numbers (PATCHES.stageMetrics), recorded as metrics too. */
  const finish = (r: RefreshResult): RefreshResult => progress.finish(observe(progress, plan, dblabName, r.outcome, r));
  try {
    plan = await progress.run(
      'validate',
      async () => validRefreshPlan(input, patched(PATCHES.knownRegions)),
      (p) => ({
        detail:
          `${p.aurora ? 'Aurora cluster' : 'RDS instance'} ${p.config.source.identifier} → ` +
          `DBLab ${p.dblabHost}${p.dryRun ? ' (dry run)' : ''}`,
      }),
    );
    const p = plan;
    if (p.dryRun) return progress.finish(await dryRun(progress, p));

    let refused: string | undefined;
    await progress.run(
      'check-dblab',
      async () => {
        const c = await quick.dblabCheck.executeWithOptions({ summary: `check DBLab at ${p.dblabHost}` }, [p]);
        refused = refusal(c);
        dblabName = c.dblab;
        return c;
      },
      (c) => ({
        skipped: refused !== undefined,
        detail:
          refused ??
          `DBLab ${c.version ?? ''} ${c.status}, last refresh ${c.lastRefresh ?? 'never'}` +
            (c.pools ? `, pools: ${c.pools}` : ''),
      }),
    );
    if (refused !== undefined) {
      progress.skipAfter(
        'check-dblab',
        refused.startsWith('DBLab is already') ? 'DBLab is already refreshing' : refused,
      );
      return finish({ outcome: 'skipped', dblabHost: p.dblabHost, reason: refused });
    }

    const snapshot = await progress.run(
      'find-snapshot',
      () =>
        quick.rdsFindSnapshot.executeWithOptions({ summary: `find the snapshot of ${p.config.source.identifier}` }, [
          p,
        ]),
      (s) => ({
        detail: s.type === COPY_ON_WRITE ? snapshotText(s, 'clone') : `${s.id} (${s.type}, ${s.createdAt})`,
      }),
    );

    const tags = cloneTags({
      workflowId: info.workflowId,
      runId: info.runId,
      createdAt: new Date(),
      maxAgeMs: p.maxAgeMs,
      extra: p.config.clone.tags,
    });
    const id = await progress
      .run(
        'create-clone',
        async () => {
          // Both patch decisions before the local activity is awaited: a decision taken after it would
          // depend on where the local activity's marker lands in history.
          const named = patched(PATCHES.nameFromHistory);
          const settle = patched(PATCHES.createSettlesBeforeCleanup);
          // The name is fixed here, in history, before anything exists: the clone can always be found.
          clone = named
            ? await recorded.refreshCloneName({ startedAt: info.startTime.toISOString(), runId: info.runId })
            : cloneName(info.startTime, info.runId);
          const name = clone;
          const create = () =>
            quick.rdsCreateClone.executeWithOptions(
              {
                summary:
                  snapshot.type === COPY_ON_WRITE
                    ? `${snapshotText(snapshot, 'clone')} as ${name}`
                    : `restore ${name} from ${snapshot.id}`,
              },
              [p, { identifier: name, snapshot, tags }],
            );
          // Not cancellable: a cancelled run waits until the restore has happened (or surely has not),
          // so delete-clone, which runs next, finds what it made.
          const r = settle ? await CancellationScope.nonCancellable(create) : await create();
          return { name, detail: r.detail };
        },
        (r) => ({ detail: r.detail }),
      )
      .then((r) => r.name);
    const wait = waiting(p);
    let applied: string | undefined;
    const endpoint = await progress.run(
      'wait-clone',
      async () => {
        const available = await (() => {
          const summary = { summary: `wait for ${id} to be available` };
          if (!patched(PATCHES.waitCloneByRetry)) return wait.rdsWaitClone.executeWithOptions(summary, [p, id]);
          const w: Wait = {
            what: `clone ${id} to become available`,
            interval: p.pollInterval,
            timeout: p.cloneTimeout,
          };
          progress.note('wait-clone', waitingNote(w));
          return waitFor(w, () => polled(w).rdsWaitClone.executeWithOptions(summary, [p, id, POLL_ONCE]));
        })();
        // Asked whether or not a group is configured: every new run records the marker.
        const apply = patched(PATCHES.applyParameterGroup);
        const group = p.config.clone.parameterGroup;
        if (apply && group) {
          const w: Wait = {
            what: `parameter group ${group} to be applied to ${id}`,
            interval: p.pollInterval,
            timeout: p.cloneTimeout,
          };
          progress.note('wait-clone', waitingNote(w));
          const summary = { summary: `apply parameter group ${group} to ${id}` };
          applied = (
            await waitFor(w, () => polled(w).rdsApplyParameterGroup.executeWithOptions(summary, [p, id, POLL_ONCE]))
          ).detail;
        }
        return available;
      },
      (c) => ({
        detail: `${c.host}:${c.port}${applied ? `, ${applied}` : ''}`,
      }),
    );
    if (p.config.clone.prepare) {
      await progress.run(
        'prepare-clone',
        () =>
          quick.prepareClone.executeWithOptions(
            { summary: `reset master password, create ${p.config.clone.prepare!.dblabUser} on the clone` },
            [p, endpoint],
          ),
        (r) => ({ detail: r.detail }),
      );
    } else progress.skip('prepare-clone', 'not configured');
    restoring = patched(PATCHES.restoreSource);
    await progress.run(
      'configure-dblab',
      async () => {
        const configure = () =>
          quick.dblabConfigure.executeWithOptions({ summary: 'point DBLab at the clone' }, [p, endpoint]);
        if (!restoring) return configure();
        saved = await quick.dblabReadSource.executeWithOptions(
          { summary: 'read the source DBLab has now (GET /admin/config)' },
          [p],
        );
        guard.stopIfCancelled();
        // From here restore-dblab runs whatever happens: a configure whose reply was lost may have applied.
        reconfigured = true;
        return guard.create(configure);
      },
      (r) => ({ detail: saved?.note ? `${r.detail}; ${saved.note}` : r.detail }),
    );
    const triggeredAt = new Date().toISOString();
    await progress.run(
      'full-refresh',
      () => quick.dblabFullRefresh.executeWithOptions({ summary: 'POST /full-refresh' }, [p, triggeredAt]),
      (r) => ({ detail: r.detail }),
    );
    let skippedBy: string | undefined;
    const done = await progress.run(
      'wait-refresh',
      async () => {
        const summary = { summary: `wait for the refresh (up to ${p.timeout})` };
        if (!patched(PATCHES.waitRefreshByRetry))
          return wait.dblabWaitRefresh.executeWithOptions(summary, [p, triggeredAt]);
        const w: Wait = {
          what: `DBLab at ${p.dblabHost} to finish the full refresh`,
          interval: p.pollInterval,
          timeout: p.timeout,
          // A GET is tried 3 times (src/activities/http.ts); a check whose worker died is retried after this.
          checkTimeout: 4 * p.requestTimeoutMs + 10_000,
        };
        progress.note('wait-refresh', waitingNote(w));
        // Asked before the wait, skipped or not: every new run records the marker.
        const skipEnds = patched(PATCHES.skippedByDblab);
        return waitFor(w, () =>
          polled(w).dblabWaitRefresh.executeWithOptions(summary, [p, triggeredAt, POLL_ONCE]),
        ).catch((err: unknown): WaitResult => {
          skippedBy = skipReason(err, skipEnds);
          if (skippedBy === undefined) throw err;
          return { polls: 0, transientErrors: 0 };
        });
      },
      (r) =>
        skippedBy !== undefined
          ? { skipped: true, detail: skippedBy }
          : {
              detail:
                `finished (lastRefresh ${r.lastRefresh ?? '?'}, ` +
                `${r.polls} polls, ${r.transientErrors} transient errors)`,
            },
    );
    result =
      skippedBy !== undefined
        ? { outcome: 'skipped', dblabHost: p.dblabHost, reason: skippedBy, snapshot: snapshot.id, clone: id }
        : {
            outcome: 'refreshed',
            dblabHost: p.dblabHost,
            snapshot: snapshot.id,
            clone: id,
            lastRefresh: done.lastRefresh,
            polls: done.polls,
            transientErrors: done.transientErrors,
          };
  } catch (err) {
    failure = err;
  }

  if (reconfigured && plan && clone && saved) {
    // Always after configure-dblab was sent, even when the run is being cancelled; before the
    // clone goes, so DBLab never names a clone that no longer exists.
    const p = plan;
    const id = clone;
    const before = saved;
    try {
      await guard.undo(() =>
        progress.run(
          'restore-dblab',
          () =>
            restoringDblab.dblabRestoreSource
              .executeWithOptions({ summary: `point DBLab back at its source, off ${id}` }, [p, before, id])
              .catch((err: unknown) => {
                if (isCancellation(err)) throw err;
                const holds = writesPassword(p) ? ' and holds the password configure-dblab wrote' : '';
                throw ApplicationFailure.nonRetryable(
                  `DBLab still names the deleted clone ${id}${holds} (set its source in DBLab): ${errorText(err)}`,
                  'DblabNotRestored',
                );
              }),
          (r) => ({ detail: r.detail }),
        ),
      );
    } catch (err) {
      failure ??= err;
    }
  } else if (restoring === false) progress.skip('restore-dblab', 'not in runs started before it');
  else if (!failure || restoring) progress.skip('restore-dblab', 'DBLab was not reconfigured');

  if (clone && plan) {
    // Always, even when the run is being cancelled.
    const p = plan;
    const id = clone;
    try {
      await CancellationScope.nonCancellable(() =>
        progress.run(
          'delete-clone',
          () =>
            deleting.rdsDeleteClone.executeWithOptions(
              { summary: `delete ${id}` },
              patched(PATCHES.deleteByRunTag)
                ? [p, id, { runId: info.runId, byTag: true }]
                : [p, id, { runId: info.runId }],
            ),
          (r) => ({ detail: r.detail }),
        ),
      );
    } catch (err) {
      failure ??= err;
    }
  } else if (!failure) {
    progress.skip('delete-clone', 'no clone was made');
  }

  if (restoring && !failure) {
    // A cancellation that arrived during restore-dblab or delete-clone still ends the run cancelled.
    try {
      guard.stopIfCancelled();
    } catch (err) {
      failure = err;
    }
  }
  if (failure) {
    if (plan && !plan.dryRun) observe(progress, plan, dblabName, isCancellation(failure) ? 'cancelled' : 'failed');
    if (isCancellation(failure)) throw failure;
    return progress.fail(failure);
  }
  return finish(result!);
}

/** The metrics' label of a run whose DBLab was never resolved to a configured entry (one series for all of them). */
export const UNBOUND_DBLAB = 'unbound';

/**
 * PATCHES.stageMetrics: the run's numbers, from its stage timestamps (workflow time), into the
 * result and the worker's metrics. Workflow metrics are not emitted while a run replays, so a
 * replayed or resumed run records each number once. Labelled with the operator's name for the
 * DBLab (`dblabName`, from check-dblab), or UNBOUND_DBLAB: a name from the input would let anyone
 * who may start a run add series to the worker's registry.
 */
function observe(
  progress: ProgressTracker<RefreshResult>,
  plan: RefreshPlan | undefined,
  dblabName: string | undefined,
  outcome: string,
  result?: RefreshResult,
): RefreshResult {
  if (!plan || !patched(PATCHES.stageMetrics)) return result!;
  const stages = progress.snapshot().stages;
  const perStage = stageSeconds(stages);
  const lifetime = cloneLifetimeSeconds(stages);
  const meter = metricMeter.withTags({ dblab: dblabName ?? UNBOUND_DBLAB });
  const histogram = meter.createHistogram(
    REFRESH_METRICS.stageSeconds,
    'float',
    's',
    'Seconds each refreshDblab stage took',
  );
  for (const [stage, s] of Object.entries(perStage)) histogram.record(s, { stage });
  if (lifetime !== undefined)
    meter
      .createHistogram(REFRESH_METRICS.cloneLifetimeSeconds, 'float', 's', 'Seconds a refresh clone existed')
      .record(lifetime);
  meter.createCounter(REFRESH_METRICS.runs, '1', 'refreshDblab runs by outcome').add(1, { outcome });
  if (outcome === 'refreshed')
    meter
      .createGauge(REFRESH_METRICS.lastSuccess, 'float', 's', 'When this DBLab last finished a refresh (Unix seconds)')
      .set(Date.now() / 1000);
  return result
    ? { ...result, stageSeconds: perStage, ...(lifetime !== undefined ? { cloneLifetimeSeconds: lifetime } : {}) }
    : result!;
}
