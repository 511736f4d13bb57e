/** PostgreSQL connections for the SQL activities: the pooled admin login, and short-lived ones. */
import { Client, Pool, type PoolClient } from 'pg';
import { secretFingerprint, type EnginePool, type SqlPools } from './admin-pools';
import type { ResolvedServer } from './connection';

type Password = ResolvedServer['adminPassword'];

function clientOptions(server: ResolvedServer, user: string, password: Password, database: string) {
  return {
    host: server.host,
    port: server.port,
    user,
    password: password as string | (() => Promise<string>) | undefined,
    database,
    ssl: server.tls === false ? false : server.tls,
    connectionTimeoutMillis: 10_000,
    statement_timeout: 120_000,
    application_name: 'dbops',
  };
}

/** A connection of its own (a tenant's login, work inside a tenant's database); the caller ends it. */
export function pgClient(server: ResolvedServer, user: string, password: Password, database: string): Client {
  const c = new Client(clientOptions(server, user, password, database));
  c.on('error', () => undefined); // a dropped connection must not crash the worker
  return c;
}

/** SQLSTATEs of a session the server ended (terminated, shut down); no code: the socket broke. */
const GONE = new Set(['57P01', '57P02', '57P03']);

function pgPool(server: ResolvedServer, database: string, settings: SqlPools['settings']): EnginePool<PoolClient> {
  const pool = new Pool({
    ...clientOptions(server, server.adminUser, server.adminPassword, database),
    max: settings.max,
    idleTimeoutMillis: settings.idleSeconds * 1000,
    allowExitOnIdle: true,
  });
  pool.on('error', () => undefined); // an idle connection the server ended: the pool drops it
  const seen = new WeakSet<PoolClient>();
  return {
    async acquire() {
      const conn = await pool.connect();
      const reused = seen.has(conn);
      if (!reused) {
        seen.add(conn);
        conn.on('error', () => undefined);
      }
      return { conn, reused };
    },
    release: (conn, broken) => conn.release(broken),
    isBroken: (err) => {
      const e = err as { code?: string; message?: string };
      return (
        GONE.has(e.code ?? '') ||
        /Connection terminated|ECONNRESET|EPIPE|not queryable|Client was closed/i.test(`${e.code ?? ''} ${e.message}`)
      );
    },
    end: () => pool.end(),
  };
}

/**
 * Runs `fn` on a pooled admin connection to `database` of the bound server, after `open` (see
 * SqlPools.use). One pool per server, admin login, database and TLS setting, rebuilt when the
 * resolved password or TLS material change (an IAM login gets a fresh token per new connection).
 */
export function withPgAdmin<P, T>(
  pools: SqlPools,
  server: ResolvedServer,
  database: string,
  open: (conn: PoolClient) => Promise<P>,
  fn: (conn: PoolClient, opened: P) => Promise<T>,
): Promise<T> {
  const t = server.tls;
  const tls = t === false ? 'disable' : `${t.rejectUnauthorized}/${t.verifyHostname}/${t.servername ?? ''}`;
  const identity = ['postgres', server.host, server.port, server.adminUser, database, tls].join('\n');
  const password = typeof server.adminPassword === 'function' ? 'iam' : server.adminPassword;
  const fingerprint = secretFingerprint([password, ...server.secrets]);
  return pools.use(identity, fingerprint, () => pgPool(server, database, pools.settings), open, fn);
}

/** The key of a server's gate for short-lived connections. */
export function pgServerKey(server: ResolvedServer): string {
  return `postgres\n${server.host}\n${server.port}`;
}
