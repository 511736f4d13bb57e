/** Asking Temporal about runs (the janitor: is the workflow that owns a clone still running?). */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';

export function createTemporalRunActivities(deps: { client?: Client }) {
  return {
    /** RUNNING, COMPLETED, …, or NOT_FOUND. */
    async workflowRunStatus(workflowId: string, runId?: string): Promise<string> {
      if (!deps.client) throw new Error('this worker has no Temporal client for activities');
      // A tag that is not a run id (edited by hand) must not stop the janitor: ask about the workflow id.
      const run = runId && /^[0-9a-f-]{36}$/i.test(runId) ? runId : undefined;
      try {
        return (await deps.client.workflow.getHandle(workflowId, run).describe()).status.name;
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return 'NOT_FOUND';
        throw err;
      }
    },
  };
}
