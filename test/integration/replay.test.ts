/**
 * Replay: the workflow code must reproduce recorded histories exactly (determinism). A history
 * recorded from this code, and committed ones from earlier versions (test/fixtures/histories),
 * are replayed without a server.
 */
import fs from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import { countingAws, fixtureAws, makeAwsDatabase, makeCustomerVpc } from '../helpers/aws-fixtures';
import { ROOT } from '../helpers/stack';
import { makeWorker, openTestEnv, recordHistory, uniqueName } from '../helpers/temporal';

const HISTORIES = path.join(ROOT, 'test', 'fixtures', 'histories');
const bundle = () => ({ codePath: process.env.DBOPS_TEST_WORKFLOW_BUNDLE! });

test('a full peerVpc run, recorded now, replays without non-determinism', async () => {
  const t = await openTestEnv();
  const fx = fixtureAws();
  const customer = await makeCustomerVpc(fx);
  const database = await makeAwsDatabase(fx, { databaseId: uniqueName('replay'), region: 'us-east-1', cidr: '10.190.0.0/19' });
  const worker = await makeWorker(t, createActivities({ env: {}, aws: countingAws().aws }));
  const workflowId = uniqueName('replay');
  const history = await worker.runUntil(async () => {
    const h = await t.client.workflow.start('peerVpc', {
      workflowId, taskQueue: t.taskQueue,
      args: [{ databaseId: database.databaseId, region: 'us-east-1', vpcId: customer.vpcId, cloud: { kind: 'aws' }, timing: { pollInterval: '200ms' } }],
    });
    await h.result();
    return h.fetchHistory();
  });
  await recordHistory(workflowId, 'peer-vpc-full');
  await t.close();
  await expect(Worker.runReplayHistory({ workflowBundle: bundle() }, history, workflowId)).resolves.toBeUndefined();
});

const committed = fs.existsSync(HISTORIES) ? fs.readdirSync(HISTORIES).filter((f) => f.endsWith('.json')) : [];

test('committed histories from earlier versions exist and replay', async () => {
  expect(committed.length).toBeGreaterThan(0);
  for (const file of committed) {
    const history = historyFromJSON(JSON.parse(fs.readFileSync(path.join(HISTORIES, file), 'utf8')));
    await expect(Worker.runReplayHistory({ workflowBundle: bundle() }, history, file)).resolves.toBeUndefined();
  }
});
