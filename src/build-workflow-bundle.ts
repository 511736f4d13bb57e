/**
 * The build step after tsc (`npm run build`, scripts/setup.sh, the Dockerfile): prebuilds
 * dist/workflows.bundle.js and its manifest, and the traced dist/workflows.otel.bundle.js (the
 * worker runs it when traces are on), so the worker does not bundle at every start, and
 * makes the CLI entry executable (`npx dbops` runs dist/client/cli.js itself; tsc writes it 0644,
 * and npm marks a package's own bin executable only when it exists at install time).
 */
import fs from 'node:fs';
import path from 'node:path';
import { DefaultLogger } from '@temporalio/worker';
import { buildWorkflowBundle } from './temporal/workflow-bundle';

if (require.main === module) {
  fs.chmodSync(path.join(__dirname, 'client', 'cli.js'), 0o755);
  const logger = new DefaultLogger('WARN');
  // One after the other: two webpack runs at once would need twice the memory.
  (async () => {
    for (const kind of ['plain', 'traced'] as const) {
      const { codePath } = await buildWorkflowBundle(__dirname, logger, kind);
      process.stdout.write(`[build] workflow bundle ${codePath}\n`);
    }
  })().then(
    () => {},
    (err) => {
      process.stderr.write(`[build] workflow bundle failed: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
