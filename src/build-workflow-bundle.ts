/**
 * The build step after tsc (`npm run build`, scripts/setup.sh, the Dockerfile): prebuilds
 * dist/workflows.bundle.js and its manifest, so the worker does not bundle at every start.
 */
import { DefaultLogger } from '@temporalio/worker';
import { buildWorkflowBundle } from './temporal/workflow-bundle';

if (require.main === module) {
  buildWorkflowBundle(__dirname, new DefaultLogger('WARN')).then(
    ({ codePath }) => process.stdout.write(`[build] workflow bundle ${codePath}\n`),
    (err) => {
      process.stderr.write(`[build] workflow bundle failed: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
