/** The text dbops shows for a failed run (no Temporal SDK import: `dbops status` uses it without the SDK). */

/** The deepest message of a failure chain: what actually went wrong. */
export function failureMessage(err: unknown): string {
  let e: unknown = err;
  let msg = err instanceof Error ? err.message : String(err);
  while (e instanceof Error && (e as { cause?: unknown }).cause instanceof Error) {
    e = (e as { cause: Error }).cause;
    if ((e as Error).message) msg = (e as Error).message;
  }
  return msg;
}
