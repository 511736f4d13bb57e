import path from 'node:path';
import { ConfigError, DEFAULT_MAX_CACHED_WORKFLOWS, loadSettings, PROJECT_ROOT } from '../../src/config';

const noFile = { TEMPORAL_CONFIG_FILE: '/nonexistent/temporal.toml' };

test('defaults: task queue dbops, embedded dev server on 7233 with UI 8233, data in .dbops', () => {
  const s = loadSettings({ ...noFile });
  expect(s.taskQueue).toBe('dbops');
  expect(s.devServer).toEqual({ port: 7233, uiPort: 8233, cli: path.join(PROJECT_ROOT, '.venv', 'bin', 'temporal') });
  expect(s.dataDir).toBe(path.join(PROJECT_ROOT, '.dbops'));
  expect(s.temporal.explicitAddress).toBe(false);
  expect(s.metricsAddress).toBeUndefined();
});

test('Temporal connection settings come from the TEMPORAL_* variables (envconfig)', () => {
  const s = loadSettings({
    ...noFile,
    TEMPORAL_ADDRESS: 'temporal.example:7233',
    TEMPORAL_NAMESPACE: 'ops',
    TEMPORAL_API_KEY: 'k',
  });
  expect(s.temporal.explicitAddress).toBe(true);
  expect(s.temporal.connectionOptions.address).toBe('temporal.example:7233');
  expect(s.temporal.namespace).toBe('ops');
  expect(s.temporal.connectionOptions.apiKey).toBe('k');
  expect(s.temporal.connectionOptions.tls).toBeTruthy(); // an API key implies TLS
});

test('DBOPS_* overrides are parsed and checked', () => {
  const s = loadSettings({
    ...noFile,
    DBOPS_TASK_QUEUE: 'ops-q',
    DBOPS_METRICS_ADDRESS: '0.0.0.0:9464',
    DBOPS_DEV_SERVER_PORT: '17233',
  });
  expect(s.taskQueue).toBe('ops-q');
  expect(s.metricsAddress).toBe('0.0.0.0:9464');
  expect(s.devServer.port).toBe(17233);
});

test('bad values name the variable', () => {
  expect(() => loadSettings({ ...noFile, DBOPS_DEV_SERVER_PORT: '70000' })).toThrow(ConfigError);
  expect(() => loadSettings({ ...noFile, DBOPS_DEV_SERVER_PORT: '70000' })).toThrow(/DBOPS_DEV_SERVER_PORT/);
  expect(() => loadSettings({ ...noFile, DBOPS_SHUTDOWN_GRACE: 'soon' })).toThrow(
    /DBOPS_SHUTDOWN_GRACE: expected a duration/,
  );
});

test('worker capacity settings', () => {
  expect(loadSettings({ ...noFile }).maxConcurrentActivities).toBe(500);
  expect(loadSettings({ ...noFile }).maxCachedWorkflows).toBe(DEFAULT_MAX_CACHED_WORKFLOWS);
  expect(loadSettings({ ...noFile }).reuseV8Context).toBe(true);
  expect(loadSettings({ ...noFile, DBOPS_REUSE_V8_CONTEXT: 'false' }).reuseV8Context).toBe(false);
  expect(() => loadSettings({ ...noFile, DBOPS_REUSE_V8_CONTEXT: 'no' })).toThrow(
    /DBOPS_REUSE_V8_CONTEXT: expected one of true, false/,
  );
  const s = loadSettings({ ...noFile, DBOPS_MAX_CONCURRENT_ACTIVITIES: '50', DBOPS_MAX_CACHED_WORKFLOWS: '20' });
  expect([s.maxConcurrentActivities, s.maxCachedWorkflows]).toEqual([50, 20]);
  expect(() => loadSettings({ ...noFile, DBOPS_MAX_CONCURRENT_ACTIVITIES: '0' })).toThrow(
    /DBOPS_MAX_CONCURRENT_ACTIVITIES/,
  );
});
