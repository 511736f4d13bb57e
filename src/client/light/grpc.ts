/**
 * A small gRPC client for the Temporal WorkflowService without the Temporal SDK (`dbops status`:
 * src/client/light/status.ts). It connects as the SDK's Connection does (the same address
 * normalisation, TLS, API key, metadata, channel options, connect deadline and GetSystemInfo check)
 * and encodes its messages with the small descriptor of src/temporal/light-proto.ts.
 *
 * What it does not do as the SDK would, it does not try: it throws Fallback, and the caller runs the
 * SDK path, which then does and says exactly what it always did. So: a connection setting it does
 * not know; an error the SDK would retry (it has no retries); an error whose gRPC status details
 * the SDK turns into its own (namespace not found).
 */
import * as grpc from '@grpc/grpc-js';
import { isRetryableError } from '@temporalio/client/lib/grpc-retry';
import pkg from '@temporalio/client/lib/pkg';
import { normalizeGrpcEndpointAddress } from '@temporalio/common/lib/internal-non-workflow/parse-host-uri';
import { normalizeTlsConfig } from '@temporalio/common/lib/internal-non-workflow/tls-config';
import type { Message, Type } from 'protobufjs/light';
import { lightType } from '../../temporal/light-proto';

/** The light path cannot do this exactly as the SDK does: the caller uses the SDK instead. */
export class Fallback extends Error {}

const SERVICE = '/temporal.api.workflowservice.v1.WorkflowService';
const DEFAULT_PORT = 7233; // the SDK's DEFAULT_TEMPORAL_GRPC_PORT
/** The gRPC error details the SDK turns into errors of its own (helpers.ts rethrowKnownErrorTypes). */
const SDK_DETAILS = new Set([
  'temporal.api.errordetails.v1.NamespaceNotFoundFailure',
  'temporal.api.errordetails.v1.MultiOperationExecutionFailure',
]);

/** The connection options envconfig gives (src/config.ts): the only ones this client knows. */
export interface LightConnectionOptions {
  address: string;
  apiKey?: unknown;
  tls?: unknown;
  metadata?: Record<string, unknown>;
}

const KNOWN_OPTIONS = new Set(['address', 'apiKey', 'tls', 'metadata']);
const KNOWN_TLS = new Set(['serverNameOverride', 'serverRootCACertificate', 'clientCertPair']);

interface TlsOptions {
  serverNameOverride?: string;
  serverRootCACertificate?: Uint8Array;
  clientCertPair?: { crt: Uint8Array; key: Uint8Array };
}

const defined = (o: object) => Object.entries(o).filter(([, v]) => v !== undefined && v !== null);

/** Settings the SDK's Connection treats in ways this client does not copy: use the SDK. */
function checkSupported(options: LightConnectionOptions): void {
  if (defined(options).some(([k]) => !KNOWN_OPTIONS.has(k))) throw new Fallback('connection option');
  if (options.apiKey !== undefined && typeof options.apiKey !== 'string') throw new Fallback('apiKey');
  // The SDK refuses an API key next to an Authorization header: let it say so.
  if (options.apiKey && options.metadata?.['Authorization']) throw new Fallback('apiKey and Authorization');
  const metadata = Object.entries(options.metadata ?? {});
  if (metadata.some(([k, v]) => typeof v !== 'string' || k.toLowerCase().endsWith('-bin'))) {
    throw new Fallback('binary metadata');
  }
  const tls = options.tls;
  if (tls !== undefined && typeof tls !== 'boolean' && (typeof tls !== 'object' || tls === null))
    throw new Fallback('tls');
  if (typeof tls === 'object' && tls && defined(tls).some(([k]) => !KNOWN_TLS.has(k))) throw new Fallback('tls option');
}

export interface LightConnection {
  /** A unary WorkflowService call; rejects with grpc-js's ServiceError as the SDK's would. */
  call(method: string, request: Type, response: Type, message: Record<string, unknown>): Promise<Message>;
  close(): void;
}

/**
 * Connects as `Connection.connect({ ...options, connectTimeout })` does. Throws Fallback (before
 * any connection) for settings it does not support, or when the server answers GetSystemInfo with
 * an error the SDK would retry; any other error is what the SDK's connect would throw.
 */
export async function lightConnect(
  options: LightConnectionOptions,
  connectTimeoutMs: number,
): Promise<LightConnection> {
  checkSupported(options);
  // As the SDK's normalizeGRPCConfig, then addDefaults and createCtorOptions (connection.ts).
  const address = normalizeGrpcEndpointAddress(options.address, DEFAULT_PORT);
  const apiKey = options.apiKey as string | undefined;
  const tls = normalizeTlsConfig(options.tls as TlsOptions | boolean | undefined, apiKey) as TlsOptions | undefined;
  let credentials: grpc.ChannelCredentials;
  const channelArgs: grpc.ChannelOptions = {
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 15_000,
    max_receive_message_length: 128 * 1024 * 1024,
  };
  if (tls) {
    const buf = (b: Uint8Array | undefined) => (b ? Buffer.from(b) : undefined);
    credentials = grpc.credentials.combineChannelCredentials(
      grpc.credentials.createSsl(
        buf(tls.serverRootCACertificate),
        buf(tls.clientCertPair?.key),
        buf(tls.clientCertPair?.crt),
      ),
    );
    if (tls.serverNameOverride) {
      channelArgs['grpc.ssl_target_name_override'] = tls.serverNameOverride;
      channelArgs['grpc.default_authority'] = tls.serverNameOverride;
    }
  } else {
    credentials = grpc.credentials.combineChannelCredentials(grpc.credentials.createInsecure());
  }
  const staticMetadata = { ...options.metadata } as Record<string, string>;
  staticMetadata['client-name'] ??= 'temporal-typescript';
  staticMetadata['client-version'] ??= (pkg as { version: string }).version;
  const metadataFor = (namespace: unknown) => {
    const md = new grpc.Metadata();
    if (apiKey) md.set('Authorization', `Bearer ${apiKey}`);
    for (const [k, v] of Object.entries(staticMetadata)) md.set(k, v);
    if (typeof namespace === 'string' && namespace) md.set('temporal-namespace', namespace);
    return md;
  };
  const client = new grpc.Client(address, credentials, channelArgs);
  const unary = (path: string, body: Buffer, metadata: grpc.Metadata, deadline?: number) =>
    new Promise<Buffer>((resolve, reject) =>
      client.makeUnaryRequest(
        path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        body,
        metadata,
        { deadline },
        (err, res) => (err ? reject(err) : resolve(res!)),
      ),
    );

  try {
    const deadline = Date.now() + connectTimeoutMs;
    await new Promise<void>((resolve, reject) =>
      client.waitForReady(deadline, (err) => (err ? reject(err) : resolve())),
    );
    try {
      await unary(`${SERVICE}/GetSystemInfo`, Buffer.alloc(0), metadataFor(undefined), deadline);
    } catch (err) {
      const e = err as grpc.ServiceError;
      // As Connection.ensureConnected: old servers lack GetSystemInfo; any other error fails the connect.
      if (e.code !== grpc.status.UNIMPLEMENTED) {
        if (isRetryableError(e)) throw new Fallback('GetSystemInfo');
        throw new Error('Failed to connect to Temporal server');
      }
    }
  } catch (err) {
    client.close();
    throw err;
  }

  return {
    async call(method, request, response, message) {
      const body = Buffer.from(request.encode(request.fromObject(message)).finish());
      return response.decode(await unary(`${SERVICE}/${method}`, body, metadataFor(message.namespace)));
    },
    close: () => client.close(),
  };
}

/**
 * What the SDK's WorkflowClient makes of a failed call (rethrowGrpcError, and the query handler's
 * INVALID_ARGUMENT), for the errors this client handles itself; the message is the SDK's
 * ServiceError's. An error the SDK would retry, or turn into one of its own by its status details:
 * Fallback.
 */
export function sdkCallError(
  err: unknown,
  as: { message: string; notFound: (details: string) => Error; invalidArgument?: (message: string) => Error },
): Error {
  const e = err as Partial<grpc.ServiceError>;
  if (!(err instanceof Error) || typeof e.code !== 'number' || typeof e.details !== 'string' || !e.metadata) {
    return new Fallback('not a gRPC error');
  }
  if (isRetryableError(e as grpc.ServiceError) || hasSdkDetails(e as grpc.ServiceError))
    return new Fallback('gRPC error');
  if (e.code === grpc.status.INVALID_ARGUMENT && as.invalidArgument) return as.invalidArgument(err.message);
  if (e.code === grpc.status.NOT_FOUND) return as.notFound(e.details);
  return new Error(as.message);
}

function hasSdkDetails(err: grpc.ServiceError): boolean {
  const bin = err.metadata.get('grpc-status-details-bin')[0];
  if (!bin || typeof bin === 'string') return false;
  const status = lightType('google.rpc.Status').decode(bin) as unknown as { details: Array<{ type_url?: string }> };
  return status.details.some((d) => SDK_DETAILS.has((d.type_url ?? '').replace(/^.*\//, '')));
}
