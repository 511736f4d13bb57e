/**
 * The replay check (see CONTRIBUTING.md): replays histories through the current workflow code and
 * also compares what the code would send (activity types and arguments, child workflow types, ids
 * and arguments) with what each history recorded. Worker replay alone checks command types only,
 * so a changed argument (a clone renamed, a resource id recomputed) would pass it silently.
 */
import fs from 'node:fs';
import path from 'node:path';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { temporal } from '@temporalio/proto';
import { bundleInterceptorModules, bundlePreloadModules, type BundleKind } from '../../src/temporal/workflow-bundle';
import { bundleWorkflowCode, Worker, type InjectedSinks } from '@temporalio/worker';
import type { OpenTelemetrySinks } from '@temporalio/interceptors-opentelemetry/lib/workflow';
import type { CapturedCall, ReplayCaptureSinks } from '../fixtures/workflows/replay-capture-interceptors';
import { ROOT } from './stack';

type History = temporal.api.history.v1.IHistory;
const EventType = temporal.api.enums.v1.EventType;
const LOCAL_ACTIVITY_MARKER = 'core_local_activity';

export const HISTORIES_DIR = path.join(ROOT, 'test', 'fixtures', 'histories');

export interface HistoryFile {
  /** `<version>/<file>.json`, used in messages and as the replay's workflow id. */
  name: string;
  version: string;
  file: string;
}

/** Every `test/fixtures/histories/<version>/*.json`, versions and files sorted. */
export function listHistoryFiles(dir = HISTORIES_DIR): HistoryFile[] {
  if (!fs.existsSync(dir)) return [];
  const versions = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  return versions.flatMap((version) =>
    fs
      .readdirSync(path.join(dir, version))
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((file) => ({ name: `${version}/${file}`, version, file })),
  );
}

/** JSON files lying directly in the histories folder: they belong in a version folder. */
export function looseHistoryFiles(dir = HISTORIES_DIR): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')) : [];
}

export function readHistory(name: string, dir = HISTORIES_DIR): History {
  return historyFromJSON(JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')));
}

const bundles = new Map<BundleKind, Promise<string>>();
/**
 * The test workflows bundled with the capturing interceptor (once per test file and kind): with
 * `traced`, after the traced bundle's interceptors (the worker's with OTEL_EXPORTER_OTLP_ENDPOINT set).
 */
export function captureBundle(kind: BundleKind = 'plain'): Promise<string> {
  let bundle = bundles.get(kind);
  if (!bundle) {
    bundle = bundleWorkflowCode({
      workflowsPath: require.resolve('../fixtures/workflows'),
      preloadModules: bundlePreloadModules(kind), // as the worker's bundle (src/temporal/workflow-bundle.ts)
      workflowInterceptorModules: [
        ...bundleInterceptorModules(kind),
        require.resolve('../fixtures/workflows/replay-capture-interceptors'),
      ],
      logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error } as never,
    }).then((b) => b.code);
    bundles.set(kind, bundle);
  }
  return bundle;
}

// What the history recorded ///////////////////////////////////////////////////////////////////

export interface RecordedCall {
  kind: 'activity' | 'childWorkflow' | 'localActivity';
  eventId: string;
  type: string;
  workflowId?: string;
  /** Not recorded for local activities (the marker holds the type and the result only). */
  args: unknown[];
}

function decode(payloads: Payload[] | null | undefined, where: string): unknown[] {
  return (payloads ?? []).map((p, i) => {
    try {
      return normalise(defaultPayloadConverter.fromPayload(p));
    } catch (err) {
      const encoding = Buffer.from(p.metadata?.encoding ?? new Uint8Array()).toString();
      throw new Error(
        `${where}: argument ${i} cannot be decoded (encoding ${encoding}; record histories without DBOPS_CODEC_KEYS): ${(err as Error).message}`,
      );
    }
  });
}

/** The activities, child workflows and (ended) local activities a history recorded, in event order. */
export function recordedCalls(history: History, name = 'history'): RecordedCall[] {
  const out: RecordedCall[] = [];
  for (const e of history.events ?? []) {
    const eventId = String(e.eventId);
    if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) {
      const a = e.activityTaskScheduledEventAttributes!;
      out.push({
        kind: 'activity',
        eventId,
        type: a.activityType?.name ?? '',
        args: decode(a.input?.payloads as Payload[], `${name} event ${eventId}`),
      });
    } else if (e.eventType === EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED) {
      const a = e.startChildWorkflowExecutionInitiatedEventAttributes!;
      out.push({
        kind: 'childWorkflow',
        eventId,
        type: a.workflowType?.name ?? '',
        workflowId: a.workflowId ?? undefined,
        args: decode(a.input?.payloads as Payload[], `${name} event ${eventId}`),
      });
    } else if (
      e.eventType === EventType.EVENT_TYPE_MARKER_RECORDED &&
      e.markerRecordedEventAttributes?.markerName === LOCAL_ACTIVITY_MARKER
    ) {
      // One marker per attempt that ended; a marker with `backoff` is followed by a retry's marker.
      const [data] = decode(
        e.markerRecordedEventAttributes.details?.data?.payloads as Payload[],
        `${name} event ${eventId}`,
      ) as Array<Record<string, unknown> | null>;
      if (data?.backoff != null) continue;
      out.push({
        kind: 'localActivity',
        eventId,
        type: String(data?.activity_type ?? data?.activityType ?? ''),
        args: [],
      });
    }
  }
  return out;
}

/** The workflow id the history ran under (activities may be sent it, e.g. as a tag). */
export function historyWorkflowId(history: History): string | undefined {
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes as
    { workflowId?: string } | null | undefined;
  return started?.workflowId || undefined;
}

const CLOSED = new Set<number>([
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
]);

function isClosed(history: History): boolean {
  const last = history.events?.[history.events.length - 1];
  return last?.eventType != null && CLOSED.has(last.eventType);
}

// Comparison ///////////////////////////////////////////////////////////////////////////////////

/** What the JSON payload converter would make of a value (undefined → null, dates → strings). */
function normalise(v: unknown): unknown {
  return v === undefined ? null : JSON.parse(JSON.stringify(v));
}

function short(v: unknown): string {
  if (v === undefined) return '(absent)';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}…` : s;
}

/** Up to `limit` paths where `a` and `b` differ, as `path: history X ≠ now Y`. */
export function diffValues(a: unknown, b: unknown, at: string, out: string[] = [], limit = 3): string[] {
  if (out.length >= limit) return out;
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) diffValues(a[i], b[i], `${at}[${i}]`, out, limit);
  } else if (isObj(a) && isObj(b) && !Array.isArray(a) && !Array.isArray(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort())
      diffValues(a[k], b[k], `${at}.${k}`, out, limit);
  } else if (JSON.stringify(a) !== JSON.stringify(b)) {
    out.push(`${at}: history ${short(a)} ≠ now ${short(b)}`);
  }
  return out;
}

function describe(c: { kind: string; type: string }): string {
  return `${c.kind === 'childWorkflow' ? 'child workflow' : c.kind === 'localActivity' ? 'local activity' : 'activity'} ${c.type}`;
}

function plural(kind: RecordedCall['kind']): string {
  return { activity: 'activities', childWorkflow: 'child workflows', localActivity: 'local activities' }[kind];
}

/**
 * Compares what the history recorded with what the current code sent: activities and child
 * workflows in order, type and arguments (and the child's workflow id); local activities by type
 * only, as a set (their markers are written in completion order and hold no arguments). Returns
 * one message per mismatch (empty when they agree).
 */
export function compareCalls(name: string, history: History, current: CapturedCall[]): string[] {
  const problems: string[] = [];
  const recorded = recordedCalls(history, name);
  const closed = isClosed(history);
  for (const kind of ['activity', 'childWorkflow'] as const) {
    const rec = recorded.filter((c) => c.kind === kind);
    const now = current.filter((c) => c.kind === kind);
    for (let i = 0; i < rec.length; i++) {
      const r = rec[i];
      const n = now[i];
      const where = `${name}: event ${r.eventId}, ${describe(r)}`;
      if (!n) {
        problems.push(
          `${where}: the current code no longer schedules it (it schedules ${now.length} ${plural(kind)}, the history ${rec.length})`,
        );
        break;
      }
      if (n.type !== r.type) {
        problems.push(`${where}: the current code schedules ${describe(n)} instead`);
        break;
      }
      const diffs: string[] = [];
      if (kind === 'childWorkflow' && n.workflowId !== undefined && n.workflowId !== r.workflowId) {
        diffs.push(`workflowId: history ${short(r.workflowId)} ≠ now ${short(n.workflowId)}`);
      }
      diffValues(r.args, JSON.parse(n.argsJson), 'args', diffs);
      if (diffs.length)
        problems.push(`${where}: the current code sends different arguments:\n    ${diffs.join('\n    ')}`);
    }
    if (closed && now.length > rec.length) {
      problems.push(
        `${name}: the current code schedules ${describe(now[rec.length])} (and ${now.length - rec.length - 1} more) that the finished history never scheduled`,
      );
    }
  }
  // Local activities: a marker is written when one ends, so a history cut short may lack the last.
  const recLocal = recorded
    .filter((c) => c.kind === 'localActivity')
    .map((c) => c.type)
    .sort();
  const nowLocal = current
    .filter((c) => c.kind === 'localActivity')
    .map((c) => c.type)
    .sort();
  const unmatched = [...nowLocal];
  const missing = recLocal.filter((t) =>
    unmatched.includes(t) ? (unmatched.splice(unmatched.indexOf(t), 1), false) : true,
  );
  if (missing.length || (closed && unmatched.length)) {
    problems.push(
      `${name}: local activities: the history recorded [${recLocal.join(', ')}], the current code schedules [${nowLocal.join(', ')}]`,
    );
  }
  return problems;
}

// Replay //////////////////////////////////////////////////////////////////////////////////////

export interface ReplayReport {
  name: string;
  /** Nondeterminism or another replay failure, from the SDK. */
  replayError?: Error;
  /** Differences between what the history recorded and what the current code sends. */
  mismatches: string[];
}

/**
 * Replays each history through the current code (one replay worker for all) and compares what
 * the code sends with what the history recorded.
 */
export async function replayAndCompare(
  histories: { name: string; history: History }[],
  kind: BundleKind = 'plain',
): Promise<ReplayReport[]> {
  const code = await captureBundle(kind);
  // One worker replays the histories one at a time, so the sink calls that arrive before a result
  // belong to the history just replayed. Each replays under the workflow id it ran under (workflow
  // code may send it to an activity, e.g. as a tag).
  let current: CapturedCall[] = [];
  const sinks: InjectedSinks<ReplayCaptureSinks & OpenTelemetrySinks> = {
    replayCapture: { call: { fn: (_info, call) => void current.push(call), callDuringReplay: true } },
    // The traced bundle's span sink (a replay exports nothing).
    exporter: { export: { fn: () => {} } },
  };
  const reports: ReplayReport[] = [];
  const results = Worker.runReplayHistories(
    { workflowBundle: { code }, sinks, replayName: 'dbops-replay-check' },
    histories.map((h) => ({ workflowId: historyWorkflowId(h.history) ?? h.name, history: h.history })),
  );
  let i = 0;
  for await (const r of results) {
    const { name, history } = histories[i++];
    reports.push({ name, replayError: r.error, mismatches: r.error ? [] : compareCalls(name, history, current) });
    current = [];
  }
  return reports;
}

/** One message for everything that failed, or undefined when all replayed and agreed. */
export function formatFailures(reports: ReplayReport[]): string | undefined {
  const lines = reports.flatMap((r) => [
    ...(r.replayError ? [`${r.name}: replay failed: ${r.replayError.message}`] : []),
    ...r.mismatches,
  ]);
  return lines.length
    ? `${lines.length} replay problem(s) (see CONTRIBUTING.md, "When the replay check fails"):\n${lines.join('\n')}`
    : undefined;
}
