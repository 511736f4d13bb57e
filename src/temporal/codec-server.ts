/**
 * A codec server for the Temporal Web UI and CLI: POST /decode and /encode with
 * `{ payloads: [{ metadata: { key: base64 }, data: base64 }] }`, CORS for the UI's origin.
 *
 * Whoever can make it decode reads the payloads, so every request passes these checks first:
 * - Host: only loopback names (`localhost`, `127.0.0.1`, `[::1]`, any port) and the configured
 *   `allowedHosts`; anything else gets 403 before the body is read. A DNS-rebinding page reaches
 *   a loopback port under its own host name, so its requests are refused here.
 * - Origin: a browser request from an origin not in `origins` gets 403 and no CORS headers. CORS
 *   is never credentialed (no Access-Control-Allow-Credentials): the Web UI's codec setting
 *   "include cross-origin credentials" (`codec.includeCredentials`, cookies) must stay off.
 * - Token (optional): without `Authorization: Bearer <token>` a request gets 401. The Temporal CLI
 *   sends it with `--codec-auth "Bearer <token>"` (or `--codec-header`). The Web UI can only send
 *   the signed-in user's OIDC access token ("Pass the user access token",
 *   `codec.passAccessToken`, and only to an https endpoint), which is per user and expires, so
 *   it cannot match a fixed token: with the Web UI, put an https proxy that checks the user's
 *   token in front, or rely on the loopback and origin checks on the user's own machine.
 * Preflight (OPTIONS) passes the Host and Origin checks but not the token check: browsers never
 * send Authorization on a preflight.
 */
import crypto from 'node:crypto';
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
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, b64(v)])),
    data: b64(p.data),
  };
}

export interface CodecServerOptions {
  /** Origins allowed to call (the Web UI's), e.g. http://localhost:8233. */
  origins: string[];
  /**
   * Host header values accepted besides the loopback names: `name` (any port) or `name:port`,
   * e.g. `codec.internal` or `10.0.0.5:8888`. Needed only when the server is reached by another name.
   */
  allowedHosts?: string[];
  /** When set, every /decode and /encode request must carry `Authorization: Bearer <token>`. */
  token?: string;
  maxBodyBytes?: number;
}

const LOOPBACK = ['localhost', '127.0.0.1', '[::1]'];

/** Splits a Host header into a lower-case name and port ('' when none); undefined when malformed. */
export function parseHostHeader(value: string | undefined): { name: string; port: string } | undefined {
  const m = /^(\[[0-9a-f:.]+\]|[^\s:[\]/@]+)(?::(\d{1,5}))?$/i.exec((value ?? '').trim());
  return m ? { name: m[1].toLowerCase(), port: m[2] ?? '' } : undefined;
}

/** Whether a Host header names this server: a loopback name, or one of `allowed`. */
export function hostAllowed(value: string | undefined, allowed: string[] = []): boolean {
  const host = parseHostHeader(value);
  if (!host) return false;
  if (LOOPBACK.includes(host.name)) return true;
  return allowed.some((a) => {
    const want = parseHostHeader(a);
    return !!want && want.name === host.name && (want.port === '' || want.port === host.port);
  });
}

/** Compares the request's bearer token with the configured one in constant time. */
function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header ?? '');
  // Hashing first gives equal lengths, so the comparison leaks neither the token nor its length.
  const given = crypto
    .createHash('sha256')
    .update(m ? m[1] : '')
    .digest();
  const want = crypto.createHash('sha256').update(token).digest();
  return crypto.timingSafeEqual(given, want);
}

export function createCodecServer(codec: PayloadCodec, opts: CodecServerOptions): http.Server {
  const max = opts.maxBodyBytes ?? 16 * 1024 * 1024;
  if (opts.token !== undefined && !/^\S+$/.test(opts.token))
    throw new Error('the codec server token must be non-empty and without spaces');
  return http.createServer((req, res) => {
    const send = (status: number, body?: unknown, headers: http.OutgoingHttpHeaders = {}) => {
      res.writeHead(status, body === undefined ? headers : { ...headers, 'Content-Type': 'application/json' });
      res.end(body === undefined ? undefined : JSON.stringify(body));
    };
    // A refused request's body is never read: the reply closes the connection.
    const refuse = (status: number, error: string, headers: http.OutgoingHttpHeaders = {}) =>
      send(status, { error }, { ...headers, Connection: 'close' });
    if (!hostAllowed(req.headers.host, opts.allowedHosts)) return refuse(403, 'host not allowed');
    const origin = req.headers.origin;
    if (origin !== undefined && !opts.origins.includes(origin)) return refuse(403, 'origin not allowed');
    if (origin !== undefined) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization');
    }
    res.setHeader('Vary', 'Origin');
    if (req.method === 'OPTIONS') return send(204);
    if (opts.token !== undefined && !bearerMatches(req.headers.authorization, opts.token)) {
      return refuse(401, 'missing or wrong bearer token', { 'WWW-Authenticate': 'Bearer' });
    }
    const path = (req.url ?? '').split('?')[0].replace(/\/+$/, '');
    if (req.method !== 'POST' || (path !== '/decode' && path !== '/encode'))
      return refuse(404, 'POST /decode or /encode');
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
