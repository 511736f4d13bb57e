/** Shapes the activities of several systems share. */

/** What a check-then-act step did: changed something, or found it done; one line for people. */
export interface StepResult {
  changed: boolean;
  detail: string;
}

/**
 * A refresh clone once it is available: its RDS identifier (instance, or Aurora cluster), the
 * endpoint DBLab and the clone preparation connect to, and its master user.
 */
export interface CloneEndpoint {
  identifier: string;
  host: string;
  port: number;
  masterUsername?: string;
}

/** Where a database network lives: its database id, region and (other account) role. */
export interface NetworkRef {
  databaseId: string;
  region: string;
  roleArn?: string;
}
