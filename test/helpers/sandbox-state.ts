/** A ready sandbox's state file contents for tests that read one (no process behind it). */
import fs from 'node:fs';
import path from 'node:path';
import { readRefreshYaml } from '../../src/client/rds-refresh-yaml';
import type { SandboxState } from '../../src/sandbox/state';

/** The state of a ready sandbox in `dir` (its refresh.json written there), with `o` over it. */
export function readySandboxState(dir: string, o: Partial<SandboxState> = {}): SandboxState {
  fs.mkdirSync(dir, { recursive: true });
  const jsonFile = path.join(dir, 'refresh.json');
  const yaml = [
    'source: { type: rds, identifier: sandbox-production, dbName: postgres, password: "${SANDBOX_SOURCE_PASSWORD}" }',
    'clone: { instanceClass: db.t3.medium }',
    'dblab: { apiEndpoint: "http://127.0.0.1:40001", token: "${SANDBOX_DBLAB_TOKEN}" }',
    'aws: { region: us-east-1 }',
  ].join('\n');
  fs.writeFileSync(jsonFile, JSON.stringify(readRefreshYaml(yaml, {})));
  return {
    hostPid: 1234,
    dataDir: dir,
    startedAt: '2026-12-07T00:00:00Z',
    ready: true,
    processes: [],
    id: 'ab12',
    temporal: { address: '127.0.0.1:17233', uiUrl: 'http://localhost:18233', namespace: 'default', taskQueue: 'dbops' },
    moto: { endpoint: 'http://127.0.0.1:40000' },
    dblab: { url: 'http://127.0.0.1:40001' },
    region: 'us-east-1',
    peering: {
      databaseId: 'sandbox-db',
      vpcId: 'vpc-0123456789abcdef0',
      routeTables: ['rtb-1', 'rtb-2'],
      databaseVpcId: 'vpc-1',
      zoneId: 'Z1',
    },
    refresh: { source: 'sandbox-production', snapshot: 's-1', yamlFile: path.join(dir, 'rds-refresh.yaml'), jsonFile },
    sql: {
      postgres: { engine: 'postgres', origin: 'machine', host: '127.0.0.1', port: 5432, adminUser: 'postgres' },
      mysql: { engine: 'mysql', origin: 'machine', host: '127.0.0.1', port: 3306, adminUser: 'root' },
      unavailable: [],
    },
    credentialsDir: path.join(dir, 'credentials'),
    workerConfigFile: path.join(dir, 'worker.yaml'),
    logFiles: {},
    ...o,
  };
}
