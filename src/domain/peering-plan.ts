/**
 * Plans and drift of a peering (issue 14): from what the read-only checks found (the peering, the
 * routes to the database CIDR and back, the zone association), the changes a peerVpc run would
 * make, per stage, and what would stop it. The route rules are the route stage's own
 * (`routeAction`, used by ensureRoutesIn too), so a plan never promises what the apply refuses.
 * Pure and workflow-safe.
 */
import { z } from 'zod';
import { InvalidInput } from './errors';
import {
  change,
  planDifference,
  planOutdatedMessage,
  stagePlanDetail,
  type ExpectPlan,
  type PlannedChange,
} from './plan';
import { truncate } from './text';
import { parse, peerVpcInputSchema, type PeeringStage } from './peering';

/** What a run with `plan` / `expectPlan` in its input does. */
export type PlanMode = { kind: 'apply' } | { kind: 'plan' } | { kind: 'expect'; expect: ExpectPlan };

/** Whether a raw input asks for plan mode at all (asked before validation, so ordinary runs ask no patch). */
export function asksForPlan(input: unknown): boolean {
  if (typeof input !== 'object' || input === null) return false;
  const i = input as { plan?: unknown; expectPlan?: unknown };
  return i.plan !== undefined || i.expectPlan !== undefined;
}

/** The plan mode of a validated input: `plan` and `expectPlan` together are refused. */
export function planMode(i: { plan?: boolean; expectPlan?: ExpectPlan }): PlanMode {
  if (i.plan && i.expectPlan)
    throw new InvalidInput(
      'invalid input: give plan (to see what a run would change) or expectPlan (to apply a plan), not both',
    );
  if (i.expectPlan) return { kind: 'expect', expect: i.expectPlan };
  return i.plan ? { kind: 'plan' } : { kind: 'apply' };
}

/** A route as found in a route table, for one destination CIDR. */
export interface RouteFact {
  routeTableId: string;
  cidr: string;
  /** The route for `cidr` in this table, if any. */
  existing?: { peeringId?: string; target: string; blackhole: boolean };
}

/** What the route stage does with one table: the rules of ensureRoutesIn. */
export type RouteAction = 'present' | 'created' | 'replaced-blackhole' | 'replaced-forced' | 'conflict';

/**
 * Same target (and not a blackhole) → present; none → created; a blackhole → replaced; another
 * target → replaced when forced, else a conflict (the route stage refuses: RouteConflict).
 * `peeringId` undefined: the peering does not exist yet, so no route can point at it.
 */
export function routeAction(
  existing: RouteFact['existing'],
  peeringId: string | undefined,
  force: boolean,
): RouteAction {
  if (!existing) return 'created';
  if (peeringId !== undefined && existing.peeringId === peeringId && !existing.blackhole) return 'present';
  if (existing.blackhole) return 'replaced-blackhole';
  return force ? 'replaced-forced' : 'conflict';
}

/** Everything the read-only checks found, as the plan needs it. */
export interface PeeringFacts {
  stages: readonly PeeringStage[];
  databaseId: string;
  customerVpcId: string;
  /** The database side's VPC (AWS kind), for the peering's name; else the database id. */
  databaseVpcId?: string;
  databaseCidr: string;
  force: boolean;
  routeTables: 'all' | 'main';
  /** The peering the database side has with the VPC (absent: none, initiate would request one). */
  peering?: { peeringId?: string; status: string };
  /** Its EC2 state in the customer's region (read when it has an id). */
  peeringState?: string;
  /** The customer VPC's targeted route tables, for the database CIDR (empty: it has none). */
  customerRoutes: RouteFact[];
  /** The database side's route tables for the customer CIDRs; `managed`: the cloud routes its side. */
  returnRoutes: RouteFact[] | 'managed';
  /** The zone to associate with, and whether the VPC is associated (absent: the database has no zone). */
  zone?: { hostedZoneId: string; associated: boolean };
}

/** The changes, and what would stop the apply (a change it would refuse to make), both per stage. */
export interface PeeringChanges {
  changes: PlannedChange[];
  blocked: PlannedChange[];
  /**
   * What a reconcile may repair with the existing idempotent activities, only while the peering is
   * active (a peering gone or not active is not drift to patch up around: peer-vpc again): the
   * routes of a side with nothing refused, the zone association.
   */
  repairable: { customerRoutes: boolean; returnRoutes: boolean; association: boolean };
  /** Per stage: what its check could not see yet because an earlier stage makes its prerequisite. */
  after: Partial<Record<string, string>>;
}

export const peeringName = (f: Pick<PeeringFacts, 'databaseVpcId' | 'databaseId' | 'customerVpcId'>): string =>
  `VPC peering ${f.databaseVpcId ?? f.databaseId} ↔ ${f.customerVpcId}`;

/** The changes a peerVpc run would make, from the facts (see PeeringFacts). */
export function peeringChanges(f: PeeringFacts): PeeringChanges {
  const changes: PlannedChange[] = [];
  const blocked: PlannedChange[] = [];
  const after: PeeringChanges['after'] = {};
  const want = (s: PeeringStage) => f.stages.includes(s);
  const name = peeringName(f);
  const pcx = f.peering?.peeringId;
  const active = pcx !== undefined && (f.peeringState ?? f.peering?.status) === 'active';
  const repairable = { customerRoutes: false, returnRoutes: false, association: false };

  if (want('initiate') && !f.peering) changes.push(change('initiate', 'create', name, 'no peering found'));

  if (want('accept')) {
    const state = f.peeringState ?? f.peering?.status;
    if (!f.peering) {
      changes.push(change('accept', 'change', `accept ${name}`, 'once initiate has requested it'));
      after.accept = 'after initiate requests the peering';
    } else if (!pcx) {
      after.accept = `the database side reports the peering as ${f.peering.status}, with no id yet`;
    } else if (state === 'pending-acceptance') {
      changes.push(change('accept', 'change', `accept ${pcx}`, 'pending-acceptance → active'));
    } else if (state !== 'active' && !['initiating-request', 'provisioning'].includes(state ?? '')) {
      blocked.push(change('accept', 'change', `accept ${pcx}`, `peering is ${state ?? 'gone'}: it cannot be accepted`));
    }
  }

  if (want('route')) {
    const via = pcx ?? 'the new peering';
    if (!pcx) after.route = 'after initiate creates the peering';
    if (!f.databaseCidr) {
      changes.push(change('route', 'create', `routes to the CIDR of ${f.databaseId} via ${via}`, 'CIDR not known yet'));
    } else if (f.customerRoutes.length === 0) {
      blocked.push(
        change(
          'route',
          'create',
          `route ${f.databaseCidr} in ${f.customerVpcId}`,
          `VPC ${f.customerVpcId} has no ${f.routeTables === 'main' ? 'main ' : ''}route table`,
        ),
      );
    }
    const sides: Array<[RouteFact[], string, boolean, 'customerRoutes' | 'returnRoutes']> = [
      [f.databaseCidr ? f.customerRoutes : [], '', f.force, 'customerRoutes'],
    ];
    if (f.returnRoutes !== 'managed') sides.push([f.returnRoutes, ' (database VPC)', false, 'returnRoutes']);
    for (const [facts, where, force, side] of sides) {
      const actions = facts.map((r) => routeAction(r.existing, pcx, force));
      repairable[side] =
        active && actions.some((a) => a !== 'present') && !actions.includes('conflict') && facts.length > 0;
      for (const r of facts) {
        const what = `route ${r.cidr} in ${r.routeTableId}${where} → ${via}`;
        const was = r.existing?.target;
        switch (routeAction(r.existing, pcx, force)) {
          case 'present':
            break;
          case 'created':
            changes.push(change('route', 'create', what, 'missing'));
            break;
          case 'replaced-blackhole':
            changes.push(change('route', 'change', what, `points at ${was} (blackhole)`));
            break;
          case 'replaced-forced':
            changes.push(change('route', 'change', what, `points at ${was}; replaced (forceRouteCreation)`));
            break;
          case 'conflict':
            blocked.push(
              change('route', 'change', what, `points at ${was}: refused without forceRouteCreation (RouteConflict)`),
            );
        }
      }
    }
  }

  if (want('associate-dns')) {
    if (!f.zone) {
      blocked.push(
        change(
          'associate-dns',
          'create',
          `association of ${f.customerVpcId} with the zone of ${f.databaseId}`,
          'the database has no private hosted zone (HostedZoneNotFound)',
        ),
      );
    } else if (!f.zone.associated) {
      repairable.association = active;
      changes.push(
        change(
          'associate-dns',
          'create',
          `association of ${f.customerVpcId} with zone ${f.zone.hostedZoneId}`,
          'not associated',
        ),
      );
    }
  }
  return { changes, blocked, after, repairable };
}

/** What unpeerVpc's read-only checks found. */
export interface UnpeeringFacts {
  databaseId: string;
  customerVpcId: string;
  databaseVpcId?: string;
  peering?: { peeringId?: string; status: string; managed?: boolean };
  /** The zone unpeer would disassociate from, and whether the VPC is associated (absent: no zone). */
  zone?: { hostedZoneId: string; associated: boolean };
  /** Routes via the peering, customer side and database side ('managed': the cloud's own). */
  customerRoutes: Array<{ routeTableId: string; cidr: string }>;
  returnRoutes: Array<{ routeTableId: string; cidr: string }> | 'managed';
}

/**
 * What an unpeerVpc run would delete, per stage (disassociate-dns, remove-routes, delete-peering):
 * the association, only the routes that point at the peering, the peering.
 */
export function unpeeringChanges(f: UnpeeringFacts): Pick<PeeringChanges, 'changes' | 'blocked'> {
  const changes: PlannedChange[] = [];
  const pcx = f.peering?.peeringId;
  if (f.zone?.associated)
    changes.push(
      change('disassociate-dns', 'delete', `association of ${f.customerVpcId} with zone ${f.zone.hostedZoneId}`),
    );
  if (pcx) {
    for (const r of f.customerRoutes)
      changes.push(change('remove-routes', 'delete', `route ${r.cidr} in ${r.routeTableId} → ${pcx}`));
    if (f.returnRoutes !== 'managed')
      for (const r of f.returnRoutes)
        changes.push(change('remove-routes', 'delete', `route ${r.cidr} in ${r.routeTableId} (database VPC) → ${pcx}`));
  }
  if (f.peering) {
    const tagged =
      f.peering.managed === undefined
        ? ''
        : f.peering.managed
          ? '; made by dbops'
          : '; no dbops tag (deleted all the same)';
    changes.push(
      change(
        'delete-peering',
        'delete',
        `${pcx ? `VPC peering ${pcx}` : 'the peering request'} (${f.databaseVpcId ?? f.databaseId} ↔ ${f.customerVpcId})`,
        `${f.peering.status}${tagged}`,
      ),
    );
  }
  return { changes, blocked: [] };
}

/**
 * The reconcile's input: exactly peerVpc's (without plan and expectPlan), and `reportOnly`. Built
 * for each validation and not kept, like every input schema (peering.ts).
 */
export function reconcilePeeringInputSchema() {
  return peerVpcInputSchema()
    .omit({ plan: true, expectPlan: true })
    .extend({
      /** Report the drift (result, progress, DbopsDrift, metrics) and change nothing. */
      reportOnly: z.boolean().optional(),
    })
    .strict();
}
export type ReconcilePeeringInput = z.input<ReturnType<typeof reconcilePeeringInputSchema>> & {
  cloud: import('./peering').Cloud;
};

/** Validates a reconcile input; returns peerVpc's input and reportOnly. */
export function planReconcilePeering(raw: unknown): { peer: Record<string, unknown>; reportOnly: boolean } {
  const { reportOnly, ...peer } = parse(reconcilePeeringInputSchema(), raw);
  return { peer, reportOnly: reportOnly ?? false };
}

export function reconcilePeeringWorkflowId(i: { databaseId: string; vpcId: string }): string {
  return `reconcile-peering:${i.databaseId}:${i.vpcId}`;
}

const changeLine = (c: PlannedChange): string => `${c.stage}: ${c.what}${c.detail ? ` (${c.detail})` : ''}`;

/**
 * Why an apply that brought `expect` must not go on, or undefined: the live state has a change
 * the apply would refuse (PlanBlocked), or no longer matches the plan (PlanOutdated).
 */
export function expectPlanRefusal(
  expect: ExpectPlan,
  live: Pick<PeeringChanges, 'changes' | 'blocked'>,
): { type: 'PlanBlocked' | 'PlanOutdated'; message: string } | undefined {
  const diff = planDifference(expect, live.changes);
  if (diff) return { type: 'PlanOutdated', message: planOutdatedMessage(expect, live.changes, diff) };
  if (live.blocked.length)
    return {
      type: 'PlanBlocked',
      message: truncate(
        `the apply would be refused: ${live.blocked.map(changeLine).join('; ')}; nothing was changed`,
        2000,
      ),
    };
  return undefined;
}

/** A stage's row in a plan run: what it would change, what would stop it, what it cannot see yet. */
export function stagePlanOutcome(
  live: Pick<PeeringChanges, 'changes' | 'blocked'> & { after?: PeeringChanges['after'] },
  stage: string,
): { detail: string; problem?: string } {
  const detail = stagePlanDetail(live.changes, stage);
  const after = live.after?.[stage];
  const blocked = live.blocked.filter((c) => c.stage === stage);
  return {
    detail: after ? `${after}: ${detail}` : detail,
    ...(blocked.length ? { problem: truncate(`would refuse: ${blocked.map(changeLine).join('; ')}`, 500) } : {}),
  };
}
