/** No Docker engine runs here: parse docker-compose.yml and check the stack's wiring. */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { ROOT } from '../helpers/stack';

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string>;
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
}
const compose = parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const s = compose.services;

test('has Temporal on PostgreSQL, the schema setup, the Web UI and the worker', () => {
  expect(Object.keys(s).sort()).toEqual(['postgresql', 'temporal', 'temporal-admin-tools', 'temporal-ui', 'worker']);
  expect(s.postgresql.image).toMatch(/^postgres:\d+/);
  expect(s.temporal.image).toMatch(/^temporalio\/server:\d+\.\d+\.\d+$/);
  expect(s['temporal-admin-tools'].image).toMatch(/^temporalio\/admin-tools:/);
  expect(s['temporal-ui'].image).toMatch(/^temporalio\/ui:/);
  expect(compose.volumes).toHaveProperty('temporal-db');
});

test('the server uses PostgreSQL and waits for the schema setup to finish', () => {
  expect(s.temporal.environment).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgresql' });
  expect(s.temporal.depends_on?.['temporal-admin-tools'].condition).toBe('service_completed_successfully');
  expect(s['temporal-admin-tools'].depends_on?.postgresql.condition).toBe('service_healthy');
  const setup = JSON.stringify(s['temporal-admin-tools']);
  expect(setup).toContain('--db temporal setup-schema');
  expect(setup).toContain('--db temporal_visibility setup-schema');
});

test('ports: gRPC 7233, Web UI 8080, worker metrics 9464', () => {
  expect(s.temporal.ports).toContain('7233:7233');
  expect(s['temporal-ui'].ports).toContain('8080:8080');
  expect(s.worker.ports).toContain('9464:9464');
});

test('the worker is built from the Dockerfile and pointed at the server by TEMPORAL_ADDRESS', () => {
  expect(s.worker.build).toEqual({ context: '.', dockerfile: 'Dockerfile' });
  expect(fs.existsSync(path.join(ROOT, 'Dockerfile'))).toBe(true);
  expect(s.worker.environment?.TEMPORAL_ADDRESS).toBe('temporal:7233');
  // The worker reads its configuration (what runs may use and where) from a mounted file.
  expect(s.worker.environment?.DBOPS_CONFIG).toBe('/etc/dbops/worker.yaml');
  expect((s.worker as { volumes?: string[] }).volumes).toContain(
    '${DBOPS_CONFIG_FILE:-./examples/worker-config.yaml}:/etc/dbops/worker.yaml:ro',
  );
  expect(s['temporal-ui'].environment?.TEMPORAL_ADDRESS).toBe('temporal:7233');
  expect(s.worker.depends_on?.temporal.condition).toBe('service_healthy');
  const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  expect(dockerfile).toMatch(/ENTRYPOINT \["node", "dist\/worker\.js"\]/);
});
