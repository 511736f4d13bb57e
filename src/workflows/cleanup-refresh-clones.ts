/**
 * cleanupRefreshClones: the janitor. Finds clones made by refreshDblab (name prefix and ManagedBy
 * tag; instances and clusters; paginated) and deletes those past their DeleteAfter tag or whose
 * owning workflow run is no longer running. dryRun lists what it would delete. Meant for a schedule.
 */
import { patched } from '@temporalio/workflow';
import { cleanupTarget, planCleanup, type CleanupInput, type CleanupPlan } from '../domain/cleanup';
import { MANAGED_BY } from '../domain/dblab-config';
import { ProgressTracker, validInput } from './progress';
import { deleting, quick } from './dblab-activities';

/** Behaviour changes, each behind a patch (CONTRIBUTING.md). */
export const PATCHES = {
  /**
   * delete-clone is told where the clone lives (`{ region, kind }`), not handed a partial
   * refresh plan. Before: `{ aurora, pollInterval: '30s', config: { aws: { region } } }`.
   */
  cloneSite: 'cleanup-refresh-clones-delete-by-clone-site',
  /**
   * Region names are checked against the AWS SDK's list (us-eest-1 is refused when the run starts).
   * Before: any name of the region shape was accepted, and planning without the marker still does.
   */
  knownRegions: 'cleanup-refresh-clones-known-regions',
} as const;

export const CLEANUP_STAGES = ['list', 'decide', 'delete'] as const;

export type { CleanupInput };

export interface CleanupResult {
  region: string;
  dryRun: boolean;
  found: number;
  deleted: Array<{ identifier: string; reason: string }>;
  kept: Array<{ identifier: string; reason: string }>;
}

export async function cleanupRefreshClones(input: CleanupInput): Promise<CleanupResult> {
  const progress = new ProgressTracker<CleanupResult>('cleanupRefreshClones', cleanupTarget(input), CLEANUP_STAGES);
  try {
    const valid: CleanupPlan = validInput(() => planCleanup(input), patched(PATCHES.knownRegions));
    const { region, dryRun } = valid;
    const clones = await progress.run(
      'list',
      () =>
        quick.rdsListRefreshClones.executeWithOptions({ summary: `list ${MANAGED_BY} clones in ${region}` }, [region]),
      (c) => ({
        detail: `${c.length} clone(s)`,
      }),
    );
    const now = Date.now();
    const plan = await progress.run(
      'decide',
      async () => {
        const remove: CleanupResult['deleted'] = [];
        const keep: CleanupResult['kept'] = [];
        for (const c of clones) {
          if (c.status === 'deleting') {
            keep.push({ identifier: c.identifier, reason: 'already being deleted' });
            continue;
          }
          const expiry = c.deleteAfter ? Date.parse(c.deleteAfter) : NaN;
          if (!Number.isNaN(expiry) && expiry < now) {
            remove.push({ identifier: c.identifier, reason: `past DeleteAfter ${c.deleteAfter}` });
            continue;
          }
          const owner = c.workflowId
            ? await quick.workflowRunStatus.executeWithOptions({ summary: `is ${c.workflowId} still running?` }, [
                c.workflowId,
                c.runId,
              ])
            : 'NOT_FOUND';
          if (owner === 'RUNNING')
            keep.push({ identifier: c.identifier, reason: `its run of ${c.workflowId} is still running` });
          else
            remove.push({
              identifier: c.identifier,
              reason: `its run ${c.workflowId ? `of ${c.workflowId} ` : ''}is ${owner.toLowerCase().replace('_', ' ')}`,
            });
        }
        return {
          remove,
          keep,
          kinds: Object.fromEntries(clones.map((c) => [c.identifier, c.kind])),
          owners: Object.fromEntries(clones.map((c) => [c.identifier, c.runId])) as Record<string, string | undefined>,
        };
      },
      (d) => ({ detail: `${d.remove.length} to delete, ${d.keep.length} to keep` }),
    );

    if (dryRun)
      progress.skip('delete', `dry run: would delete ${plan.remove.map((r) => r.identifier).join(', ') || 'nothing'}`);
    else {
      await progress.run(
        'delete',
        async () => {
          const bySite = patched(PATCHES.cloneSite);
          for (const r of plan.remove) {
            const kind = plan.kinds[r.identifier];
            await deleting.rdsDeleteClone.executeWithOptions({ summary: `delete ${r.identifier}` }, [
              bySite
                ? { region, kind }
                : { aurora: kind === 'cluster', pollInterval: '30s', config: { aws: { region } } },
              r.identifier,
              // only the clone as listed: if the name now belongs to another run, it is left alone
              plan.owners[r.identifier] ? { runId: plan.owners[r.identifier]! } : undefined,
            ]);
          }
        },
        () => ({ skipped: plan.remove.length === 0, detail: `${plan.remove.length} deleted` }),
      );
    }
    return progress.finish({ region, dryRun, found: clones.length, deleted: plan.remove, kept: plan.keep });
  } catch (err) {
    return progress.fail(err);
  }
}
