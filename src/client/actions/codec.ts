/** What `dbops codec-server` does (loaded only when it runs). */
import type { AddressInfo } from 'node:net';
import { EncryptionCodec, parseCodecKeys } from '../../temporal/codec';
import { createCodecServer, type CodecServerOptions } from '../../temporal/codec-server';
import { CODEC_TOKEN_ENV } from '../commands/codec';
import type { CliContext } from '../context';

export interface CodecServerFlags {
  origin: string[];
  allowHost: string[];
  tokenEnv?: string;
}

/**
 * The server options from the flags and the environment. The token is only ever read from an
 * environment variable: a literal on the command line would land in shell history and `ps`.
 */
export function codecServerOptions(o: CodecServerFlags, env: NodeJS.ProcessEnv): CodecServerOptions {
  const name = o.tokenEnv ?? CODEC_TOKEN_ENV;
  const token = env[name];
  if (o.tokenEnv !== undefined && !token) throw new Error(`--token-env ${name}: ${name} is not set`);
  return { origins: o.origin, allowedHosts: o.allowHost, token: token || undefined };
}

const isLoopback = (host: string) => ['127.0.0.1', '::1', 'localhost'].includes(host) || host.startsWith('127.');

export async function codecServer(
  ctx: CliContext,
  o: CodecServerFlags & { host: string; port: string },
): Promise<void> {
  const spec = ctx.env.DBOPS_CODEC_KEYS;
  if (!spec) throw new Error('DBOPS_CODEC_KEYS is not set: the codec server needs the same keys as the worker');
  const opts = codecServerOptions(o, ctx.env);
  const server = createCodecServer(new EncryptionCodec(parseCodecKeys(spec)), opts);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(o.port), o.host, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`;
  ctx.io.out.write(
    `codec server on ${url} (origins: ${o.origin.join(', ')}; hosts: localhost, 127.0.0.1, [::1]` +
      `${o.allowHost.map((h) => `, ${h}`).join('')}; bearer token: ${opts.token ? 'required' : 'not required'}); ` +
      `in the Web UI set the codec endpoint to ${url}\n`,
  );
  if (!isLoopback(o.host) && o.allowHost.length === 0) {
    ctx.io.err.write(
      `dbops: listening on ${o.host}, but only loopback Host headers are accepted: add --allow-host <name> for the name clients use\n`,
    );
  }
  if (!isLoopback(o.host) && !opts.token) {
    ctx.io.err.write(
      `dbops: listening on ${o.host} without a token: anyone who can reach it can decode; set ${CODEC_TOKEN_ENV} or --token-env\n`,
    );
  }
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      server.close(() => resolve());
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
