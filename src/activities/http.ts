/**
 * The one HTTP client plumbing for the cloud APIs dbops calls (DBLab Engine, Aerospike Cloud):
 * a per-request timeout, no redirects (fetch would carry a token or a posted secret to wherever a
 * redirect points), network trouble and 5xx as retryable failures, an error body read into one
 * short line, and every secret the client holds scrubbed from whatever it reports.
 */
import { ApplicationFailure } from '@temporalio/common';

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

  /** `s` with every secret of at least 4 characters replaced by ***. */
  const scrub = (s: string): string =>
    o.secrets().reduce<string>((acc, x) => (x && x.length >= 4 ? acc.split(x).join('***') : acc), s);

  return {
    scrub,

    /** One request; `what` names it in messages ("GET /status", "token request"). */
    async send(url: string, init: RequestInit, what: string): Promise<Response> {
      let res: Response;
      try {
        res = await doFetch(url, { ...init, signal: AbortSignal.timeout(o.timeoutMs), redirect: 'error' });
      } catch (err) {
        const e = err as Error;
        const why = e.name === 'TimeoutError' ? `no reply within ${o.timeoutMs} ms` : e.message;
        throw ApplicationFailure.retryable(`${o.label} ${what}: ${scrub(why)}`, o.unavailableType);
      }
      if (res.status >= 500) throw ApplicationFailure.retryable(`${o.label} ${what}: HTTP ${res.status}`, o.unavailableType);
      return res;
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
