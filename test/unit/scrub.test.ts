import { scrubSecrets, secretSpellings } from '../../src/activities/scrub';
import { boundedBody, httpService, MAX_REPLY_BYTES } from '../../src/activities/http';

const SECRET = 'p@ss w/rd"+\\x';

describe('scrubSecrets: a secret is hidden in every spelling a message may carry', () => {
  it.each([
    ['as itself', SECRET],
    ['percent-encoded (a URL)', encodeURIComponent(SECRET)],
    ['form-encoded (+ for space)', encodeURIComponent(SECRET).replace(/%20/g, '+')],
    ['JSON-escaped (a driver quoting it)', JSON.stringify(SECRET).slice(1, -1)],
    ['base64 (an auth header)', Buffer.from(SECRET).toString('base64')],
    ['base64url without padding', Buffer.from(SECRET).toString('base64url')],
  ])('%s', (_how, spelled) => {
    const out = scrubSecrets(`login failed for "${spelled}" at host`, [SECRET]);
    expect(out).toBe('login failed for "***" at host');
  });

  it('leaves short secrets and ordinary text alone', () => {
    expect(scrubSecrets('abc and more', ['abc', undefined, ''])).toBe('abc and more');
    expect(secretSpellings('abc')).toEqual([]);
  });

  it('scrubs several secrets, longest spelling first', () => {
    expect(scrubSecrets('token=tok3n%2Fx pass=hunter22', ['tok3n/x', 'hunter22'])).toBe('token=*** pass=***');
  });
});

describe('httpService: an error reply that echoes a token percent-encoded', () => {
  it('is scrubbed in the failure message', async () => {
    const token = 'dblab/token+value';
    const svc = httpService({
      label: 'DBLab',
      unavailableType: 'DblabUnavailable',
      timeoutMs: 1000,
      secrets: () => [token],
      fetch: async () =>
        new Response(JSON.stringify({ message: `bad token ${encodeURIComponent(token)}` }), { status: 401 }),
    });
    const res = await svc.send('http://127.0.0.1:1/status', {}, 'GET /status');
    const text = await svc.errorText(res);
    expect(text).toBe('bad token ***');
  });
});

describe('httpService: a reply body is read up to 1 MiB, and text from it is cleaned', () => {
  const svc = httpService({
    label: 'DBLab',
    unavailableType: 'DblabUnavailable',
    tooLargeType: 'DblabReplyTooLarge',
    timeoutMs: 1000,
    secrets: () => [],
  });
  /** A body streamed in chunks with no Content-Length (the size is known only while reading). */
  const streamed = (bytes: number) =>
    new Response(
      new ReadableStream({
        start(c) {
          for (let left = bytes; left > 0; left -= 64 * 1024)
            c.enqueue(new Uint8Array(Math.min(left, 64 * 1024)).fill(32));
          c.close();
        },
      }),
    );

  it('refuses a larger reply (declared or streamed) non-retryably, reads one within the cap', async () => {
    for (const res of [streamed(MAX_REPLY_BYTES + 1), new Response(`"${'x'.repeat(MAX_REPLY_BYTES)}"`)]) {
      await expect(svc.json(res, 'GET /status')).rejects.toMatchObject({
        message: `DBLab GET /status: reply larger than ${MAX_REPLY_BYTES} bytes, not read`,
        type: 'DblabReplyTooLarge',
        nonRetryable: true,
      });
    }
    expect(await svc.json(new Response('{"a":1}'), 'GET /status')).toEqual({ a: 1 });
    expect(await boundedBody(streamed(MAX_REPLY_BYTES))).toHaveLength(MAX_REPLY_BYTES);
  });

  it('an error text has no control characters and at most 300 characters', async () => {
    const res = new Response(JSON.stringify({ message: `bad\x1b[2J\r\n${'y'.repeat(1000)}` }), { status: 400 });
    const text = await svc.errorText(res);
    expect(text).toBe(`bad[2J${'y'.repeat(293)}…`);
  });
});
