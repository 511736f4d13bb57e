/** `dbops codec-server`: lets the Temporal Web UI show encrypted payloads to people who hold the key. */
import type { Command } from 'commander';
import { EncryptionCodec, parseCodecKeys } from '../../temporal/codec';
import { createCodecServer } from '../../temporal/codec-server';
import type { CliContext } from '../context';

export function registerCodecCommands(program: Command, ctx: CliContext): void {
  program
    .command('codec-server')
    .description('serve /decode and /encode for the Temporal Web UI with the keys in DBOPS_CODEC_KEYS')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on', '8888')
    .option('--origin <url...>', 'Web UI origins allowed to call it', ['http://localhost:8233', 'http://localhost:8080'])
    .action(async (o: { host: string; port: string; origin: string[] }) => {
      const spec = ctx.env.DBOPS_CODEC_KEYS;
      if (!spec) throw new Error('DBOPS_CODEC_KEYS is not set: the codec server needs the same keys as the worker');
      const server = createCodecServer(new EncryptionCodec(parseCodecKeys(spec)), { origins: o.origin });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(Number(o.port), o.host, resolve);
      });
      ctx.io.out.write(
        `codec server on http://${o.host}:${o.port} (origins: ${o.origin.join(', ')}); ` +
          `in the Web UI set the codec endpoint to http://${o.host}:${o.port}\n`,
      );
      await new Promise<void>((resolve) => {
        const stop = () => server.close(() => resolve());
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
