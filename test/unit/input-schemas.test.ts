/**
 * One input schema per workflow type, each refusing unknown fields and bounding every string,
 * array and number; the janitor's schema; and the bounds on what a refusal can echo.
 */
import { z } from 'zod';
import { cleanupInputSchema, cleanupTarget, planCleanup } from '../../src/domain/cleanup';
import { InvalidInput } from '../../src/domain/errors';
import { refreshConfigSchema } from '../../src/domain/dblab-config';
import { anyRegionName, AVAILABILITY_ZONE, issuesText, REGION, truncate } from '../../src/domain/limits';
import { deleteNetworkInputSchema } from '../../src/domain/network-deletion';
import {
  createNetworkInputSchema,
  peerVpcInputSchema,
  planPeering,
  unpeerVpcInputSchema,
} from '../../src/domain/peering';
import { boundedTarget, MAX_TARGET_LENGTH } from '../../src/domain/progress-table';
import { deprovisionInputSchema, provisionInputSchema, serverSchema } from '../../src/domain/provision';
import { rotateInputSchema } from '../../src/domain/rotation';

const SCHEMAS: Record<string, z.ZodType> = {
  peerVpc: peerVpcInputSchema(),
  unpeerVpc: unpeerVpcInputSchema(),
  createDatabaseNetwork: createNetworkInputSchema(),
  deleteDatabaseNetwork: deleteNetworkInputSchema(),
  'refreshDblab / scheduledRefreshDblab': refreshConfigSchema(),
  cleanupRefreshClones: cleanupInputSchema(),
  provisionDatabase: provisionInputSchema(),
  deprovisionDatabase: deprovisionInputSchema(),
  rotateDatabaseCredentials: rotateInputSchema(),
};

type Def = { type: string; [k: string]: unknown };
const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** Every place in a schema where a string, array, number or object is not bounded or not strict. */
function unbounded(schema: z.ZodType, path: string, out: string[]): string[] {
  const d = defOf(schema);
  switch (d.type) {
    case 'string':
      if ((schema as z.ZodString).maxLength === null) out.push(`${path}: string without a maximum length`);
      break;
    case 'number': {
      const n = schema as z.ZodNumber;
      if (!Number.isFinite(n.maxValue) || n.maxValue! >= Number.MAX_SAFE_INTEGER)
        out.push(`${path}: number without a maximum`);
      break;
    }
    case 'array': {
      const checks = ((d.checks ?? []) as Array<{ _zod: { def: { check: string } } }>).map((c) => c._zod.def.check);
      if (!checks.includes('max_length')) out.push(`${path}: array without a maximum length`);
      unbounded(d.element as z.ZodType, `${path}[]`, out);
      break;
    }
    case 'object': {
      const catchall = d.catchall as z.ZodType | undefined;
      if (!catchall || defOf(catchall).type !== 'never') out.push(`${path}: object that is not strict`);
      for (const [k, v] of Object.entries(d.shape as Record<string, z.ZodType>))
        unbounded(v, path ? `${path}.${k}` : k, out);
      break;
    }
    case 'record':
      unbounded(d.keyType as z.ZodType, `${path}{key}`, out);
      unbounded(d.valueType as z.ZodType, `${path}{value}`, out);
      break;
    case 'union':
      for (const o of d.options as z.ZodType[]) unbounded(o, path, out);
      break;
    case 'optional':
    case 'nullable':
    case 'default':
      unbounded(d.innerType as z.ZodType, path, out);
      break;
    case 'pipe':
      unbounded(d.in as z.ZodType, path, out);
      break;
    case 'enum':
    case 'literal':
    case 'boolean':
      break;
    default:
      out.push(`${path}: unexpected schema type ${d.type}`);
  }
  return out;
}

test.each(Object.entries(SCHEMAS))(
  '%s: every object is strict, every string, array and number bounded',
  (_, schema) => {
    expect(unbounded(schema, '', [])).toEqual([]);
  },
);

test('the walker itself finds an unbounded string, array, number and a non-strict object', () => {
  const loose = z.object({ a: z.string(), b: z.array(z.string().max(1)), c: z.number(), d: z.object({}) }).strict();
  expect(unbounded(loose, '', [])).toEqual([
    'a: string without a maximum length',
    'b: array without a maximum length',
    'c: number without a maximum',
    'd: object that is not strict',
  ]);
});

describe('one region rule for every input', () => {
  const real = ['us-east-1', 'us-gov-west-1', 'cn-north-1', 'us-isob-east-1', 'eu-isoe-west-1', 'eusc-de-east-1'];
  const wrong = ['US-EAST-1', 'us-east', 'useast1', 'us-east-1a', 'us_east_1', ' us-east-1'];
  const peering = { databaseId: 'db-1', vpcId: 'vpc-0123abcd', cloud: { kind: 'aws' } };

  test.each(real)('%s is a region in peering, provisioning, refresh and the janitor', (r) => {
    expect(REGION.test(r)).toBe(true);
    expect(AVAILABILITY_ZONE.test(`${r}b`)).toBe(true);
    expect(() => planCleanup({ region: r })).not.toThrow();
    expect(() => planPeering({ ...peering, region: r })).not.toThrow();
    expect(serverSchema().safeParse({ host: 'db', adminUser: 'admin', iam: { region: r } }).success).toBe(true);
  });

  test.each(wrong)('%j is refused everywhere', (r) => {
    expect(REGION.test(r)).toBe(false);
    expect(() => planCleanup({ region: r })).toThrow('region: must be an AWS region like us-east-1');
    expect(() => planPeering({ ...peering, region: r })).toThrow(InvalidInput);
    expect(serverSchema().safeParse({ host: 'db', adminUser: 'admin', iam: { region: r } }).success).toBe(false);
  });

  test.each([
    ['us-eest-1', 'us-east-1'],
    ['eu-west-9', 'eu-west-1'],
    ['us-gov-west-2', 'us-gov-west-1'],
    ['ap-nowhere-1', undefined],
  ])('%s has the region shape but is not an AWS region: refused, naming the closest', (r, near) => {
    expect(REGION.test(r)).toBe(true);
    const message = `region: must be an AWS region: "${r}" is not one${near ? ` (did you mean ${near}?)` : ''}`;
    expect(() => planCleanup({ region: r })).toThrow(`invalid input: ${message}`);
    expect(() => planPeering({ ...peering, region: r })).toThrow(message);
    expect(serverSchema().safeParse({ host: 'db', adminUser: 'admin', iam: { region: r } }).success).toBe(false);
  });

  test('a run from before the known-regions patch still plans an input with such a name', () => {
    expect(anyRegionName(() => planCleanup({ region: 'us-eest-1' }))).toEqual({ region: 'us-eest-1', dryRun: false });
    expect(() => anyRegionName(() => planCleanup({ region: 'US-EAST-1' }))).toThrow(InvalidInput); // the shape still counts
    expect(() => planCleanup({ region: 'us-eest-1' })).toThrow(InvalidInput); // and the check is back on after it
  });
});

describe('cleanupRefreshClones (the janitor)', () => {
  test('{ region, dryRun } only', () => {
    expect(planCleanup({ region: 'us-east-1' })).toEqual({ region: 'us-east-1', dryRun: false });
    expect(planCleanup({ region: 'us-gov-west-1', dryRun: true })).toEqual({ region: 'us-gov-west-1', dryRun: true });
  });

  test('a misspelt dryRun fails instead of being ignored (the run would delete for real)', () => {
    expect(() => planCleanup({ region: 'us-east-1', dryrun: true })).toThrow(InvalidInput);
    expect(() => planCleanup({ region: 'us-east-1', dryrun: true })).toThrow(
      'invalid input: input: Unrecognized key: "dryrun"',
    );
    expect(() => planCleanup({ region: 'us-east-1', dry_run: true, force: 1 })).toThrow(
      'invalid input: input: Unrecognized keys: "dry_run", "force"',
    );
  });

  test('wrong types, a bad region and an over-long region name their field', () => {
    expect(() => planCleanup({ region: 'us-east-1', dryRun: 'yes' })).toThrow(
      'invalid input: dryRun: Invalid input: expected boolean, received string',
    );
    expect(() => planCleanup({ region: 42 })).toThrow(
      'invalid input: region: Invalid input: expected string, received number',
    );
    expect(() => planCleanup({})).toThrow('invalid input: region: Invalid input: expected string, received undefined');
    expect(() => planCleanup(null)).toThrow('invalid input: input: Invalid input: expected object, received null');
    expect(() => planCleanup({ region: 'useast1' })).toThrow(
      'invalid input: region: must be an AWS region like us-east-1',
    );
    expect(() => planCleanup({ region: 'x'.repeat(100_000) })).toThrow(
      /^invalid input: region: must be at most 32 characters$/,
    );
  });

  test('the progress target is the region, whatever the input', () => {
    expect(cleanupTarget({ region: 'us-east-1' })).toBe('us-east-1');
    expect(cleanupTarget(undefined)).toBe('undefined');
  });
});

describe('bounded echoes', () => {
  test('targets are cut to 200 characters with an ellipsis; short ones are kept', () => {
    expect(boundedTarget('db-1/us-east-1/vpc-1')).toBe('db-1/us-east-1/vpc-1');
    const cut = boundedTarget(`${'x'.repeat(100_000)}/us-east-1/vpc-1`);
    expect(cut).toHaveLength(MAX_TARGET_LENGTH);
    expect(cut.endsWith('x…')).toBe(true);
    // never half a surrogate pair
    expect(truncate(`${'a'.repeat(8)}😀😀`, 10)).toBe(`${'a'.repeat(8)}…`);
    expect(truncate('abc', 3)).toBe('abc');
  });

  test('a refusal lists at most ten problems, each bounded, so it never echoes an input at length', () => {
    const key = 'k'.repeat(100_000);
    let message = '';
    try {
      planPeering({
        databaseId: 'db-1',
        region: 'us-east-1',
        vpcId: 'vpc-0abc12345def67890',
        cloud: { kind: 'aws' },
        [key]: 1,
      });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^invalid input: input: Unrecognized key: "k+…$/);
    expect(message.length).toBeLessThan(400);

    const many = z
      .object({ tags: z.array(z.string().max(1)).max(1000) })
      .strict()
      .safeParse({ tags: Array.from({ length: 25 }, () => 'too long') });
    const text = issuesText(many.error!, 'input');
    expect(text.split('; ')).toHaveLength(11);
    expect(text).toMatch(/^tags\.0: .*; and 15 more problem\(s\)$/);
  });
});

test('URLs are http(s), with a host a DNS name could be (it ends up in workflow ids)', async () => {
  const { planRefresh } = await import('../../src/domain/dblab-config');
  const config = (apiEndpoint: string) => ({
    source: { type: 'rds', identifier: 'production-db', dbName: 'mydb' },
    clone: { instanceClass: 'db.t3.medium' },
    dblab: { apiEndpoint, token: 'env:DBLAB_TOKEN' },
    aws: { region: 'us-east-1' },
  });
  expect(() => planRefresh(config(`https://${'a'.repeat(254)}:2345`))).toThrow(
    'invalid config: dblab.apiEndpoint: must have a host name of at most 253 characters',
  );
  expect(planRefresh(config(`https://${'a'.repeat(63)}.example.com:2345`)).dblabHost).toBe(
    `${'a'.repeat(63)}.example.com:2345`,
  );
  expect(() => planRefresh(config('not a url'))).toThrow('invalid config: dblab.apiEndpoint: must be a URL');
});

test('progress targets never throw on odd input values (a target is built before validation)', () => {
  const { peeringTarget } = require('../../src/domain/peering');
  const { sqlTarget } = require('../../src/domain/provision');
  const { cleanupTarget } = require('../../src/domain/cleanup');
  const odd = { toString: 1 };
  expect(peeringTarget({ databaseId: odd, region: 'us-east-1' })).toBe('{"toString":1}/us-east-1/undefined');
  expect(sqlTarget({ engine: odd, server: { host: [1] } })).toBe('{"toString":1}://[1]:5432/?');
  expect(cleanupTarget({ region: odd })).toBe('{"toString":1}');
});
