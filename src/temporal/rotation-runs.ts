/**
 * Which credential rotations of a tenant are running, for the rule "one rotation of a tenant at a
 * time" (the rotation's check activity and `dbops db rotate`). A scheduled run's workflow id is the
 * schedule's id plus its time, so a manual run and a scheduled one never share an id and Temporal
 * alone would let both run: they are found by the DbopsTarget search attribute every rotation sets,
 * and each candidate is confirmed with a describe (visibility may lag; describe does not).
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { SA_TARGET } from '../api';
import { sqlTarget, type SqlPlan } from '../domain/provision';

export interface RotationRun {
  workflowId: string;
  runId: string;
  startTime: Date;
}

/** Running rotations of the plan's tenant other than `self`, the earliest started first. */
export async function runningRotations(
  client: Client,
  plan: Pick<SqlPlan, 'engine' | 'server' | 'database'>,
  self?: { workflowId: string; runId: string },
): Promise<RotationRun[]> {
  const target = sqlTarget(plan);
  const query = `WorkflowType = "rotateDatabaseCredentials" AND ExecutionStatus = "Running" AND ${SA_TARGET.name} = "${target}"`;
  const found: RotationRun[] = [];
  for await (const wf of client.workflow.list({ query, pageSize: 20 })) {
    if (self && wf.workflowId === self.workflowId && wf.runId === self.runId) continue;
    try {
      const d = await client.workflow.getHandle(wf.workflowId, wf.runId).describe();
      if (d.status.name === 'RUNNING') found.push({ workflowId: d.workflowId, runId: d.runId, startTime: d.startTime });
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
    if (found.length >= 20) break;
  }
  return found.sort((a, b) => a.startTime.getTime() - b.startTime.getTime() || a.runId.localeCompare(b.runId));
}

/** How a refusal names the run that holds the tenant. */
export function describeRotationRun(r: RotationRun): string {
  return `workflow ${r.workflowId} (run ${r.runId}, started ${r.startTime.toISOString()})`;
}
