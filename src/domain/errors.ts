/**
 * The one error the domain throws for input a run must refuse (a bad field, an impossible plan).
 * Workflows turn it into a non-retryable `InvalidInput` failure with `validInput` (progress.ts).
 */
export class InvalidInput extends Error {}
