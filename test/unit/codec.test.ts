import crypto from 'node:crypto';
import { defaultPayloadConverter } from '@temporalio/common';
import { CodecKeyError, EncryptionCodec, parseCodecKeys } from '../../src/temporal/codec';

const k = () => crypto.randomBytes(32).toString('base64');

test('round trip: encrypted payloads hide the value and decode back to the original', async () => {
  const codec = new EncryptionCodec(parseCodecKeys(`k1=${k()}`));
  const original = defaultPayloadConverter.toPayload({ password: 'hunter2-very-secret' });
  const [enc] = await codec.encode([original]);
  expect(Buffer.from(enc.data!).toString('latin1')).not.toContain('hunter2');
  expect(Buffer.from(enc.metadata!.encoding!).toString()).toBe('binary/encrypted');
  expect(Buffer.from(enc.metadata!['encryption-key-id']!).toString()).toBe('k1');
  const [dec] = await codec.decode([enc]);
  expect(defaultPayloadConverter.fromPayload(dec)).toEqual({ password: 'hunter2-very-secret' });
});

test('key rotation: new key encrypts, old payloads still decode', async () => {
  const old = `old=${k()}`;
  const [encOld] = await new EncryptionCodec(parseCodecKeys(old)).encode([defaultPayloadConverter.toPayload('v1')]);
  const rotated = new EncryptionCodec(parseCodecKeys(`new=${k()},${old}`));
  const [encNew] = await rotated.encode([defaultPayloadConverter.toPayload('v2')]);
  expect(Buffer.from(encNew.metadata!['encryption-key-id']!).toString()).toBe('new');
  const decoded = await rotated.decode([encOld, encNew]);
  expect(decoded.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual(['v1', 'v2']);
});

test('a tampered payload or an unknown key id is refused', async () => {
  const codec = new EncryptionCodec(parseCodecKeys(`a=${k()}`));
  const [enc] = await codec.encode([defaultPayloadConverter.toPayload('x')]);
  const data = Buffer.from(enc.data!);
  data[20] ^= 1;
  await expect(codec.decode([{ ...enc, data }])).rejects.toThrow();
  await expect(new EncryptionCodec(parseCodecKeys(`b=${k()}`)).decode([enc])).rejects.toThrow(/encrypted with key "a"/);
});

test('unencrypted payloads pass through decode unchanged', async () => {
  const codec = new EncryptionCodec(parseCodecKeys(`a=${k()}`));
  const plain = defaultPayloadConverter.toPayload({ a: 1 });
  expect(await codec.decode([plain])).toEqual([plain]);
});

test('bad key specs are refused with a clear message', () => {
  expect(() => parseCodecKeys('nokey')).toThrow(CodecKeyError);
  expect(() => parseCodecKeys(`a=${Buffer.alloc(16).toString('base64')}`)).toThrow(/must decode to 32 bytes, got 16/);
  expect(() => parseCodecKeys(`a=${k()},a=${k()}`)).toThrow(/same key id twice/);
  expect(() => parseCodecKeys(' , ')).toThrow(/names no key/);
});
