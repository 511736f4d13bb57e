/**
 * Refusals in the user's terms, one command family at a time, through the real CLI: an input
 * built from flags names the flags (--port, --region, …); an input written as JSON or YAML
 * (--input, --config) keeps its field paths. Every case is refused before dbops connects to
 * Temporal (TEMPORAL_ADDRESS points at a closed port, so a connection attempt would say so).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { runCli } from '../../src/client/cli';
import { flagProblemsText } from '../../src/client/flag-terms';
import { InvalidInput } from '../../src/domain/errors';

const env = { TEMPORAL_ADDRESS: '127.0.0.1:1', TEMPORAL_NAMESPACE: 'default' };

async function dbops(...argv: string[]): Promise<{ code: number; err: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  const chunks: string[] = [];
  err.on('data', (c: Buffer) => chunks.push(c.toString()));
  out.resume();
  const code = await runCli(argv, { out, err }, env);
  return { code, err: chunks.join('') };
}

/** The one error line dbops printed, without its "dbops: " prefix. */
async function refusal(...argv: string[]): Promise<string> {
  const r = await dbops(...argv);
  expect(r.code).toBe(1);
  expect(r.err).not.toMatch(/connect|ECONNREFUSED|Temporal/i);
  return r.err.trim().replace(/^dbops: /, '');
}

const server = ['--engine', 'postgres', '--host', 'db.example.com', '--admin-user', 'admin'];

describe('db provision / deprovision: flags', () => {
  test('--port that is not a number, and no credentials destination', async () => {
    expect(await refusal('db', 'provision', ...server, '--port', 'abc', '--tenant', 'acme')).toBe(
      '--port must be a number; give --credentials-file or --credentials-secret',
    );
  });

  test('a port out of range, a bad --auth, a relative --credentials-file', async () => {
    const msg = await refusal(
      'db',
      'provision',
      ...server,
      '--port',
      '70000',
      '--tenant',
      'acme',
      '--auth',
      'passwd',
      '--credentials-file',
      'creds.json',
    );
    expect(msg).toBe(
      '--port must be <=65535; --auth must be one of "password"|"iam"; --credentials-file must be an absolute path',
    );
  });

  test('problems found after the schema name their flags too', async () => {
    expect(
      await refusal(
        'db',
        'provision',
        ...server,
        '--tls-mode',
        'verify-full',
        '--tenant',
        'acme',
        '--credentials-file',
        '/c',
      ),
    ).toBe('--tls-ca-ref is required with mode verify-full');
    expect(await refusal('db', 'deprovision', ...server, '--reclaim-policy', 'keep', '--tenant', 'acme')).toBe(
      '--reclaim-policy must be one of "delete"|"retain"',
    );
  });

  test('--iam-region and --credentials-region are AWS regions', async () => {
    expect(
      await refusal(
        'db',
        'provision',
        ...server,
        '--tenant',
        'acme',
        '--iam-region',
        'us-eest-1',
        '--credentials-secret',
        's',
        '--credentials-region',
        'eu-west-9',
      ),
    ).toBe(
      '--iam-region must be an AWS region: "us-eest-1" is not one (did you mean us-east-1?); --credentials-region must be an AWS region: "eu-west-9" is not one (did you mean eu-west-1?)',
    );
  });
});

describe('peer-vpc / unpeer-vpc / db-network: flags', () => {
  const target = ['-d', 'db-1', '--vpc-id', 'vpc-0123abcd'];

  test('an unknown --region and --cloud-region, a bad --poll-interval', async () => {
    expect(
      await refusal(
        'peer-vpc',
        ...target,
        '-r',
        'us-eest-1',
        '--cloud-region',
        'us-west-7',
        '--poll-interval',
        'often',
      ),
    ).toBe(
      '--region must be an AWS region: "us-eest-1" is not one (did you mean us-east-1?); --cloud-region must be an AWS region: "us-west-7" is not one (did you mean us-west-1?); --poll-interval must be a duration like 500ms, 10s, 30m or 1h',
    );
  });

  test('unpeer-vpc, db-network delete and create say the same in flags', async () => {
    const r = '--region must be an AWS region like us-east-1';
    expect(await refusal('unpeer-vpc', ...target, '-r', 'US-EAST-1')).toBe(r);
    expect(await refusal('db-network', 'delete', ...target, '-r', 'US-EAST-1')).toBe(r);
    expect(await refusal('db-network', 'create', ...target, '-r', 'us-east-1', '--cidr', '10.0.0.0/33')).toBe(
      '--cidr: requested CIDR "10.0.0.0/33" is not a valid CIDR block (expected e.g. 10.128.0.0/19)',
    );
    expect(await refusal('db-network', 'create', ...target, '-r', 'us-east-1', '--az', 'eu-west-1a')).toBe(
      '--az eu-west-1a are not in the database region us-east-1',
    );
  });
});

describe('refresh: --config keeps the file’s paths, cleanup names --region', () => {
  test('refresh --config with an unknown aws.region', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-flags-'));
    const file = path.join(dir, 'config.yaml');
    fs.writeFileSync(
      file,
      [
        'source: { type: rds, identifier: prod-db, dbName: app, username: ro, password: "${PGPASS}" }',
        'clone: { instanceClass: db.t3.micro }',
        'dblab: { apiEndpoint: "https://dblab.example.com", token: "${DBLAB_TOKEN}" }',
        'aws: { region: us-eest-1 }',
      ].join('\n'),
    );
    try {
      expect(await refusal('refresh', '--config', file)).toMatch(
        /^invalid config: aws\.region: must be an AWS region: "us-eest-1" is not one \(did you mean us-east-1\?\)/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('refresh cleanup -r with an unknown region is refused before the run', async () => {
    expect(await refusal('refresh', 'cleanup', '-r', 'ap-southeast-99')).toBe(
      '--region must be an AWS region: "ap-southeast-99" is not one (did you mean ap-southeast-1?)',
    );
  });
});

describe('schedule create: --input keeps the JSON paths', () => {
  test('a peerVpc input with an unknown region', async () => {
    const input = JSON.stringify({ databaseId: 'db-1', region: 'us-eest-1', vpcId: 'default', cloud: { kind: 'aws' } });
    expect(
      await refusal('schedule', 'create', 's1', '--type', 'peerVpc', '--input', input, '--cron', '0 2 * * *'),
    ).toBe(
      '--input is not a valid peerVpc input: invalid input: region: must be an AWS region: "us-eest-1" is not one (did you mean us-east-1?)',
    );
  });
});

test('a problem without a path has its dotted field names replaced, others kept', () => {
  const err = new InvalidInput('x', [
    { path: '', message: 'server.tls.caRef is required; user "a" is the admin (server.adminUser)' },
    { path: 'stages.0', message: 'bad' },
  ]);
  expect(
    flagProblemsText(err, { 'server.tls.caRef': '--tls-ca-ref', 'server.adminUser': '--admin-user', user: '--user' }),
  ).toBe('--tls-ca-ref is required; user "a" is the admin (--admin-user); stages.0: bad');
});
