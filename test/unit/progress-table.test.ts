import type { Progress } from '../../src/api';
import { currentStage, progressChanges, progressMarkdown, progressText } from '../../src/domain/progress-table';

const p: Progress = {
  operation: 'peerVpc',
  target: 'db-1/vpc-1',
  stages: [
    { name: 'initiate', status: 'skipped', detail: 'already initiated' },
    { name: 'accept', status: 'done', startedAt: '2026-01-01T00:00:00.000Z', finishedAt: '2026-01-01T00:00:02.500Z' },
    { name: 'route', status: 'failed', error: 'route for 10.0.0.0/19 | conflict\nsecond line' },
    { name: 'associate-dns', status: 'pending' },
  ],
};

test('Web UI details: the title, then the stage table as preformatted text with padded columns and durations', () => {
  const md = progressMarkdown(p).split('\n');
  expect(md).toEqual([
    '**peerVpc** · `db-1/vpc-1`',
    '',
    '```',
    'stage            status   took  detail',
    '↷ initiate       skipped        already initiated',
    '✔ accept         done     2.5s',
    '✘ route          failed         route for 10.0.0.0/19 | conflict second line', // one line per stage
    '· associate-dns  pending',
    '```',
  ]);
});

test('no detail can end the preformatted block early', () => {
  const md = progressMarkdown({ ...p, stages: [{ name: 'x', status: 'failed', error: 'bad ```` here' }] }).split('\n');
  expect(md[2]).toBe('`````');
  expect(md.at(-1)).toBe('`````');
});

test('durations read as people say them', () => {
  const took = (ms: number) =>
    progressText({
      operation: 'o',
      target: 't',
      stages: [
        { name: 'x', status: 'done', startedAt: new Date(0).toISOString(), finishedAt: new Date(ms).toISOString() },
      ],
    })
      .split('\n')[1]
      .trim()
      .split(/\s+/)[3];
  expect([850, 2500, 125_000, 3_720_000].map(took)).toEqual(['850ms', '2.5s', '2m05s', '1h02m']);
});

test('text table aligns names and shows durations of finished stages', () => {
  const lines = progressText(p).split('\n');
  expect(lines[0]).toBe('peerVpc  db-1/vpc-1');
  expect(lines[2]).toBe('  ✔ accept         done        2.5s');
  expect(lines[1]).toBe('  ↷ initiate       skipped  already initiated');
});

test('current stage: running first, then failed, then the last finished', () => {
  expect(currentStage(p)?.name).toBe('route');
  expect(
    currentStage({
      ...p,
      stages: [
        { name: 'a', status: 'done' },
        { name: 'b', status: 'running' },
      ],
    })?.name,
  ).toBe('b');
  expect(
    currentStage({
      ...p,
      stages: [
        { name: 'a', status: 'done' },
        { name: 'b', status: 'pending' },
      ],
    })?.name,
  ).toBe('a');
  expect(currentStage({ ...p, stages: [{ name: 'a', status: 'pending' }] })).toBeUndefined();
});

test('line output: the stages that are not pending at first, then only the ones whose status or note changed', () => {
  expect(progressChanges(undefined, p)).toEqual([
    '  ↷ initiate       skipped  already initiated',
    '  ✔ accept         done        2.5s',
    '  ✘ route          failed   route for 10.0.0.0/19 | conflict second line', // one line, always
  ]);
  expect(progressChanges(p, p)).toEqual([]);
  const later: Progress = {
    ...p,
    stages: p.stages.map((s) => (s.name === 'associate-dns' ? { ...s, status: 'running', detail: 'waiting' } : s)),
  };
  expect(progressChanges(p, later)).toEqual(['  ▶ associate-dns  running  waiting']);
});

test('no control character reaches a terminal or the Web UI: ANSI/OSC escapes, C1 CSI, tabs and NUL are dropped', () => {
  const evil: Progress = {
    operation: 'refreshDblab',
    target: 'dblab\x1b[2J',
    stages: [
      {
        name: 'wait-refresh',
        status: 'failed',
        error: 'DBLab refresh failed: \x1b]8;;http://x\x07click\x1b[31m\x9b2J\tend\x00',
      },
    ],
  };
  const text = progressText(evil);
  const md = progressMarkdown(evil);
  // eslint-disable-next-line no-control-regex -- asserting no control characters is the point
  const control = /[\x00-\x09\x0b-\x1f\x7f-\x9f]/;
  for (const out of [text, md, ...progressChanges(undefined, evil)]) expect(out).not.toMatch(control);
  expect(text).toBe(
    ['refreshDblab  dblab[2J', '  ✘ wait-refresh  failed   DBLab refresh failed: ]8;;http://xclick[31m2J end'].join(
      '\n',
    ),
  );
});
