/** What every command needs: where to write, and a lazily opened Temporal connection. */
import type { Io } from './follow';
import { connectClient, type Connected } from './connect';

export interface CliContext {
  io: Io;
  env: NodeJS.ProcessEnv;
  connect(): Promise<Connected>;
}

export function makeContext(io: Io, env: NodeJS.ProcessEnv): CliContext & { close(): Promise<void> } {
  let connected: Promise<Connected> | undefined;
  return {
    io,
    env,
    connect: () => (connected ??= connectClient(env)),
    close: async () => {
      if (connected) await (await connected.catch(() => undefined))?.close();
    },
  };
}
