/**
 * Starts are type-checked against the workflow functions: `npx tsc -p tsconfig.test.json` (run by
 * scripts/test.sh before jest) fails if a `@ts-expect-error` below stops being an error, i.e. if a
 * wrong input would compile. The run-time half: the names `dbops schedule create --type` accepts.
 */
import type { Client } from '@temporalio/client';
import { createSchedule } from '../../src/client/actions/schedule';
import { startRun } from '../../src/client/follow';
import { isWorkflowName, WORKFLOW_NAMES, type StartRequest } from '../../src/client/workflow-types';
import { captureIo } from '../helpers/temporal';

const base = { workflowId: 'w', taskQueue: 'q' };

// Compiled, never called: only the compiler looks at these.
export function typeChecks(client: Client): unknown[] {
  const io = captureIo().io;
  return [
    startRun(
      client,
      { ...base, workflowType: 'cleanupRefreshClones', input: { region: 'us-east-1', dryRun: true } },
      io,
    ),
    // @ts-expect-error region must be a string
    startRun(client, { ...base, workflowType: 'cleanupRefreshClones', input: { region: 42 } }, io),
    // @ts-expect-error peerVpc needs databaseId, vpcId and cloud
    startRun(client, { ...base, workflowType: 'peerVpc', input: { region: 'us-east-1' } }, io),
    // @ts-expect-error not a dbops workflow type
    startRun(client, { ...base, workflowType: 'twoStage', input: { target: 't' } }, io),
    createSchedule(client, {
      ...base,
      scheduleId: 's',
      cron: ['0 2 * * 0'],
      workflowType: 'cleanupRefreshClones',
      // @ts-expect-error a schedule's input is checked the same way
      input: { region: 'us-east-1', dryRun: 'yes' },
    }),
  ];
}

test('the workflow types a schedule may name are the dbops workflows, and only those', () => {
  expect(WORKFLOW_NAMES).toEqual(
    expect.arrayContaining([
      'peerVpc',
      'refreshDblab',
      'scheduledRefreshDblab',
      'cleanupRefreshClones',
      'rotateDatabaseCredentials',
      'reconcilePeering',
      'reconcileDatabase',
    ]),
  );
  expect(WORKFLOW_NAMES).toHaveLength(12);
  expect(WORKFLOW_NAMES.every(isWorkflowName)).toBe(true);
  for (const name of ['twoStage', 'toString', 'constructor', '']) expect(isWorkflowName(name)).toBe(false);
  const typed: StartRequest<'unpeerVpc'>['workflowType'] = 'unpeerVpc';
  expect(isWorkflowName(typed)).toBe(true);
});
