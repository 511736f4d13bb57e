/**
 * src/temporal/light-proto.json, the small descriptor `dbops status` and the payload codec use
 * instead of @temporalio/proto: it is what src/build-light-proto.ts makes from the installed SDK,
 * every field it keeps has the SDK's number, type, rule and key type, and messages the SDK encodes
 * decode to the same values (the same failure message, the same payload bytes).
 */
import fs from 'node:fs';
import { executionInfoFromRaw } from '@temporalio/client/lib/helpers';
import { WorkflowFailedError } from '@temporalio/client/lib/errors';
import { defaultDataConverter, defaultFailureConverter } from '@temporalio/common/lib/converter/data-converter';
import { defaultPayloadConverter } from '@temporalio/common/lib/converter/payload-converter';
import { decodeOptionalFailureToOptionalError } from '@temporalio/common/lib/internal-non-workflow/codec-helpers';
import { temporal } from '@temporalio/proto';
import { Enum, MapField, Root, Type, util, type Field, type INamespace } from 'protobufjs/light';
import { buildLightDescriptor, LIGHT_PROTO_FILE } from '../../src/build-light-proto';
import { failureMessage } from '../../src/client/failure-message';
import {
  HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT,
  QUERY_REJECT_CONDITION_NONE,
  STATUS_NAMES,
} from '../../src/client/light/status';
import { lightType } from '../../src/temporal/light-proto';

const sdkRoot = require('@temporalio/proto/protos/json-module') as Root;
sdkRoot.resolveAll();
const committed = JSON.parse(fs.readFileSync(LIGHT_PROTO_FILE, 'utf8')) as INamespace;
const light = Root.fromJSON(committed).resolveAll();

function allTypes(ns: { nestedArray: unknown[] }): Array<Type | Enum> {
  return ns.nestedArray.flatMap((o) => [
    ...(o instanceof Type || o instanceof Enum ? [o] : []),
    ...('nestedArray' in (o as object) ? allTypes(o as { nestedArray: unknown[] }) : []),
  ]);
}

const shape = (f: Field) => ({
  id: f.id,
  type: f.resolvedType ? f.resolvedType.fullName : f.type,
  repeated: f.repeated,
  keyType: f instanceof MapField ? f.keyType : undefined,
});

test('the committed descriptor is what the build script makes from the installed SDK (regenerate: npm run light-proto)', () => {
  expect(JSON.parse(JSON.stringify(buildLightDescriptor(sdkRoot)))).toEqual(committed);
});

test('every kept field has the number, type, rule and key type of the SDK descriptor, and every enum its values', () => {
  const types = allTypes(light);
  expect(types.length).toBeGreaterThan(20);
  let fields = 0;
  for (const t of types) {
    const sdk = sdkRoot.lookup(t.fullName);
    if (t instanceof Enum) {
      expect(sdk).toBeInstanceOf(Enum);
      expect(t.values).toEqual((sdk as Enum).values);
      continue;
    }
    expect(sdk).toBeInstanceOf(Type);
    for (const f of t.fieldsArray) {
      fields++;
      expect({ field: `${t.fullName}.${f.name}`, ...shape(f) }).toEqual({
        field: `${t.fullName}.${f.name}`,
        ...shape((sdk as Type).fields[f.name]),
      });
    }
  }
  expect(fields).toBeGreaterThan(50);
});

test("the status names and request enum values are the SDK's", async () => {
  const statuses = sdkRoot.lookupEnum('temporal.api.enums.v1.WorkflowExecutionStatus').values;
  const long = (n: number) => (util.Long as unknown as { fromNumber(n: number): never }).fromNumber(n);
  // The name the SDK's describe() gives each status.
  const sdkName = async (status: number) =>
    (
      await executionInfoFromRaw(
        {
          execution: { workflowId: 'w', runId: 'r' },
          type: { name: 't' },
          status,
          historyLength: long(1),
          startTime: { seconds: long(1) },
        },
        defaultDataConverter,
        {},
        'default',
      )
    ).status.name;
  for (const code of Object.values(statuses)) expect(STATUS_NAMES[code]).toBe(await sdkName(code));
  expect(Object.keys(STATUS_NAMES)).toHaveLength(Object.keys(statuses).length);
  expect(QUERY_REJECT_CONDITION_NONE).toBe(temporal.api.enums.v1.QueryRejectCondition.QUERY_REJECT_CONDITION_NONE);
  expect(HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT).toBe(
    temporal.api.enums.v1.HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT,
  );
});

test('a close event the SDK encodes decodes to the same failure message, a cause chain included', async () => {
  const json = (v: unknown) => defaultPayloadConverter.toPayload(v)!;
  const event = temporal.api.history.v1.HistoryEvent.encode({
    eventId: 15 as never,
    eventType: temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    workflowExecutionFailedEventAttributes: {
      retryState: temporal.api.enums.v1.RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE,
      failure: {
        message: 'Activity task failed',
        activityFailureInfo: { activityType: { name: 'rdsWaitClone' }, activityId: '3', retryState: 4 },
        cause: {
          message: 'Encoded failure',
          encodedAttributes: json({ message: 'clone db-2 is incompatible-restore', stack_trace: '' }),
          applicationFailureInfo: {
            type: 'CloneFailed',
            nonRetryable: true,
            details: { payloads: [json({ id: 'db-2' })] },
          },
          cause: { message: '', serverFailureInfo: {} },
        },
      },
    },
  }).finish();
  const message = async (attrs: temporal.api.history.v1.IWorkflowExecutionFailedEventAttributes) =>
    failureMessage(
      new WorkflowFailedError(
        'Workflow execution failed',
        await decodeOptionalFailureToOptionalError(
          { ...defaultDataConverter, failureConverter: defaultFailureConverter },
          attrs.failure,
        ),
        'NON_RETRYABLE_FAILURE',
      ),
    );
  const sdk = temporal.api.history.v1.HistoryEvent.decode(event).workflowExecutionFailedEventAttributes!;
  const ours = (
    lightType('temporal.api.history.v1.HistoryEvent').decode(event) as temporal.api.history.v1.IHistoryEvent
  ).workflowExecutionFailedEventAttributes!;
  expect(await message(ours)).toBe('clone db-2 is incompatible-restore');
  expect(await message(ours)).toBe(await message(sdk));
});

test("a payload encodes to the SDK's bytes", () => {
  const p = { metadata: { encoding: Buffer.from('json/plain'), k: Buffer.from([0, 1]) }, data: Buffer.from('{"a":1}') };
  const sdk = temporal.api.common.v1.Payload.encode(p).finish();
  expect(Buffer.from(lightType('temporal.api.common.v1.Payload').encode(p).finish())).toEqual(Buffer.from(sdk));
});
