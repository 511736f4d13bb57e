/**
 * The one HTTP client plumbing for the cloud APIs dbops calls (DBLab Engine, Aerospike Cloud):
 * a per-request timeout, no redirects (fetch would carry a token or a posted secret to wherever a
 * redirect points), network trouble, 5xx and 429 as retryable failures (a GET retried at once), an error body read into one
 * short line, and every secret the client holds scrubbed from whatever it reports.
 */
import { ApplicationFailure } from '@temporalio/common';
import { stripControl, truncate } from '../domain/text';
import { scrubSecrets } from './scrub';

/**
 * The largest reply body read (bytes). A reply beyond it is refused, non-retryably: it is not
 * what the service's contract answers (a proxy's page, a misbehaving server), and reading it
 * whole would let the service fill the worker's memory.
 */
export const MAX_REPLY_BYTES = 1024 * 1024;

/** How often a GET is sent before its failure is the activity attempt's. */
const GET_TRIES = 3;

export interface HttpServiceOptions {
  /** How messages name the service: "DBLab", "Aerospike Cloud API". */
  label: string;
  /** The failure type of a retryable outage (no reply, 5xx). */
  unavailableType: string;
  timeoutMs: number;
  fetch?: typeof fetch;
  /** The secrets to keep out of every message (read at each use: tokens change). */
  secrets: () => readonly (string | undefined)[];
  /** The failure type of a reply body beyond MAX_REPLY_BYTES (non-retryable); default ReplyTooLarge. */
  tooLargeType?: string;
}

/** The body as text, at most `max` bytes; undefined when it is longer (the rest is not read). */
export async function boundedBody(res: Response, max = MAX_REPLY_BYTES): Promise<string | undefined> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > max) {
    await res.body?.cancel().catch(() => undefined);
    return undefined;
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function httpService(o: HttpServiceOptions) {
  const doFetch = o.fetch ?? fetch;

  /** `s` with every spelling of every secret (./scrub.ts) replaced by ***. */
  const scrub = (s: string): string => scrubSecrets(s, o.secrets());
  /** Text from the service for a message or a record: no control characters, scrubbed, at most 300 characters. */
  const clean = (s: string): string => truncate(scrub(stripControl(s)), 300);

  async function sendOnce(url: string, init: RequestInit, what: string): Promise<Response> {
    let res: Response;
    try {
      res = await doFetch(url, { ...init, signal: AbortSignal.timeout(o.timeoutMs), redirect: 'error' });
    } catch (err) {
      const e = err as Error;
      const why = e.name === 'TimeoutError' ? `no reply within ${o.timeoutMs} ms` : e.message;
      throw ApplicationFailure.retryable(`${o.label} ${what}: ${scrub(why)}`, o.unavailableType);
    }
    if (res.status >= 500 || res.status === 429) {
      await res.body?.cancel().catch(() => undefined);
      throw ApplicationFailure.retryable(
        `${o.label} ${what}: HTTP ${res.status}${res.status === 429 ? ' (rate limited)' : ''}`,
        o.unavailableType,
      );
    }
    return res;
  }

  return {
    scrub,
    clean,

    /**
     * One request; `what` names it in messages ("GET /status", "token request"). No reply, 5xx and
     * 429 (rate limited) are retryable failures; a GET (safe to repeat) is first tried up to
     * GET_TRIES times with a short pause, so one dropped connection does not cost a whole
     * activity attempt.
     */
    async send(url: string, init: RequestInit, what: string): Promise<Response> {
      const tries = (init.method ?? 'GET').toUpperCase() === 'GET' ? GET_TRIES : 1;
      for (let attempt = 1; ; attempt++) {
        try {
          return await sendOnce(url, init, what);
        } catch (err) {
          if (attempt >= tries || !(err instanceof ApplicationFailure) || err.nonRetryable) throw err;
          await new Promise((r) => setTimeout(r, 250 * attempt));
        }
      }
    },

    /**
     * A reply's JSON body, read up to MAX_REPLY_BYTES: a longer one is a non-retryable failure,
     * a body that is not JSON a retryable one (a proxy's page during an outage).
     */
    async json<T>(res: Response, what: string): Promise<T> {
      const body = await boundedBody(res).catch((e: Error) => {
        throw ApplicationFailure.retryable(`${o.label} ${what}: reply cut off: ${scrub(e.message)}`, o.unavailableType);
      });
      if (body === undefined)
        throw ApplicationFailure.nonRetryable(
          `${o.label} ${what}: reply larger than ${MAX_REPLY_BYTES} bytes, not read`,
          o.tooLargeType ?? 'ReplyTooLarge',
        );
      try {
        return JSON.parse(body) as T;
      } catch {
        throw ApplicationFailure.retryable(`${o.label} ${what}: reply is not JSON`, o.unavailableType);
      }
    },

    /** An error reply's reason in one line: its JSON message (or OAuth error), else the body; scrubbed, at most 300 characters. */
    async errorText(res: Response): Promise<string> {
      const body = (await boundedBody(res).catch(() => '')) ?? `(reply larger than ${MAX_REPLY_BYTES} bytes)`;
      try {
        const j = JSON.parse(body) as { message?: string; error?: string; error_description?: string };
        const why = j.message ?? j.error_description ?? j.error ?? body;
        return clean(typeof why === 'string' ? why : body);
      } catch {
        return clean(body);
      }
    },
  };
}
