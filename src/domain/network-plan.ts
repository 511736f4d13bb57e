/**
 * Plan mode of createDatabaseNetwork (issue 14): from what the read-only checks found (the VPC
 * tagged for the database, its subnets, the private zone dbops made for it), the changes a run
 * would make, per stage, and what would stop it. The rules are the create activities' own
 * (ensureVpc, ensureSubnets, ensureHostedZone), so a plan never promises what the apply refuses.
 * Pure and workflow-safe.
 */
import { z } from 'zod';
import { createNetworkInputSchema } from './peering';
import { change, expectPlanSchema, type PlannedChange } from './plan';

/**
 * createDatabaseNetwork's input with plan mode (asked only under the create-database-network-plan
 * patch); built for each validation and not kept, like every input schema (peering.ts).
 */
export function createNetworkPlanInputSchema() {
  return createNetworkInputSchema()
    .extend({
      /** Run the read-only checks only and return what a run would create (issue 14). */
      plan: z.boolean().optional(),
      /** Create only if the live plan still has this fingerprint (else PlanOutdated, nothing created). */
      expectPlan: expectPlanSchema().optional(),
    })
    .strict();
}

/** The input without its plan fields: what planNetwork validates (its schema refuses them). */
export function withoutPlanFields(raw: unknown): unknown {
  if (typeof raw !== 'object' || raw === null) return raw;
  const { plan: _plan, expectPlan: _expect, ...rest } = raw as Record<string, unknown>;
  return rest;
}

/** The database network as the read-only check found it (readDatabaseNetwork). */
export interface NetworkFacts {
  vpcId: string;
  cidr: string;
  managedByDbops: boolean;
  subnets: Array<{ id: string; cidr: string; az: string }>;
  /** The private zone dbops made for the VPC (by caller reference), and whether it carries the database tag. */
  zone?: { hostedZoneId: string; tagged: boolean };
}

/** What a createDatabaseNetwork run would make, from the planned CIDR and subnets and the facts. */
export function networkCreationChanges(o: {
  databaseId: string;
  cidr: string;
  requestedCidr?: string;
  subnets: Array<{ az: string; cidr: string }>;
  zoneName: string;
  found?: NetworkFacts;
}): { changes: PlannedChange[]; blocked: PlannedChange[] } {
  const f = o.found;
  if (f && o.requestedCidr && o.requestedCidr !== f.cidr) {
    // The apply refuses here (DatabaseNetworkConflict), before anything is made.
    return {
      changes: [],
      blocked: [
        change(
          'plan-cidr',
          'create',
          `VPC ${o.requestedCidr} for ${o.databaseId}`,
          `database ${o.databaseId} already has network ${f.vpcId} with CIDR ${f.cidr}`,
        ),
      ],
    };
  }
  const changes: PlannedChange[] = [];
  if (!f) changes.push(change('create-vpc', 'create', `VPC ${o.cidr} for ${o.databaseId}`, 'tagged dbops:database-id'));
  for (const s of o.subnets) {
    if (f?.subnets.some((x) => x.cidr === s.cidr)) continue;
    changes.push(change('create-subnets', 'create', `subnet ${s.cidr} in ${s.az}`));
  }
  if (!f?.zone) changes.push(change('create-hosted-zone', 'create', `private hosted zone ${o.zoneName}`));
  else if (!f.zone.tagged)
    changes.push(
      change('create-hosted-zone', 'change', `tag zone ${f.zone.hostedZoneId} dbops:database-id=${o.databaseId}`),
    );
  return { changes, blocked: [] };
}
