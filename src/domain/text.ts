/** Text helpers with no dependencies (the CLI's status table uses them without loading zod). */

/** `text` cut to at most `max` characters, ending in "…" when cut (never splitting a surrogate pair). */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, Math.max(0, max - 1));
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}…`;
}

/** Control characters (C0, DEL, C1): terminal escapes (ANSI/OSC), newlines, NUL. */
// eslint-disable-next-line no-control-regex -- removing control characters is the point
const CONTROL = /[\x00-\x1f\x7f-\x9f]/g;

/** `text` without control characters (each dropped), so it cannot move a cursor or start an escape. */
export function stripControl(text: string): string {
  return text.replace(CONTROL, '');
}

/** Text from an outside service (DBLab's alerts, pool names…) safe to record and show: no control characters, at most `max`. */
export function cleanText(text: string, max = 300): string {
  return truncate(stripControl(text), max);
}
