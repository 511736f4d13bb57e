/**
 * The one place that keeps secrets out of text a person or a log will see (failure messages,
 * error replies). A secret can reach a message in another spelling than its own: a driver quotes
 * it JSON-style, a URL carries it percent-encoded, a form body with `+` for spaces, an auth header
 * as base64. Each spelling of each secret of at least 4 characters is replaced by `***`.
 */

/** Secrets shorter than this are not scrubbed (they would blank out ordinary words). */
const MIN_SECRET_LENGTH = 4;

/** The spellings of one secret that a message may carry, longest first. */
export function secretSpellings(secret: string): string[] {
  if (secret.length < MIN_SECRET_LENGTH) return [];
  const b64 = Buffer.from(secret, 'utf8').toString('base64');
  const spellings = new Set([
    secret,
    encodeURIComponent(secret),
    encodeURIComponent(secret).replace(/%20/g, '+'),
    JSON.stringify(secret).slice(1, -1),
    b64,
    b64.replace(/=+$/, ''),
    b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''),
  ]);
  return [...spellings].filter((s) => s.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
}

/** `text` with every spelling of every secret (of at least 4 characters) replaced by ***. */
export function scrubSecrets(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const secret of secrets) {
    if (!secret) continue;
    for (const s of secretSpellings(secret)) out = out.split(s).join('***');
  }
  return out;
}
