/**
 * Loaded once per workflow sandbox (V8 context) before any run, as one of the modules all runs
 * share (SHARED_MODULES in src/temporal/workflow-bundle.ts): it brings zod in, then builds and
 * uses one schema of every kind and check the domain's schemas use. zod finishes setting itself
 * up lazily (its default locale, each schema type's prototype members on the type's first
 * construction), and the SDK deep-freezes shared modules right after loading them: done here
 * first, a run's own schemas find everything installed and change nothing that is frozen.
 * Exports nothing a run could change.
 */
import { z } from 'zod';

function warmUp(): void {
  const kinds = z
    .object({
      s: z.string().min(1).max(9).regex(/^a/).startsWith('a'),
      u: z.string().url(),
      n: z.number().int().min(0).max(9).positive(),
      b: z.boolean().default(false),
      e: z.enum(['a', 'b']),
      l: z.literal('a'),
      a: z.array(z.string()).min(1).max(2),
      r: z.record(z.string().regex(/^[a-z]+$/), z.string()),
      o: z.string().optional(),
      c: z.string().catch('x'),
      un: z.union([z.string(), z.number()]),
      du: z.discriminatedUnion('kind', [
        z.object({ kind: z.literal('a') }).strict(),
        z.object({ kind: z.literal('b'), x: z.string() }).strict(),
      ]),
      ref: z.string().refine((v) => v.length > 0, 'empty'),
      sup: z.object({ x: z.string() }).superRefine((v, ctx) => {
        if (!v.x) ctx.addIssue({ code: 'custom', message: 'empty' });
      }),
    })
    .strict();
  const sub = kinds.pick({ s: true }).extend({ t: z.string() }).omit({ t: true }).partial();
  const good = {
    s: 'a',
    u: 'https://a.example',
    n: 1,
    e: 'a',
    l: 'a',
    a: ['a'],
    r: { a: 'a' },
    c: 1,
    un: 1,
    du: { kind: 'b', x: 'x' },
    ref: 'a',
    sup: { x: 'x' },
  };
  kinds.parse(good);
  const bad = kinds.safeParse({ ...good, s: '', u: 'x', n: -1.5, e: 'c', a: [], r: { A: 1 }, du: { kind: 'c' }, z: 1 });
  if (bad.success) throw new Error('zod warm-up: the bad input passed');
  void bad.error.issues.map((i) => i.message);
  sub.safeParse({ s: 1 });
}

warmUp();

export const ZOD_WARMED_UP = true;
