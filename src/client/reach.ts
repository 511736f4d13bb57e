/** Where the client connects and what it says when it cannot (shared by the SDK client and `dbops status`'s light one). */
import type { Settings } from '../config';

/** The configured address; none: the embedded dev server that `npm start` runs. */
export function temporalAddress(settings: Settings): string {
  return settings.temporal.connectionOptions.address ?? `127.0.0.1:${settings.devServer.port}`;
}

export function unreachableError(address: string, err: unknown, env: NodeJS.ProcessEnv): Error {
  return new Error(
    `cannot reach Temporal at ${address}: ${(err as Error).message}. ` +
      (env.DBOPS_SANDBOX
        ? 'The sandbox is not running: start it ("npx dbops sandbox --detach") and run the line again.'
        : 'Start the worker ("npm start") or set TEMPORAL_ADDRESS.'),
  );
}
