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

test('markdown table has one row per stage with a mark, status and the error or detail', () => {
  const md = progressMarkdown(p).split('\n');
  expect(md[0]).toBe('**peerVpc** · `db-1/vpc-1`');
  expect(md).toContain('| ↷ initiate | skipped | already initiated |');
  expect(md).toContain('| ✔ accept | done |  |');
  // pipes are escaped and newlines folded so the table stays a table
  expect(md).toContain('| ✘ route | failed | route for 10.0.0.0/19 \\| conflict second line |');
  expect(md).toContain('| · associate-dns | pending |  |');
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
