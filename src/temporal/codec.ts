/**
 * Payload encryption codec: AES-256-GCM, with the key id in the payload metadata so keys can
 * rotate (encode with the first key, decode with whichever key the payload names).
 */
import crypto from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { lightType } from './light-proto';

export const ENCODING = 'binary/encrypted';
export const METADATA_ENCODING_KEY = 'encoding';
export const METADATA_KEY_ID = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface CodecKey {
  id: string;
  key: Buffer;
}

export class CodecKeyError extends Error {}

/** Parses `id1=base64key,id2=base64key`; the first key encrypts, all of them decrypt. */
export function parseCodecKeys(spec: string): CodecKey[] {
  const keys = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const eq = entry.indexOf('=');
      if (eq <= 0) throw new CodecKeyError('DBOPS_CODEC_KEYS entries must look like <key-id>=<base64 32-byte key>');
      const id = entry.slice(0, eq);
      if (!/^[A-Za-z0-9._-]{1,64}$/.test(id))
        throw new CodecKeyError(`codec key id "${id}" must be 1-64 of A-Z a-z 0-9 . _ -`);
      const key = Buffer.from(entry.slice(eq + 1), 'base64');
      if (key.length !== 32) throw new CodecKeyError(`codec key "${id}" must decode to 32 bytes, got ${key.length}`);
      return { id, key };
    });
  if (keys.length === 0) throw new CodecKeyError('DBOPS_CODEC_KEYS is set but names no key');
  const ids = new Set(keys.map((k) => k.id));
  if (ids.size !== keys.length) throw new CodecKeyError('DBOPS_CODEC_KEYS names the same key id twice');
  return keys;
}

const enc = (s: string) => new TextEncoder().encode(s);
/** The Payload message without @temporalio/proto (the client's `dbops status` decodes without the SDK). */
const payloadType = () => lightType('temporal.api.common.v1.Payload');
const dec = (b: Uint8Array | null | undefined) => (b ? new TextDecoder().decode(b) : '');

export class EncryptionCodec implements PayloadCodec {
  private readonly byId: Map<string, Buffer>;

  constructor(private readonly keys: CodecKey[]) {
    if (keys.length === 0) throw new CodecKeyError('EncryptionCodec needs at least one key');
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const { id, key } = this.keys[0];
    return payloads.map((p) => {
      const plain = payloadType().encode(p).finish();
      const iv = crypto.randomBytes(IV_BYTES);
      const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([cipher.update(plain), cipher.final()]);
      return {
        metadata: { [METADATA_ENCODING_KEY]: enc(ENCODING), [METADATA_KEY_ID]: enc(id) },
        data: Buffer.concat([iv, body, cipher.getAuthTag()]),
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      if (dec(p.metadata?.[METADATA_ENCODING_KEY]) !== ENCODING) return p;
      const id = dec(p.metadata?.[METADATA_KEY_ID]);
      const key = this.byId.get(id);
      if (!key) throw new CodecKeyError(`payload was encrypted with key "${id}", which is not in DBOPS_CODEC_KEYS`);
      const data = Buffer.from(p.data ?? new Uint8Array());
      if (data.length < IV_BYTES + TAG_BYTES) throw new CodecKeyError('encrypted payload is truncated');
      const decipher = crypto.createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([
        decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return payloadType().decode(plain) as Payload;
    });
  }
}
