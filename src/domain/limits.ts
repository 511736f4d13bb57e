/**
 * The bounds every workflow input is held to, and the helpers the input schemas share. Pure (runs
 * in the workflow sandbox). Every string in an input has a maximum length, checked before any
 * pattern, so no input can reach a server's own limits (search attributes, identifiers, payload
 * sizes) or make a pattern work on megabytes; every problem message is bounded too.
 */
import { z } from 'zod';
import { AWS_REGIONS } from './aws-regions';
import { InvalidInput, type InputProblem } from './errors';
import { parseSecretRef } from './secret-refs';
import { truncate } from './text';

export { truncate }; // moved to ./text (no zod), kept here for its users

export const MAX = {
  /** AWS region names (the longest today is 14 characters). */
  region: 32,
  /** An http(s) URL. */
  url: 2048,
  /** A secret reference (env:NAME, file:/path, aws-sm:<id or ARN>[#key]). */
  secretRef: 1024,
  /** An absolute path on the worker (PATH_MAX). */
  path: 4096,
  /** An IAM role ARN. */
  arn: 2048,
  /** A duration such as 30s, 4h or 2d. */
  duration: 16,
  /** The name of an operator-configured entry (a DBLab instance, an Aerospike Cloud account). */
  configName: 63,
} as const;

/** The longest duration any timing setting may ask for. */
export const MAX_DURATION_MS = 365 * 86_400_000;

/** Operator-configured entry names (worker configuration): a-z, 0-9 and -, starting with a letter. */
export const CONFIG_NAME = /^[a-z][a-z0-9-]{0,62}$/;

/**
 * A string of at most `max` characters without control characters (NUL, newlines, …: no field of
 * any input needs one, and they reach SQL, AWS and log lines); a longer one is refused before any
 * later check runs.
 */
export function boundedString(max: number): z.ZodString {
  return (
    z
      .string()
      .max(max, { abort: true, message: `must be at most ${max} characters` })
      // eslint-disable-next-line no-control-regex -- refusing control characters is the point
      .regex(/^[^\x00-\x1f\x7f]*$/, {
        abort: true,
        message: 'must not contain control characters (NUL, newline, tab, …)',
      })
  );
}

/**
 * An http(s) URL of at most MAX.url characters whose host is a DNS name's length at most (the
 * host ends up in workflow ids, e.g. refresh-dblab:<host>, which the server also bounds).
 */
export function httpUrl(): z.ZodString {
  return boundedString(MAX.url)
    .url('must be a URL')
    .refine((u) => /^https?:\/\//i.test(u), 'must be an http(s) URL')
    .refine((u) => hostLength(u) <= 253, 'must have a host name of at most 253 characters');
}

function hostLength(url: string): number {
  try {
    return new URL(url).hostname.length;
  } catch {
    return 0; // not a URL: refused by .url()
  }
}

/** The name of an operator-configured entry of the worker configuration. */
export function configName(what: string): z.ZodString {
  return boundedString(MAX.configName).regex(
    CONFIG_NAME,
    `must name ${what}: a-z, 0-9 and -, starting with a letter (at most 63)`,
  );
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** The one duration grammar of every input: a whole number and ms, s, m, h or d (500ms, 30s, 4h, 2d). */
export const DURATION = /^(\d+)(ms|s|m|h|d)$/;

/** Milliseconds of a duration in the DURATION grammar; the only duration parser dbops uses. */
export function durationMs(text: string): number {
  const m = DURATION.exec(text);
  if (!m) throw new Error(`bad duration ${text}`);
  return Number(m[1]) * UNIT_MS[m[2]];
}

/** A duration string matching `pattern`, at most MAX.duration characters and at most 365 days. */
export function durationString(pattern: RegExp, message: string): z.ZodString {
  return boundedString(MAX.duration)
    .regex(pattern, message)
    .refine((v) => !pattern.test(v) || durationMs(v) <= MAX_DURATION_MS, 'must be at most 365 days');
}

/** A record of at most `maxEntries` entries. */
export function boundedRecord<K extends z.ZodType<string, string>, V extends z.ZodType>(
  key: K,
  value: V,
  maxEntries: number,
  what: string,
) {
  return z
    .record(key, value)
    .refine((o) => Object.keys(o).length <= maxEntries, `must have at most ${maxEntries} ${what}`);
}

const MAX_ISSUES = 10;
const MAX_PATH_SEGMENT = 64;
const MAX_MESSAGE = 300;

interface Problem {
  path: PropertyKey[];
  message: string;
  code: string;
  expected?: string;
}

/**
 * The problems of a failed parse, made specific: a union that failed in only one of its forms
 * (the others refused the input's type outright) reports that form's problems, and a bad record
 * key reports why it is bad.
 */
function problems(issues: readonly z.core.$ZodIssue[], prefix: PropertyKey[] = []): Problem[] {
  const out: Problem[] = [];
  for (const i of issues) {
    const path = [...prefix, ...i.path];
    if (i.code === 'invalid_union') {
      const forms = i.errors.filter(
        (form) => !(form.length === 1 && form[0].code === 'invalid_type' && form[0].path.length === 0),
      );
      if (forms.length === 1) {
        out.push(...problems(forms[0], path));
        continue;
      }
    }
    if (i.code === 'invalid_key' && i.issues.length) {
      out.push({ path, message: i.issues.map((k) => k.message).join('; '), code: i.code });
      continue;
    }
    out.push({
      path,
      message: i.message,
      code: i.code,
      ...(i.code === 'invalid_type' ? { expected: i.expected } : {}),
    });
  }
  return out;
}

/** The problems of a failed parse, one by one: the path dotted, path segments and messages bounded, at most ten. */
export function issueList(error: z.ZodError): InputProblem[] {
  return problems(error.issues)
    .slice(0, MAX_ISSUES)
    .map((p) => ({
      path: p.path.map((s) => truncate(String(s), MAX_PATH_SEGMENT)).join('.'),
      message: truncate(p.message, MAX_MESSAGE),
      code: p.code,
      ...(p.expected !== undefined ? { expected: p.expected } : {}),
    }));
}

/**
 * One line per problem, `<field path>: <message>`, each bounded, at most ten (then "and N more"),
 * so a message never echoes an input at length.
 */
export function issuesText(error: z.ZodError, root: string): string {
  const lines = issueList(error).map((p) => `${p.path || root}: ${p.message}`);
  const more = problems(error.issues).length - MAX_ISSUES;
  return lines.join('; ') + (more > 0 ? `; and ${more} more problem(s)` : '');
}

/** The InvalidInput of a failed parse: `<prefix>: <issuesText>`, with the problems one by one. */
export function invalidInput(error: z.ZodError, prefix: string, root: string): InvalidInput {
  return new InvalidInput(`${prefix}: ${issuesText(error, root)}`, issueList(error));
}

/**
 * Any input value as display text, for progress targets built before validation: a string as it
 * is, anything else as JSON (never `String(v)`, which throws for `{"toString": 1}` and would fail
 * the workflow task over and over instead of failing the run).
 */
export function show(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === undefined) return 'undefined';
  try {
    return JSON.stringify(v) ?? typeof v;
  } catch {
    return typeof v;
  }
}

/**
 * The shape of an AWS region name, loosely, since new partitions keep adding shapes (us-east-1,
 * us-gov-west-1, us-isob-east-1, eusc-de-east-1, ap-southeast-7); region() also checks the name.
 */
export const REGION = /^[a-z]{2,}(-[a-z]+)+-\d+$/;
/** An availability zone: its region's name and a letter (us-east-1a). */
export const AVAILABILITY_ZONE = new RegExp(`${REGION.source.slice(0, -1)}[a-z]$`);

const KNOWN_REGIONS: ReadonlySet<string> = new Set(AWS_REGIONS);

/**
 * Whether region() refuses a name of the right shape that is not in AWS_REGIONS. Off only inside
 * anyRegionName(), which is synchronous, so no other planning runs while it is off.
 */
let knownRegionsOnly = true;

/**
 * Runs `plan` with region() accepting any name of the REGION shape, as before names were checked
 * against AWS_REGIONS: for a run that started before its workflow's `…-known-regions` patch, whose
 * input must keep planning (and the run keep doing) what it did when it started.
 */
export function anyRegionName<T>(plan: () => T): T {
  const before = knownRegionsOnly;
  knownRegionsOnly = false;
  try {
    return plan();
  } finally {
    knownRegionsOnly = before;
  }
}

/** Levenshtein distance, for "did you mean". */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}

/** The known region closest to a mistyped name (at most two edits away), if any. */
export function closestRegion(name: string): string | undefined {
  let best: { region: string; d: number } | undefined;
  for (const r of AWS_REGIONS) {
    const d = editDistance(name, r);
    if (d <= 2 && (!best || d < best.d)) best = { region: r, d };
  }
  return best?.region;
}

/**
 * An AWS region: the REGION shape, and a name the installed AWS SDK knows (AWS_REGIONS, from its
 * partition metadata). A name of the right shape that AWS does not have (us-eest-1) would
 * otherwise reach the SDK, which makes up an endpoint for it, and fail deep in a run.
 */
export function region(): z.ZodString {
  return boundedString(MAX.region)
    .regex(REGION, { abort: true, message: 'must be an AWS region like us-east-1' })
    .superRefine((v, ctx) => {
      if (!knownRegionsOnly || KNOWN_REGIONS.has(v)) return;
      const near = closestRegion(v);
      ctx.addIssue({
        code: 'custom',
        message: `must be an AWS region: "${v}" is not one${near ? ` (did you mean ${near}?)` : ''}`,
      });
    });
}

export function availabilityZone(): z.ZodString {
  return boundedString(MAX.region).regex(AVAILABILITY_ZONE, 'must be an availability zone like us-east-1a');
}

/** A secret reference (env:NAME, file:/path, aws-sm:<id>[#key]); a literal value is refused. */
export function secretRefString(): z.ZodType<string, string> {
  return boundedString(MAX.secretRef).superRefine((v, ctx) => {
    try {
      parseSecretRef(v, 'reference');
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message.replace(/^reference:? ?/, '') });
    }
  });
}
