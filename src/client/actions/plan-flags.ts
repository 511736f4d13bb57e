/** `--plan`, `--expect-plan`, `--expect-plan-from` (issue 14), the same for every command that changes something. */
import type { ExpectPlan, PlannedChange } from '../../domain/plan';
import type { CliContext } from '../context';

export interface PlanFlags {
  plan?: boolean;
  expectPlan?: string;
  expectPlanFrom?: string;
}

/** The plan fields the flags ask for: `plan`, or the plan to apply against (its fingerprint, or a plan run's result). */
export async function planFields(ctx: CliContext, f: PlanFlags): Promise<{ plan?: true; expectPlan?: ExpectPlan }> {
  const given = [f.plan && '--plan', f.expectPlan && '--expect-plan', f.expectPlanFrom && '--expect-plan-from'].filter(
    Boolean,
  );
  if (given.length > 1) throw new Error(`give one of ${given.join(', ')}`);
  if (f.plan) return { plan: true };
  if (f.expectPlan) return { expectPlan: { fingerprint: f.expectPlan } };
  if (!f.expectPlanFrom) return {};
  const { client } = await ctx.connect();
  const r = (await client.workflow.getHandle(f.expectPlanFrom).result()) as Partial<ExpectPlan> & {
    changes?: PlannedChange[];
  };
  if (!r || r.plan !== true || typeof r.fingerprint !== 'string')
    throw new Error(`--expect-plan-from: ${f.expectPlanFrom} is not a plan run (its result has no plan)`);
  return { expectPlan: { plan: true, fingerprint: r.fingerprint, changes: r.changes } };
}
