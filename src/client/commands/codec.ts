/** `dbops codec-server`: lets the Temporal Web UI show encrypted payloads to people who hold the key. */
import type { Command } from 'commander';
import type { CodecServerFlags } from '../actions/codec';
import type { CliContext } from '../context';

/** Loaded when the command runs, not for every `dbops` call. */
const actions = () => import('../actions/codec');

/** The environment variable read for the bearer token when --token-env is not given. */
export const CODEC_TOKEN_ENV = 'DBOPS_CODEC_SERVER_TOKEN';

export function registerCodecCommands(program: Command, ctx: CliContext): void {
  program
    .command('codec-server')
    .description('serve /decode and /encode for the Temporal Web UI with the keys in DBOPS_CODEC_KEYS')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on', '8888')
    .option('--origin <url...>', 'Web UI origins allowed to call it', [
      'http://localhost:8233',
      'http://localhost:8080',
    ])
    .option(
      '--allow-host <host>',
      'Host header accepted besides localhost, 127.0.0.1 and [::1] (name or name:port; repeatable)',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option(
      '--token-env <var>',
      `environment variable holding a bearer token every request must carry (default: ${CODEC_TOKEN_ENV}, if set)`,
    )
    .action(async (o: CodecServerFlags & { host: string; port: string }) => (await actions()).codecServer(ctx, o));
}
