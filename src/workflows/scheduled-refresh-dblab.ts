/**
 * scheduledRefreshDblab: what a Temporal schedule starts to refresh a DBLab. A schedule gives each
 * run its own workflow id (the schedule's id plus a timestamp), so a scheduled refreshDblab could
 * run beside a manual `dbops refresh` of the same DBLab. This run instead starts the refresh as a
 * child under the one id every refresh of that DBLab uses, refresh-dblab:<dblab host>: Temporal
 * allows one running workflow per id, so when any refresh of that DBLab is running the scheduled
 * one is skipped, and while the scheduled one runs a manual start is refused.
 *
 * Cancelling or terminating this run cancels the child, which still deletes its clone.
 */
import { ChildWorkflowCancellationType, ParentClosePolicy, patched, startChild } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { refreshTarget, refreshWorkflowId, type RefreshConfig, type RefreshPlan } from '../domain/dblab-config';
import { ProgressTracker } from './progress';
import { refreshDblab, validRefreshPlan, type RefreshResult } from './refresh-dblab';

/** Patch ids (CONTRIBUTING.md): each gates a change of what the workflow does. */
export const PATCHES = {
  /**
   * Region names are checked against the AWS SDK's list (us-eest-1 is refused when the run starts).
   * Before: any name of the region shape was accepted, and planning without the marker still does.
   */
  knownRegions: 'scheduled-refresh-dblab-known-regions',
} as const;

export const SCHEDULED_REFRESH_STAGES = ['validate', 'start-refresh', 'refresh'] as const;

export interface ScheduledRefreshResult extends RefreshResult {
  /** The workflow that did (or, when skipped, was doing) the refresh. */
  refreshWorkflowId: string;
}

export async function scheduledRefreshDblab(input: RefreshConfig): Promise<ScheduledRefreshResult> {
  const progress = new ProgressTracker<ScheduledRefreshResult>(
    'scheduledRefreshDblab',
    refreshTarget(input),
    SCHEDULED_REFRESH_STAGES,
  );
  try {
    const plan: RefreshPlan = await progress.run(
      'validate',
      async () => validRefreshPlan(input, patched(PATCHES.knownRegions)),
      (p) => ({
        detail: `${p.aurora ? 'Aurora cluster' : 'RDS instance'} ${p.config.source.identifier} → DBLab ${p.dblabHost}`,
      }),
    );
    const workflowId = refreshWorkflowId(plan);

    const child = await progress.run(
      'start-refresh',
      async () => {
        try {
          return await startChild(refreshDblab, {
            workflowId,
            args: [input],
            parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
            cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
            staticSummary: `scheduled refresh of DBLab ${plan.dblabHost} from ${plan.config.source.identifier}`,
          });
        } catch (err) {
          if (err instanceof WorkflowExecutionAlreadyStartedError) return undefined;
          throw err;
        }
      },
      (c) => ({
        skipped: c === undefined,
        detail: c ? `started ${workflowId}` : `another refresh of ${plan.dblabHost} is running (${workflowId})`,
      }),
    );
    if (!child) {
      progress.skip('refresh', 'another refresh is running');
      return progress.finish({
        outcome: 'skipped',
        dblabHost: plan.dblabHost,
        refreshWorkflowId: workflowId,
        reason: `another refresh of ${plan.dblabHost} is running (${workflowId})`,
      });
    }

    const result = await progress.run(
      'refresh',
      () => child.result(),
      (r) => ({
        skipped: r.outcome === 'skipped',
        detail:
          `${workflowId}: ${r.outcome}` +
          `${r.reason ? ` (${r.reason})` : ''}${r.clone ? `, clone ${r.clone} deleted` : ''}`,
      }),
    );
    return progress.finish({ ...result, refreshWorkflowId: workflowId });
  } catch (err) {
    return progress.fail(err);
  }
}
