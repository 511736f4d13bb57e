/**
 * What both engines share: the plan's server, as the operator configured it (src/authority.ts),
 * turned into driver options. The admin password and TLS material are resolved only for the server
 * they are bound to; a server the configuration does not allow is refused before any connection.
 */
import type { Authority } from '../../authority';
import type { SqlPlan } from '../../domain/provision';

export interface TlsOptions {
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized: boolean;
  servername?: string;
  checkServerIdentity?: () => undefined;
  /** verify-full: the certificate must name the host (pg uses servername; mysql2 needs this flag). */
  verifyHostname: boolean;
}

export interface ResolvedServer {
  host: string;
  port: number;
  adminUser: string;
  /** The database the admin connects to (PostgreSQL). */
  adminDatabase: string;
  /** The configured entry's name (undefined: an unlisted loopback server, local development). */
  entryName?: string;
  /** Whether the operator lets runs take over a database or user without dbops's mark here. */
  adopt: boolean;
  /** Resolved admin password, or a function producing an IAM token; never logged. */
  adminPassword?: string | (() => Promise<string>);
  tls: TlsOptions | false;
  /** Every resolved secret value, for scrubbing messages. */
  secrets: string[];
}

/** Maps a host/port to where to connect (tests and tunnels); default: unchanged. */
export type EndpointResolver = (host: string, port: number) => { host: string; port: number };

export interface SqlDeps {
  authority: Authority;
  /** Builds an RDS IAM auth token signer for the admin login (server.iam). */
  iamToken?: (host: string, port: number, user: string, region: string) => Promise<string>;
  endpoint?: EndpointResolver;
}

export async function resolveServer(plan: SqlPlan, deps: SqlDeps): Promise<ResolvedServer> {
  const s = deps.authority.sqlServer(plan.engine, plan.server);
  const [adminPassword, { ca, cert, key }] = await Promise.all([s.adminPassword(), s.tlsMaterial()]);
  const secrets = [adminPassword, ca, cert, key].filter((v): v is string => v !== undefined);
  const { host, port } = deps.endpoint ? deps.endpoint(s.host, s.port) : { host: s.host, port: s.port };
  let tls: TlsOptions | false = false;
  switch (s.tlsMode) {
    case 'require':
      tls = { rejectUnauthorized: false, cert, key, verifyHostname: false };
      break;
    case 'verify-ca':
      tls = { rejectUnauthorized: true, ca, cert, key, checkServerIdentity: () => undefined, verifyHostname: false };
      break;
    case 'verify-full':
      tls = { rejectUnauthorized: true, ca, cert, key, servername: s.host, verifyHostname: true };
      break;
    default:
      tls = false;
  }
  let password: ResolvedServer['adminPassword'] = adminPassword;
  if (s.iam) {
    const iam = s.iam;
    if (!deps.iamToken) throw new Error('IAM admin login is not configured on this worker');
    password = () => deps.iamToken!(s.host, s.port, s.adminUser, iam.region);
  }
  return {
    host,
    port,
    adminUser: s.adminUser,
    adminDatabase: s.adminDatabase ?? 'postgres',
    entryName: s.name,
    adopt: s.adopt,
    adminPassword: password,
    tls,
    secrets,
  };
}

/** The server's login and ownership policy, without resolving any secret. */
export function serverPolicy(
  plan: SqlPlan,
  deps: SqlDeps,
): Pick<ResolvedServer, 'adminUser' | 'adminDatabase' | 'adopt' | 'entryName'> {
  const s = deps.authority.sqlServer(plan.engine, plan.server);
  return { adminUser: s.adminUser, adminDatabase: s.adminDatabase ?? 'postgres', adopt: s.adopt, entryName: s.name };
}
