/**
 * Route 53: associating the customer VPC with the database's private hosted zone, checked first,
 * and the reverse. PriorRequestNotComplete is retryable (the activity retry policy waits it out).
 */
import {
  AssociateVPCWithHostedZoneCommand,
  DisassociateVPCFromHostedZoneCommand,
  GetHostedZoneCommand,
  ListHostedZonesByVPCCommand,
  type Route53Client,
} from '@aws-sdk/client-route-53';
import { ApplicationFailure } from '@temporalio/common';
import type { AwsClients } from './aws-clients';
import { AWS_ERRORS, isAwsError } from './aws-errors';
import type { StepResult } from './types';
import { attempt } from './poll';

export interface ZoneAssociation {
  hostedZoneId: string;
  vpcId: string;
  region: string;
  /** Role for the zone owner's account, when it is not the customer's (AWS kind, cross-account). */
  zoneOwnerRoleArn?: string;
  /** Whether the zone owner's account differs from the VPC's (then GetHostedZone needs the owner). */
  crossAccount: boolean;
}

const bareId = (id: string) => id.replace(/^\/hostedzone\//, '');

function rethrow(err: unknown, zone: string): never {
  if (isAwsError(err, AWS_ERRORS.hostedZoneNotFound)) {
    throw ApplicationFailure.nonRetryable(
      `hosted zone ${zone} does not exist (or is not visible to this account)`,
      'HostedZoneNotFound',
    );
  }
  if (isAwsError(err, AWS_ERRORS.priorRequestNotComplete)) {
    throw ApplicationFailure.retryable(
      `Route 53 is still processing an earlier change to ${zone}`,
      'PriorRequestNotComplete',
    );
  }
  if (isAwsError(err, AWS_ERRORS.zoneNotAuthorized)) {
    throw ApplicationFailure.nonRetryable(
      `not authorised to associate with hosted zone ${zone}: the zone owner must authorise this VPC first`,
      'HostedZoneNotAuthorized',
    );
  }
  throw err;
}

/** Whether the VPC is associated: GetHostedZone with the owner's view, else ListHostedZonesByVPC. */
async function isAssociated(aws: AwsClients, a: ZoneAssociation): Promise<boolean> {
  const zone = bareId(a.hostedZoneId);
  if (!a.crossAccount || a.zoneOwnerRoleArn) {
    const r53: Route53Client = aws.route53(a.zoneOwnerRoleArn);
    try {
      const z = await r53.send(new GetHostedZoneCommand({ Id: zone }));
      return (z.VPCs ?? []).some((v) => v.VPCId === a.vpcId && v.VPCRegion === a.region);
    } catch (err) {
      rethrow(err, zone);
    }
  }
  const list = await aws
    .route53()
    .send(new ListHostedZonesByVPCCommand({ VPCId: a.vpcId, VPCRegion: a.region as never }));
  return (list.HostedZoneSummaries ?? []).some((s) => bareId(s.HostedZoneId ?? '') === zone);
}

export function createRoute53Activities(deps: { aws: AwsClients }) {
  return {
    /** Whether the VPC is associated with the zone now. Read-only. */
    async vpcAssociatedWithZone(a: ZoneAssociation): Promise<boolean> {
      return isAssociated(deps.aws, a);
    },

    /**
     * `read`: the workflow has just read the association (vpcAssociatedWithZone) and found none, so
     * the first attempt does not read again; a retried attempt (its reply may have been lost) reads
     * first, so the association is requested once.
     */
    async associateVpcWithZone(a: ZoneAssociation, read?: { associated: false }): Promise<StepResult> {
      const zone = bareId(a.hostedZoneId);
      if ((!read || attempt() > 1) && (await isAssociated(deps.aws, a)))
        return { changed: false, detail: `${a.vpcId} already associated with ${zone}` };
      try {
        await deps.aws.route53().send(
          new AssociateVPCWithHostedZoneCommand({
            HostedZoneId: zone,
            VPC: { VPCId: a.vpcId, VPCRegion: a.region as never },
          }),
        );
      } catch (err) {
        if (isAwsError(err, AWS_ERRORS.zoneAlreadyAssociated) || /already associated/i.test((err as Error).message)) {
          return { changed: false, detail: `${a.vpcId} already associated with ${zone}` };
        }
        rethrow(err, zone);
      }
      return { changed: true, detail: `associated ${a.vpcId} (${a.region}) with ${zone}` };
    },

    async disassociateVpcFromZone(a: ZoneAssociation): Promise<StepResult> {
      const zone = bareId(a.hostedZoneId);
      if (!(await isAssociated(deps.aws, a)))
        return { changed: false, detail: `${a.vpcId} is not associated with ${zone}` };
      try {
        await deps.aws.route53().send(
          new DisassociateVPCFromHostedZoneCommand({
            HostedZoneId: zone,
            VPC: { VPCId: a.vpcId, VPCRegion: a.region as never },
          }),
        );
      } catch (err) {
        if (isAwsError(err, AWS_ERRORS.zoneAssociationNotFound))
          return { changed: false, detail: `${a.vpcId} is not associated with ${zone}` };
        rethrow(err, zone);
      }
      return { changed: true, detail: `disassociated ${a.vpcId} from ${zone}` };
    },
  };
}
