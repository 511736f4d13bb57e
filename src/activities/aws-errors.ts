/**
 * AWS SDK errors, classified once for every AWS activity: the caller's own mistakes (4xx other
 * than throttling and "busy") are not retried and keep AWS's code as the failure type; throttling,
 * a resource that is busy (a state that passes: being created, modified, backed up), 5xx and
 * network trouble are retried by the activity retry policy.
 */
import { ApplicationFailure } from '@temporalio/common';
import { inAwsAttempt } from './aws-attempt';

const THROTTLING = new Set([
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'RequestThrottled',
  'PriorRequestNotComplete',
  'SlowDown',
]);

/**
 * The resource is in a state that refuses the call for now (RDS: an instance or cluster being
 * created, modified, backed up or rebooted; a snapshot being made; Route 53: another change in
 * progress): the same call succeeds once the state has passed. Both the wire code and the AWS SDK's
 * exception name, which differ for some RDS errors (InvalidDBInstanceState → InvalidDBInstanceStateFault).
 */
export const BUSY = new Set([
  'InvalidDBInstanceState',
  'InvalidDBInstanceStateFault',
  'InvalidDBClusterStateFault',
  'InvalidDBClusterState',
  'InvalidDBSnapshotState',
  'InvalidDBSnapshotStateFault',
  'InvalidDBClusterSnapshotStateFault',
  'ConcurrentModification',
]);

/**
 * Every AWS error code an activity matches, named once (after terraform-provider-aws's errs
 * package). The value lists the SDK's exception name and, where RDS's wire code differs, that too.
 */
export const AWS_ERRORS = {
  vpcNotFound: ['InvalidVpcID.NotFound'],
  subnetNotFound: ['InvalidSubnetID.NotFound'],
  peeringNotFound: ['InvalidVpcPeeringConnectionID.NotFound'],
  peeringStateTransition: ['InvalidStateTransition'],
  routeExists: ['RouteAlreadyExists'],
  routeNotFound: ['InvalidRoute.NotFound'],
  securityGroupNotFound: ['InvalidGroup.NotFound', 'InvalidGroupId.Malformed'],
  hostedZoneNotFound: ['NoSuchHostedZone'],
  priorRequestNotComplete: ['PriorRequestNotComplete'],
  zoneNotAuthorized: ['NotAuthorizedException'],
  zoneAlreadyAssociated: ['ConflictingDomainExists'],
  zoneAssociationNotFound: ['VPCAssociationNotFound'],
  dbInstanceNotFound: ['DBInstanceNotFoundFault', 'DBInstanceNotFound'],
  dbClusterNotFound: ['DBClusterNotFoundFault', 'DBClusterNotFound'],
  dbAlreadyExists: [
    'DBInstanceAlreadyExistsFault',
    'DBInstanceAlreadyExists',
    'DBClusterAlreadyExistsFault',
    'DBClusterAlreadyExists',
  ],
  snapshotNotFound: ['DBSnapshotNotFoundFault', 'DBClusterSnapshotNotFoundFault'],
  dbSubnetGroupNotFound: ['DBSubnetGroupNotFoundFault'],
  dbParameterGroupNotFound: ['DBParameterGroupNotFoundFault', 'DBParameterGroupNotFound'],
  optionGroupNotFound: ['OptionGroupNotFoundFault', 'OptionGroupNotFound'],
  /** KMS DescribeKey: no such key or alias, or the caller may not describe it (another account's key not shared). */
  kmsKeyNotFound: ['NotFoundException'],
  kmsAccessDenied: ['AccessDeniedException'],
} as const satisfies Record<string, readonly string[]>;

/** The AWS error code of an SDK error (its exception name, else the wire Code), or ''. */
export function awsErrorCode(err: unknown): string {
  const e = err as { name?: string; Code?: string } | undefined;
  return e?.name ?? e?.Code ?? '';
}

/** Whether `err` is AWS saying "slow down" (any service's throttling code). */
export function isThrottlingError(err: unknown): boolean {
  return THROTTLING.has(awsErrorCode(err));
}

/** Whether `err` is one of these AWS errors (an AWS_ERRORS entry). */
export function isAwsError(err: unknown, codes: readonly string[]): boolean {
  return codes.includes(awsErrorCode(err));
}

export function classifyAwsError(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  const e = err as { name?: string; message?: string; $fault?: string; $metadata?: { httpStatusCode?: number } };
  if (e.$fault === 'client' && e.name && BUSY.has(e.name)) {
    return ApplicationFailure.retryable(
      `${e.name}: ${e.message ?? 'the resource is busy'} (retried until its state allows the call)`,
      e.name,
    );
  }
  if (e.$fault === 'client' && e.name && !THROTTLING.has(e.name)) {
    return ApplicationFailure.nonRetryable(`${e.name}: ${e.message ?? 'request refused by AWS'}`, e.name);
  }
  return err;
}

/**
 * Wraps every function of an activity object so AWS errors leave classified, and each attempt's
 * AWS calls share one wait budget for the rate limit (src/activities/aws-attempt.ts).
 */
export function withAwsErrors<T extends Record<string, (...args: never[]) => Promise<unknown>>>(acts: T): T {
  return Object.fromEntries(
    Object.entries(acts).map(([name, fn]) => [
      name,
      async (...args: never[]) => {
        try {
          return await inAwsAttempt(() => fn(...args));
        } catch (err) {
          throw classifyAwsError(err);
        }
      },
    ]),
  ) as T;
}
