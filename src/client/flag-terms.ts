/**
 * Input problems in the user's terms: a `dbops` command that builds a workflow input from flags
 * reports a refused field by the flag the user typed (`--port must be a number`), not by the
 * field's path in the JSON input (`server.port: Invalid input: expected number, received NaN`).
 * Inputs given as JSON or YAML (--input, --config) keep their paths: those are what the user wrote.
 */
import { InvalidInput, type InputProblem } from '../domain/errors';

/** How one input field is given on the command line. */
export interface FlagName {
  /** The flag (or flags) that set the field. */
  flag: string;
  /** What to say when the field is missing, if not "<flag> is required". */
  missing?: string;
}

/** Input field path (dotted, as in InputProblem.path) → the flag that sets it. */
export type FlagNames = Readonly<Record<string, string | FlagName>>;

const nameOf = (f: string | FlagName): FlagName => (typeof f === 'string' ? { flag: f } : f);

/** The flag of a path: its own, else its nearest mapped parent's (server.tls.mode → --tls-mode). */
function flagOf(path: string, flags: FlagNames): FlagName | undefined {
  for (let p = path; p; p = p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '') {
    if (flags[p] !== undefined) return nameOf(flags[p]);
  }
  return undefined;
}

/** zod's wording of its own checks, as a predicate on the flag. */
const ZOD_WORDING: Array<[RegExp, string]> = [
  [/^Too (?:small|big): expected number to be /, 'must be '],
  [/^Invalid option: expected one of /, 'must be one of '],
  [/^Too (?:small|big): expected string to have /, 'must have '],
];

/** A schema's message, said of a flag: zod's type messages become what the user can fix. */
function flagMessage(p: InputProblem, name: FlagName): string {
  if (p.code === 'invalid_type') {
    if (/received undefined/.test(p.message)) return name.missing ?? `${name.flag} is required`;
    if (p.expected === 'number') return `${name.flag} must be a number`;
    if (p.expected === 'int') return `${name.flag} must be a whole number`;
  }
  let message = p.message;
  for (const [zod, ours] of ZOD_WORDING) message = message.replace(zod, ours);
  // dbops's own messages read as a predicate ("must be an AWS region like us-east-1").
  return /^(must|may|is|are|has) /.test(message) ? `${name.flag} ${message}` : `${name.flag}: ${message}`;
}

/**
 * A problem without a path names its fields in its text: the ones that cannot be plain words
 * (dotted or camelCase: server.tls.caRef, availabilityZones) become their flags; "user" stays.
 */
function rewriteText(text: string, flags: FlagNames): string {
  const paths = Object.keys(flags)
    .filter((k) => /[.A-Z]/.test(k))
    .sort((a, b) => b.length - a.length);
  let out = text;
  for (const path of paths) {
    const re = new RegExp(`(?<![\\w.])${path.replace(/\./g, '\\.')}(?![\\w])`, 'g');
    out = out.replace(re, nameOf(flags[path]).flag);
  }
  return out;
}

/** The problems of a refused input, each by its flag where one sets the field, joined with "; ". */
export function flagProblemsText(err: InvalidInput, flags: FlagNames): string {
  const problems: readonly InputProblem[] = err.problems.length
    ? err.problems
    : [{ path: '', message: err.message.replace(/^invalid (input|config): /, '') }];
  return problems
    .map((p) => {
      if (!p.path) return rewriteText(p.message, flags);
      const name = flagOf(p.path, flags);
      return name ? flagMessage(p, name) : `${p.path}: ${p.message}`;
    })
    .join('; ');
}

/** The problems of an input built from flags, said in flags. */
export class FlagError extends Error {}

/** Runs the domain's planning of an input the command built from `flags`; a refusal names the flags. */
export function inFlagTerms<T>(flags: FlagNames, plan: () => T): T {
  try {
    return plan();
  } catch (err) {
    if (err instanceof InvalidInput) throw new FlagError(flagProblemsText(err, flags));
    throw err;
  }
}
