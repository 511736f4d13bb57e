/**
 * The one progress convention every workflow uses: the `progress` query, the Web UI's current
 * details (a markdown stage table) and the Dbops* search attributes, all kept in step with each
 * stage change. Workflow code only: deterministic, no I/O.
 */
import {
  ApplicationFailure,
  AsyncLocalStorage,
  defineQuery,
  isCancellation,
  patched,
  TemporalFailure,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { PROGRESS_QUERY, SA_OPERATION, SA_STAGE, SA_TARGET, type Progress, type StageProgress } from '../api';
import { InvalidInput } from '../domain/errors';
import { anyRegionName } from '../domain/limits';
import { boundedTarget, progressMarkdown } from '../domain/progress-table';
import type { StepResult } from '../activities/types';

export const progressQuery = defineQuery<Progress>(PROGRESS_QUERY);

/**
 * The stage whose body is running, for the traces' workflow interceptor
 * (src/workflows/tracing-interceptors.ts), which names it on the activities the stage schedules.
 * Sends nothing and changes no command. Kept only once that interceptor asks (trackStages(), in
 * the traced bundle): a run of the plain bundle never enters an AsyncLocalStorage, which would
 * give every promise of the run an async context to keep (bench/RESULTS.md, memory).
 */
let stages: InstanceType<typeof AsyncLocalStorage<string>> | undefined;

/** The traced bundle's interceptor: keep the current stage from now on (this run's modules). */
export function trackStages(): void {
  stages ??= new AsyncLocalStorage<string>();
}

/** The stage whose body is running, when stages are tracked. */
export function currentStageName(): string | undefined {
  return stages?.getStore();
}

function inStage<T>(name: string, body: () => Promise<T>): Promise<T> {
  return stages ? stages.run(name, body) : body();
}

/** What a stage body may say about how it went, besides its return value. */
export interface StageOutcome {
  /** The stage found its work already done and changed nothing. */
  skipped?: boolean;
  /** One line for people: what was done or found. */
  detail?: string;
  /**
   * The stage ran to its end but found a problem (a dry run's check): it is shown failed (✘) with
   * this text, and the run goes on (the caller decides how it ends).
   */
  problem?: string;
  /**
   * With `problem`: DbopsStage becomes "<stage>:failed", as for a stage that threw. An upsert the
   * run did not send before, so a workflow sets it only behind a patch.
   */
  problemUpserted?: boolean;
}

function now(): string {
  // Date in workflow code is the deterministic workflow clock.
  return new Date().toISOString();
}

/** The failure an activity (or child) failure wraps, the real one; else the error itself. */
export function realFailure(err: unknown): unknown {
  const cause = err instanceof Error ? (err as { cause?: unknown }).cause : undefined;
  return cause instanceof Error ? cause : err;
}

/** An error's message for people: the real failure's. */
export function errorText(err: unknown): string {
  const real = realFailure(err);
  if (real instanceof Error && real.message) return real.message;
  return err instanceof Error ? err.message : String(err);
}

/** A stage's outcome from an activity's `{ changed, detail }`: skipped when it changed nothing. */
export const stepOutcome = (r: StepResult): StageOutcome => ({
  skipped: !r.changed,
  detail: r.detail,
});

/** The same for a result whose stage detail is another field: `changedOr((r) => r.vpcId)`. */
export const changedOr =
  <R extends { changed: boolean }>(detail: (r: R) => string) =>
  (r: R): StageOutcome => ({ skipped: !r.changed, detail: detail(r) });

/**
 * Runs the domain's planning; its InvalidInput becomes the run's non-retryable `InvalidInput` failure.
 * `knownRegions` is the workflow's `…-known-regions` patch: false (a run from before it) plans as
 * then, accepting any region name of the right shape.
 */
export function validInput<T>(plan: () => T, knownRegions = true): T {
  try {
    return knownRegions ? plan() : anyRegionName(plan);
  } catch (err) {
    if (err instanceof InvalidInput) throw ApplicationFailure.nonRetryable(err.message, 'InvalidInput');
    throw err;
  }
}

/** What a combined activity may add to its steps' results: how long each step took, by stage. */
export interface StepTimes {
  stepMs?: Record<string, number>;
}

/** The `{ stage, done, stepMs }` details of a combined activity's failure, when they name one of `stages`. */
function stepsFailure(
  d: unknown,
  stages: readonly string[],
): { stage: string; done: Record<string, unknown>; stepMs?: Record<string, number> } | undefined {
  const x = d as { stage?: unknown; done?: unknown; stepMs?: unknown } | undefined;
  if (!x || typeof x.stage !== 'string' || !stages.includes(x.stage)) return undefined;
  return {
    stage: x.stage,
    done: x.done && typeof x.done === 'object' ? (x.done as Record<string, unknown>) : {},
    ...(x.stepMs && typeof x.stepMs === 'object' ? { stepMs: x.stepMs as Record<string, number> } : {}),
  };
}

/** Failure types a stage failure keeps as the run's failure type (instead of StageFailed). */
const KEPT_FAILURE_TYPES = ['InvalidInput', 'PlanOutdated', 'PlanBlocked'];

export class StageFailed extends Error {
  constructor(
    readonly stage: string,
    readonly reason: string,
    /** The run's failure type: StageFailed, or the stage's own when it is one of KEPT_FAILURE_TYPES. */
    readonly failureType = 'StageFailed',
  ) {
    super(`stage "${stage}" failed: ${reason}`);
  }
}

/**
 * DbopsStage is upserted only when its value changes (a stage's start and end used to upsert the
 * same value twice: one history event each). Runs without the marker keep upserting every time.
 */
export const UPSERT_ON_CHANGE = 'progress-search-attributes-on-change';

export class ProgressTracker<R = unknown> {
  private readonly state: Progress<R>;
  /** The DbopsStage value last upserted; undefined for runs that upsert on every change. */
  private readonly upserted?: { stage?: string };

  constructor(operation: string, rawTarget: string, stageNames: readonly string[]) {
    // Computed from the input before validation: bounded, so an absurd input cannot make the
    // server refuse the search attribute (and terminate the run) before validation fails it.
    const target = boundedTarget(rawTarget);
    this.state = {
      operation,
      target,
      stages: stageNames.map((name) => ({ name, status: 'pending' })),
    };
    setHandler(progressQuery, () => this.snapshot());
    if (patched(UPSERT_ON_CHANGE)) this.upserted = {};
    upsertSearchAttributes([
      { key: SA_OPERATION, value: operation },
      { key: SA_TARGET, value: target },
    ]);
    this.publish(undefined);
  }

  snapshot(): Progress<R> {
    return JSON.parse(JSON.stringify(this.state)) as Progress<R>;
  }

  private stage(name: string): StageProgress {
    const s = this.state.stages.find((x) => x.name === name);
    if (!s) throw new Error(`unknown stage ${name}`); // programming error: fails the task, not the run
    return s;
  }

  private publish(stageLabel: string | undefined): void {
    setCurrentDetails(progressMarkdown(this.state));
    if (stageLabel === undefined || this.upserted?.stage === stageLabel) return;
    if (this.upserted) this.upserted.stage = stageLabel;
    upsertSearchAttributes([{ key: SA_STAGE, value: stageLabel }]);
  }

  /** Records a detail line on a stage without changing its status (e.g. "waiting for pcx-…"). */
  note(name: string, detail: string): void {
    this.stage(name).detail = detail;
    this.publish(undefined);
  }

  /** Marks every stage after `stage` skipped, by name (a stage added later is skipped too). */
  skipAfter(stage: string, detail: string): void {
    const i = this.state.stages.findIndex((x) => x.name === stage);
    if (i < 0) throw new Error(`unknown stage ${stage}`);
    for (const s of this.state.stages.slice(i + 1)) this.skip(s.name, detail);
  }

  /** Marks a stage skipped without running it (not selected, or nothing to do). */
  skip(name: string, detail: string): void {
    const s = this.stage(name);
    s.status = 'skipped';
    s.detail = detail;
    s.finishedAt = now();
    this.publish(undefined);
  }

  /**
   * Runs one stage: marks it running, then done (or skipped, when the body's outcome says so),
   * or failed. A failure is rethrown as a StageFailed naming the stage.
   */
  async run<T>(name: string, body: () => Promise<T>, outcome?: (value: T) => StageOutcome): Promise<T> {
    const s = this.stage(name);
    s.status = 'running';
    s.startedAt = now();
    s.finishedAt = undefined;
    s.error = undefined;
    this.publish(name);
    try {
      const value = await inStage(name, body);
      this.settle(name, outcome?.(value) ?? {});
      return value;
    } catch (err) {
      throw this.failed(name, err);
    }
  }

  /** Sets a stage's outcome from its body's value (done, skipped, or failed with a problem) and publishes it. */
  private settle(name: string, o: StageOutcome, publish = true, finishedAt = now()): void {
    const s = this.stage(name);
    s.status = o.problem !== undefined ? 'failed' : o.skipped ? 'skipped' : 'done';
    if (o.detail !== undefined) s.detail = o.detail;
    if (o.problem !== undefined) s.error = o.problem;
    s.finishedAt = finishedAt;
    if (publish) this.publish(o.problem !== undefined && o.problemUpserted ? `${name}:failed` : name);
  }

  /**
   * Marks a stage failed by `err` (cancelled, for a cancellation) and publishes it; returns what to
   * throw: the cancellation itself, or a StageFailed naming the stage.
   */
  private failed(name: string, err: unknown): unknown {
    const s = this.stage(name);
    if (isCancellation(err)) {
      // A cancelled run ends as cancelled, not as a failure of this stage.
      s.status = 'failed';
      s.error = 'cancelled';
      s.finishedAt = now();
      this.publish(`${name}:cancelled`);
      return err;
    }
    s.status = 'failed';
    s.error = errorText(err);
    s.finishedAt = now();
    this.publish(`${name}:failed`);
    // The type an activity (or the workflow) refused with; an activity's arrives as the cause of an ActivityFailure.
    const refusal = err instanceof ApplicationFailure ? err : realFailure(err);
    const kept =
      refusal instanceof ApplicationFailure && refusal.type && KEPT_FAILURE_TYPES.includes(refusal.type)
        ? refusal.type
        : undefined;
    return new StageFailed(name, s.error, kept);
  }

  /**
   * Runs several stages in one body (one activity doing their steps in order, e.g.
   * `<engine>EnsureTenant`): all are marked running, then each is set from its own part of the
   * body's value, keyed by stage name. A failure names the stage whose step failed, read from the
   * activity failure's details (`{ stage, done }`, src/activities/sql/provision-steps.ts): the
   * stages before it are set from what their steps returned, it is marked failed, the ones after
   * it go back to pending (never started). A failure that names no stage (a timeout, a
   * cancellation before the body started) is the first stage's. With the steps' durations
   * (`stepMs`), each stage's start and end are laid out one after the other from the group's start,
   * so each shows its own step's time.
   */
  async runStages<R extends object>(
    body: () => Promise<R & StepTimes>,
    outcomes: { [K in Exclude<keyof R, 'stepMs'> & string]: (value: R[K]) => StageOutcome },
  ): Promise<R & StepTimes> {
    type Name = Exclude<keyof R, 'stepMs'> & string;
    const names = Object.keys(outcomes) as Name[];
    const stages = names.map((n) => this.stage(n));
    const start = Date.now();
    for (const s of stages) {
      s.status = 'running';
      s.startedAt = now();
      s.finishedAt = undefined;
      s.error = undefined;
    }
    this.publish(names[0]);
    /** Settles the first `upTo` stages from their steps' results; returns when the last of them ended. */
    const settleAll = (value: Partial<R>, stepMs: Record<string, number> | undefined, upTo: number): string => {
      const end = Date.now();
      let at = start;
      for (const n of names.slice(0, upTo)) {
        const ms = stepMs?.[n];
        let finished: string | undefined;
        if (typeof ms === 'number' && ms >= 0) {
          this.stage(n).startedAt = new Date(Math.min(at, end)).toISOString();
          at += ms;
          finished = new Date(Math.min(at, end)).toISOString();
        }
        this.settle(n, value[n] === undefined ? {} : outcomes[n](value[n] as R[Name]), false, finished);
      }
      return new Date(Math.min(at, end)).toISOString();
    };
    try {
      // Traces name the group's stages together (the activity does all their steps).
      const value = await inStage(names.join('+'), body);
      settleAll(value, value.stepMs, names.length);
      this.publish(names[names.length - 1]);
      return value;
    } catch (err) {
      const real = realFailure(err);
      const failed = real instanceof ApplicationFailure ? stepsFailure(real.details?.[0], names) : undefined;
      const i = failed ? (names as string[]).indexOf(failed.stage) : 0;
      if (failed) stages[i].startedAt = settleAll(failed.done as Partial<R>, failed.stepMs, i);
      for (const s of stages.slice(i + 1)) {
        s.status = 'pending';
        s.startedAt = undefined;
      }
      throw this.failed(names[i], err);
    }
  }

  /** Records the run's result (non-secret parts only) and marks the run finished. */
  finish(result: R): R {
    this.state.result = result;
    this.publish('finished');
    return result;
  }

  /**
   * Turns a stage failure into the run's failure: non-retryable (a workflow is not retried), with
   * type `StageFailed` (`InvalidInput` when the stage refused the input) and a message naming the
   * stage. Temporal failures (cancellation, an ApplicationFailure) pass through; any other error
   * fails the run too, instead of failing the workflow task over and over.
   */
  fail(err: unknown): never {
    if (err instanceof StageFailed) {
      throw ApplicationFailure.create({
        type: err.failureType,
        message: err.message,
        nonRetryable: true,
        details: [{ stage: err.stage }],
      });
    }
    if (err instanceof TemporalFailure) throw err;
    throw ApplicationFailure.create({ type: 'InternalError', message: errorText(err), nonRetryable: true });
  }
}
