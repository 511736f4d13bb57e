/** SqlPools (src/activities/sql/admin-pools.ts) with a fake engine pool: reuse, replacement, rotation, close. */
import { ApplicationFailure } from '@temporalio/common';
import { SqlPools, type EnginePool } from '../../src/activities/sql/admin-pools';

interface Conn {
  id: number;
  dead: boolean;
}

function fakePool() {
  let next = 0;
  const idle: Conn[] = [];
  const log: string[] = [];
  const pool: EnginePool<Conn> & { log: string[]; ended: boolean; idle: Conn[] } = {
    log,
    idle,
    ended: false,
    async acquire() {
      const c = idle.shift();
      if (c) return { conn: c, reused: true };
      next += 1;
      log.push(`open ${next}`);
      return { conn: { id: next, dead: false }, reused: false };
    },
    release(conn, broken) {
      log.push(`${broken ? 'close' : 'return'} ${conn.id}`);
      if (!broken) idle.push(conn);
    },
    isBroken: (err) => (err as Error).message === 'gone',
    async end() {
      pool.ended = true;
    },
  };
  return pool;
}

const open = async (c: Conn) => {
  if (c.dead) throw new Error('gone');
  return c.id;
};

test('a connection goes back to the pool and serves the next call', async () => {
  const pools = new SqlPools({ max: 2, idleSeconds: 30 });
  const p = fakePool();
  const a = await pools.use(
    'srv',
    'fp',
    () => p,
    open,
    async (_c, id) => id,
  );
  const b = await pools.use(
    'srv',
    'fp',
    () => p,
    open,
    async (_c, id) => id,
  );
  expect([a, b]).toEqual([1, 1]);
  expect(p.log).toEqual(['open 1', 'return 1', 'return 1']);
});

test('a pooled connection the server ended is replaced before anything is sent on it', async () => {
  const pools = new SqlPools({ max: 2, idleSeconds: 30 });
  const p = fakePool();
  await pools.use(
    'srv',
    'fp',
    () => p,
    open,
    async () => undefined,
  );
  p.idle[0].dead = true;
  const calls: number[] = [];
  await pools.use(
    'srv',
    'fp',
    () => p,
    open,
    async (_c, id) => void calls.push(id),
  );
  expect(calls).toEqual([2]);
  expect(p.log).toEqual(['open 1', 'return 1', 'close 1', 'open 2', 'return 2']);
});

test('after an error in a step its connection is closed, not reused', async () => {
  const pools = new SqlPools({ max: 2, idleSeconds: 30 });
  const p = fakePool();
  await expect(
    pools.use(
      'srv',
      'fp',
      () => p,
      open,
      async () => {
        throw new Error('statement failed');
      },
    ),
  ).rejects.toThrow('statement failed');
  expect(p.log).toEqual(['open 1', 'close 1']);
});

test('another secret fingerprint builds a new pool; the old one ends once its connections are back', async () => {
  const pools = new SqlPools({ max: 2, idleSeconds: 30 });
  const old = fakePool();
  const rotated = fakePool();
  let release!: () => void;
  const busy = pools.use(
    'srv',
    'old',
    () => old,
    open,
    () => new Promise<void>((r) => (release = r)),
  );
  await new Promise((r) => setImmediate(r));
  await pools.use(
    'srv',
    'new',
    () => rotated,
    open,
    async () => undefined,
  );
  expect(old.ended).toBe(false); // still in use by the first call
  release();
  await busy;
  expect(old.ended).toBe(true);
  expect(rotated.ended).toBe(false);
  expect(pools.size).toBe(1);
});

test('at most max calls hold a connection at once', async () => {
  const pools = new SqlPools({ max: 2, idleSeconds: 30 });
  const p = fakePool();
  let now = 0;
  let peak = 0;
  await Promise.all(
    Array.from({ length: 6 }, () =>
      pools.use(
        'srv',
        'fp',
        () => p,
        open,
        async () => {
          now += 1;
          peak = Math.max(peak, now);
          await new Promise((r) => setTimeout(r, 5));
          now -= 1;
        },
      ),
    ),
  );
  expect(peak).toBe(2);
  expect(p.log.filter((l) => l.startsWith('open'))).toHaveLength(2);
});

test('closed pools end, and later calls are refused retryably', async () => {
  const pools = new SqlPools({ max: 2, idleSeconds: 30 });
  const p = fakePool();
  await pools.use(
    'srv',
    'fp',
    () => p,
    open,
    async () => undefined,
  );
  await pools.close();
  expect(p.ended).toBe(true);
  const err = await pools
    .use(
      'srv',
      'fp',
      () => p,
      open,
      async () => undefined,
    )
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect((err as ApplicationFailure).nonRetryable).toBe(false);
});
