/** What `dbops status` prints, the same whichever client read it (src/client/actions/runs.ts, src/client/light/status.ts). */
import type { Progress } from '../api';
import { progressText } from '../domain/progress-table';
import type { Io } from './follow';

export interface StatusView {
  workflowId: string;
  runId: string;
  type: string;
  /** The SDK's name for the run's status: RUNNING, COMPLETED, FAILED, CANCELLED, … */
  status: string;
  /** A failed run's failure message (failureMessage). */
  error?: string;
  progress: Progress;
}

export function writeStatus(io: Io, v: StatusView, output: string): void {
  const { workflowId, runId, type, status, error, progress } = v;
  if (output === 'json') {
    io.out.write(`${JSON.stringify({ workflowId, runId, type, status, error, progress }, null, 2)}\n`);
  } else {
    io.out.write(`${type} ${workflowId}: ${status}\n${progressText(progress)}\n`);
    if (error) io.out.write(`error: ${error}\n`);
  }
}
