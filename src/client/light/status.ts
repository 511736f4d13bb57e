/**
 * `dbops status` without the Temporal SDK: the same calls as the SDK path (src/client/actions/runs.ts
 * `status`: DescribeWorkflowExecution, the progress query, and for a failed run the close event that
 * `handle.result()` reads) over src/client/light/grpc.ts, decoded with the SDK's own payload and
 * failure converters (modules of @temporalio/common that do not load @temporalio/proto), so the
 * output is the SDK path's byte for byte. Loading the SDK's client was most of the command's time
 * (bench/RESULTS.md, "cli, status without the SDK").
 *
 * Whatever it cannot do exactly as the SDK does (src/client/light/grpc.ts: Fallback), it leaves to
 * the SDK path before printing anything; DBOPS_STATUS_SDK=1 always takes the SDK path.
 */
import type { PayloadCodec, RetryState } from '@temporalio/common';
import { defaultPayloadConverter, fromPayloadsAtIndex } from '@temporalio/common/lib/converter/payload-converter';
import {
  decode,
  decodeOptionalFailureToOptionalError,
} from '@temporalio/common/lib/internal-non-workflow/codec-helpers';
import type { temporal } from '@temporalio/proto';
import { PROGRESS_QUERY, type Progress } from '../../api';
import { loadSettings } from '../../config';
import { loadPayloadCodecs } from '../../temporal/codec-config';
import { lightType } from '../../temporal/light-proto';
import type { CliContext } from '../context';
import { failureMessage } from '../failure-message';
import { temporalAddress, unreachableError } from '../reach';
import { writeStatus } from '../status-view';
import { Fallback, lightConnect, sdkCallError, type LightConnection } from './grpc';

type Payload = temporal.api.common.v1.IPayload;
type Failure = temporal.api.failure.v1.IFailure;

const WS = 'temporal.api.workflowservice.v1';
/** temporal.api.enums.v1 values the requests use (test/unit/light-proto.test.ts checks them against the SDK's). */
export const QUERY_REJECT_CONDITION_NONE = 1;
export const HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT = 2;

/** The SDK's names for WorkflowExecutionStatus values (client helpers' workflowStatusCodeToName). */
export const STATUS_NAMES: Readonly<Record<number, string>> = {
  0: 'UNSPECIFIED',
  1: 'RUNNING',
  2: 'COMPLETED',
  3: 'FAILED',
  4: 'CANCELLED',
  5: 'TERMINATED',
  6: 'CONTINUED_AS_NEW',
  7: 'TIMED_OUT',
  8: 'PAUSED',
};

/** Prints the run's status as the SDK path would; false: it could not, and printed nothing (use the SDK path). */
export async function statusLight(ctx: CliContext, workflowId: string, opts: { output: string }): Promise<boolean> {
  try {
    await status(ctx, workflowId, opts);
    return true;
  } catch (err) {
    if (err instanceof Fallback) return false;
    throw err;
  }
}

async function status(ctx: CliContext, workflowId: string, opts: { output: string }): Promise<void> {
  const settings = loadSettings(ctx.env);
  const address = temporalAddress(settings);
  let conn: LightConnection;
  try {
    conn = await lightConnect({ ...settings.temporal.connectionOptions, address }, 5000);
  } catch (err) {
    if (err instanceof Fallback) throw err;
    throw unreachableError(address, err, ctx.env);
  }
  try {
    const codecs = loadPayloadCodecs(ctx.env);
    const namespace = settings.temporal.namespace ?? 'default';
    const execution = { workflowId };
    const context = { type: 'workflow' as const, namespace, workflowId };

    const desc = (await conn
      .call(
        'DescribeWorkflowExecution',
        lightType(`${WS}.DescribeWorkflowExecutionRequest`),
        lightType(`${WS}.DescribeWorkflowExecutionResponse`),
        { namespace, execution },
      )
      .catch((err: unknown) => {
        throw sdkCallError(err, {
          message: 'Failed to describe workflow',
          notFound: () => new Error(`no run with workflow id ${workflowId}`),
        });
      })) as temporal.api.workflowservice.v1.IDescribeWorkflowExecutionResponse;
    const info = desc.workflowExecutionInfo;
    // The SDK decodes the memo (dbops sets none): leave a run with one to it.
    if (!info?.execution?.runId || !info.type?.name || Object.keys(info.memo?.fields ?? {}).length) {
      throw new Fallback('describe');
    }
    const statusName = STATUS_NAMES[info.status ?? 0] ?? 'UNKNOWN';

    const query = (await conn
      .call('QueryWorkflow', lightType(`${WS}.QueryWorkflowRequest`), lightType(`${WS}.QueryWorkflowResponse`), {
        queryRejectCondition: QUERY_REJECT_CONDITION_NONE,
        namespace,
        execution,
        query: { queryType: PROGRESS_QUERY, queryArgs: {}, header: { fields: {} } },
      })
      .catch((err: unknown) => {
        throw sdkCallError(err, {
          message: 'Failed to query Workflow',
          notFound: (details) => new Error(details),
          // QueryNotRegisteredError: grpc-js's message without its code.
          invalidArgument: (message) => new Error(message.replace(/^3 INVALID_ARGUMENT: /, '')),
        });
      })) as temporal.api.workflowservice.v1.IQueryWorkflowResponse;
    if (query.queryRejected || !query.queryResult) throw new Fallback('query');
    const payloads = query.queryResult.payloads ?? [];
    if (payloads.some(isStorageReference)) throw new Fallback('external storage');
    // decodeFromPayloadsAtIndex, as the SDK's query handler decodes its result.
    const progress = fromPayloadsAtIndex<Progress>(
      defaultPayloadConverter,
      0,
      await decode(codecs, payloads, context),
      context,
    );

    const error = statusName === 'FAILED' ? await failedRunMessage(conn, codecs, namespace, workflowId) : undefined;
    writeStatus(
      ctx.io,
      { workflowId, runId: info.execution.runId, type: info.type.name, status: statusName, error, progress },
      opts.output,
    );
  } finally {
    conn.close();
  }
}

/**
 * What `handle.result().then(() => undefined, failureMessage)` gives for a failed run: the close
 * event's failure, decoded and converted by the SDK's own code, through failureMessage. A close
 * event the SDK would follow to a newer run (or anything else unexpected): Fallback.
 */
async function failedRunMessage(
  conn: LightConnection,
  codecs: PayloadCodec[],
  namespace: string,
  workflowId: string,
): Promise<string> {
  const res = (await conn
    .call(
      'GetWorkflowExecutionHistory',
      lightType(`${WS}.GetWorkflowExecutionHistoryRequest`),
      lightType(`${WS}.GetWorkflowExecutionHistoryResponse`),
      {
        namespace,
        execution: { workflowId },
        skipArchival: true,
        waitNewEvent: true,
        historyEventFilterType: HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT,
      },
    )
    .catch(() => {
      throw new Fallback('history');
    })) as temporal.api.workflowservice.v1.IGetWorkflowExecutionHistoryResponse;
  const events = res.history?.events ?? [];
  const attrs = events.length === 1 ? events[0].workflowExecutionFailedEventAttributes : undefined;
  if (!attrs || attrs.newExecutionRunId || failurePayloads(attrs.failure).some(isStorageReference)) {
    throw new Fallback('close event');
  }
  const [{ defaultFailureConverter }, { WorkflowFailedError }, { decodeRetryState }] = await Promise.all([
    import('@temporalio/common/lib/converter/data-converter'),
    import('@temporalio/client/lib/errors'),
    import('@temporalio/common/lib/failure'),
  ]);
  try {
    const cause = await decodeOptionalFailureToOptionalError(
      { payloadConverter: defaultPayloadConverter, failureConverter: defaultFailureConverter, payloadCodecs: codecs },
      attrs.failure,
      { type: 'workflow', namespace, workflowId },
    );
    return failureMessage(
      new WorkflowFailedError('Workflow execution failed', cause, decodeRetryState(attrs.retryState) as RetryState),
    );
  } catch (err) {
    return failureMessage(err); // as result()'s rejection would be
  }
}

/** The payloads of a failure chain that the SDK's payload visitor looks at. */
function failurePayloads(f: Failure | null | undefined): Payload[] {
  if (!f) return [];
  return [
    ...(f.encodedAttributes ? [f.encodedAttributes] : []),
    ...(f.applicationFailureInfo?.details?.payloads ?? []),
    ...(f.timeoutFailureInfo?.lastHeartbeatDetails?.payloads ?? []),
    ...(f.canceledFailureInfo?.details?.payloads ?? []),
    ...(f.resetWorkflowFailureInfo?.lastHeartbeatDetails?.payloads ?? []),
    ...failurePayloads(f.cause),
  ];
}

/**
 * A payload kept in external storage (the SDK's isReferencePayload): without external storage
 * configured, the SDK refuses it with an error of its own. dbops configures none; left to the SDK.
 */
function isStorageReference(p: Payload): boolean {
  const text = (b: Uint8Array | null | undefined) => (b ? Buffer.from(b).toString('utf8') : undefined);
  return (
    text(p.metadata?.encoding) === 'json/protobuf' &&
    text(p.metadata?.messageType) === 'temporal.api.sdk.v1.ExternalStorageReference'
  );
}
