/**
 * Malformed inputs for every workflow type, generated from one valid base input each: every field
 * of the base (nested ones too) is given wrong types, removed (when required), made over-long,
 * empty, injection-looking, out of range, reserved, or a literal secret where a reference belongs;
 * unknown keys are added at every object level; and the input itself is replaced by non-objects.
 * Pure: used by fuzz.test.ts, which also checks that each base is valid and each mutation is not.
 */

/** What a field is, so the generator knows which values are malformed for it. */
export type Field =
  /** A string with a format (pattern, enum-like or name rules): injection-looking values are malformed. */
  (
    | { t: 'str'; max: number; required?: boolean; emptyOk?: boolean }
    /** A string without a format (a name the server checks): only control characters are malformed. */
    | { t: 'free'; max: number; required?: boolean; emptyOk?: boolean }
    /** A secret reference (env:NAME, file:/path, aws-sm:id): a literal value is malformed. */
    | { t: 'ref'; max: number; required?: boolean }
    | { t: 'enum'; required?: boolean }
    | { t: 'bool'; required?: boolean }
    | { t: 'int'; min: number; max: number; required?: boolean }
    | { t: 'duration'; days: boolean; required?: boolean }
    | { t: 'url'; required?: boolean }
    /** A strict object: its own keys are fields too; unknown keys are malformed. */
    | { t: 'obj'; required?: boolean }
    | { t: 'arr'; max: number; min?: number; item: Field; required?: boolean }
    /** A record of string → string (tags). */
    | { t: 'record'; maxEntries: number; keyMax: number; valueMax: number; required?: boolean }
    /** A string or a strict object (refresh `dblab`). */
    | { t: 'strOrObj'; max: number; required?: boolean }
  ) & {
    /** What the failure message names instead of the field's path (a check with its own wording). */
    named?: string;
    /** Mutations (by their `what`) that are well-formed for this field. */
    skip?: string[];
  };

export interface FuzzCase {
  /** Short description: the field path and what was done to it. */
  label: string;
  input: unknown;
  /** Every one of these must appear in the failure message (the field's path, or a phrase). */
  expect: string[];
  /** A literal secret put where a reference belongs: the message must not repeat it. */
  secret?: string;
}

export const HUGE = 'x'.repeat(100_000);
export const SECRET = 'Sup3r-S3cret-literal-9f1c';

/** Injection-looking strings, each malformed wherever a field has a format. */
export const INJECTIONS: Array<[string, string]> = [
  ['sql', "x'; DROP TABLE users; --"],
  ['double-quote', 'a"b'],
  ['backtick', 'a`id`'],
  ['semicolon', 'a;b'],
  ['nul', 'a\u0000b'],
  ['newline', 'a\nb'],
  ['crlf', 'a\r\nX-Injected: 1'],
  ['unicode', 'ＤＢ-☃-\u202e'],
  ['path', '../../etc/passwd'],
  ['template', '${jndi:ldap://x}'],
  ['space', 'a b'],
  ['percent', '%00%0a'],
];
/** Appended to the base value: a valid prefix must not carry a malformed tail through. */
const SUFFIXES: Array<[string, string]> = [
  ['suffix-newline', '\n'],
  ['suffix-sql', "'; --"],
  ['suffix-nul', '\u0000'],
  ['suffix-space', ' '],
];

const WRONG_TYPES: Record<string, unknown> = {
  number: 42,
  array: ['x'],
  object: {},
  null: null,
  boolean: true,
  toString: { toString: 1 },
};
/** Which wrong-type values each kind of field must refuse. */
const REFUSES: Record<Field['t'], string[]> = {
  str: ['number', 'array', 'object', 'null', 'boolean', 'toString'],
  free: ['number', 'array', 'object', 'null', 'boolean', 'toString'],
  ref: ['number', 'array', 'object', 'null', 'boolean', 'toString'],
  enum: ['number', 'array', 'object', 'null', 'boolean', 'toString'],
  duration: ['number', 'array', 'object', 'null', 'boolean', 'toString'],
  url: ['number', 'array', 'object', 'null', 'boolean', 'toString'],
  bool: ['number', 'array', 'object', 'null', 'toString'],
  int: ['array', 'object', 'null', 'boolean', 'toString'],
  obj: ['number', 'array', 'null', 'boolean'],
  arr: ['number', 'object', 'null', 'boolean', 'toString'],
  record: ['number', 'array', 'null', 'boolean'],
  strOrObj: ['number', 'array', 'null', 'boolean'],
};
const UNKNOWN_KEYS = ['bogusField', 'DryRun', '__proto__', 'constructor', `k${'y'.repeat(2000)}`];

type Json = unknown;
type Path = Array<string | number>;

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

function getAt(o: Json, p: Path): Json {
  return p.reduce<Json>((acc, k) => (acc as Record<string | number, Json>)[k], o);
}

/** A copy of `base` with the value at `p` replaced (or removed, when `value` is REMOVE). */
const REMOVE = Symbol('remove');
function setAt(base: Json, p: Path, value: Json | typeof REMOVE): Json {
  const copy = clone(base);
  const parent = getAt(copy, p.slice(0, -1)) as Record<string | number, Json>;
  const key = p[p.length - 1];
  if (value === REMOVE) delete parent[key];
  else if (key === '__proto__')
    Object.defineProperty(parent, key, { value, enumerable: true, writable: true, configurable: true });
  else parent[key] = value;
  return copy;
}

const dotted = (p: Path) => p.join('.');

/** The spec key of a path: array indexes as `[]`. */
const specKey = (p: Path) => p.map((k) => (typeof k === 'number' ? '[]' : k)).join('.');

export interface FuzzSpec {
  base: Record<string, unknown>;
  /** Every field of `base` by path (`a.b`, array items as `a.[]`). */
  fields: Record<string, Field>;
  /** Only fields under these paths are mutated (for a second base of the same type). */
  only?: string[];
  /** Input-level mutations (non-objects, unknown keys at the top) are made; default true. */
  root?: boolean;
  /** Hand-picked mutations that need more than one field, or reserved names. */
  extra?: Array<{ label: string; set: Record<string, Json | typeof REMOVE>; expect: string[]; secret?: string }>;
}

export { REMOVE };

function valueCases(
  p: Path,
  f: Field,
  baseValue: Json,
): Array<{ what: string; value: Json | typeof REMOVE; expect?: string[]; secret?: string }> {
  const out: Array<{ what: string; value: Json | typeof REMOVE; expect?: string[]; secret?: string }> = [];
  for (const name of REFUSES[f.t]) out.push({ what: `type ${name}`, value: WRONG_TYPES[name] });
  if (f.required) out.push({ what: 'missing', value: REMOVE });
  const str = typeof baseValue === 'string' ? baseValue : 'x';
  switch (f.t) {
    case 'str':
    case 'free':
    case 'strOrObj':
      out.push({ what: 'over-long', value: HUGE });
      out.push({ what: 'one over max', value: 'a'.repeat(f.max + 1) });
      if (f.t !== 'strOrObj' && !f.emptyOk) out.push({ what: 'empty', value: '' });
      if (f.t === 'free') {
        // after the base value, so a field that must start a certain way (an absolute path) still does
        out.push(
          { what: 'nul', value: `${str}\u0000x` },
          { what: 'newline', value: `${str}\nx` },
          { what: 'control', value: `${str}\u0007` },
        );
      } else {
        for (const [n, v] of INJECTIONS) out.push({ what: n, value: v });
        for (const [n, v] of SUFFIXES) out.push({ what: n, value: str + v });
        out.push({ what: 'deep nesting', value: deep(500) });
      }
      break;
    case 'ref':
      out.push({ what: 'over-long', value: `env:${HUGE}` });
      out.push({ what: 'empty', value: '' });
      out.push({ what: 'literal secret', value: SECRET, secret: SECRET });
      out.push({ what: 'literal AWS key', value: 'AKIAIOSFODNN7EXAMPLE', secret: 'AKIAIOSFODNN7EXAMPLE' });
      out.push({
        what: 'literal URL with password',
        value: `postgres://admin:${SECRET}@db.example.com/x`,
        secret: SECRET,
      });
      out.push({ what: 'env: without a name', value: 'env:' });
      out.push({ what: 'env: injection', value: 'env:A; rm -rf /' });
      out.push({ what: 'file: relative', value: 'file:etc/passwd' });
      out.push({ what: 'aws-sm: without an id', value: 'aws-sm:' });
      out.push({ what: 'unknown scheme', value: `vault:${SECRET}`, secret: SECRET });
      break;
    case 'enum':
      out.push(
        { what: 'unknown value', value: 'bogus' },
        { what: 'empty', value: '' },
        { what: 'case', value: str.toUpperCase() },
        { what: 'over-long', value: HUGE },
      );
      out.push({ what: 'suffix-space', value: `${str} ` });
      break;
    case 'bool':
      out.push(
        { what: 'string "true"', value: 'true' },
        { what: 'string "false"', value: 'false' },
        { what: 'number 0', value: 0 },
      );
      break;
    case 'int':
      out.push(
        { what: 'below min', value: f.min - 1 },
        { what: 'above max', value: f.max + 1 },
        { what: 'fraction', value: f.min + 0.5 },
      );
      out.push(
        { what: 'negative', value: -1 },
        { what: 'huge', value: 1e308 },
        { what: 'unsafe integer', value: 2 ** 53 + 1 },
      );
      out.push({ what: 'numeric string', value: String(f.min) });
      break;
    case 'duration':
      out.push({ what: 'over-long', value: HUGE }, { what: 'empty', value: '' });
      for (const v of ['1y', '10 s', '-5s', '5', 's', '1.5h', '0x10s', '10S', '10s\n', '99999999h', '366d'])
        out.push({ what: `duration ${JSON.stringify(v)}`, value: v });
      if (!f.days) out.push({ what: 'days unit', value: '1d' });
      break;
    case 'url':
      out.push({ what: 'over-long', value: `https://x.example.com/${HUGE}` }, { what: 'empty', value: '' });
      for (const v of [
        'not a url',
        'ftp://x.example.com/',
        'javascript:alert(1)',
        'file:///etc/passwd',
        `https://${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(60)}.example.com/`,
        'https://exa mple.com/',
        '//x.example.com/',
      ]) {
        out.push({ what: `url ${JSON.stringify(v.slice(0, 40))}`, value: v });
      }
      break;
    case 'arr':
      out.push({
        what: 'too many',
        value: Array.from({ length: f.max + 1 }, () => (Array.isArray(baseValue) ? baseValue[0] : 'x')),
      });
      out.push({ what: '10 000 items', value: Array.from({ length: 10_000 }, () => 'x') });
      if (f.min) out.push({ what: 'empty array', value: [] });
      out.push({ what: 'item null', value: [null] });
      out.push({ what: 'item object', value: [{}] });
      break;
    case 'record':
      out.push({
        what: 'too many entries',
        value: Object.fromEntries(Array.from({ length: f.maxEntries + 1 }, (_, i) => [`k${i}`, 'v'])),
      });
      out.push({ what: 'empty key', value: { '': 'v' } });
      out.push({ what: 'over-long key', value: { [HUGE]: 'v' } });
      out.push({ what: 'one-over key', value: { ['k'.repeat(f.keyMax + 1)]: 'v' } });
      out.push({ what: 'over-long value', value: { team: HUGE } });
      out.push({ what: 'value number', value: { team: 42 } });
      out.push({ what: 'value null', value: { team: null } });
      out.push({ what: 'value object', value: { team: { a: 1 } } });
      break;
    case 'obj':
      break;
  }
  return out;
}

function deep(n: number): Json {
  let v: Json = 'x';
  for (let i = 0; i < n; i++) v = [v];
  return v;
}

/** Every malformed input of one spec. */
export function fuzzCases(spec: FuzzSpec, root: string): FuzzCase[] {
  const cases: FuzzCase[] = [];
  const inScope = (p: Path) => !spec.only || spec.only.some((o) => dotted(p) === o || dotted(p).startsWith(`${o}.`));
  const unknownKeys = (p: Path) => {
    for (const k of UNKNOWN_KEYS) {
      const shown = k.length > 60 ? k.slice(0, 60) : k;
      cases.push({
        label: `${dotted(p) || root}: unknown key ${shown.slice(0, 20)}`,
        input: setAt(spec.base, [...p, k], 1),
        expect: [...(p.length ? [dotted(p)] : []), 'Unrecognized key', shown],
      });
    }
  };
  const walk = (p: Path, v: Json) => {
    const f = spec.fields[specKey(p)];
    if (!f) throw new Error(`fuzz spec has no field for ${specKey(p)}`);
    if (inScope(p)) {
      for (const c of valueCases(p, f, v).filter((x) => !f.skip?.includes(x.what))) {
        cases.push({
          label: `${dotted(p)}: ${c.what}`,
          input: setAt(spec.base, p, c.value),
          expect: c.expect ?? [f.named ?? dotted(p)],
          secret: c.secret,
        });
      }
    }
    if (f.t === 'obj' || (f.t === 'strOrObj' && typeof v === 'object')) {
      if (inScope(p)) unknownKeys(p);
      for (const [k, child] of Object.entries(v as Record<string, Json>)) walk([...p, k], child);
    }
    if (f.t === 'arr') (v as Json[]).forEach((item, i) => walk([...p, i], item));
  };
  for (const [k, v] of Object.entries(spec.base)) walk([k], v);
  if (spec.root !== false) {
    unknownKeys([]);
    for (const [n, v] of Object.entries({
      null: null,
      array: [],
      'array of base': [spec.base],
      string: 'x',
      number: 42,
      boolean: true,
      undefined,
    })) {
      cases.push({ label: `${root}: ${n}`, input: v, expect: [root, 'expected object'] });
    }
    const required = Object.entries(spec.fields)
      .filter(([k, f]) => !k.includes('.') && f.required)
      .map(([k]) => k);
    cases.push({ label: `${root}: empty object`, input: {}, expect: [required[0]] });
    cases.push({ label: `${root}: {"toString":1}`, input: { toString: 1 }, expect: ['toString'] });
    cases.push({ label: `${root}: base wrapped`, input: { input: spec.base }, expect: ['Unrecognized key', 'input'] });
  }
  for (const e of spec.extra ?? []) {
    let input: Json = spec.base;
    for (const [k, v] of Object.entries(e.set)) input = setAt(input, k.split('.'), v);
    cases.push({ label: e.label, input, expect: e.expect, secret: e.secret });
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------
// The specs: one valid base per workflow type (every optional field given), and its fields.

const databaseId: Field = { t: 'str', max: 128, required: true };
const region: Field = { t: 'str', max: 32, required: true };
const vpcId: Field = { t: 'str', max: 21, required: true };
const optRegion: Field = { t: 'str', max: 32 };
const peeringDuration: Field = { t: 'duration', days: false };
const timingFields: Record<string, Field> = {
  timing: { t: 'obj' },
  'timing.pollInterval': peeringDuration,
  'timing.initiateTimeout': peeringDuration,
  'timing.activeTimeout': peeringDuration,
  'timing.heartbeatTimeout': peeringDuration,
};
const timing = { pollInterval: '10s', initiateTimeout: '1h', activeTimeout: '30m', heartbeatTimeout: '1m' };
const awsCloud = { kind: 'aws', region: 'us-west-2', roleArn: 'arn:aws:iam::222222222222:role/dbops-database' };
const awsCloudFields = (required: boolean): Record<string, Field> => ({
  cloud: { t: 'obj', required },
  'cloud.kind': { t: 'enum', required: true },
  'cloud.region': optRegion,
  'cloud.roleArn': { t: 'str', max: 2048 },
});

const peerBase = {
  databaseId: 'db-1',
  region: 'us-east-1',
  vpcId: 'vpc-0abc12345def67890',
  stages: ['initiate', 'route'],
  forceRouteCreation: false,
  routeTables: 'main',
  secureConnection: false,
  cloud: awsCloud,
  timing,
};
const peerFields: Record<string, Field> = {
  databaseId,
  region,
  vpcId,
  stages: { t: 'arr', max: 4, item: { t: 'str', max: 32 } },
  'stages.[]': { t: 'str', max: 32, named: 'stage' },
  forceRouteCreation: { t: 'bool' },
  routeTables: { t: 'enum' },
  secureConnection: { t: 'bool' },
  ...awsCloudFields(true),
  ...timingFields,
};
const aerospikeInline = {
  kind: 'aerospike-cloud',
  apiUrl: 'https://api.aerospike.example.com/v2',
  tokenUrl: 'https://auth.aerospike.example.com/oauth/token',
  clientIdRef: 'env:AS_CLIENT_ID',
  clientSecretRef: 'env:AS_SECRET',
};
const aerospikeFields: Record<string, Field> = {
  cloud: { t: 'obj', required: true },
  'cloud.kind': { t: 'enum', required: true },
  'cloud.apiUrl': { t: 'url', required: true },
  'cloud.tokenUrl': { t: 'url', required: true },
  'cloud.clientIdRef': { t: 'ref', max: 1024, required: true },
  'cloud.clientSecretRef': { t: 'ref', max: 1024, required: true },
  // removed, the message names the inline fields "required unless account names …"
  'cloud.account': { t: 'str', max: 63, required: true, named: 'account' },
};

const peerSpecs = (unpeer: boolean): FuzzSpec[] => {
  const base = unpeer
    ? { databaseId: peerBase.databaseId, region: peerBase.region, vpcId: peerBase.vpcId, cloud: awsCloud, timing }
    : peerBase;
  const fields = { ...peerFields, ...aerospikeFields, ...awsCloudFields(true) };
  return [
    {
      base,
      fields,
      extra: [
        { label: 'cloud.kind: another cloud', set: { 'cloud.kind': 'gcp' }, expect: ['cloud.kind'] },
        {
          label: 'cloud: aws kind with aerospike fields',
          set: { 'cloud.apiUrl': aerospikeInline.apiUrl },
          expect: ['cloud', 'apiUrl'],
        },
        ...(unpeer
          ? [
              {
                label: 'stages: a peerVpc-only field',
                set: { stages: ['initiate'] },
                expect: ['Unrecognized key', 'stages'],
              },
            ]
          : [
              { label: 'stages: unknown stage', set: { stages: ['initiate', 'destroy'] }, expect: ['"destroy"'] },
              { label: 'stages: prepare is not selectable', set: { stages: ['prepare'] }, expect: ['"prepare"'] },
            ]),
        { label: 'vpcId: uppercase hex', set: { vpcId: 'vpc-0ABC12345DEF67890' }, expect: ['vpcId'] },
        { label: 'vpcId: 9 hex digits', set: { vpcId: 'vpc-0abc12345' }, expect: ['vpcId'] },
        { label: 'databaseId: leading dot', set: { databaseId: '.hidden' }, expect: ['databaseId'] },
        {
          label: 'cloud.roleArn: not a role',
          set: { 'cloud.roleArn': 'arn:aws:iam::222222222222:user/bob' },
          expect: ['cloud.roleArn'],
        },
        {
          label: 'cloud.roleArn: short account',
          set: { 'cloud.roleArn': 'arn:aws:iam::2222:role/x' },
          expect: ['cloud.roleArn'],
        },
        {
          label: 'timing.pollInterval: over 365 days',
          set: { 'timing.pollInterval': '8761h' },
          expect: ['timing.pollInterval'],
        },
      ],
    },
    {
      base: { ...base, cloud: aerospikeInline },
      fields,
      only: ['cloud'],
      root: false,
      extra: [
        { label: 'cloud: account and inline given', set: { 'cloud.account': 'prod' }, expect: ['account', 'not both'] },
        {
          label: 'cloud.clientSecretRef: missing',
          set: { 'cloud.clientSecretRef': REMOVE },
          expect: ['cloud.clientSecretRef'],
        },
      ],
    },
    {
      base: { ...base, cloud: { kind: 'aerospike-cloud', account: 'prod' } },
      fields,
      only: ['cloud.account'],
      root: false,
      extra: [{ label: 'cloud.account: uppercase', set: { 'cloud.account': 'Prod' }, expect: ['cloud.account'] }],
    },
  ];
};

const networkBase = {
  databaseId: 'db-2',
  region: 'us-east-1',
  vpcId: 'vpc-0abc12345def67890',
  cidr: '10.160.0.0/19',
  availabilityZones: ['us-west-2a', 'us-west-2b'],
  zoneName: 'db-2.db.internal',
  cloud: awsCloud,
  routeTables: 'all',
  forceRouteCreation: true,
  timing,
};
const networkFields: Record<string, Field> = {
  databaseId,
  region,
  vpcId,
  cidr: { t: 'str', max: 18 },
  availabilityZones: { t: 'arr', max: 8, min: 1, item: { t: 'str', max: 32 } },
  'availabilityZones.[]': { t: 'str', max: 32 },
  zoneName: { t: 'str', max: 253 },
  ...awsCloudFields(false),
  routeTables: { t: 'enum' },
  forceRouteCreation: { t: 'bool' },
  ...timingFields,
};

const deleteNetworkBase = {
  databaseId: 'db-2',
  region: 'us-east-1',
  vpcId: 'vpc-0abc12345def67890',
  cloud: awsCloud,
  timing,
};

const refreshBase = {
  source: {
    type: 'rds',
    identifier: 'production-db',
    snapshotIdentifier: 'rds:production-db-2024-01-01-00-00',
    snapshotType: 'automated',
    dbName: 'postgres',
    username: 'postgres',
    password: 'env:SRC_PW',
  },
  clone: {
    instanceClass: 'db.t3.medium',
    subnetGroup: 'default',
    securityGroups: ['sg-0123abcd'],
    publiclyAccessible: false,
    enableIAMAuth: false,
    parameterGroup: 'default.postgres15',
    optionGroup: 'default:postgres-15',
    method: 'snapshot',
    storageType: 'gp3',
    tags: { team: 'data' },
    maxAge: '48h',
    prepare: { dblabUser: 'dblab_reader', auth: 'password' },
  },
  dblab: {
    apiEndpoint: 'https://dblab.example.com:2345',
    token: 'env:DBLAB_TOKEN',
    pollInterval: '30s',
    timeout: '4h',
    startDeadline: '15m',
    requestTimeout: '30s',
    parallelJobs: 2,
    restoreParallelJobs: 2,
  },
  aws: { region: 'us-east-1' },
  dryRun: false,
  cloneTimeout: '2h',
};
const refreshDuration: Field = { t: 'duration', days: true };
const refreshFields: Record<string, Field> = {
  source: { t: 'obj', required: true },
  'source.type': { t: 'enum', required: true },
  'source.identifier': { t: 'str', max: 63, required: true },
  'source.snapshotIdentifier': { t: 'free', max: 512, emptyOk: true },
  'source.snapshotType': { t: 'enum' },
  'source.dbName': { t: 'free', max: 63, required: true },
  'source.username': { t: 'free', max: 63 },
  'source.password': { t: 'ref', max: 1024 },
  clone: { t: 'obj', required: true },
  'clone.instanceClass': { t: 'str', max: 64, required: true },
  'clone.subnetGroup': { t: 'free', max: 255, emptyOk: true },
  'clone.securityGroups': { t: 'arr', max: 5, item: { t: 'str', max: 20 } },
  'clone.securityGroups.[]': { t: 'str', max: 20 },
  'clone.publiclyAccessible': { t: 'bool' },
  'clone.enableIAMAuth': { t: 'bool' },
  'clone.parameterGroup': { t: 'str', max: 255, emptyOk: true },
  'clone.optionGroup': { t: 'str', max: 255, emptyOk: true },
  'clone.method': { t: 'enum' },
  'clone.kmsKeyId': { t: 'str', max: 2048 },
  'clone.storageType': { t: 'free', max: 32, emptyOk: true },
  'clone.tags': { t: 'record', maxEntries: 45, keyMax: 128, valueMax: 256 },
  'clone.tags.team': { t: 'free', max: 256, emptyOk: true },
  'clone.maxAge': refreshDuration,
  'clone.prepare': { t: 'obj' },
  'clone.prepare.dblabUser': { t: 'str', max: 63, required: true },
  'clone.prepare.auth': { t: 'enum' },
  dblab: { t: 'strOrObj', max: 63, required: true },
  'dblab.instance': { t: 'str', max: 63 },
  'dblab.apiEndpoint': { t: 'url', required: true },
  'dblab.token': { t: 'ref', max: 1024, required: true },
  'dblab.pollInterval': refreshDuration,
  'dblab.timeout': refreshDuration,
  'dblab.startDeadline': refreshDuration,
  'dblab.requestTimeout': refreshDuration,
  'dblab.parallelJobs': { t: 'int', min: 1, max: 64 },
  'dblab.restoreParallelJobs': { t: 'int', min: 1, max: 64 },
  aws: { t: 'obj', required: true },
  'aws.region': region,
  dryRun: { t: 'bool' },
  cloneTimeout: refreshDuration,
};
const refreshSpecs: FuzzSpec[] = [
  {
    base: refreshBase,
    fields: refreshFields,
    extra: [
      ...['postgres', 'pg_reader', 'rds_reader', 'rdsadmin', 'public'].map((u) => ({
        label: `clone.prepare.dblabUser: reserved ${u}`,
        set: { 'clone.prepare.dblabUser': u },
        expect: ['clone.prepare.dblabUser'],
      })),
      ...['ManagedBy', 'autodelete', 'DeleteAfter', 'dbops:run-id', 'aws:cloudformation:stack-name'].map((k) => ({
        label: `clone.tags: reserved key ${k}`,
        set: { 'clone.tags': { [k]: 'x' } },
        expect: ['clone.tags', 'tag key dbops sets itself'],
      })),
      { label: 'dblab: instance and apiEndpoint', set: { 'dblab.instance': 'staging' }, expect: ['dblab', 'not both'] },
      {
        label: 'dblab.startDeadline longer than timeout',
        set: { 'dblab.startDeadline': '5h' },
        expect: ['dblab.startDeadline'],
      },
      {
        label: 'dblab.pollInterval longer than startDeadline',
        set: { 'dblab.pollInterval': '1h' },
        expect: ['dblab.pollInterval'],
      },
      {
        label: 'source.identifier: double hyphen',
        set: { 'source.identifier': 'prod--db' },
        expect: ['source.identifier'],
      },
      {
        label: 'source.identifier: trailing hyphen',
        set: { 'source.identifier': 'prod-' },
        expect: ['source.identifier'],
      },
      {
        label: 'source.identifier: leading digit',
        set: { 'source.identifier': '1prod' },
        expect: ['source.identifier'],
      },
      {
        label: 'source.password: the production password itself',
        set: { 'source.password': SECRET },
        expect: ['source.password'],
        secret: SECRET,
      },
    ],
  },
  {
    base: { ...refreshBase, dblab: 'staging' },
    fields: refreshFields,
    only: ['dblab'],
    root: false,
    extra: [{ label: 'dblab: uppercase instance', set: { dblab: 'Staging' }, expect: ['dblab'] }],
  },
  {
    // An Aurora copy-on-write clone with its own KMS key (clone.kmsKeyId is for Aurora only).
    base: {
      ...refreshBase,
      source: { type: 'aurora-cluster', identifier: 'production-cluster', dbName: 'postgres' },
      clone: { instanceClass: 'db.r6g.large', method: 'copy-on-write', kmsKeyId: 'alias/dblab-clones' },
    },
    fields: refreshFields,
    only: ['clone.kmsKeyId'],
    root: false,
    extra: [
      {
        label: 'clone.method: copy-on-write with a snapshot',
        set: { 'source.snapshotIdentifier': 'snap-1' },
        expect: ['source.snapshotIdentifier', 'copy-on-write'],
      },
      {
        label: 'clone.kmsKeyId: a key ARN with a short account',
        set: { 'clone.kmsKeyId': 'arn:aws:kms:us-east-1:1234:key/1234abcd-12ab-34cd-56ef-1234567890ab' },
        expect: ['clone.kmsKeyId'],
      },
    ],
  },
];

const server = {
  host: 'db.example.com',
  port: 5432,
  adminUser: 'admin',
  adminPasswordRef: 'env:PG_ADMIN_PASSWORD',
  adminDatabase: 'postgres',
  tls: { mode: 'verify-full', caRef: 'file:/etc/ssl/ca.pem', certRef: 'env:PG_CERT', keyRef: 'env:PG_KEY' },
  iam: { region: 'us-east-1' },
};
const serverFields: Record<string, Field> = {
  server: { t: 'obj', required: true },
  'server.host': { t: 'str', max: 253, required: true },
  'server.port': { t: 'int', min: 1, max: 65535 },
  'server.adminUser': { t: 'free', max: 128, required: true },
  'server.adminPasswordRef': { t: 'ref', max: 1024 },
  'server.adminDatabase': { t: 'free', max: 63 },
  'server.tls': { t: 'obj' },
  'server.tls.mode': { t: 'enum', required: true },
  'server.tls.caRef': { t: 'ref', max: 1024 },
  'server.tls.certRef': { t: 'ref', max: 1024 },
  'server.tls.keyRef': { t: 'ref', max: 1024 },
  'server.iam': { t: 'obj' },
  'server.iam.region': region,
};
const sqlFields = (deprovision: boolean): Record<string, Field> => ({
  engine: { t: 'enum', required: true },
  ...serverFields,
  tenant: { t: 'str', max: 200, required: !deprovision },
  database: { t: 'str', max: 128 },
  user: { t: 'str', max: 128 },
  ...(deprovision ? { reclaimPolicy: { t: 'enum', required: true } as Field } : { auth: { t: 'enum' } as Field }),
  credentialsTarget: { t: 'obj', required: !deprovision },
  'credentialsTarget.kind': { t: 'enum', required: true },
  'credentialsTarget.path': { t: 'free', max: 4096, required: true },
  // a Secrets Manager name may hold / and . (so ../../x is a name, not a path)
  'credentialsTarget.name': { t: 'str', max: 512, required: true, skip: ['path'] },
  'credentialsTarget.region': optRegion,
});
const sqlSpecs = (deprovision: boolean): FuzzSpec[] => {
  const base = {
    engine: 'postgres',
    server,
    tenant: 'acme',
    database: 'acme',
    user: 'acme_app',
    ...(deprovision ? { reclaimPolicy: 'retain' } : { auth: 'password' }),
    credentialsTarget: { kind: 'file', path: '/tmp/dbops-fuzz/acme.json' },
  };
  const fields = sqlFields(deprovision);
  return [
    {
      base,
      fields,
      extra: [
        ...['postgres', 'template0', 'template1', 'rdsadmin', 'Postgres'].map((d) => ({
          label: `database: reserved ${d}`,
          set: { database: d },
          expect: ['database', 'system database'],
        })),
        ...['postgres', 'pg_monitor', 'rds_superuser', 'public', 'admin'].map((u) => ({
          label: `user: reserved ${u}`,
          set: { user: u },
          expect: ['user'],
        })),
        {
          label: 'tenant: derives a reserved database',
          set: { tenant: 'postgres', database: REMOVE },
          expect: ['tenant', 'system database'],
        },
        {
          label: 'database: the admin database',
          set: { database: 'postgres', 'server.adminDatabase': 'postgres' },
          expect: ['database'],
        },
        { label: 'database: too long for PostgreSQL', set: { database: 'a'.repeat(64) }, expect: ['database', '63'] },
        { label: 'database: leading digit', set: { database: '1acme' }, expect: ['database', 'start with a letter'] },
        { label: 'database: wildcard', set: { database: 'ac%me' }, expect: ['database', '%'] },
        {
          label: 'mysql: reserved database',
          set: { engine: 'mysql', database: 'mysql', 'server.adminDatabase': REMOVE },
          expect: ['database', 'system database'],
        },
        {
          label: 'mysql: reserved user root',
          set: { engine: 'mysql', user: 'root', 'server.adminDatabase': REMOVE },
          expect: ['user', 'root'],
        },
        {
          label: 'mysql: user over 32 bytes',
          set: { engine: 'mysql', user: 'u'.repeat(33), 'server.adminDatabase': REMOVE },
          expect: ['user', '32'],
        },
        {
          label: 'server.tls: verify-full without caRef',
          set: { 'server.tls.caRef': REMOVE },
          expect: ['server.tls.caRef'],
        },
        {
          label: 'server.tls: certRef without keyRef',
          set: { 'server.tls.keyRef': REMOVE },
          expect: ['server.tls.certRef'],
        },
        {
          label: 'mysql: verify-full with an IP host',
          set: { engine: 'mysql', 'server.host': '10.0.0.5', 'server.adminDatabase': REMOVE },
          expect: ['server.host'],
        },
        {
          label: 'credentialsTarget.path: relative',
          set: { 'credentialsTarget.path': 'tmp/acme.json' },
          expect: ['credentialsTarget.path'],
        },
        {
          label: 'server.adminPasswordRef: the password itself',
          set: { 'server.adminPasswordRef': SECRET },
          expect: ['server.adminPasswordRef'],
          secret: SECRET,
        },
        ...(deprovision
          ? [
              {
                label: 'no tenant, database or user',
                set: { tenant: REMOVE, database: REMOVE, user: REMOVE },
                expect: ['give a tenant'],
              },
            ]
          : [
              {
                label: 'reclaimPolicy: a deprovision-only field',
                set: { reclaimPolicy: 'delete' },
                expect: ['Unrecognized key', 'reclaimPolicy'],
              },
            ]),
      ],
    },
    {
      base: {
        ...base,
        credentialsTarget: { kind: 'aws-secretsmanager', name: 'dbops-test/acme', region: 'us-east-1' },
      },
      fields,
      only: ['credentialsTarget'],
      root: false,
      extra: [
        {
          label: 'credentialsTarget: file kind with a name',
          set: { 'credentialsTarget.kind': 'file' },
          expect: ['credentialsTarget'],
        },
      ],
    },
  ];
};

export const SPECS: Record<string, { root: string; specs: FuzzSpec[] }> = {
  peerVpc: { root: 'input', specs: peerSpecs(false) },
  unpeerVpc: { root: 'input', specs: peerSpecs(true) },
  createDatabaseNetwork: {
    root: 'input',
    specs: [
      {
        base: networkBase,
        fields: networkFields,
        extra: [
          ...['10.0.0.0/33', '300.0.0.0/16', '10.0.0.1/16', '::/0', '10.0.0.0', '10.0.0.0/8/8', '010.0.0.0/16'].map(
            (c) => ({ label: `cidr: ${c}`, set: { cidr: c }, expect: ['cidr'] }),
          ),
          {
            label: 'availabilityZones: outside the database region',
            set: { availabilityZones: ['us-east-1a'] },
            expect: ['availabilityZones', 'us-east-1a'],
          },
          { label: 'zoneName: uppercase', set: { zoneName: 'DB-2.db.internal' }, expect: ['zoneName'] },
          { label: 'zoneName: trailing dot', set: { zoneName: 'db-2.db.internal.' }, expect: ['zoneName'] },
          { label: 'cloud.kind: aerospike-cloud (aws only)', set: { cloud: aerospikeInline }, expect: ['cloud'] },
        ],
      },
    ],
  },
  deleteDatabaseNetwork: {
    root: 'input',
    specs: [
      {
        base: deleteNetworkBase,
        fields: networkFields,
        extra: [
          {
            label: 'cidr: a createDatabaseNetwork-only field',
            set: { cidr: '10.160.0.0/19' },
            expect: ['Unrecognized key', 'cidr'],
          },
          { label: 'cloud.kind: aerospike-cloud (aws only)', set: { cloud: aerospikeInline }, expect: ['cloud'] },
        ],
      },
    ],
  },
  refreshDblab: { root: 'config', specs: refreshSpecs },
  scheduledRefreshDblab: { root: 'config', specs: refreshSpecs },
  cleanupRefreshClones: {
    root: 'input',
    specs: [
      {
        base: { region: 'us-east-1', dryRun: true },
        fields: { region, dryRun: { t: 'bool' } },
        extra: [
          { label: 'dryrun: misspelt', set: { dryRun: REMOVE, dryrun: true }, expect: ['Unrecognized key', 'dryrun'] },
          { label: 'region: uppercase', set: { region: 'US-EAST-1' }, expect: ['region'] },
          { label: 'region: availability zone', set: { region: 'us-east-1a' }, expect: ['region'] },
        ],
      },
    ],
  },
  provisionDatabase: { root: 'input', specs: sqlSpecs(false) },
  deprovisionDatabase: { root: 'input', specs: sqlSpecs(true) },
};

/** The malformed inputs of a workflow type, and its valid bases. */
export function casesFor(type: string): { bases: unknown[]; cases: FuzzCase[] } {
  const s = SPECS[type];
  return { bases: s.specs.map((x) => x.base), cases: s.specs.flatMap((x) => fuzzCases(x, s.root)) };
}
