/** Text helpers with no dependencies (the CLI's status table uses them without loading zod). */

/** `text` cut to at most `max` characters, ending in "…" when cut (never splitting a surrogate pair). */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, Math.max(0, max - 1));
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}…`;
}
