/** The dev server's ceiling for the provisioning benchmark: a workflow that runs one no-op activity. */
import { proxyActivities } from '@temporalio/workflow';

const { benchNoop } = proxyActivities<{ benchNoop(): Promise<void> }>({ startToCloseTimeout: '1m' });

export async function benchNoopWorkflow(): Promise<void> {
  await benchNoop();
}
