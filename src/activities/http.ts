/**
 * The one HTTP client plumbing for the cloud APIs dbops calls (DBLab Engine, Aerospike Cloud):
 * a per-request timeout, no redirects (fetch would carry a token or a posted secret to wherever a
 * redirect points), network trouble, 5xx and 429 as retryable failures (a GET retried at once), an error body read into one
 * short line, and every secret the client holds scrubbed from whatever it reports.
 */
import { ApplicationFailure } from '@temporalio/common';
import { scrubSecrets } from './scrub';

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
}

export function httpService(o: HttpServiceOptions) {
  const doFetch = o.fetch ?? fetch;

  /** `s` with every spelling of every secret (./scrub.ts) replaced by ***. */
  const scrub = (s: string): string => scrubSecrets(s, o.secrets());

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

    /** An error reply's reason in one line: its JSON message (or OAuth error), else the body; scrubbed, at most 300 characters. */
    async errorText(res: Response): Promise<string> {
      const body = await res.text().catch(() => '');
      try {
        const j = JSON.parse(body) as { message?: string; error?: string; error_description?: string };
        return scrub(j.message ?? j.error_description ?? j.error ?? body).slice(0, 300);
      } catch {
        return scrub(body).slice(0, 300);
      }
    },
  };
}
