/**
 * The one error the domain throws for input a run must refuse (a bad field, an impossible plan).
 * Workflows turn it into a non-retryable `InvalidInput` failure with `validInput` (progress.ts).
 */

/**
 * One problem of a refused input: the field's path in the input (`server.port`; empty for a
 * problem of the input as a whole, whose message names the fields) and what is wrong with it. The
 * `dbops` client uses these to name the flag the user typed instead of the path.
 */
export interface InputProblem {
  path: string;
  message: string;
  /** The schema's issue code (zod's: invalid_type, too_big, custom, …), when a schema found it. */
  code?: string;
  /** For invalid_type: the type the schema expected. */
  expected?: string;
}

export class InvalidInput extends Error {
  constructor(
    message: string,
    /** The problems one by one (the message joins them); empty when the message is all there is. */
    readonly problems: readonly InputProblem[] = [],
  ) {
    super(message);
  }
}
