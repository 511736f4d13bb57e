/** What `dbops refresh`, `refresh schedule` and `refresh cleanup` do (loaded only when one of them runs). */
import type { Command } from 'commander';
import { SA_OPERATION, SA_TARGET } from '../../api';
import {
  planRefresh,
  refreshWorkflowId,
  scheduledRefreshWorkflowId,
  type RefreshConfig,
} from '../../domain/dblab-config';
import { planCleanup } from '../../domain/cleanup';
import type { CliContext } from '../context';
import { setExitCode } from '../exit';
import { startRun } from '../follow';
import { inFlagTerms, type FlagNames } from '../flag-terms';
import { readJsonInput } from '../input';
import { readRefreshYamlFile } from '../rds-refresh-yaml';
import { createSchedule } from './schedule';

/** The janitor's input fields, by flag. (A refresh's input is its --config file: its problems keep their paths.) */
export const CLEANUP_FLAGS: FlagNames = { region: '--region', dryRun: '--dry-run' };

function loadConfig(file: string, env: NodeJS.ProcessEnv, dryRun?: boolean): RefreshConfig {
  const config = file.endsWith('.json') ? (readJsonInput(`@${file}`) as RefreshConfig) : readRefreshYamlFile(file, env);
  return dryRun ? { ...config, dryRun: true } : config;
}

export async function refresh(
  ctx: CliContext,
  o: { config?: string; dryRun?: boolean; detach?: boolean },
  cmd: Command,
): Promise<void> {
  if (!o.config) throw new Error('--config is required');
  const input = loadConfig(o.config, ctx.env, o.dryRun);
  const plan = planRefresh(input);
  const { client, settings } = await ctx.connect();
  const code = await startRun(
    client,
    {
      workflowType: 'refreshDblab',
      workflowId: refreshWorkflowId(plan),
      input,
      taskQueue: settings.taskQueue,
      staticSummary: `${plan.dryRun ? 'dry run: ' : ''}refresh DBLab ${plan.dblabHost} from ${plan.config.source.identifier}`,
      typedSearchAttributes: [
        { key: SA_OPERATION, value: 'refreshDblab' },
        { key: SA_TARGET, value: plan.dblabHost },
      ],
    },
    ctx.io,
    { detach: o.detach },
  );
  setExitCode(cmd, code);
}

export async function schedule(
  ctx: CliContext,
  o: { config: string; cron: string[]; scheduleId?: string; catchupWindow: string },
): Promise<void> {
  const input = loadConfig(o.config, ctx.env);
  const plan = planRefresh(input);
  const { client, settings } = await ctx.connect();
  const id = o.scheduleId ?? refreshWorkflowId(plan);
  // The schedule starts scheduledRefreshDblab, which runs the refresh as a child under
  // refresh-dblab:<host>, the id a manual `dbops refresh` uses too: one refresh at a time.
  await createSchedule(client, {
    scheduleId: id,
    cron: o.cron,
    workflowType: 'scheduledRefreshDblab',
    workflowId: scheduledRefreshWorkflowId(plan),
    input,
    taskQueue: settings.taskQueue,
    overlap: 'skip',
    catchupWindow: o.catchupWindow,
    note: `DBLab ${plan.dblabHost} refresh from ${plan.config.source.identifier}`,
  });
  ctx.io.out.write(
    `schedule ${id} created: refresh of DBLab ${plan.dblabHost} as ${refreshWorkflowId(plan)}, cron ${o.cron.join(' | ')}, overlap skip, catch-up ${o.catchupWindow}\n`,
  );
}

export async function cleanup(
  ctx: CliContext,
  o: { region: string; dryRun?: boolean; detach?: boolean },
  cmd: Command,
): Promise<void> {
  const input = { region: o.region, dryRun: o.dryRun ?? false };
  inFlagTerms(CLEANUP_FLAGS, () => planCleanup(input)); // an unknown region is refused before the run
  const { client, settings } = await ctx.connect();
  const code = await startRun(
    client,
    {
      workflowType: 'cleanupRefreshClones',
      workflowId: `cleanup-refresh-clones:${o.region}`,
      input,
      taskQueue: settings.taskQueue,
      typedSearchAttributes: [
        { key: SA_OPERATION, value: 'cleanupRefreshClones' },
        { key: SA_TARGET, value: o.region },
      ],
    },
    ctx.io,
    { detach: o.detach },
  );
  setExitCode(cmd, code);
}
