/** The worker's log lines: readable text (expected failures without a stack) or one JSON object per line. */
import { ApplicationFailure } from '@temporalio/common';
import type { LogEntry } from '@temporalio/worker';
import { formatLogEntry } from '../../src/temporal/log-format';

const at = BigInt(Date.UTC(2026, 11, 3, 12, 0, 0)) * 1_000_000n;
const entry = (meta?: Record<string, unknown>): LogEntry => ({
  level: 'WARN',
  message: 'Activity failed',
  timestampNanos: at,
  meta,
});

test('an expected (non-retryable) failure is one text line with its type and message, no stack', () => {
  const error = ApplicationFailure.nonRetryable('invalid input: region: unknown region', 'InvalidInput');
  const line = formatLogEntry('text', entry({ activityType: 'databaseDescribe', error }));
  expect(line).toBe(
    '2026-12-03T12:00:00.000Z [WARN] Activity failed activityType="databaseDescribe" ' +
      'error="InvalidInput: invalid input: region: unknown region"\n',
  );
});

test('an unexpected error keeps its stack trace under the line', () => {
  const line = formatLogEntry('text', entry({ error: new Error('socket hang up') }));
  const [first, ...rest] = line.trimEnd().split('\n');
  expect(first).toBe('2026-12-03T12:00:00.000Z [WARN] Activity failed error="socket hang up"');
  expect(rest.length).toBeGreaterThan(0);
  expect(rest[0]).toMatch(/^\s+at /);
});

test('json: one object per line, errors as fields (a stack only for unexpected ones)', () => {
  const expected = JSON.parse(
    formatLogEntry('json', entry({ error: ApplicationFailure.nonRetryable('bad', 'InvalidInput'), n: 1n })),
  ) as Record<string, unknown>;
  expect(expected).toEqual({
    time: '2026-12-03T12:00:00.000Z',
    level: 'WARN',
    message: 'Activity failed',
    error: { name: 'ApplicationFailure', type: 'InvalidInput', message: 'bad' },
    n: '1',
  });
  const line = formatLogEntry('json', entry({ error: new Error('boom') }));
  expect(line.endsWith('\n') && !line.trimEnd().includes('\n')).toBe(true);
  expect((JSON.parse(line) as { error: { stack: string } }).error.stack).toMatch(/boom\n\s+at /);
});

test('a value that cannot be serialised (BigInt, circular) never makes a log line throw', () => {
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  expect(formatLogEntry('text', entry({ n: 2n, circular }))).toMatch(/n="2" circular=\[object Object\]\n$/);
  expect(() => JSON.parse(formatLogEntry('json', entry({ circular })))).not.toThrow();
});
