/**
 * A codec server for the Temporal Web UI and CLI: POST /decode and /encode with
 * `{ payloads: [{ metadata: { key: base64 }, data: base64 }] }`, CORS for the UI's origin.
 * Whoever can reach it can decode: bind it to localhost, or put it behind your own auth.
 */
import http from 'node:http';
import type { Payload, PayloadCodec } from '@temporalio/common';

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const b64 = (u: Uint8Array | null | undefined) => Buffer.from(u ?? new Uint8Array()).toString('base64');

function fromJson(p: JsonPayload): Payload {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
    data: Buffer.from(p.data ?? '', 'base64'),
  };
}

function toJson(p: Payload): JsonPayload {
  return { metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, b64(v)])), data: b64(p.data) };
}

export interface CodecServerOptions {
  /** Origins allowed to call (the Web UI's), e.g. http://localhost:8233. */
  origins: string[];
  maxBodyBytes?: number;
}

export function createCodecServer(codec: PayloadCodec, opts: CodecServerOptions): http.Server {
  const max = opts.maxBodyBytes ?? 16 * 1024 * 1024;
  return http.createServer((req, res) => {
    const origin = req.headers.origin;
    if (origin && opts.origins.includes(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization');
      res.setHeader('Vary', 'Origin');
    }
    const send = (status: number, body?: unknown) => {
      res.writeHead(status, body === undefined ? {} : { 'Content-Type': 'application/json' });
      res.end(body === undefined ? undefined : JSON.stringify(body));
    };
    if (req.method === 'OPTIONS') return send(204);
    const path = (req.url ?? '').split('?')[0].replace(/\/+$/, '');
    if (req.method !== 'POST' || (path !== '/decode' && path !== '/encode')) return send(404, { error: 'POST /decode or /encode' });
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        send(413, { error: 'body too large' });
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', async () => {
      if (res.writableEnded) return;
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { payloads?: JsonPayload[] };
        if (!Array.isArray(body.payloads)) return send(400, { error: 'body must be { payloads: [...] }' });
        const input = body.payloads.map(fromJson);
        const out = path === '/decode' ? await codec.decode(input) : await codec.encode(input);
        send(200, { payloads: out.map(toJson) });
      } catch (err) {
        send(400, { error: (err as Error).message });
      }
    });
  });
}
