/**
 * How the worker's log lines look: text for people (one line per entry; an expected failure — a
 * non-retryable one, such as bad input — is its type and message, without a stack trace) or JSON
 * for log pipelines (`DBOPS_LOG_FORMAT=json`, one object per line).
 */
import { ApplicationFailure } from '@temporalio/common';
import type { LogEntry } from '@temporalio/worker';

export type LogFormat = 'text' | 'json';

/** An expected failure: the run ends on it by design (a non-retryable, typed failure). */
function expected(err: unknown): err is ApplicationFailure {
  return err instanceof ApplicationFailure && err.nonRetryable === true;
}

function errorFields(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: String(err) };
  const type = err instanceof ApplicationFailure ? err.type : undefined;
  return {
    name: err.name,
    ...(type ? { type } : {}),
    message: err.message,
    ...(expected(err) ? {} : { stack: err.stack }),
  };
}

function textOf(value: unknown): string {
  if (value instanceof Error) {
    if (expected(value)) return JSON.stringify(`${value.type ?? value.name}: ${value.message}`);
    return JSON.stringify(value.message);
  }
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    return JSON.stringify(value, jsonSafe) ?? String(value);
  } catch {
    return String(value); // circular: never let a log line throw
  }
}

/** One log line (with its newline) for an entry. */
export function formatLogEntry(format: LogFormat, entry: LogEntry): string {
  const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
  const meta = entry.meta ?? {};
  if (format === 'json') {
    const fields = Object.fromEntries(
      Object.entries(meta).map(([k, v]) => [k, v instanceof Error ? errorFields(v) : v]),
    );
    const line = { time, level: entry.level, message: entry.message, ...fields };
    try {
      return `${JSON.stringify(line, jsonSafe)}\n`;
    } catch {
      return `${JSON.stringify({ time, level: entry.level, message: entry.message, meta: String(meta) })}\n`;
    }
  }
  const pairs = Object.entries(meta).map(([k, v]) => `${k}=${textOf(v)}`);
  const unexpected = Object.values(meta).find((v): v is Error => v instanceof Error && !expected(v));
  const trace = unexpected?.stack ? `\n${unexpected.stack.split('\n').slice(1).join('\n')}` : '';
  return `${time} [${entry.level}] ${entry.message}${pairs.length ? ` ${pairs.join(' ')}` : ''}${trace}\n`;
}

function jsonSafe(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/** The worker's log function for DefaultLogger. */
export function logFunction(format: LogFormat, write = (s: string) => void process.stderr.write(s)) {
  return (entry: LogEntry): void => write(formatLogEntry(format, entry));
}
