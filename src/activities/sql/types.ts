import type { SqlPlan } from '../../domain/provision';

export interface StepResult {
  changed: boolean;
  detail: string;
}

export type DeprovisionPlan = SqlPlan & { reclaimPolicy: 'delete' | 'retain' };

/** The same steps for every engine; the worker registers them as <engine><Step> activities. */
export interface SqlEngineActivities {
  connect(plan: SqlPlan): Promise<{ serverVersion: string; detail: string }>;
  ensureDatabase(plan: SqlPlan): Promise<StepResult>;
  ensureUser(plan: SqlPlan): Promise<StepResult>;
  grant(plan: SqlPlan): Promise<StepResult>;
  verify(plan: SqlPlan): Promise<StepResult>;
  dropDatabase(plan: DeprovisionPlan): Promise<StepResult>;
  dropUser(plan: DeprovisionPlan): Promise<StepResult>;
}

export type Prefixed<P extends string, T> = { [K in keyof T as `${P}${Capitalize<K & string>}`]: T[K] };

export function prefixed<P extends string, T extends object>(prefix: P, acts: T): Prefixed<P, T> {
  return Object.fromEntries(
    Object.entries(acts).map(([k, v]) => [`${prefix}${k[0].toUpperCase()}${k.slice(1)}`, v]),
  ) as Prefixed<P, T>;
}
