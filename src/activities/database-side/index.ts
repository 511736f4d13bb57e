/**
 * Activities for the database side of a peering; each dispatches to the kind named in the plan
 * (aws, aerospike-cloud), so the workflows stay the same for every kind.
 */
import { ApplicationFailure } from '@temporalio/common';
import { initiateSettled, type PeeringPlan } from '../../domain/peering';
import type { Authority } from '../../authority';
import type { AwsClients } from '../aws-clients';
import {
  customerRoutesOutcome,
  describeVpc,
  ensureRoutesIn,
  waitPeeringActive,
  type CustomerVpc,
  type Timing,
} from '../ec2';
import { pollOrCheck, previousDetails, type PollMode } from '../poll';
import { aerospikeCloudSide } from './aerospike-cloud';
import { awsDatabaseSide, returnRouteOutcome } from './aws';
import type { StepResult } from '../types';
import type { DatabaseInfo, DatabasePeering, DatabaseSide, ResolvedDatabase } from './types';

export type SidePlan = Pick<PeeringPlan, 'databaseId' | 'region' | 'cloud' | 'timing'> & {
  secureConnection?: boolean;
  /** The database network as prepare found it (AWS kind; runs since 0.3.0): not looked up again. */
  resolved?: ResolvedDatabase;
};

export interface DatabaseSideDeps {
  aws: AwsClients;
  authority: Authority;
  fetch?: typeof fetch;
  requestTimeoutMs?: number;
}

export function createDatabaseSideActivities(deps: DatabaseSideDeps) {
  /** A role from the input is assumed only when the operator lists it (aws.assumeRoles). */
  const role = (roleArn: string | undefined): string | undefined => {
    if (roleArn !== undefined) deps.authority.assumeRole(roleArn);
    return roleArn;
  };
  const sideFor = (plan: SidePlan): DatabaseSide => {
    if (plan.cloud.kind === 'aws') {
      role(plan.cloud.roleArn);
      return awsDatabaseSide(deps.aws, { ...plan, cloud: plan.cloud });
    }
    const account = deps.authority.aerospike(plan.cloud);
    return aerospikeCloudSide(plan, { account, fetch: deps.fetch, requestTimeoutMs: deps.requestTimeoutMs });
  };

  const acts = {
    /** The database (CIDR, hosted zone) and any peering it already has with this VPC. Read-only. */
    async databaseDescribe(
      plan: SidePlan,
      customer: CustomerVpc,
    ): Promise<{ database: DatabaseInfo; peering?: DatabasePeering }> {
      // Checked here, in the read-only prepare stage, so a refused run changes nothing.
      if ((plan as { force?: boolean }).force) deps.authority.forceRouteCreation();
      const side = sideFor(plan);
      const database = await side.describe(customer);
      return { database, peering: await side.findPeering(customer) };
    },

    /**
     * prepare's reads in one activity (peerVpc since 0.5.0): the customer VPC ("default" resolved),
     * then what databaseDescribe reads. Read-only.
     */
    async lookUpPeering(
      plan: SidePlan & { vpcId: string },
    ): Promise<{ customer: CustomerVpc; database: DatabaseInfo; peering?: DatabasePeering }> {
      const customer = await describeVpc(deps.aws.ec2(plan.region), plan.region, plan.vpcId);
      return { customer, ...(await acts.databaseDescribe(plan, customer)) };
    },

    /**
     * Initiate: waits for the database to be ready, asks for the peering unless one exists, then
     * waits (bounded) until the database side reports its pcx id. In place, or with `mode`
     * { poll: 'once' } one check per attempt (../poll.ts); whether an attempt requested rides on.
     */
    async databaseInitiate(
      plan: SidePlan,
      customer: CustomerVpc,
      runId?: string,
      mode?: PollMode,
    ): Promise<{ changed: boolean; peeringId: string; hostedZoneId?: string; databaseCidr: string; detail: string }> {
      const side = sideFor(plan);
      const database = await side.waitReady(plan.timing, mode);
      let requested = previousDetails<{ requested: boolean }>().requested ?? false;
      // Read first, also on a first attempt right after prepare's read: a reset run, or another run
      // for the same VPCs since prepare (test/integration/cancel.test.ts, "adopted"), may have
      // requested already, and EC2 would make a second peering between the same VPCs.
      const found = await side.findPeering(customer);
      let answer: DatabasePeering | undefined;
      if (!found) {
        answer = (await side.requestPeering(customer, plan.secureConnection ?? false, runId)) ?? undefined;
        requested = true;
      }
      // The request's answer names the AWS peering: accept takes it from there (it accepts once
      // the peering is pending acceptance), so initiate need not read it again.
      if (answer?.peeringId?.startsWith('pcx-') && initiateSettled(answer) !== 'fail' && plan.cloud.kind === 'aws')
        return {
          changed: true,
          peeringId: answer.peeringId,
          hostedZoneId: answer.hostedZoneId ?? database.hostedZoneId,
          databaseCidr: database.cidr,
          detail: `requested ${answer.peeringId} (${answer.status})`,
        };
      const peering = await pollOrCheck(
        mode,
        {
          what: `the database side to report a peering id for ${customer.vpcId}`,
          interval: plan.timing.pollInterval,
          timeout: plan.timing.initiateTimeout,
        },
        async () => {
          const p = await side.findPeering(customer);
          if (!p) return { done: false, status: 'not listed yet' };
          const s = initiateSettled(p);
          if (s === 'fail')
            throw ApplicationFailure.nonRetryable(
              `the database side reports the peering for ${customer.vpcId} as ${p.status}`,
              'PeeringFailed',
            );
          return s === 'ready' ? { done: true, value: p } : { done: false, status: p.status };
        },
        { state: () => ({ requested }) },
      );
      return {
        changed: requested,
        peeringId: peering.peeringId!,
        hostedZoneId: peering.hostedZoneId ?? database.hostedZoneId,
        databaseCidr: database.cidr,
        detail: `${requested ? 'requested' : 'found'} ${peering.peeringId} (${peering.status})`,
      };
    },

    /**
     * The whole route stage in one activity, for an AWS database network the worker reaches with its
     * own identity in the customer VPC's region (no role, same region: the workflow checks, and so
     * does this): waits for the peering to be active like ensureCustomerRoutes (unless `active`), then
     * reads both VPCs' route tables in one call and checks every table of both before changing any.
     */
    async ensurePeeringRoutes(
      plan: SidePlan,
      customer: CustomerVpc,
      route: { cidr: string; peeringId: string; tables: 'all' | 'main'; force: boolean; timing: Timing; active?: true },
      mode?: PollMode,
    ): Promise<StepResult> {
      const cloud = plan.cloud;
      if (cloud.kind !== 'aws' || cloud.roleArn !== undefined || (cloud.region ?? plan.region) !== customer.region)
        throw ApplicationFailure.nonRetryable(
          "ensurePeeringRoutes is for an AWS database network reached without a role in the customer VPC's region",
          'InvalidPlan',
        );
      if (route.force) deps.authority.forceRouteCreation();
      const ec2 = deps.aws.ec2(customer.region);
      if (!route.active) await waitPeeringActive(ec2, route.peeringId, route.timing, mode);
      const side = awsDatabaseSide(deps.aws, { ...plan, cloud });
      const mine = { vpcId: customer.vpcId, cidr: route.cidr, peeringId: route.peeringId };
      const back = await side.returnRouteTargets(customer, route.peeringId);
      const changes = await ensureRoutesIn(ec2, { ...mine, tables: route.tables, force: route.force }, ...back);
      const own = customerRoutesOutcome(
        changes.filter((c) => c.vpcId === customer.vpcId),
        mine,
      );
      const ret = returnRouteOutcome(
        changes.filter((c) => c.vpcId !== customer.vpcId),
        customer,
        route.peeringId,
      );
      return { changed: own.changed || ret.changed, detail: `${own.detail}; ${ret.detail}` };
    },

    async databaseReturnRoute(plan: SidePlan, customer: CustomerVpc, peeringId: string) {
      return sideFor(plan).ensureReturnRoute(customer, peeringId);
    },

    async databaseAuthorizeZone(plan: SidePlan, customer: CustomerVpc, hostedZoneId: string) {
      return sideFor(plan).authorizeZone(customer, hostedZoneId);
    },

    /** Plan (issue 14): the database side's return routes as found ('managed': the cloud routes its side). Read-only. */
    async databaseReadReturnRoutes(plan: SidePlan, customer: CustomerVpc) {
      return sideFor(plan).readReturnRoutes(customer);
    },

    /** Plan (issue 14): the database side's routes via the peering ('managed': the cloud's). Read-only. */
    async databaseReadReturnRoutesVia(plan: SidePlan, peeringId: string) {
      return sideFor(plan).readReturnRoutesVia(peeringId);
    },

    async databaseRemoveReturnRoute(plan: SidePlan, customer: CustomerVpc, peeringId: string) {
      return sideFor(plan).removeReturnRoute(customer, peeringId);
    },

    /**
     * Deletes the peering with the customer VPC. `only` (the undo of a cancelled peerVpc): only the
     * peering with that id, and on AWS only when it carries that run's tag.
     */
    async databaseDeletePeering(
      plan: SidePlan,
      customer: CustomerVpc,
      only?: { peeringId?: string; runId?: string },
    ): Promise<StepResult> {
      const side = sideFor(plan);
      const p = await side.findPeering(customer);
      if (!p) return { changed: false, detail: `no peering with ${customer.vpcId}` };
      if (
        only &&
        ((only.peeringId !== undefined && p.peeringId !== only.peeringId) ||
          (only.runId !== undefined && p.run !== only.runId))
      ) {
        return { changed: false, detail: `kept ${p.peeringId ?? 'the peering request'}: this run did not make it` };
      }
      await side.deletePeering(customer, p);
      return { changed: true, detail: `deleted ${p.peeringId ?? 'the pending peering request'}` };
    },
  };
  return acts;
}
