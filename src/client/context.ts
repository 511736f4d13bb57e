/** What every command needs: where to write, and a lazily opened Temporal connection. */
import type { Io } from './follow';
import type { Connected } from './connect';

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
    // The Temporal client library is loaded by the first command that connects, not by `--help`.
    connect: () => (connected ??= import('./connect').then((m) => m.connectClient(env))),
    close: async () => {
      if (connected) await (await connected.catch(() => undefined))?.close();
    },
  };
}
