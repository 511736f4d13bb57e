/**
 * Cancellation-safe creates and their undo, one rule for every workflow that makes something:
 * a create whose run may be cancelled either completes (and is then undone) or is never sent.
 * - `create(call)`: refuses to start once the run is cancelled, then runs the call in a
 *   non-cancellable scope, so a cancellation that arrives while it is in flight lets it finish;
 * - `undo(call)`: runs compensation in a non-cancellable scope, so it runs although the run is
 *   being cancelled.
 * What to undo is found from history (a value recorded before the create, the run id in a tag or
 * mark), never from one attempt's `changed` flag. Workflow code only.
 */
import { CancellationScope, CancelledFailure } from '@temporalio/workflow';

export class CancelGuard {
  /** `enabled`: false keeps the old behaviour (plain calls), for runs started before the patch. */
  constructor(readonly enabled: boolean) {}

  /** Throws a cancellation once the run is cancelled, so nothing more is started. */
  stopIfCancelled(): void {
    if (this.enabled && CancellationScope.current().consideredCancelled)
      throw new CancelledFailure('cancelled before this step');
  }

  /** A create the caller's cancellation cannot abandon halfway. */
  async create<T>(call: () => Promise<T>): Promise<T> {
    if (!this.enabled) return call();
    this.stopIfCancelled();
    return CancellationScope.nonCancellable(call);
  }

  /** Compensation: runs to the end even when the run is being cancelled. */
  undo<T>(call: () => Promise<T>): Promise<T> {
    return CancellationScope.nonCancellable(call);
  }
}
