/**
 * The read-only checks of a peering plan (issue 14), shared by peerVpc (plan, expectPlan) and
 * reconcilePeering: after prepare's reads (the VPC, the database side, its peering), the peering's
 * state, the routes both ways and the zone association, through read-only activities only (never a
 * hint on a mutating one: an old worker would ignore it and mutate). Workflow code.
 */
import type { CustomerVpc } from '../activities/ec2';
import type { DatabaseInfo, DatabasePeering } from '../activities/database-side/types';
import type { PeeringPlan } from '../domain/peering';
import { ApplicationFailure } from '@temporalio/workflow';
import {
  expectPlanRefusal,
  peeringChanges,
  stagePlanOutcome,
  unpeeringChanges,
  type PeeringChanges,
  type PlanMode,
} from '../domain/peering-plan';
import { planResult, type PlannedChange, type PlanResult } from '../domain/plan';
import type { ProgressTracker } from './progress';
import { quick } from './peering-activities';

/** A peering plan run's result (peerVpc, unpeerVpc): the plan, what would stop an apply, and the target. */
export interface PeeringPlanResult extends PlanResult {
  /** Changes the apply would refuse to make (e.g. a route to the CIDR that points elsewhere). */
  blocked: PlannedChange[];
  databaseId: string;
  vpcId: string;
  region: string;
  peeringId?: string;
}

/** What prepare found (lookUp). */
export interface Found {
  customer: CustomerVpc;
  database: DatabaseInfo;
  peering?: DatabasePeering;
}

/** The zone association a run would make or check, as the route53 activities take it. */
export function zoneAssociation(plan: Pick<PeeringPlan, 'cloud'>, found: Found, hostedZoneId: string) {
  const { customer, database } = found;
  return {
    hostedZoneId,
    vpcId: customer.vpcId,
    region: customer.region,
    crossAccount: database.accountId === undefined || database.accountId !== customer.accountId,
    zoneOwnerRoleArn: plan.cloud.kind === 'aws' ? plan.cloud.roleArn : undefined,
  };
}

/** The changes a peerVpc run with this plan would make now, and what would stop it. Read-only. */
export async function checkPeering(plan: PeeringPlan, found: Found): Promise<PeeringChanges> {
  const { customer, database, peering } = found;
  const want = (s: PeeringPlan['stages'][number]) => plan.stages.includes(s);
  const pcx = peering?.peeringId;
  const peeringState =
    pcx && (want('accept') || want('route'))
      ? await quick.readPeeringState.executeWithOptions({ summary: `plan: state of ${pcx} in ${customer.region}` }, [
          { region: customer.region, peeringId: pcx },
        ])
      : undefined;
  const route = want('route');
  const customerRoutes =
    route && database.cidr
      ? await quick.readCustomerRoutes.executeWithOptions(
          { summary: `plan: routes to ${database.cidr} in ${customer.vpcId}` },
          [{ region: customer.region, vpcId: customer.vpcId, cidr: database.cidr, tables: plan.routeTables }],
        )
      : [];
  const returnRoutes = route
    ? await quick.databaseReadReturnRoutes.executeWithOptions(
        { summary: `plan: return routes to ${customer.cidrBlocks.join(', ')}` },
        [plan, customer],
      )
    : [];
  const hostedZoneId = peering?.hostedZoneId ?? database.hostedZoneId;
  const zone =
    want('associate-dns') && hostedZoneId
      ? {
          hostedZoneId,
          associated: await quick.vpcAssociatedWithZone.executeWithOptions(
            { summary: `plan: is ${customer.vpcId} associated with ${hostedZoneId}?` },
            [zoneAssociation(plan, found, hostedZoneId)],
          ),
        }
      : undefined;
  return peeringChanges({
    stages: plan.stages,
    databaseId: plan.databaseId,
    customerVpcId: customer.vpcId,
    databaseVpcId: database.vpcId,
    databaseCidr: database.cidr,
    force: plan.force,
    routeTables: plan.routeTables,
    peering: peering && { ...(pcx ? { peeringId: pcx } : {}), status: peering.status },
    peeringState,
    customerRoutes,
    returnRoutes,
    zone,
  });
}

/** What an unpeerVpc run would delete now (see unpeeringChanges). Read-only. */
export async function checkUnpeering(
  plan: Pick<PeeringPlan, 'databaseId' | 'region' | 'cloud' | 'timing'>,
  found: Found,
): Promise<Pick<PeeringChanges, 'changes' | 'blocked'>> {
  const { customer, database, peering } = found;
  const pcx = peering?.peeringId;
  const hostedZoneId = peering?.hostedZoneId ?? database.hostedZoneId;
  const associated = hostedZoneId
    ? await quick.vpcAssociatedWithZone.executeWithOptions(
        { summary: `plan: is ${customer.vpcId} associated with ${hostedZoneId}?` },
        [zoneAssociation(plan, found, hostedZoneId)],
      )
    : false;
  const customerRoutes = pcx
    ? await quick.readCustomerRoutesVia.executeWithOptions(
        { summary: `plan: routes via ${pcx} in ${customer.vpcId}` },
        [{ region: customer.region, vpcId: customer.vpcId, peeringId: pcx }],
      )
    : [];
  const returnRoutes = pcx
    ? await quick.databaseReadReturnRoutesVia.executeWithOptions({ summary: `plan: return routes via ${pcx}` }, [
        plan,
        pcx,
      ])
    : [];
  return unpeeringChanges({
    databaseId: plan.databaseId,
    customerVpcId: customer.vpcId,
    databaseVpcId: database.vpcId,
    peering: peering && {
      ...(pcx ? { peeringId: pcx } : {}),
      status: peering.status,
      ...(plan.cloud.kind === 'aws' ? { managed: peering.managed === true } : {}),
    },
    zone: hostedZoneId ? { hostedZoneId, associated } : undefined,
    customerRoutes,
    returnRoutes,
  });
}

type LivePlan = Pick<PeeringChanges, 'changes' | 'blocked'> & { after?: PeeringChanges['after'] };

/** An apply that brought a plan: refuses (PlanOutdated, PlanBlocked) when the live one no longer matches it. */
export function refuseUnlessPlanned(mode: PlanMode, live: LivePlan): void {
  const refusal = mode.kind === 'expect' ? expectPlanRefusal(mode.expect, live) : undefined;
  if (refusal) throw ApplicationFailure.nonRetryable(refusal.message, refusal.type);
}

/**
 * A plan run's end: each stage's row shows what it would do (a stage `selected` leaves out shows
 * "not selected"), and the result is the plan beside the target. Nothing was changed.
 */
export async function finishPlan<T extends object, R>(
  progress: ProgressTracker<R>,
  stages: readonly string[],
  live: LivePlan,
  target: T,
  selected: (stage: string) => boolean = () => true,
): Promise<R> {
  for (const s of stages) {
    if (selected(s))
      await progress.run(
        s,
        async () => undefined,
        () => stagePlanOutcome(live, s),
      );
    else progress.skip(s, 'not selected');
  }
  return progress.finish({ ...planResult(live.changes), blocked: live.blocked, ...target } as R);
}
