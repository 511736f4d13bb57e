/** Pure rendering of a run's progress: the Web UI's markdown table and the terminal's text table. */
import type { Progress, StageProgress, StageStatus } from '../api';
import { stripControl, truncate } from './text';

/**
 * The longest progress target (the DbopsTarget search attribute, the Web UI title). A target is
 * computed from the input before it is validated, and a search attribute beyond the server's
 * limit (2 KiB for a Keyword) is refused by the server, which then terminates the run instead of
 * letting validation fail it; so every target is cut to this length.
 */
export const MAX_TARGET_LENGTH = 200;

/** `target` cut to MAX_TARGET_LENGTH characters (ending in "…" when cut). */
export function boundedTarget(target: string): string {
  return truncate(target, MAX_TARGET_LENGTH);
}

const MARK: Record<StageStatus, string> = {
  pending: '·',
  running: '▶',
  skipped: '↷',
  done: '✔',
  failed: '✘',
};

function stageNote(s: StageProgress): string {
  return s.error ?? s.detail ?? '';
}

/**
 * Markdown shown as the workflow's current details in the Temporal Web UI (the run's *User
 * Metadata* tab): the title, then the stage table as preformatted text with padded columns
 * (mark and stage, status, duration of each finished stage, detail or error), so the columns line
 * up in the UI (which renders a markdown table without cell spacing) and unrendered alike.
 */
export function progressMarkdown(p: Progress): string {
  const rows = p.stages.map((s) => [`${MARK[s.status]} ${s.name}`, s.status, durationText(s), oneLine(stageNote(s))]);
  const head = ['stage', 'status', 'took', 'detail'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 3 ? c : i === 2 ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  const table = [line(head), ...rows.map(line)].join('\n');
  // A fence longer than any run of backticks in the table, so no detail can end the block.
  const fence = '`'.repeat(Math.max(3, ...(table.match(/`+/g) ?? []).map((r) => r.length + 1)));
  return [`**${p.operation}** · \`${stripControl(p.target)}\``, '', fence, table, fence].join('\n');
}

/**
 * A note on one line (a multi-line error would break the table's rows), without control
 * characters: a detail or error can carry text from an outside service, and an ANSI/OSC escape
 * in it would reach the terminal of `dbops status`.
 */
function oneLine(text: string): string {
  return stripControl(text.replace(/\r?\n|\t/g, ' '));
}

function durationText(s: StageProgress): string {
  if (!s.startedAt) return '';
  const end = s.finishedAt ? Date.parse(s.finishedAt) : undefined;
  if (end === undefined) return '';
  const ms = end - Date.parse(s.startedAt);
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const pad = (n: number) => String(n).padStart(2, '0');
  const sec = Math.round(ms / 1000);
  if (sec < 3600) return `${Math.floor(sec / 60)}m${pad(sec % 60)}s`;
  return `${Math.floor(sec / 3600)}h${pad(Math.floor((sec % 3600) / 60))}m`;
}

const nameWidth = (p: Progress): number => Math.max(5, ...p.stages.map((s) => s.name.length));

/** One stage as a line of the text table: mark, name, status, duration, detail. */
function stageLine(s: StageProgress, width: number): string {
  const note = oneLine(stageNote(s));
  const took = durationText(s);
  return `  ${MARK[s.status]} ${s.name.padEnd(width)}  ${s.status.padEnd(7)}${took ? `  ${took.padStart(7)}` : ''}${note ? `  ${note}` : ''}`;
}

/** The title line of the text table. */
export function progressTitle(p: Progress): string {
  return `${p.operation}  ${stripControl(p.target)}`;
}

/** Plain-text table for terminals (`dbops status`, live follow). */
export function progressText(p: Progress): string {
  const width = nameWidth(p);
  return [progressTitle(p), ...p.stages.map((s) => stageLine(s, width))].join('\n');
}

/**
 * The lines of the text table that changed since `before` (all stage lines that are not pending
 * when there is no `before`): what a follower writes when its output is not a terminal (a pipe, a
 * log file, CI), one line per change, never redrawing.
 */
export function progressChanges(before: Progress | undefined, p: Progress): string[] {
  const width = nameWidth(p);
  return p.stages
    .filter((s) => {
      const old = before?.stages.find((b) => b.name === s.name);
      if (!old) return s.status !== 'pending';
      return old.status !== s.status || stageNote(old) !== stageNote(s);
    })
    .map((s) => stageLine(s, width));
}

/** The stage a run is at: the running one, else the failed one, else the last finished one. */
export function currentStage(p: Progress): StageProgress | undefined {
  return (
    p.stages.find((s) => s.status === 'running') ??
    p.stages.find((s) => s.status === 'failed') ??
    [...p.stages].reverse().find((s) => s.status === 'done' || s.status === 'skipped')
  );
}
