/**
 * No secret reaches Temporal history or the worker's log: a provisioning run through the real
 * worker process (debug logging) and the dbops CLI, history exported with `temporal workflow show`.
 * With DBOPS_CODEC_KEYS set, payloads are encrypted in history and the codec server decodes them
 * in the Web UI's request format.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { runCli } from '../../src/client/cli';
import { EncryptionCodec, parseCodecKeys } from '../../src/temporal/codec';
import { createCodecServer } from '../../src/temporal/codec-server';
import { deriveNames } from '../../src/domain/sql-names';
import { motoEndpoint } from '../helpers/activities';
import { adminUrl, sqlAdmin, sqlAvailable } from '../helpers/sql';
import { VENV_BIN } from '../helpers/stack';
import { captureIo, testAddress, uniqueName } from '../helpers/temporal';
import { spawnWorker, until } from '../helpers/worker-process';

const run = sqlAvailable('postgres') ? test : test.skip;

/**
 * Every payload's data in an exported history, decoded, so base64 cannot hide a secret. Search
 * attributes are left out: the server indexes them, so they are never encrypted (and hold no secret).
 */
function decodedPayloads(history: unknown): string {
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.data === 'string' && o.metadata) out.push(Buffer.from(o.data, 'base64').toString('latin1'));
      for (const [k, x] of Object.entries(o)) if (k !== 'searchAttributes') walk(x);
    }
  };
  walk(history);
  return out.join('\n');
}

describe.each([
  ['without a codec', false],
  ['with the encryption codec', true],
])('%s', (_name, encrypted) => {
  run('the generated password is in neither the exported history nor the worker log', async () => {
    const a = adminUrl('postgres');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-secret-'));
    const taskQueue = uniqueName('secret-tq');
    const tenant = uniqueName('secret').replace(/-/g, '_');
    const names = deriveNames(tenant, 'postgres');
    const codecKeys = `k1=${crypto.randomBytes(32).toString('base64')}`;
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TEMPORAL_ADDRESS: testAddress(),
      DBOPS_TASK_QUEUE: taskQueue,
      DBOPS_LOG_LEVEL: 'DEBUG',
      // No DBOPS_CONFIG: the local-development default, which keeps credentials files under
      // <DBOPS_DATA_DIR>/credentials only.
      DBOPS_DATA_DIR: dir,
      AWS_ENDPOINT_URL: motoEndpoint(),
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      ADMIN_PW: a.password,
      ...(encrypted ? { DBOPS_CODEC_KEYS: codecKeys } : {}),
    };
    const creds = path.join(dir, 'credentials', 'creds.json');
    fs.mkdirSync(path.dirname(creds));
    const worker = spawnWorker(env);
    const admin = await sqlAdmin('postgres');
    try {
      await until(() => worker.log().includes('polling task queue'), `worker to start:\n${worker.log()}`);
      const io = captureIo();
      const code = await runCli(
        [
          'db',
          'provision',
          '--engine',
          'postgres',
          '--host',
          a.host,
          '--port',
          String(a.port),
          '--admin-user',
          a.user,
          ...(a.password ? ['--admin-password-ref', 'env:ADMIN_PW'] : []),
          '--tenant',
          tenant,
          '--credentials-file',
          creds,
        ],
        io.io,
        env,
      );
      expect(io.err()).toContain(`started provisionDatabase as provision-db:postgres:${a.host}:${names.database}`);
      expect(io.out()).toContain(`✔ provision-db:postgres:${a.host}:${names.database} completed`);
      expect(code).toBe(0);

      const password = JSON.parse(fs.readFileSync(creds, 'utf8')).password as string;
      expect(password).toHaveLength(43);
      const exported = execFileSync(
        path.join(VENV_BIN, 'temporal'),
        [
          'workflow',
          'show',
          '-w',
          `provision-db:postgres:${a.host}:${names.database}`,
          '-o',
          'json',
          '--address',
          testAddress(),
        ],
        { encoding: 'utf8' },
      );
      expect(exported).not.toContain(password);
      const payloads = decodedPayloads(JSON.parse(exported));
      expect(payloads).not.toContain(password);
      expect(worker.log()).not.toContain(password);

      if (!encrypted) {
        expect(payloads).toContain(tenant); // the input is readable: we really looked inside
        return;
      }
      expect(payloads).not.toContain(tenant); // encrypted: not even the tenant is readable
      expect(exported).toContain(Buffer.from('binary/encrypted').toString('base64'));

      // The Web UI's codec request, answered by the codec server holding the key.
      const server = createCodecServer(new EncryptionCodec(parseCodecKeys(codecKeys)), {
        origins: ['http://localhost:8233'],
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const first = (JSON.parse(exported).events as Array<Record<string, any>>)[0]
          .workflowExecutionStartedEventAttributes.input.payloads;
        const pre = await fetch(`${url}/decode`, {
          method: 'OPTIONS',
          headers: { Origin: 'http://localhost:8233', 'Access-Control-Request-Headers': 'content-type,x-namespace' },
        });
        expect(pre.status).toBe(204);
        expect(pre.headers.get('access-control-allow-origin')).toBe('http://localhost:8233');
        expect(pre.headers.get('access-control-allow-headers')).toMatch(/X-Namespace/i);
        const res = await fetch(`${url}/decode`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'X-Namespace': 'default', Origin: 'http://localhost:8233' },
          body: JSON.stringify({ payloads: first }),
        });
        expect(res.status).toBe(200);
        const decoded = (await res.json()) as { payloads: Array<{ metadata: Record<string, string>; data: string }> };
        expect(Buffer.from(decoded.payloads[0].metadata.encoding, 'base64').toString()).toBe('json/plain');
        expect(JSON.parse(Buffer.from(decoded.payloads[0].data, 'base64').toString())).toMatchObject({
          engine: 'postgres',
          tenant,
        });
      } finally {
        server.close();
      }
    } finally {
      worker.child.kill('SIGINT');
      await new Promise((r) => worker.child.once('exit', r));
      await admin.cleanup(names.database, names.user);
      await admin.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
