/**
 * peerVpc: peers a customer VPC with a cloud database in four durable stages — initiate, accept,
 * route, associate-dns — after a read-only prepare. With no stages named, every stage runs and
 * one whose work is already done shows as skipped; named stages run alone, in canonical order.
 * The first failure stops the rest and the run fails naming the stage.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import { InvalidPeeringInput, peeringTarget, planPeering, PEERING_STAGES, type PeerVpcInput, type PeeringStage } from '../domain/peering';
import { ProgressTracker, type StageOutcome } from './progress';
import { quick, waiting } from './peering-activities';

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

const outcome = (r: { changed: boolean; detail: string }): StageOutcome => ({ skipped: !r.changed, detail: r.detail });

export function validPeeringPlan(input: unknown) {
  try {
    return planPeering(input);
  } catch (err) {
    if (err instanceof InvalidPeeringInput) throw ApplicationFailure.nonRetryable(err.message, 'InvalidInput');
    throw err;
  }
}

export async function peerVpc(input: PeerVpcInput): Promise<PeerVpcResult> {
  const progress = new ProgressTracker<PeerVpcResult>('peerVpc', peeringTarget(input ?? {}), PEER_STAGES);
  try {
    // prepare: validate, resolve the VPC ("default" too) and look at the database side. No changes.
    const { plan, customer, database, peering } = await progress.run('prepare', async () => {
      const plan = validPeeringPlan(input);
      const customer = await quick.resolveCustomerVpc.executeWithOptions({ summary: `find VPC ${plan.vpcId} in ${plan.region}` }, [{ region: plan.region, vpcId: plan.vpcId }]);
      const side = await quick.databaseDescribe.executeWithOptions({ summary: `look up database ${plan.databaseId} (${plan.cloud.kind})` }, [plan, customer]);
      return { plan, customer, ...side };
    }, (r) => ({ detail: `VPC ${r.customer.vpcId} ${r.customer.cidr} (account ${r.customer.accountId}); database ${r.plan.databaseId} ${r.database.cidr || '(no CIDR yet)'}` }));

    const acts = waiting(plan.timing);
    const want = (s: PeeringStage) => plan.stages.includes(s);
    let peeringId = peering?.peeringId;
    let hostedZoneId = peering?.hostedZoneId ?? database.hostedZoneId;
    let databaseCidr = database.cidr;
    const needPeering = (): string => {
      if (!peeringId) {
        throw ApplicationFailure.nonRetryable(`database ${plan.databaseId} has no peering with ${customer.vpcId} yet: run the initiate stage first`, 'PeeringNotFound');
      }
      return peeringId;
    };

    if (want('initiate')) {
      const r = await progress.run('initiate', () => acts.databaseInitiate.executeWithOptions({ summary: `request peering ${plan.databaseId} ↔ ${customer.vpcId}` }, [plan, customer]), outcome);
      peeringId = r.peeringId;
      hostedZoneId = r.hostedZoneId ?? hostedZoneId;
      databaseCidr = r.databaseCidr || databaseCidr;
    } else progress.skip('initiate', 'not selected');

    if (want('accept')) {
      await progress.run('accept', () => acts.acceptPeering.executeWithOptions({ summary: `accept ${peeringId ?? 'the peering'} in ${customer.region}` }, [{ region: customer.region, peeringId: needPeering(), timing: plan.timing }]), outcome);
    } else progress.skip('accept', 'not selected');

    if (want('route')) {
      await progress.run('route', async () => {
        const pcx = needPeering();
        const mine = await acts.ensureCustomerRoutes.executeWithOptions({ summary: `route ${databaseCidr} → ${pcx} (${plan.routeTables} tables)` }, [{
          region: customer.region, vpcId: customer.vpcId, cidr: databaseCidr, peeringId: pcx, tables: plan.routeTables, force: plan.force, timing: plan.timing,
        }]);
        const back = await quick.databaseReturnRoute.executeWithOptions({ summary: `return route ${customer.cidr} → ${pcx}` }, [plan, customer, pcx]);
        return { changed: mine.changed || back.changed, detail: `${mine.detail}; ${back.detail}` };
      }, outcome);
    } else progress.skip('route', 'not selected');

    if (want('associate-dns')) {
      await progress.run('associate-dns', async () => {
        if (!hostedZoneId) {
          throw ApplicationFailure.nonRetryable(`database ${plan.databaseId} has no private hosted zone to associate ${customer.vpcId} with`, 'HostedZoneNotFound');
        }
        const zone = hostedZoneId;
        const auth = await quick.databaseAuthorizeZone.executeWithOptions({ summary: `authorise ${customer.vpcId} on zone ${zone}` }, [plan, customer, zone]);
        return quick.associateVpcWithZone.executeWithOptions({ summary: `associate ${customer.vpcId} with zone ${zone}` }, [{
          hostedZoneId: zone, vpcId: customer.vpcId, region: customer.region, crossAccount: auth.crossAccount, zoneOwnerRoleArn: auth.zoneOwnerRoleArn,
        }]);
      }, outcome);
    } else progress.skip('associate-dns', 'not selected');

    return progress.finish({
      databaseId: plan.databaseId, vpcId: customer.vpcId, region: customer.region, peeringId, databaseCidr, hostedZoneId, stagesRun: plan.stages,
    });
  } catch (err) {
    return progress.fail(err);
  }
}
