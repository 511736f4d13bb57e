/**
 * Writes src/temporal/light-proto.json: the few Temporal API messages that `dbops status` and the
 * payload codec need, taken from @temporalio/proto's own descriptor, so that they can run without
 * loading @temporalio/proto (whose protobufjs tree of the whole Temporal API costs most of a
 * `dbops status`: bench/RESULTS.md, "cli, status without the SDK").
 *
 * The messages named in KEEP keep only the fields listed there; every message or enum a kept field
 * refers to is kept too, whole (KEEP can prune it as well). Field numbers, types, rules and map key
 * types are copied from the SDK's descriptor, never written by hand; a field left out is one the
 * light path does not read, and protobufjs skips unknown fields when it decodes.
 *
 * The JSON is committed (so tests run from the sources, and an SDK upgrade shows up as a diff):
 * test/unit/light-proto.test.ts fails when it is not what this script makes from the installed SDK.
 * Regenerate with `npm run light-proto`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Enum, Field, Type, type ReflectionObject, type Root } from 'protobufjs/light';

/** Message → the fields kept ('*': all). Messages reached but not named here are kept whole. */
export const KEEP: Record<string, readonly string[] | '*'> = {
  'temporal.api.workflowservice.v1.DescribeWorkflowExecutionRequest': ['namespace', 'execution'],
  'temporal.api.workflowservice.v1.DescribeWorkflowExecutionResponse': ['workflowExecutionInfo'],
  'temporal.api.workflow.v1.WorkflowExecutionInfo': ['execution', 'type', 'status', 'memo'],
  'temporal.api.workflowservice.v1.QueryWorkflowRequest': ['namespace', 'execution', 'query', 'queryRejectCondition'],
  'temporal.api.workflowservice.v1.QueryWorkflowResponse': ['queryResult', 'queryRejected'],
  'temporal.api.workflowservice.v1.GetWorkflowExecutionHistoryRequest': [
    'namespace',
    'execution',
    'nextPageToken',
    'waitNewEvent',
    'historyEventFilterType',
    'skipArchival',
  ],
  'temporal.api.workflowservice.v1.GetWorkflowExecutionHistoryResponse': ['history', 'nextPageToken'],
  'temporal.api.history.v1.History': ['events'],
  'temporal.api.history.v1.HistoryEvent': ['workflowExecutionFailedEventAttributes'],
  'temporal.api.history.v1.WorkflowExecutionFailedEventAttributes': ['failure', 'retryState', 'newExecutionRunId'],
  // The error details of a gRPC status (the SDK looks for NamespaceNotFoundFailure there).
  'google.rpc.Status': ['details'],
  // Payload and Failure are kept whole (not listed): the codec re-encodes payloads as they are, and
  // the SDK's failure converter reads any kind of failure info.
};

type Json = Record<string, unknown>;

function fieldJson(field: Field): Json {
  const json: Json = { ...field.toJSON() };
  delete json.comment;
  // The type by its full name: it resolves to the same message in the smaller tree.
  if (field.resolvedType) json.type = field.resolvedType.fullName;
  return json;
}

/** The descriptor JSON (protobufjs's INamespace form) of the kept messages and all they refer to. */
export function buildLightDescriptor(root: Root): Json {
  root.resolveAll();
  const kept = new Map<string, Type | Enum>();
  const visit = (t: Type | Enum) => {
    if (kept.has(t.fullName)) return;
    kept.set(t.fullName, t);
    if (t instanceof Type) for (const f of keptFields(t)) if (f.resolvedType) visit(f.resolvedType as Type | Enum);
  };
  for (const name of Object.keys(KEEP)) visit(root.lookupTypeOrEnum(name));

  const out: Json = {};
  // Sorted, so the file does not depend on the order messages were reached in.
  for (const name of [...kept.keys()].sort()) {
    const t = kept.get(name)!;
    const node = nodeAt(out, t);
    if (t instanceof Enum) {
      node.values = { ...t.values };
      continue;
    }
    const fields = keptFields(t);
    node.fields = Object.fromEntries(fields.map((f) => [f.name, fieldJson(f)]));
    const oneofs = Object.fromEntries(
      t.oneofsArray
        .map((o) => [o.name, o.oneof.filter((n) => fields.some((f) => f.name === n))] as const)
        .filter(([, names]) => names.length > 0)
        .map(([n, names]) => [n, { oneof: names }]),
    );
    if (Object.keys(oneofs).length) node.oneofs = oneofs;
  }
  return out;
}

function keptFields(t: Type): Field[] {
  const keep = KEEP[t.fullName.slice(1)] ?? '*';
  if (keep !== '*') {
    const missing = keep.filter((n) => !t.fields[n]);
    if (missing.length) throw new Error(`${t.fullName} has no field ${missing.join(', ')}`);
  }
  return t.fieldsArray.filter((f) => keep === '*' || keep.includes(f.name)).map((f) => f.resolve());
}

/** The JSON node for t, making its parents' nodes (namespaces, or messages for nested types). */
function nodeAt(out: Json, t: ReflectionObject): Json {
  const chain: ReflectionObject[] = [];
  for (let o: ReflectionObject | null = t; o && o.parent; o = o.parent) chain.unshift(o);
  let node = out;
  for (const o of chain) {
    const nested = (node.nested ??= {}) as Record<string, Json>;
    node = nested[o.name] ??= {};
  }
  return node;
}

export function writeLightDescriptor(file: string): void {
  // The SDK's tree, unpatched: what @temporalio/proto is built from (a module without types).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sdkRoot = require('@temporalio/proto/protos/json-module') as Root;
  fs.writeFileSync(file, `${JSON.stringify(buildLightDescriptor(sdkRoot), null, 2)}\n`);
}

export const LIGHT_PROTO_FILE = path.join(__dirname, '..', 'src', 'temporal', 'light-proto.json');

if (require.main === module) {
  writeLightDescriptor(LIGHT_PROTO_FILE);
  process.stdout.write(`[build] ${path.relative(process.cwd(), LIGHT_PROTO_FILE)}\n`);
}
