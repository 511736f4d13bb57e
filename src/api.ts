/**
 * The contract shared by the client and the workflows: workflow type names, query names,
 * search-attribute keys, the progress shape and id conventions. Imported by workflow code, so it
 * must stay free of Node built-ins and I/O.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const DEFAULT_TASK_QUEUE = 'dbops';

/** Custom search attributes the worker registers on start-up (all Keyword). */
export const SA_OPERATION = defineSearchAttributeKey('DbopsOperation', SearchAttributeType.KEYWORD);
export const SA_TARGET = defineSearchAttributeKey('DbopsTarget', SearchAttributeType.KEYWORD);
export const SA_STAGE = defineSearchAttributeKey('DbopsStage', SearchAttributeType.KEYWORD);
/**
 * What a reconcile found (issue 14): `none`, `repaired`, `reported` (report-only schedule) or
 * `unrepaired` (the repair failed). Set only by reconcile runs.
 */
export const SA_DRIFT = defineSearchAttributeKey('DbopsDrift', SearchAttributeType.KEYWORD);
export const SEARCH_ATTRIBUTE_KEYS = [SA_OPERATION, SA_TARGET, SA_STAGE, SA_DRIFT] as const;

export const PROGRESS_QUERY = 'progress';

export type StageStatus = 'pending' | 'running' | 'skipped' | 'done' | 'failed';

export interface StageProgress {
  name: string;
  status: StageStatus;
  startedAt?: string;
  finishedAt?: string;
  detail?: string;
  error?: string;
}

export interface Progress<R = unknown> {
  operation: string;
  target: string;
  stages: StageProgress[];
  result?: R;
}
