/**
 * The region list dbops checks names against is the installed AWS SDK's: every region of its
 * partition metadata, and nothing else (a stale list fails here: rerun scripts/aws-regions.js).
 */
import { partition } from '@aws-sdk/core/client';
import { AWS_REGIONS } from '../../src/domain/aws-regions';

const { regionList, render } = require('../../scripts/aws-regions.js') as {
  regionList(): { version: string; regions: string[] };
  render(l: { version: string; regions: string[] }): string;
};

test('src/domain/aws-regions.ts is what scripts/aws-regions.js makes from the installed SDK', () => {
  const fs = require('node:fs') as typeof import('node:fs');
  const text = fs.readFileSync(require.resolve('../../src/domain/aws-regions.ts'), 'utf8');
  expect(text).toBe(render(regionList()));
  expect(AWS_REGIONS).toEqual(regionList().regions);
});

test('every listed name is a region the SDK itself lists (its partition() gives a description)', () => {
  expect(AWS_REGIONS.length).toBeGreaterThan(30);
  for (const r of AWS_REGIONS)
    expect([r, (partition(r) as { description?: string }).description]).toEqual([r, expect.any(String)]);
  // a misspelling still resolves to the aws partition by its pattern, but without a description: not listed
  expect((partition('us-eest-1') as { description?: string }).description).toBeUndefined();
  expect(AWS_REGIONS).not.toContain('us-eest-1');
  expect(AWS_REGIONS).not.toContain('aws-global');
  expect(AWS_REGIONS).toEqual(expect.arrayContaining(['us-east-1', 'cn-north-1', 'us-gov-west-1', 'eusc-de-east-1']));
});
