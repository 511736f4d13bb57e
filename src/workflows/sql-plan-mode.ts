/**
 * Plan mode of the SQL workflows (issue 14), workflow code: the progress rows of a plan run and
 * the PlanOutdated refusal of an apply that carries a plan the live state no longer matches.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import {
  planDifference,
  planOutdatedMessage,
  stagePlanDetail,
  type ExpectPlan,
  type PlannedChange,
} from '../domain/plan';
import type { ProgressTracker } from './progress';

/** Each stage after the checks, marked done with what it would do ("would create …" or "no change"). */
export async function showPlan(
  progress: ProgressTracker<never> | ProgressTracker<unknown>,
  stages: readonly string[],
  changes: readonly PlannedChange[],
): Promise<void> {
  for (const stage of stages)
    await (progress as ProgressTracker<unknown>).run(
      stage,
      async () => undefined,
      () => ({ detail: stagePlanDetail(changes, stage) }),
    );
}

/** Refuses (PlanOutdated, non-retryable) an apply whose plan no longer matches the live changes; nothing is changed yet. */
export function refuseOutdatedPlan(expected: ExpectPlan, live: readonly PlannedChange[]): void {
  const diff = planDifference(expected, live);
  if (diff) throw ApplicationFailure.nonRetryable(planOutdatedMessage(expected, live, diff), 'PlanOutdated');
}
