/**
 * The clone janitor's input (cleanupRefreshClones): `{ region, dryRun? }` and nothing else, so a
 * misspelt option (`dryrun`) fails instead of being ignored while the run deletes for real. Pure.
 */
import { z } from 'zod';
import { invalidInput, region, show } from './limits';

/**
 * Built for each validation and not kept: the SDK evaluates workflow modules once per cached run,
 * and a schema kept at module level stayed in memory as long as its run did (bench/RESULTS.md, "memory").
 */
export function cleanupInputSchema() {
  return z
    .object({
      region: region(),
      /** Only list what would be deleted. */
      dryRun: z.boolean().optional(),
    })
    .strict();
}

export type CleanupInput = z.input<ReturnType<typeof cleanupInputSchema>>;

export interface CleanupPlan {
  region: string;
  dryRun: boolean;
}

export function planCleanup(raw: unknown): CleanupPlan {
  const r = cleanupInputSchema().safeParse(raw);
  if (!r.success) throw invalidInput(r.error, 'invalid input', 'input');
  return { region: r.data.region, dryRun: r.data.dryRun ?? false };
}

/** The region of a not yet validated input, for the progress target. */
export function cleanupTarget(raw: unknown): string {
  return show((raw as { region?: unknown } | null | undefined)?.region);
}
