/** The client's connection: the same settings as the worker (envconfig + DBOPS_*). */
import { Client, Connection } from '@temporalio/client';
import { loadSettings, type Settings } from '../config';
import { loadPayloadCodecs } from '../temporal/codec-config';
import { temporalAddress, unreachableError } from './reach';

export interface Connected {
  client: Client;
  settings: Settings;
  close(): Promise<void>;
}

export async function connectClient(env: NodeJS.ProcessEnv = process.env): Promise<Connected> {
  const settings = loadSettings(env);
  const address = temporalAddress(settings);
  const connectionOptions = { ...settings.temporal.connectionOptions, address };
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...connectionOptions, connectTimeout: '5s' } as Parameters<
      typeof Connection.connect
    >[0]);
  } catch (err) {
    throw unreachableError(address, err, env);
  }
  const client = new Client({
    connection,
    namespace: settings.temporal.namespace ?? 'default',
    dataConverter: { payloadCodecs: loadPayloadCodecs(env) },
  });
  return { client, settings, close: () => connection.close() };
}
