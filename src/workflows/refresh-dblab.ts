/**
 * refreshDblab: snapshot → temporary RDS/Aurora clone → DBLab full refresh → delete the clone.
 * The clone's name is fixed by the run before it is created (so a crash cannot orphan it), and it
 * is deleted on every path: success, failure of any later stage, timeout, cancellation, and after
 * a worker crash (the run resumes and still deletes it). One refresh per DBLab instance at a time:
 * workflow id refresh-dblab:<dblab host>.
 */
import { ApplicationFailure, CancellationScope, isCancellation, patched, workflowInfo } from '@temporalio/workflow';
import {
  cloneName,
  cloneTags,
  planRefresh,
  refreshTarget,
  type RefreshConfig,
  type RefreshPlan,
} from '../domain/dblab-config';
import { errorText, ProgressTracker, validInput } from './progress';
import { checking, deleting, polled, quick, recorded, waiting } from './dblab-activities';
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
}

/** The plan, or the input's problems as a non-retryable InvalidInput failure. */
export function validRefreshPlan(input: unknown, knownRegions: boolean): RefreshPlan {
  return validInput(() => planRefresh(input), knownRegions);
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
        if (c.busy) problems.push(`DBLab is busy (${c.status}): a refresh now would be skipped`);
        await checking.dblabCheckConfigAccess.executeWithOptions({ summary: 'check DBLab accepts config changes' }, [
          plan,
        ]);
      } catch (err) {
        problems.push(errorText(err));
      }
    },
    () => outcomeOf(dblabProblems, 'reachable, token, config access checked'),
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
    (s) => outcomeOf(rdsProblems, s ? `would restore ${s.id}` : 'see problems'),
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

    const check = await progress.run(
      'check-dblab',
      () => quick.dblabCheck.executeWithOptions({ summary: `check DBLab at ${p.dblabHost}` }, [p]),
      (c) => ({
        skipped: c.busy,
        detail: c.busy
          ? `DBLab is already refreshing (${c.status})`
          : `DBLab ${c.version ?? ''} ${c.status}, last refresh ${c.lastRefresh ?? 'never'}`,
      }),
    );
    if (check.busy) {
      progress.skipAfter('check-dblab', 'DBLab is already refreshing');
      return progress.finish({
        outcome: 'skipped',
        dblabHost: p.dblabHost,
        reason: `DBLab is already refreshing (${check.status})`,
      });
    }

    const snapshot = await progress.run(
      'find-snapshot',
      () =>
        quick.rdsFindSnapshot.executeWithOptions({ summary: `find the snapshot of ${p.config.source.identifier}` }, [
          p,
        ]),
      (s) => ({
        detail: `${s.id} (${s.type}, ${s.createdAt})`,
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
            quick.rdsCreateClone.executeWithOptions({ summary: `restore ${name} from ${snapshot.id}` }, [
              p,
              { identifier: name, snapshot, tags },
            ]);
          // Not cancellable: a cancelled run waits until the restore has happened (or surely has not),
          // so delete-clone, which runs next, finds what it made.
          const r = settle ? await CancellationScope.nonCancellable(create) : await create();
          return { name, detail: r.detail };
        },
        (r) => ({ detail: r.detail }),
      )
      .then((r) => r.name);
    const wait = waiting(p);
    const endpoint = await progress.run(
      'wait-clone',
      () => {
        const summary = { summary: `wait for ${id} to be available` };
        if (!patched(PATCHES.waitCloneByRetry)) return wait.rdsWaitClone.executeWithOptions(summary, [p, id]);
        const w: Wait = { what: `clone ${id} to become available`, interval: p.pollInterval, timeout: p.cloneTimeout };
        progress.note('wait-clone', waitingNote(w));
        return waitFor(w, () => polled(w).rdsWaitClone.executeWithOptions(summary, [p, id, POLL_ONCE]));
      },
      (c) => ({
        detail: `${c.host}:${c.port}`,
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
    await progress.run(
      'configure-dblab',
      () => quick.dblabConfigure.executeWithOptions({ summary: 'point DBLab at the clone' }, [p, endpoint]),
      (r) => ({ detail: r.detail }),
    );
    const triggeredAt = new Date().toISOString();
    await progress.run(
      'full-refresh',
      () => quick.dblabFullRefresh.executeWithOptions({ summary: 'POST /full-refresh' }, [p, triggeredAt]),
      (r) => ({ detail: r.detail }),
    );
    const done = await progress.run(
      'wait-refresh',
      () => {
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
        return waitFor(w, () => polled(w).dblabWaitRefresh.executeWithOptions(summary, [p, triggeredAt, POLL_ONCE]));
      },
      (r) => ({
        detail:
          `finished (lastRefresh ${r.lastRefresh ?? '?'}, ` +
          `${r.polls} polls, ${r.transientErrors} transient errors)`,
      }),
    );
    result = {
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

  if (failure) {
    if (isCancellation(failure)) throw failure;
    return progress.fail(failure);
  }
  return progress.finish(result!);
}
