/** Shapes the activities of several systems share. */

/** What a check-then-act step did: changed something, or found it done; one line for people. */
export interface StepResult {
  changed: boolean;
  detail: string;
}

/** Where a database network lives: its database id, region and (other account) role. */
export interface NetworkRef {
  databaseId: string;
  region: string;
  roleArn?: string;
}
