/**
 * The few Temporal API messages that `dbops status` and the payload codec use, from the small
 * descriptor src/temporal/light-proto.json (made from the SDK's by src/build-light-proto.ts), so
 * that neither loads @temporalio/proto: building its tree of the whole Temporal API is most of
 * what a `dbops status` cost with the SDK.
 */
import { Root, type INamespace, type Type } from 'protobufjs/light';
import descriptor from './light-proto.json';

let root: Root | undefined;

/** The message type by its full name, e.g. temporal.api.common.v1.Payload. */
export function lightType(name: string): Type {
  root ??= Root.fromJSON(descriptor as unknown as INamespace);
  return root.lookupType(name);
}
