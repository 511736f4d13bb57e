/** MySQL/MariaDB connections for the SQL activities: the pooled admin login, and short-lived ones. */
import mysql, { type Connection, type PoolConnection } from 'mysql2/promise';
import { secretFingerprint, type EnginePool, type SqlPools } from './admin-pools';
import type { ResolvedServer, TlsOptions } from './connection';

/**
 * mysql2's own TLS options. It ignores `servername` and `checkServerIdentity` (it sets both
 * itself) and checks the host name only with `verifyIdentity`, against the host it connects to;
 * for an IP address it checks nothing, which is why planning refuses verify-full with an IP.
 */
function mysqlSsl(tls: TlsOptions | false) {
  if (tls === false) return undefined;
  return {
    ca: tls.ca,
    cert: tls.cert,
    key: tls.key,
    rejectUnauthorized: tls.rejectUnauthorized,
    verifyIdentity: tls.verifyHostname,
  };
}

function connectionOptions(server: ResolvedServer, user: string, password: string | undefined, database?: string) {
  return {
    host: server.host,
    port: server.port,
    user,
    password,
    database,
    ssl: mysqlSsl(server.tls),
    connectTimeout: 10_000,
    multipleStatements: false,
    ...(typeof server.adminPassword === 'function' && user === server.adminUser
      ? { authPlugins: { mysql_clear_password: () => () => Buffer.from(`${password}\0`) } }
      : {}),
  };
}

/** A connection of its own (a tenant's login, an IAM admin login); the caller ends it. */
export async function mysqlConnection(
  server: ResolvedServer,
  user: string,
  password: string | undefined,
  database?: string,
): Promise<Connection> {
  const conn = await mysql.createConnection(connectionOptions(server, user, password, database));
  conn.on('error', () => undefined);
  return conn;
}

/** Client errors of a connection that is gone, and the server's "killed" / "disconnected" errors. */
const GONE_CODES = new Set(['PROTOCOL_CONNECTION_LOST', 'ECONNRESET', 'EPIPE', 'ER_CONNECTION_KILLED']);
const GONE_ERRNOS = new Set([1927, 2006, 2013, 4031]);

interface Core {
  stream?: { ref?(): void; unref?(): void };
  on(event: 'error', fn: () => void): void;
}
const core = (c: PoolConnection) => (c as unknown as { connection: Core }).connection;

function mysqlPool(server: ResolvedServer, password: string | undefined, settings: SqlPools['settings']) {
  const pool = mysql.createPool({
    ...connectionOptions(server, server.adminUser, password),
    connectionLimit: settings.max,
    maxIdle: settings.max,
    idleTimeout: settings.idleSeconds * 1000,
    waitForConnections: true,
    queueLimit: 0,
  });
  const seen = new WeakSet<Core>();
  const p: EnginePool<PoolConnection> = {
    async acquire() {
      const conn = await pool.getConnection();
      const c = core(conn);
      const reused = seen.has(c);
      if (!reused) {
        seen.add(c);
        c.on('error', () => undefined); // a dropped connection must not crash the worker
      }
      c.stream?.ref?.();
      return { conn, reused };
    },
    release(conn, broken) {
      if (broken) return conn.destroy();
      core(conn).stream?.unref?.(); // an idle pooled connection does not keep the process alive
      conn.release();
    },
    isBroken: (err) => {
      const e = err as { code?: string; errno?: number; message?: string };
      return (
        GONE_CODES.has(e.code ?? '') ||
        GONE_ERRNOS.has(e.errno ?? 0) ||
        /closed state|Connection lost/i.test(e.message ?? '')
      );
    },
    end: () => pool.end(),
  };
  return p;
}

/**
 * Runs `fn` on a pooled admin connection of the bound server, after `open` (see SqlPools.use).
 * One pool per server, admin login and TLS setting, rebuilt when the resolved password or TLS
 * material change. (An IAM admin login is not pooled: each connection needs a fresh token.)
 */
export function withMysqlAdmin<P, T>(
  pools: SqlPools,
  server: ResolvedServer,
  password: string | undefined,
  open: (conn: Connection) => Promise<P>,
  fn: (conn: Connection, opened: P) => Promise<T>,
): Promise<T> {
  const t = server.tls;
  const tls = t === false ? 'disable' : `${t.rejectUnauthorized}/${t.verifyHostname}`;
  const identity = ['mysql', server.host, server.port, server.adminUser, tls].join('\n');
  const fingerprint = secretFingerprint([password, ...server.secrets]);
  return pools.use(identity, fingerprint, () => mysqlPool(server, password, pools.settings), open, fn);
}

/** The key of a server's gate for short-lived connections. */
export function mysqlServerKey(server: ResolvedServer): string {
  return `mysql\n${server.host}\n${server.port}`;
}
