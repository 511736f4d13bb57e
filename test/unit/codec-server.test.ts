/**
 * The codec server's trust checks, through real HTTP on a loopback port: Host (DNS rebinding),
 * Origin, bearer token, no credentialed CORS; and the `dbops codec-server` flags.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { defaultPayloadConverter, type Payload, type PayloadCodec } from '@temporalio/common';
import { runCli } from '../../src/client/cli';
import { codecServerOptions } from '../../src/client/actions/codec';
import { CODEC_TOKEN_ENV } from '../../src/client/commands/codec';
import { EncryptionCodec, parseCodecKeys } from '../../src/temporal/codec';
import { createCodecServer, hostAllowed, type CodecServerOptions } from '../../src/temporal/codec-server';

const KEYS = `k1=${crypto.randomBytes(32).toString('base64')}`;
const TOKEN = crypto.randomBytes(24).toString('base64url');
const UI = 'http://localhost:8233';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Every reply any test got: none may allow credentials. */
const replies: Reply[] = [];
afterAll(() => {
  expect(replies.length).toBeGreaterThan(20);
  for (const r of replies) expect(r.headers['access-control-allow-credentials']).toBeUndefined();
});

/** A real EncryptionCodec that counts its calls. */
class CountingCodec implements PayloadCodec {
  calls = 0;
  private inner = new EncryptionCodec(parseCodecKeys(KEYS));
  async encode(p: Payload[]) {
    this.calls++;
    return this.inner.encode(p);
  }
  async decode(p: Payload[]) {
    this.calls++;
    return this.inner.decode(p);
  }
}

const toJson = (p: Payload) => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v!).toString('base64')]),
  ),
  data: Buffer.from(p.data!).toString('base64'),
});

async function encryptedBody(value: unknown): Promise<string> {
  const [enc] = await new EncryptionCodec(parseCodecKeys(KEYS)).encode([defaultPayloadConverter.toPayload(value)]);
  return JSON.stringify({ payloads: [toJson(enc)] });
}

function decodedValue(body: string): unknown {
  const p = (JSON.parse(body) as { payloads: Array<{ metadata: Record<string, string>; data: string }> }).payloads[0];
  return JSON.parse(Buffer.from(p.data, 'base64').toString());
}

interface Req {
  method?: string;
  path?: string;
  /** The Host header; null sends none. */
  host: string | null;
  headers?: Record<string, string>;
  body?: string;
  /** Send the headers and only part of the body, never ending the request. */
  partialBody?: boolean;
}

function call(port: number, r: Req): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...r.headers };
    if (r.host !== null) headers.Host = r.host;
    if (r.body !== undefined) {
      headers['Content-Type'] ??= 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(r.body));
    }
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: r.method ?? 'POST',
        path: r.path ?? '/decode',
        headers,
        setHost: false,
        agent: false,
      },
      (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => {
          const reply = { status: res.statusCode!, headers: res.headers, body };
          replies.push(reply);
          resolve(reply);
        });
      },
    );
    req.on('error', reject);
    if (r.body !== undefined && r.partialBody) req.write(r.body.slice(0, 10));
    else req.end(r.body);
    if (r.partialBody) req.on('response', () => req.destroy());
  });
}

async function withServer<T>(
  opts: CodecServerOptions,
  fn: (port: number, codec: CountingCodec) => Promise<T>,
): Promise<T> {
  const codec = new CountingCodec();
  const server = createCodecServer(codec, opts);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    return await fn((server.address() as AddressInfo).port, codec);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

const corsHeaders = (r: Reply) => Object.keys(r.headers).filter((h) => h.startsWith('access-control-'));

test('a foreign Host header is refused with 403 before the body is read; the codec is never called', async () => {
  await withServer({ origins: [UI] }, async (port, codec) => {
    const body = await encryptedBody({ secret: 'hunter2' });
    for (const host of [
      'evil.example',
      `evil.example:${port}`,
      `127.0.0.1.evil.example:${port}`,
      `localhost.evil.example`,
      '10.0.0.5',
      '[::2]',
      '',
      null,
    ]) {
      const r = await call(port, { host, body, headers: { Origin: UI } });
      // No Host at all: Node's HTTP/1.1 server answers 400 itself.
      expect([host, r.status]).toEqual([host, host === null ? 400 : 403]);
      expect(r.body).not.toContain('hunter2');
      expect(corsHeaders(r)).toEqual([]);
    }
    // The reply comes while the body is still being sent: the server did not wait to read it.
    const partial = await call(port, { host: `evil.example:${port}`, body, partialBody: true });
    expect(partial.status).toBe(403);
    // The preflight too.
    const pre = await call(port, {
      method: 'OPTIONS',
      host: `rebind.evil.example:${port}`,
      headers: { Origin: UI, 'Access-Control-Request-Method': 'POST' },
    });
    expect(pre.status).toBe(403);
    expect(corsHeaders(pre)).toEqual([]);
    expect(codec.calls).toBe(0);
  });
});

test('loopback Host headers (any port) are accepted and /decode decrypts', async () => {
  await withServer({ origins: [UI] }, async (port, codec) => {
    const body = await encryptedBody({ tenant: 'acme' });
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'LOCALHOST', 'localhost:1']) {
      const r = await call(port, { host, body });
      expect([host, r.status]).toEqual([host, 200]);
      expect(decodedValue(r.body)).toEqual({ tenant: 'acme' });
    }
    expect(codec.calls).toBe(5);
  });
});

test('allowed hosts: a name with any port, or name:port exactly; loopback still works, others still refused', async () => {
  await withServer(
    { origins: [UI], allowedHosts: ['codec.internal', 'codec.example.com:8443'] },
    async (port, codec) => {
      const body = await encryptedBody('v');
      const status = async (host: string) => (await call(port, { host, body })).status;
      expect(await status('codec.internal')).toBe(200);
      expect(await status('Codec.Internal:9000')).toBe(200);
      expect(await status('codec.example.com:8443')).toBe(200);
      expect(await status('codec.example.com')).toBe(403);
      expect(await status('codec.example.com:443')).toBe(403);
      expect(await status(`localhost:${port}`)).toBe(200);
      expect(await status('evil.example')).toBe(403);
      expect(codec.calls).toBe(4);
    },
  );
  expect(hostAllowed('codec.internal.evil.example', ['codec.internal'])).toBe(false);
  expect(hostAllowed('user@localhost')).toBe(false);
});

test('CORS: the allowed origin gets CORS headers without credentials; another origin gets 403 and no CORS headers', async () => {
  await withServer({ origins: [UI] }, async (port, codec) => {
    const host = `127.0.0.1:${port}`;
    const pre = await call(port, {
      method: 'OPTIONS',
      host,
      headers: {
        Origin: UI,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type,x-namespace',
      },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe(UI);
    expect(pre.headers['access-control-allow-headers']).toMatch(/X-Namespace/i);
    expect(pre.headers['access-control-allow-credentials']).toBeUndefined();
    const ok = await call(port, {
      host,
      body: await encryptedBody(1),
      headers: { Origin: UI, 'X-Namespace': 'default' },
    });
    expect(ok.status).toBe(200);
    expect(ok.headers['access-control-allow-origin']).toBe(UI);
    expect(ok.headers['access-control-allow-credentials']).toBeUndefined();

    for (const origin of ['https://evil.example', 'http://localhost:8234', 'null']) {
      const p = await call(port, {
        method: 'OPTIONS',
        host,
        headers: { Origin: origin, 'Access-Control-Request-Method': 'POST' },
      });
      expect(p.status).toBe(403);
      expect(corsHeaders(p)).toEqual([]);
      const r = await call(port, {
        host,
        body: await encryptedBody(2),
        headers: { Origin: origin, 'Content-Type': 'text/plain' },
      });
      expect(r.status).toBe(403);
      expect(corsHeaders(r)).toEqual([]);
    }
    expect(codec.calls).toBe(1);
  });
});

test('bearer token: missing or wrong is 401 and never reaches the codec; the right one decodes; preflight needs none', async () => {
  await withServer({ origins: [UI], token: TOKEN }, async (port, codec) => {
    const host = `localhost:${port}`;
    const body = await encryptedBody({ x: 1 });
    for (const auth of [
      undefined,
      `Bearer ${TOKEN}x`,
      `Bearer ${TOKEN.slice(1)}`,
      'Bearer ',
      `Basic ${TOKEN}`,
      TOKEN,
      `Bearer ${TOKEN} extra`,
    ]) {
      const r = await call(port, { host, body, headers: auth === undefined ? {} : { Authorization: auth } });
      expect([auth, r.status]).toEqual([auth, 401]);
      expect(r.headers['www-authenticate']).toBe('Bearer');
    }
    expect(codec.calls).toBe(0);
    const pre = await call(port, {
      method: 'OPTIONS',
      host,
      headers: {
        Origin: UI,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization,content-type',
      },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers['access-control-allow-headers']).toMatch(/Authorization/);
    for (const auth of [`Bearer ${TOKEN}`, `bearer ${TOKEN}`]) {
      const ok = await call(port, { host, body, headers: { Authorization: auth, Origin: UI } });
      expect(ok.status).toBe(200);
      expect(decodedValue(ok.body)).toEqual({ x: 1 });
    }
    // The Host check still comes first, token or not.
    expect(
      (await call(port, { host: 'evil.example', body, headers: { Authorization: `Bearer ${TOKEN}` } })).status,
    ).toBe(403);
    expect(codec.calls).toBe(2);
  });
  expect(() => createCodecServer(new CountingCodec(), { origins: [], token: '' })).toThrow(/non-empty/);
});

test('flags: the token comes from DBOPS_CODEC_SERVER_TOKEN or --token-env, never from the command line', () => {
  const base = { origin: [UI], allowHost: ['a.example'] };
  expect(codecServerOptions(base, {})).toEqual({ origins: [UI], allowedHosts: ['a.example'], token: undefined });
  expect(codecServerOptions(base, { [CODEC_TOKEN_ENV]: 'abc' }).token).toBe('abc');
  expect(
    codecServerOptions({ ...base, tokenEnv: 'MY_TOKEN' }, { MY_TOKEN: 'xyz', [CODEC_TOKEN_ENV]: 'abc' }).token,
  ).toBe('xyz');
  expect(() => codecServerOptions({ ...base, tokenEnv: 'MY_TOKEN' }, {})).toThrow(/MY_TOKEN is not set/);
});

function io() {
  const out = new PassThrough();
  const err = new PassThrough();
  let o = '';
  let e = '';
  out.on('data', (c) => (o += c));
  err.on('data', (c) => (e += c));
  return { io: { out, err }, out: () => o, err: () => e };
}

test('dbops codec-server: --allow-host is repeatable, --token-env names the variable; a literal --token is refused', async () => {
  const refused = io();
  expect(await runCli(['codec-server', '--token', TOKEN], refused.io, { DBOPS_CODEC_KEYS: KEYS })).not.toBe(0);
  expect(refused.err()).toMatch(/unknown option '--token'/);

  const c = io();
  const running = runCli(
    [
      'codec-server',
      '--port',
      '0',
      '--allow-host',
      'one.example',
      '--allow-host',
      'two.example:7000',
      '--token-env',
      'CODEC_TOKEN',
    ],
    c.io,
    { DBOPS_CODEC_KEYS: KEYS, CODEC_TOKEN: TOKEN },
  );
  const deadline = Date.now() + 10_000;
  while (!/codec server on/.test(c.out()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  try {
    const port = Number(/http:\/\/127\.0\.0\.1:(\d+)/.exec(c.out())![1]);
    expect(c.out()).toMatch(/bearer token: required/);
    const body = await encryptedBody('cli');
    const auth = { Authorization: `Bearer ${TOKEN}` };
    expect((await call(port, { host: 'one.example', body, headers: auth })).status).toBe(200);
    expect((await call(port, { host: 'two.example:7000', body, headers: auth })).status).toBe(200);
    expect((await call(port, { host: 'two.example:7001', body, headers: auth })).status).toBe(403);
    expect((await call(port, { host: 'evil.example', body, headers: auth })).status).toBe(403);
    expect((await call(port, { host: `localhost:${port}`, body })).status).toBe(401);
    const ok = await call(port, { host: `localhost:${port}`, body, headers: auth });
    expect(decodedValue(ok.body)).toBe('cli');
  } finally {
    process.emit('SIGTERM');
  }
  expect(await running).toBe(0);
});
