/**
 * Reads the reference tool's YAML config (rds-refresh) as it is, so its users can point dbops at
 * their existing file. `${VAR}` in a secret field (source.password, dblab.token) becomes the
 * reference `env:VAR`, resolved on the worker; elsewhere it is expanded here. A literal secret is
 * refused: it would be stored in workflow history.
 */
import fs from 'node:fs';
import { parse } from 'yaml';
import type { RefreshConfig } from '../domain/dblab-config';

const SECRET_FIELDS = new Set(['source.password', 'dblab.token']);
const WHOLE_VAR = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;
const ANY_VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const REFERENCE = /^(env|file|aws-sm):/;

export class RefreshYamlError extends Error {}

function convert(value: unknown, path: string, env: NodeJS.ProcessEnv): unknown {
  if (Array.isArray(value)) return value.map((v, i) => convert(v, `${path}[${i}]`, env));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, convert(v, path ? `${path}.${k}` : k, env)]));
  }
  if (typeof value !== 'string') return value;
  if (SECRET_FIELDS.has(path)) {
    const whole = WHOLE_VAR.exec(value);
    if (whole) return `env:${whole[1]}`;
    if (REFERENCE.test(value)) return value;
    if (value === '') return undefined;
    throw new RefreshYamlError(
      `${path} holds a literal secret: write \${VAR} (or env:NAME, file:/path, aws-sm:<id>) so the secret stays out of workflow history`,
    );
  }
  return value.replace(ANY_VAR, (_m, name: string) => {
    const v = env[name];
    if (v === undefined) throw new RefreshYamlError(`${path} uses \${${name}}, which is not set`);
    return v;
  });
}

/** Empty strings in the reference config mean "not set" (e.g. snapshotIdentifier: ""). */
function dropEmpty(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropEmpty);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== '' && v !== undefined && v !== null)
        .map(([k, v]) => [k, dropEmpty(v)]),
    );
  }
  return value;
}

export function readRefreshYaml(text: string, env: NodeJS.ProcessEnv = process.env): RefreshConfig {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new RefreshYamlError(`config is not valid YAML: ${(err as Error).message}`);
  }
  if (!doc || typeof doc !== 'object') throw new RefreshYamlError('config is empty');
  return dropEmpty(convert(doc, '', env)) as RefreshConfig;
}

export function readRefreshYamlFile(file: string, env: NodeJS.ProcessEnv = process.env): RefreshConfig {
  return readRefreshYaml(fs.readFileSync(file, 'utf8'), env);
}
