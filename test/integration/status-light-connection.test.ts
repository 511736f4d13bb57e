/**
 * `dbops status` without the SDK connects as the SDK path does: against a stand-in Temporal
 * frontend on loopback (TLS with a client certificate, a server name, an API key, gRPC metadata and
 * a namespace from the TEMPORAL_* settings), both paths send the same calls with the same metadata
 * and the same request bytes, and print the same; a server name that does not match fails both the
 * same way; an error the SDK turns into its own (namespace not found) is left to the SDK path.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { google, temporal } from '@temporalio/proto';
import { defaultPayloadConverter } from '@temporalio/common/lib/converter/payload-converter';
import { runCli } from '../../src/client/cli';
import { statusLight } from '../../src/client/light/status';
import { captureIo } from '../helpers/temporal';
import { makeTestCertificates } from '../helpers/tls-postgres';

const ws = temporal.api.workflowservice.v1;
const SERVICE = '/temporal.api.workflowservice.v1.WorkflowService';

interface Call {
  method: string;
  metadata: Record<string, unknown>;
  request: string;
}

let dir: string;
let server: grpc.Server;
let port: number;
let calls: Call[] = [];
/** What the stand-in answers to DescribeWorkflowExecution. */
let describeReply: (call: Call) => { error?: Partial<grpc.StatusObject>; response?: Uint8Array };

const progress = { operation: 'twoStage', target: 'db-1', stages: [{ name: 'first', status: 'done' }] };

/** A CA, a server certificate for temporal.test and a client certificate (no extended key usage: any use). */
function certs(): Record<string, string> {
  makeTestCertificates(dir, { server: 'temporal.test', client: 'dbops-client' });
  const f = (n: string) => path.join(dir, n);
  return {
    ca: f('ca.pem'),
    serverKey: f('server.key'),
    server: f('server.pem'),
    clientKey: f('client.key'),
    client: f('client.pem'),
  };
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-light-tls-'));
  const c = certs();
  server = new grpc.Server();
  const raw = (method: string) => ({
    path: `${SERVICE}/${method}`,
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  });
  const answer =
    (method: string, reply: (call: Call) => { error?: Partial<grpc.StatusObject>; response?: Uint8Array }) =>
    (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const recorded = { method, metadata: call.metadata.getMap(), request: call.request.toString('base64') };
      delete recorded.metadata['user-agent']; // grpc-js's, with its version: the same library, but not the point
      calls.push(recorded);
      const r = reply(recorded);
      if (r.error) cb(r.error);
      else cb(null, Buffer.from(r.response ?? new Uint8Array()));
    };
  const methods = ['GetSystemInfo', 'DescribeWorkflowExecution', 'QueryWorkflow'];
  server.addService(Object.fromEntries(methods.map((m) => [m, raw(m)])), {
    GetSystemInfo: answer('GetSystemInfo', () => ({ response: ws.GetSystemInfoResponse.encode({}).finish() })),
    DescribeWorkflowExecution: answer('DescribeWorkflowExecution', (call) => describeReply(call)),
    QueryWorkflow: answer('QueryWorkflow', () => ({
      response: ws.QueryWorkflowResponse.encode({
        queryResult: { payloads: [defaultPayloadConverter.toPayload(progress)] },
      }).finish(),
    })),
  });
  const creds = grpc.ServerCredentials.createSsl(
    fs.readFileSync(c.ca),
    [{ private_key: fs.readFileSync(c.serverKey), cert_chain: fs.readFileSync(c.server) }],
    true, // a client certificate is required
  );
  port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))),
  );
  tlsEnv = {
    TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
    TEMPORAL_NAMESPACE: 'ns-light',
    TEMPORAL_API_KEY: 'the-api-key',
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: c.ca,
    TEMPORAL_TLS_CLIENT_CERT_PATH: c.client,
    TEMPORAL_TLS_CLIENT_KEY_PATH: c.clientKey,
    TEMPORAL_TLS_SERVER_NAME: 'temporal.test',
    TEMPORAL_GRPC_META_X_TEAM: 'dbops',
  };
});
afterAll(async () => {
  server.forceShutdown();
  fs.rmSync(dir, { recursive: true, force: true });
});

let tlsEnv: NodeJS.ProcessEnv;

/** One `dbops status` run: what it printed and the calls the server saw. */
async function run(env: NodeJS.ProcessEnv, light: boolean) {
  calls = [];
  const c = captureIo();
  let code: number;
  let answered = true;
  if (light) {
    const ctx = { io: c.io, env, connect: () => Promise.reject(new Error('the light path used the SDK')) };
    code = await statusLight(ctx, 'wf-1', { output: 'text' }).then(
      (a) => ((answered = a), 0),
      (err: Error) => (c.io.err.write(`dbops: ${err.message}\n`), 1),
    );
  } else {
    code = await runCli(['status', 'wf-1'], c.io, { ...env, DBOPS_STATUS_SDK: '1' });
  }
  return { answered, code, out: c.out(), err: c.err(), calls };
}

test('TLS with a client certificate and server name, an API key, metadata and a namespace: the same calls and output', async () => {
  describeReply = () => ({
    response: ws.DescribeWorkflowExecutionResponse.encode({
      workflowExecutionInfo: {
        execution: { workflowId: 'wf-1', runId: 'run-1' },
        type: { name: 'twoStage' },
        status: temporal.api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING,
        startTime: { seconds: 1 as never },
      },
    }).finish(),
  });
  const sdk = await run(tlsEnv, false);
  const light = await run(tlsEnv, true);
  expect(sdk.out).toContain('twoStage wf-1: RUNNING');
  expect(light).toEqual({ ...sdk, answered: true });
  expect(sdk.calls.map((c) => c.method)).toEqual(['GetSystemInfo', 'DescribeWorkflowExecution', 'QueryWorkflow']);
  expect(sdk.calls[1].metadata).toMatchObject({
    authorization: 'Bearer the-api-key',
    'x-team': 'dbops',
    'temporal-namespace': 'ns-light',
    'client-name': 'temporal-typescript',
  });
});

test('an unknown workflow id: the same error after the same calls', async () => {
  describeReply = () => ({ error: { code: grpc.status.NOT_FOUND, details: 'workflow not found for ID: wf-1' } });
  const sdk = await run(tlsEnv, false);
  const light = await run(tlsEnv, true);
  expect(sdk).toMatchObject({ code: 1, out: '', err: 'dbops: no run with workflow id wf-1\n' });
  expect(light).toEqual({ ...sdk, answered: true });
});

test('a server name the certificate does not have: both fail to connect, with the same message', async () => {
  const env = { ...tlsEnv, TEMPORAL_TLS_SERVER_NAME: 'other.test' };
  const sdk = await run(env, false);
  const light = await run(env, true);
  expect(sdk.err).toMatch(/^dbops: cannot reach Temporal at 127\.0\.0\.1:\d+: /);
  expect(light).toEqual({ ...sdk, answered: true });
});

test('namespace not found (an error the SDK makes its own from the status details): left to the SDK path', async () => {
  const details = temporal.api.errordetails.v1.NamespaceNotFoundFailure.encode({ namespace: 'ns-light' }).finish();
  const status = google.rpc.Status.encode({
    code: grpc.status.NOT_FOUND,
    message: 'Namespace ns-light is not found.',
    details: [
      { type_url: 'type.googleapis.com/temporal.api.errordetails.v1.NamespaceNotFoundFailure', value: details },
    ],
  }).finish();
  describeReply = () => {
    const metadata = new grpc.Metadata();
    metadata.set('grpc-status-details-bin', Buffer.from(status));
    return { error: { code: grpc.status.NOT_FOUND, details: 'Namespace ns-light is not found.', metadata } };
  };
  const sdk = await run(tlsEnv, false);
  expect(sdk.err).toMatch(/^dbops: .*ns-light/);
  expect(await run(tlsEnv, true)).toMatchObject({ answered: false, out: '', err: '' });
  const dflt = captureIo();
  expect(await runCli(['status', 'wf-1'], dflt.io, tlsEnv)).toBe(1);
  expect(dflt.err()).toBe(sdk.err);
});
