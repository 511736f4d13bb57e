/**
 * peerVpc: peers a customer VPC with a cloud database in four durable stages — initiate, accept,
 * route, associate-dns — after a read-only prepare. With no stages named, every stage runs and
 * one whose work is already done shows as skipped; named stages run alone, in canonical order.
 * The first failure stops the rest and the run fails naming the stage.
 *
 * Cancelled (patch UNDO_ON_CANCEL): a run undoes the peering it made — the zone association it
 * made (only when a read before associating found none), the routes via the peering on both
 * sides, the peering — then ends cancelled. "It made": on AWS the peering carries the run's id in
 * its dbops:run-id tag (given at the request); on Aerospike Cloud, which has no tags, initiate
 * reported requesting it and the id is the one it returned. A stage in flight settles first:
 * waiting stages stop at their next heartbeat and the workflow waits for that; quick creates
 * finish. The run id is the one on the run's started event (kept across resets, its own for each
 * run of a cron or retry chain).
 */
import {
  ApplicationFailure,
  CancelledFailure,
  CancellationScope,
  isCancellation,
  patched,
  workflowInfo,
} from '@temporalio/workflow';
import type { CustomerVpc } from '../activities/ec2';
import type { ZoneAssociation } from '../activities/route53';
import {
  parse,
  peerVpcInputSchema,
  peeringTarget,
  planPeering,
  PEERING_STAGES,
  type PeerVpcInput,
  type PeeringPlan,
  type PeeringStage,
} from '../domain/peering';
import { planFingerprint } from '../domain/plan';
import { asksForPlan, planMode, type PeeringChanges, type PlanMode } from '../domain/peering-plan';
import { ProgressTracker, stepOutcome as outcome, validInput } from './progress';
import { checkPeering, finishPlan, refuseUnlessPlanned, type PeeringPlanResult } from './peering-plan';
import { lookUp, lookUpPeering, polled, quick, undoing, waiting, WAITS_BY_RETRY } from './peering-activities';
import { POLL_ONCE, waitFor, waitingNote, type Wait } from './polling';
import type { Duration } from '@temporalio/common';
import { CancelGuard } from './undo';

/** A cancelled run undoes the peering it made. */
export const UNDO_ON_CANCEL = 'peer-vpc-undo-on-cancel';

/**
 * Behaviour changes since 0.2.0, each behind a patch (CONTRIBUTING.md). A patch costs two history
 * events (its marker and a search-attribute upsert), so one id covers one release's changes of a
 * kind; it is asked where each change starts, so a run upgraded mid-way takes the changes ahead.
 */
export const PATCHES = {
  /**
   * Fewer AWS calls: (0) a peering prepare found active skips initiate and accept without calling
   * them; (1) the stages after prepare get the database network prepare found (its
   * VPC, CIDR, account and zone) in their plan and do not look it up again (before: each looked it
   * up by tag); (2) associate-dns reads the association once: associated → nothing to do, else
   * associate without reading again (before: associateVpcWithZone read it again); (3) the route
   * stage is told the peering is active when accept just made it so or prepare found it so.
   */
  fewerAwsCalls: 'peer-vpc-fewer-aws-calls',
  /**
   * Region names are checked against the AWS SDK's list (us-eest-1 is refused when the run starts).
   * Before: any name of the region shape was accepted, and planning without the marker still does.
   */
  knownRegions: 'peer-vpc-known-regions',
  /**
   * Plan mode (issue 14): `plan` returns what a run would change (read-only checks only);
   * `expectPlan` refuses (PlanOutdated, PlanBlocked) before changing anything when the live plan
   * differs. Asked only by runs whose input has either field.
   */
  plan: 'peer-vpc-plan',
  /**
   * Fewer round trips and reads (issue 11): (0) prepare is one activity (lookUpPeering: the customer
   * VPC and the database side, and whether the customer VPC is associated with the zone already,
   * from the zone read prepare makes anyway); (1) the route stage is one
   * activity (ensurePeeringRoutes: both VPCs' tables in one read) when the database network is
   * reached with the worker's own identity in the customer's region; (2) associate-dns ends at once
   * when prepare's read of the zone found the customer VPC associated (a re-run: no activity), and
   * calls databaseAuthorizeZone only across accounts or for a side that is not AWS. When prepare
   * found it not associated, the stage reads again just before associating, as before (that read,
   * recorded, is what the undo of a cancelled run trusts). Asked once, at prepare: a run upgraded
   * after its prepare keeps the stages as they were.
   */
  fewerRoundTrips: 'peer-vpc-fewer-round-trips',
} as const;

const APPLY: PlanMode = { kind: 'apply' };
const NO_PLAN: PeeringChanges | undefined = undefined;

/**
 * The database network is an AWS one the worker reaches with its own identity (no role) in the
 * customer VPC's region: one EC2 client reaches both VPCs' route tables.
 */
function oneIdentity(plan: PeeringPlan, customer: CustomerVpc): boolean {
  return (
    plan.cloud.kind === 'aws' &&
    plan.cloud.roleArn === undefined &&
    (plan.cloud.region ?? plan.region) === customer.region
  );
}

/** What the undo needs, from history: the run id, initiate's answer, the association it made. */
interface PeeringUndo {
  plan: PeeringPlan;
  customer: CustomerVpc;
  runId: string;
  /** From initiate's result (Aerospike Cloud): it requested the peering, and its id. */
  requested?: boolean;
  peeringId?: string;
  zone?: ZoneAssociation;
}

export const PEER_STAGES = ['prepare', ...PEERING_STAGES] as const;

export interface PeerVpcResult {
  databaseId: string;
  vpcId: string;
  region: string;
  peeringId?: string;
  databaseCidr: string;
  hostedZoneId?: string;
  stagesRun: PeeringStage[];
}

/** A plan run's result (see PeeringPlanResult). */
export type PeerVpcPlanResult = PeeringPlanResult;

export async function peerVpc(input: PeerVpcInput): Promise<PeerVpcResult | PeerVpcPlanResult> {
  const progress = new ProgressTracker<PeerVpcResult | PeerVpcPlanResult>(
    'peerVpc',
    peeringTarget(input ?? {}),
    PEER_STAGES,
  );
  const guard = new CancelGuard(patched(UNDO_ON_CANCEL));
  const runId = guard.enabled ? workflowInfo().originalExecutionRunId : undefined;
  /** Set once initiate is sent: the undo then looks for a peering this run made. */
  let undo: PeeringUndo | undefined;
  try {
    // prepare: validate, resolve the VPC ("default" too) and look at the database side. No changes.
    const { plan, customer, database, peering, mode, live, oneLookUp } = await progress.run(
      'prepare',
      async () => {
        const plan = validInput(() => planPeering(input), patched(PATCHES.knownRegions));
        const find = patched(PATCHES.fewerRoundTrips) ? lookUpPeering : lookUp;
        // Since 0.5.0, asked only by runs whose input has plan or expectPlan (others' histories stay as they were).
        if (!(asksForPlan(input) && patched(PATCHES.plan)))
          return { plan, ...(await find(plan)), mode: APPLY, live: NO_PLAN, oneLookUp: find === lookUpPeering };
        const mode = validInput(() => planMode(parse(peerVpcInputSchema(), input)));
        const found = await find(plan);
        const oneLookUp = find === lookUpPeering;
        if (mode.kind === 'apply') return { plan, ...found, mode, live: NO_PLAN, oneLookUp }; // "plan": false
        const live = await checkPeering(plan, found);
        refuseUnlessPlanned(mode, live);
        return { plan, ...found, mode, live, oneLookUp };
      },
      (r) => ({
        detail:
          `VPC ${r.customer.vpcId} ${r.customer.cidr} (account ${r.customer.accountId}); ` +
          `database ${r.plan.databaseId} ${r.database.cidr || '(no CIDR yet)'}` +
          (r.live && r.mode.kind === 'expect' ? `; live state matches plan ${planFingerprint(r.live.changes)}` : ''),
      }),
    );
    if (mode.kind === 'plan' && live) {
      return finishPlan(
        progress,
        PEERING_STAGES,
        live,
        {
          databaseId: plan.databaseId,
          vpcId: customer.vpcId,
          region: customer.region,
          ...(peering?.peeringId ? { peeringId: peering.peeringId } : {}),
        },
        (s: string) => plan.stages.includes(s as PeeringStage),
      );
    }

    const fewer = patched(PATCHES.fewerAwsCalls);
    // What the database-side stages are given: the plan, and since 0.3.0 what prepare found.
    const side =
      fewer && database.vpcId
        ? {
            ...plan,
            resolved: {
              vpcId: database.vpcId,
              cidr: database.cidr,
              accountId: database.accountId,
              hostedZoneId: database.hostedZoneId,
            },
          }
        : plan;
    /** Since 0.3.0: a peering prepare found active needs neither initiate nor accept (a re-run). */
    const active = fewer && peering?.status === 'active' ? peering.peeringId : undefined;
    const acts = waiting(plan.timing, guard.enabled);
    const want = (s: PeeringStage) => plan.stages.includes(s);
    let peeringId = peering?.peeringId;
    let hostedZoneId = peering?.hostedZoneId ?? database.hostedZoneId;
    let databaseCidr = database.cidr;
    const needPeering = (): string => {
      if (!peeringId) {
        throw ApplicationFailure.nonRetryable(
          `database ${plan.databaseId} has no peering with ${customer.vpcId} yet: run the initiate stage first`,
          'PeeringNotFound',
        );
      }
      return peeringId;
    };

    if (want('initiate') && active) progress.skip('initiate', `found ${active} (active)`);
    else if (want('initiate')) {
      const r = await progress.run(
        'initiate',
        () => {
          guard.stopIfCancelled();
          if (runId) undo = { plan, customer, runId };
          const summary = { summary: `request peering ${plan.databaseId} ↔ ${customer.vpcId}` };
          if (patched(WAITS_BY_RETRY)) {
            const w: Wait = {
              what: `the database side to report a peering id for ${customer.vpcId}`,
              interval: plan.timing.pollInterval,
              heartbeatTimeout: plan.timing.heartbeatTimeout as Duration,
              timeout: plan.timing.initiateTimeout,
            };
            progress.note('initiate', waitingNote(w));
            const byRetry = polled(w, guard.enabled).databaseInitiate;
            return waitFor(w, () => byRetry.executeWithOptions(summary, [side, customer, runId, POLL_ONCE]));
          }
          const args: Parameters<typeof acts.databaseInitiate> = runId ? [side, customer, runId] : [side, customer];
          return acts.databaseInitiate.executeWithOptions(summary, args);
        },
        outcome,
      );
      if (undo) Object.assign(undo, { requested: r.changed, peeringId: r.peeringId });
      peeringId = r.peeringId;
      hostedZoneId = r.hostedZoneId ?? hostedZoneId;
      databaseCidr = r.databaseCidr || databaseCidr;
    } else progress.skip('initiate', 'not selected');

    /** Since 0.3.0: the peering was seen active (prepare, or accept, which ends when it is). */
    let seenActive = Boolean(active);
    if (want('accept') && active) progress.skip('accept', `${active} is active`);
    else if (want('accept')) {
      await progress.run(
        'accept',
        () => {
          guard.stopIfCancelled();
          const summary = { summary: `accept ${peeringId ?? 'the peering'} in ${customer.region}` };
          const accept = { region: customer.region, peeringId: needPeering(), timing: plan.timing };
          if (!patched(WAITS_BY_RETRY)) return acts.acceptPeering.executeWithOptions(summary, [accept]);
          const w: Wait = {
            what: `peering ${accept.peeringId} to be accepted and active`,
            interval: plan.timing.pollInterval,
            heartbeatTimeout: plan.timing.heartbeatTimeout as Duration,
            timeout: plan.timing.activeTimeout,
            quick: true,
          };
          const byRetry = polled(w, guard.enabled).acceptPeering;
          return waitFor(w, () => byRetry.executeWithOptions(summary, [accept, POLL_ONCE]));
        },
        outcome,
      );
      seenActive = fewer;
    } else progress.skip('accept', 'not selected');

    if (want('route')) {
      await progress.run(
        'route',
        async () => {
          guard.stopIfCancelled();
          const pcx = needPeering();
          const summary = { summary: `route ${databaseCidr} → ${pcx} (${plan.routeTables} tables)` };
          const route = {
            region: customer.region,
            vpcId: customer.vpcId,
            cidr: databaseCidr,
            peeringId: pcx,
            tables: plan.routeTables,
            force: plan.force,
            timing: plan.timing,
            ...(seenActive ? { active: true as const } : {}),
          };
          const w: Wait = {
            what: `peering ${pcx} to become active`,
            interval: plan.timing.pollInterval,
            heartbeatTimeout: plan.timing.heartbeatTimeout as Duration,
            timeout: plan.timing.activeTimeout,
            quick: true,
          };
          // Since 0.5.0: one activity for both sides when one client reaches both (no role, same region).
          if (oneLookUp && oneIdentity(plan, customer) && side !== plan) {
            const both = { summary: `route ${databaseCidr} ↔ ${customer.cidr} via ${pcx} (both VPCs)` };
            return waitFor(w, () =>
              polled(w, guard.enabled).ensurePeeringRoutes.executeWithOptions(both, [side, customer, route, POLL_ONCE]),
            );
          }
          const mine = patched(WAITS_BY_RETRY)
            ? await waitFor(w, () =>
                polled(w, guard.enabled).ensureCustomerRoutes.executeWithOptions(summary, [route, POLL_ONCE]),
              )
            : await acts.ensureCustomerRoutes.executeWithOptions(summary, [route]);
          const back = await guard.create(() =>
            quick.databaseReturnRoute.executeWithOptions({ summary: `return route ${customer.cidr} → ${pcx}` }, [
              side,
              customer,
              pcx,
            ]),
          );
          return { changed: mine.changed || back.changed, detail: `${mine.detail}; ${back.detail}` };
        },
        outcome,
      );
    } else progress.skip('route', 'not selected');

    if (want('associate-dns')) {
      await progress.run(
        'associate-dns',
        async () => {
          if (!hostedZoneId) {
            throw ApplicationFailure.nonRetryable(
              `database ${plan.databaseId} has no private hosted zone to associate ${customer.vpcId} with`,
              'HostedZoneNotFound',
            );
          }
          // Cancelled while the route stage settled: nothing more is started. Since 0.5.0 the first
          // command here may be the associate itself (no authorise, no read): without this, the
          // undo was told of an association the run never made, and removed one made by someone else.
          guard.stopIfCancelled();
          const zone = hostedZoneId;
          // Since 0.5.0: an AWS zone in the customer's own account needs no authorisation (no activity).
          const sameAccount =
            oneLookUp &&
            plan.cloud.kind === 'aws' &&
            database.accountId !== undefined &&
            database.accountId === customer.accountId;
          const auth = sameAccount
            ? { crossAccount: false, zoneOwnerRoleArn: plan.cloud.kind === 'aws' ? plan.cloud.roleArn : undefined }
            : await guard.create(() =>
                quick.databaseAuthorizeZone.executeWithOptions(
                  { summary: `authorise ${customer.vpcId} on zone ${zone}` },
                  [side, customer, zone],
                ),
              );
          const association = {
            hostedZoneId: zone,
            vpcId: customer.vpcId,
            region: customer.region,
            crossAccount: auth.crossAccount,
            zoneOwnerRoleArn: auth.zoneOwnerRoleArn,
          };
          if (patched(PATCHES.fewerAwsCalls)) {
            // One read (recorded in history): the undo removes only an association this run made.
            // Since 0.5.0 prepare's "associated" (its read of this zone) ends the stage at once; its
            // "not associated" is older than initiate, accept and route, so it is read again here.
            const known = oneLookUp && zone === database.hostedZoneId && database.customerAssociated === true;
            const before =
              known ||
              (await quick.vpcAssociatedWithZone.executeWithOptions(
                { summary: `is ${customer.vpcId} associated with ${zone} already?` },
                [association],
              ));
            if (before) return { changed: false, detail: `${customer.vpcId} already associated with ${zone}` };
            if (undo) undo.zone = association;
            return guard.create(() =>
              quick.associateVpcWithZone.executeWithOptions(
                { summary: `associate ${customer.vpcId} with zone ${zone}` },
                [association, { associated: false }],
              ),
            );
          }
          if (undo) {
            // Read before associating (recorded in history): the undo removes only an association this run made.
            const before = await quick.vpcAssociatedWithZone.executeWithOptions(
              { summary: `is ${customer.vpcId} associated with ${zone} already?` },
              [association],
            );
            if (!before) undo.zone = association;
          }
          return guard.create(() =>
            quick.associateVpcWithZone.executeWithOptions(
              { summary: `associate ${customer.vpcId} with zone ${zone}` },
              [association],
            ),
          );
        },
        outcome,
      );
    } else progress.skip('associate-dns', 'not selected');

    guard.stopIfCancelled(); // cancelled during the last stage: undone like the others
    return progress.finish({
      databaseId: plan.databaseId,
      vpcId: customer.vpcId,
      region: customer.region,
      peeringId,
      databaseCidr,
      hostedZoneId,
      stagesRun: plan.stages,
    });
  } catch (err) {
    // Cancelled: also when the stage in flight failed after the cancellation (it could not be interrupted).
    const cancelled = guard.enabled && (isCancellation(err) || CancellationScope.current().consideredCancelled);
    if (undo && cancelled) {
      await guard.undo(() => undoPeering(undo!));
      if (!isCancellation(err)) throw new CancelledFailure('cancelled; what the run made is undone');
    }
    return progress.fail(err);
  }
}

/**
 * Removes what a cancelled run made, if the peering between the two VPCs now is the run's: the
 * zone association it made, the routes via the peering (both sides), the peering.
 */
async function undoPeering(u: PeeringUndo): Promise<void> {
  const { plan, customer, runId, zone } = u;
  const { peering } = await undoing.databaseDescribe.executeWithOptions(
    { summary: 'undo: find the peering this run made' },
    [plan, customer],
  );
  const aws = plan.cloud.kind === 'aws';
  const ours =
    peering !== undefined && (aws ? peering.run === runId : u.requested === true && peering.peeringId === u.peeringId);
  if (!ours) return;
  const pcx = peering.peeringId;
  if (zone)
    await undoing.disassociateVpcFromZone.executeWithOptions(
      { summary: `undo: disassociate ${customer.vpcId} from ${zone.hostedZoneId}` },
      [zone],
    );
  if (pcx) {
    await undoing.removeCustomerRoutes.executeWithOptions({ summary: `undo: remove routes via ${pcx}` }, [
      { region: customer.region, vpcId: customer.vpcId, peeringId: pcx },
    ]);
    await undoing.databaseRemoveReturnRoute.executeWithOptions({ summary: `undo: remove return routes via ${pcx}` }, [
      plan,
      customer,
      pcx,
    ]);
  }
  const only = { ...(pcx ? { peeringId: pcx } : {}), ...(aws ? { runId } : {}) };
  await undoing.databaseDeletePeering.executeWithOptions(
    { summary: `undo: delete ${pcx ?? 'the peering request'} this run made` },
    [plan, customer, only],
  );
}
