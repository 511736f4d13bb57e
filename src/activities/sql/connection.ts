/** What both engines share: resolving a plan's references into driver options. */
import type { SqlPlan } from '../../domain/provision';
import type { SecretResolver } from '../../secrets';

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
  /** Resolved admin password, or a function producing an IAM token; never logged. */
  adminPassword?: string | (() => Promise<string>);
  tls: TlsOptions | false;
  /** Every resolved secret value, for scrubbing messages. */
  secrets: string[];
}

/** Maps a host/port to where to connect (tests and tunnels); default: unchanged. */
export type EndpointResolver = (host: string, port: number) => { host: string; port: number };

export interface SqlDeps {
  resolveSecret: SecretResolver;
  /** Builds an RDS IAM auth token signer for the admin login (server.iam). */
  iamToken?: (host: string, port: number, user: string, region: string) => Promise<string>;
  endpoint?: EndpointResolver;
}

export async function resolveServer(plan: SqlPlan, deps: SqlDeps): Promise<ResolvedServer> {
  const s = plan.server;
  const secrets: string[] = [];
  const get = async (ref: string | undefined, field: string) => {
    if (!ref) return undefined;
    const v = await deps.resolveSecret(ref, field);
    secrets.push(v);
    return v;
  };
  const [adminPassword, ca, cert, key] = await Promise.all([
    get(s.adminPasswordRef, 'server.adminPasswordRef'),
    get(s.tls?.caRef, 'server.tls.caRef'),
    get(s.tls?.certRef, 'server.tls.certRef'),
    get(s.tls?.keyRef, 'server.tls.keyRef'),
  ]);
  const { host, port } = deps.endpoint ? deps.endpoint(s.host, s.port) : { host: s.host, port: s.port };
  let tls: TlsOptions | false = false;
  switch (plan.sslMode) {
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
  return { host, port, adminUser: s.adminUser, adminPassword: password, tls, secrets };
}
