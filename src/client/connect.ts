/** The client's connection: the same settings as the worker (envconfig + DBOPS_*). */
import { Client, Connection } from '@temporalio/client';
import { loadSettings, type Settings } from '../config';
import { loadPayloadCodecs } from '../temporal/codec-config';

export interface Connected {
  client: Client;
  settings: Settings;
  close(): Promise<void>;
}

export async function connectClient(env: NodeJS.ProcessEnv = process.env): Promise<Connected> {
  const settings = loadSettings(env);
  // No configured address: the embedded dev server that `npm start` runs.
  const address = settings.temporal.connectionOptions.address ?? `127.0.0.1:${settings.devServer.port}`;
  const connectionOptions = { ...settings.temporal.connectionOptions, address };
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...connectionOptions, connectTimeout: '5s' } as Parameters<
      typeof Connection.connect
    >[0]);
  } catch (err) {
    throw new Error(
      `cannot reach Temporal at ${address}: ${(err as Error).message}. ` +
        (env.DBOPS_SANDBOX
          ? 'The sandbox is not running: start it ("npx dbops sandbox --detach") and run the line again.'
          : 'Start the worker ("npm start") or set TEMPORAL_ADDRESS.'),
    );
  }
  const client = new Client({
    connection,
    namespace: settings.temporal.namespace ?? 'default',
    dataConverter: { payloadCodecs: loadPayloadCodecs(env) },
  });
  return { client, settings, close: () => connection.close() };
}
