/** The payload codecs the worker and the client use: encryption when DBOPS_CODEC_KEYS is set. */
import type { PayloadCodec } from '@temporalio/common';
import { EncryptionCodec, parseCodecKeys } from './codec';

export function loadPayloadCodecs(env: NodeJS.ProcessEnv = process.env): PayloadCodec[] {
  const spec = env.DBOPS_CODEC_KEYS;
  if (!spec) return [];
  return [new EncryptionCodec(parseCodecKeys(spec))];
}
