/**
 * Database and user names: validation, derivation from a tenant (length-safe with a deterministic
 * hash suffix), quoting, MySQL grant-wildcard escaping and connection strings. Pure; imported by
 * workflows and activities alike (the hash is pure JS, so it runs in the workflow sandbox).
 */
import { sha256Hex } from './hash';

export type Engine = 'postgres' | 'mysql';
export type NameKind = 'database' | 'user';

/** Byte limits: PostgreSQL NAMEDATALEN-1; MySQL database 64, user 32. */
export const NAME_LIMITS: Record<Engine, Record<NameKind, number>> = {
  postgres: { database: 63, user: 63 },
  mysql: { database: 64, user: 32 },
};

export class NameError extends Error {}

const RULE = '^[a-z][a-z0-9_]*$';

/** Why a name is not acceptable, most specific reason first; undefined when it is fine. */
export function nameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.includes('\0')) return 'contains a NUL byte';
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  if (/[\x01-\x1f\x7f]/.test(name)) return 'contains a control character';
  // eslint-disable-next-line no-control-regex -- the ASCII range starts at NUL
  if (/[^\x00-\x7f]/.test(name)) return 'contains a non-ASCII character';
  if (/['"`]/.test(name)) return 'contains a quote';
  if (name.includes(';')) return 'contains ";"';
  if (name.includes('.')) return 'contains "."';
  if (name.includes('%')) return 'contains "%"';
  if (!/^[a-z]/.test(name)) return 'must start with a letter';
  if (!new RegExp(RULE).test(name)) return `may only contain a-z, 0-9 and _ (${RULE} after lower-casing)`;
  return undefined;
}

/**
 * System databases: never created, granted, adopted or dropped for a tenant (the one list, used
 * at validate and again by the activities against the live catalog). `_dbops` is dbops's own
 * registry on MySQL/MariaDB.
 */
export const RESERVED_DATABASES: Record<Engine, readonly string[]> = {
  postgres: ['postgres', 'template0', 'template1', 'rdsadmin', 'cloudsqladmin', 'azure_maintenance', 'azure_sys'],
  mysql: ['mysql', 'information_schema', 'performance_schema', 'sys', '_dbops', 'innodb', 'tmp'],
};

/** Reserved or privileged logins (besides the server's admin user), by exact name or prefix. */
export const RESERVED_USERS: Record<Engine, { names: readonly string[]; prefixes: readonly string[] }> = {
  postgres: { names: ['postgres', 'rdsadmin', 'public'], prefixes: ['pg_', 'rds_', 'cloudsql', 'azure_'] },
  mysql: { names: ['root', 'mariadb.sys', 'rdsadmin', 'rdsrepladmin', 'public'], prefixes: ['mysql.', 'rds_'] },
};

/**
 * Why a name must not be a tenant's, when it is a system database or a reserved/privileged login
 * (compared case-insensitively); undefined when it is not reserved.
 */
export function reservedNameProblem(name: string, engine: Engine, kind: NameKind): string | undefined {
  const n = name.toLowerCase();
  const label = engine === 'postgres' ? 'PostgreSQL' : 'MySQL/MariaDB';
  if (kind === 'database') {
    return RESERVED_DATABASES[engine].includes(n) ? `is a ${label} system database` : undefined;
  }
  const r = RESERVED_USERS[engine];
  const prefix = r.prefixes.find((p) => n.startsWith(p));
  if (prefix) return `is reserved: ${label} reserves login names starting with ${prefix}`;
  return r.names.includes(n) ? `is a reserved or privileged ${label} login` : undefined;
}

/**
 * The length a name takes against its limit. A MySQL database name also appears in GRANTs with
 * every `_` escaped as `\_`, and the server checks that escaped form against 64 too.
 */
export function nameCost(name: string, engine: Engine, kind: NameKind): number {
  if (engine === 'mysql' && kind === 'database') return name.length + (name.match(/[_%\\]/g)?.length ?? 0);
  return name.length;
}

/** Validates a user-given name (lower-cased first); too long is an error, never truncated. */
export function validateName(raw: string, engine: Engine, kind: NameKind, field: string): string {
  const name = raw.toLowerCase();
  const problem = nameProblem(name);
  if (problem) throw new NameError(`${field} ${JSON.stringify(raw)} ${problem}`);
  const limit = NAME_LIMITS[engine][kind];
  const cost = nameCost(name, engine, kind);
  if (cost > limit) {
    const why = cost === name.length ? `${name.length} bytes` : `${cost} bytes once "_" is escaped for GRANT`;
    throw new NameError(`${field} "${name}" is ${why}; ${engine} allows ${limit} for a ${kind} name`);
  }
  return name;
}

/** The tenant key: a-z, 0-9, _ and -, starting with a letter or digit. */
export function validateTenant(raw: string): string {
  const t = raw.toLowerCase();
  if (t.length === 0) throw new NameError('tenant is empty');
  if (t.length > 200) throw new NameError('tenant is longer than 200 characters');
  const problem = nameProblem(t.replace(/-/g, '_').replace(/^[0-9]/, 'x'));
  if (problem) throw new NameError(`tenant ${JSON.stringify(raw)} ${problem}`);
  return t;
}

/** Shortens `base` to fit `limit` with `_<8 hex of sha256(base)>`, deterministically. */
export function fitName(base: string, limit: number, cost: (s: string) => number = (s) => s.length): string {
  if (cost(base) <= limit) return base;
  const suffix = `_${sha256Hex(base).slice(0, 8)}`;
  let keep = Math.min(base.length, limit - suffix.length);
  let name = base.slice(0, keep).replace(/_+$/, '') + suffix;
  while (cost(name) > limit && keep > 0) {
    keep -= 1;
    name = base.slice(0, keep).replace(/_+$/, '') + suffix;
  }
  return name;
}

/** The database and user names derived from a tenant (e.g. acme-corp → acme_corp, acme_corp_app). */
export function deriveNames(tenant: string, engine: Engine): { database: string; user: string } {
  let base = validateTenant(tenant).replace(/-/g, '_');
  if (/^[0-9]/.test(base)) base = `t_${base}`;
  return {
    database: fitName(base, NAME_LIMITS[engine].database, (n) => nameCost(n, engine, 'database')),
    user: fitName(`${base}_app`, NAME_LIMITS[engine].user),
  };
}

export function quotePgIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function quoteMysqlIdent(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/** A database name for a MySQL database-level GRANT: `_` and `%` are wildcards there. */
export function mysqlGrantDatabase(name: string): string {
  return quoteMysqlIdent(name.replace(/\\/g, '\\\\').replace(/[_%]/g, (c) => `\\${c}`));
}

export type SslMode = 'disable' | 'require' | 'verify-ca' | 'verify-full';

/** The kine connection string formats, credentials percent-encoded. */
export function connectionString(c: {
  engine: Engine;
  host: string;
  port: number;
  database: string;
  user: string;
  password?: string;
  sslMode?: SslMode;
}): string {
  const cred = encodeURIComponent(c.user) + (c.password !== undefined ? `:${encodeURIComponent(c.password)}` : '');
  const host = c.host.includes(':') ? `[${c.host}]` : c.host;
  if (c.engine === 'postgres') {
    return `postgres://${cred}@${host}:${c.port}/${encodeURIComponent(c.database)}?sslmode=${c.sslMode ?? 'disable'}`;
  }
  const tls = c.sslMode && c.sslMode !== 'disable' ? `?tls=${c.sslMode === 'require' ? 'skip-verify' : 'true'}` : '';
  return `mysql://${cred}@tcp(${host}:${c.port})/${encodeURIComponent(c.database)}${tls}`;
}
