/**
 * The trust boundary, on the worker side: the only holder of the secret resolver. An activity
 * asks for a destination (a DBLab instance, a database server, an Aerospike Cloud account, an IAM
 * role, a credentials location) as the run's input describes it; it gets back the operator's
 * configured entry, whose secrets are resolved only for that entry's own destination. Anything the
 * configuration does not bind is refused with a non-retryable error that names the reference and
 * the destination, before a byte leaves the worker. Activities only; never logs a secret.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { SecretResolver } from './activities/secrets';
import {
  defaultPort,
  normaliseUrl,
  serverKey,
  type AerospikeEntry,
  type DatabaseServerEntry,
  type DblabEntry,
  type WorkerConfig,
} from './worker-config';

/** Failure types a run sees when its input reaches past what the operator bound. */
export const SECRET_NOT_BOUND = 'SecretNotBound';
export const DESTINATION_NOT_CONFIGURED = 'DestinationNotConfigured';
export const SERVER_CONFIG_MISMATCH = 'ServerConfigMismatch';
export const ROLE_NOT_ALLOWED = 'RoleNotAllowed';
export const FORCE_ROUTE_NOT_ALLOWED = 'ForceRouteNotAllowed';
export const SOURCE_NOT_ALLOWED = 'SourceNotAllowed';
export const ZONE_NAME_NOT_ALLOWED = 'ZoneNameNotAllowed';
export const CREDENTIALS_TARGET_NOT_ALLOWED = 'CredentialsTargetNotAllowed';

const HINT = "the worker's operator binds secrets to destinations in DBOPS_CONFIG";

function notBound(field: string, ref: string, destination: string, why = ''): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    `${field} ${ref} is not bound to ${destination} on this worker${why ? ` (${why})` : ''}: ${HINT}`,
    SECRET_NOT_BOUND,
  );
}

function notConfigured(what: string, configured: string[]): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    `${what} is not configured on this worker (configured: ${configured.length ? configured.join(', ') : 'none'}): ${HINT}`,
    DESTINATION_NOT_CONFIGURED,
  );
}

/** A DBLab instance as the refresh input describes it. */
export interface DblabRequest {
  instance?: string;
  apiEndpoint?: string;
  token?: string;
  /** The refresh's `source.password`: DBLab receives it, so it must be bound to this instance. */
  sourcePassword?: string;
  /** The RDS source the refresh clones for this DBLab: must be one of the entry's `sources`. */
  source?: { region: string; identifier: string };
  /** clone.publiclyAccessible: only where the entry allows it. */
  publicClone?: boolean;
}

/** `<region>:<identifier>` against a pattern where `*` matches any characters. */
export function sourceMatches(pattern: string, region: string, identifier: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  return re.test(`${region}:${identifier}`);
}

export interface BoundDblab {
  name: string;
  /** The configured endpoint, without a trailing slash. */
  endpoint: string;
  token(): Promise<string>;
  /** The request's source password (checked to be bound here when the instance was bound). */
  sourcePassword(): Promise<string | undefined>;
}

/** A database server as a provisioning input describes it. */
export interface ServerRequest {
  host: string;
  port?: number;
  adminUser: string;
  adminPasswordRef?: string;
  adminDatabase?: string;
  tls?: {
    mode: 'disable' | 'require' | 'verify-ca' | 'verify-full';
    caRef?: string;
    certRef?: string;
    keyRef?: string;
  };
  iam?: { region: string };
}

export interface BoundServer {
  /** The configured entry's name; undefined for an unlisted loopback server (local development). */
  name?: string;
  host: string;
  port: number;
  adminUser: string;
  adminDatabase?: string;
  tlsMode: 'disable' | 'require' | 'verify-ca' | 'verify-full';
  iam?: { region: string };
  /** Whether runs may take over a database or user without dbops's mark on this server. */
  adopt: boolean;
  adminPassword(): Promise<string | undefined>;
  tlsMaterial(): Promise<{ ca?: string; cert?: string; key?: string }>;
}

export interface AerospikeRequest {
  account?: string;
  apiUrl?: string;
  tokenUrl?: string;
  clientIdRef?: string;
  clientSecretRef?: string;
}

export interface BoundAerospike {
  name: string;
  apiUrl: string;
  tokenUrl: string;
  clientId(): Promise<string>;
  clientSecret(): Promise<string>;
}

export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

export class Authority {
  constructor(
    readonly config: WorkerConfig,
    private readonly resolveSecret: SecretResolver,
  ) {}

  /** Resolves a reference the configuration wrote under `entry` (so it is bound there). */
  private secret(ref: string, entryField: string): Promise<string> {
    return this.resolveSecret(ref, entryField);
  }

  dblab(req: DblabRequest): BoundDblab {
    let name: string;
    let entry: DblabEntry;
    if (req.instance !== undefined) {
      const e = Object.hasOwn(this.config.dblab, req.instance) ? this.config.dblab[req.instance] : undefined;
      if (!e) throw notConfigured(`DBLab instance "${req.instance}"`, Object.keys(this.config.dblab));
      name = req.instance;
      entry = e;
    } else {
      const endpoint = req.apiEndpoint ?? '';
      let key: string;
      try {
        key = normaliseUrl(endpoint);
      } catch {
        throw ApplicationFailure.nonRetryable(`dblab.apiEndpoint ${endpoint} is not a URL`, 'InvalidInput');
      }
      const found = Object.entries(this.config.dblab).find(([, e]) => normaliseUrl(e.endpoint) === key);
      if (!found)
        throw notBound(
          'dblab.token',
          req.token ?? '(none)',
          `DBLab ${endpoint}`,
          'no DBLab instance with that endpoint is configured',
        );
      [name, entry] = found;
      if (req.token !== undefined && req.token !== entry.token) {
        throw notBound('dblab.token', req.token, `DBLab ${endpoint}`, `dblab.${name} binds another token`);
      }
    }
    const e = entry;
    if (req.source && !e.sources.some((p) => sourceMatches(p, req.source!.region, req.source!.identifier))) {
      throw ApplicationFailure.nonRetryable(
        `source ${req.source.region}:${req.source.identifier} may not be cloned for DBLab ${e.endpoint} (dblab.${name}.sources: ${e.sources.join(', ')}): ${HINT}`,
        SOURCE_NOT_ALLOWED,
      );
    }
    if (req.publicClone && !e.allowPublicClone) {
      throw ApplicationFailure.nonRetryable(
        `clone.publiclyAccessible is not allowed for DBLab ${e.endpoint} (dblab.${name}.allowPublicClone is off): ${HINT}`,
        SOURCE_NOT_ALLOWED,
      );
    }
    const source = req.sourcePassword;
    if (source !== undefined && source !== e.sourcePassword) {
      throw notBound(
        'source.password',
        source,
        `DBLab ${e.endpoint}`,
        e.sourcePassword ? `dblab.${name} binds another source password` : `dblab.${name} binds no source password`,
      );
    }
    return {
      name,
      endpoint: e.endpoint.replace(/\/+$/, ''),
      token: () => this.secret(e.token, `dblab.${name}.token`),
      sourcePassword: async () =>
        source === undefined ? undefined : this.secret(source, `dblab.${name}.sourcePassword`),
    };
  }

  /** The refs in a request that would be sent to the server, with the field each came from. */
  private static serverRefs(req: ServerRequest): Array<[string, string]> {
    const refs: Array<[string, string | undefined]> = [
      ['server.adminPasswordRef', req.adminPasswordRef],
      ['server.tls.caRef', req.tls?.caRef],
      ['server.tls.certRef', req.tls?.certRef],
      ['server.tls.keyRef', req.tls?.keyRef],
    ];
    return refs.filter((r): r is [string, string] => r[1] !== undefined);
  }

  sqlServer(engine: 'postgres' | 'mysql', req: ServerRequest): BoundServer {
    const port = req.port ?? defaultPort(engine);
    const key = serverKey(engine, req.host, port);
    const found = Object.entries(this.config.databaseServers).find(
      ([, e]) => serverKey(e.engine, e.host, e.port ?? defaultPort(e.engine)) === key,
    );
    if (!found) {
      const refs = Authority.serverRefs(req);
      if (refs.length)
        throw notBound(refs[0][0], refs[0][1], key, 'no database server with that engine, host and port is configured');
      if (req.iam) throw notConfigured(`${key} (an IAM admin login)`, Object.keys(this.config.databaseServers));
      if (!(this.config.allowLoopbackDatabases && isLoopbackHost(req.host))) {
        throw notConfigured(`database server ${key}`, Object.keys(this.config.databaseServers));
      }
      return {
        host: req.host,
        port,
        adminUser: req.adminUser,
        adminDatabase: req.adminDatabase,
        tlsMode: req.tls?.mode ?? 'disable',
        adopt: false,
        adminPassword: async () => undefined,
        tlsMaterial: async () => ({}),
      };
    }
    const [name, e] = found;
    this.matchServer(name, e, req, key);
    return {
      name,
      host: e.host,
      port,
      adminUser: e.adminUser,
      adminDatabase: e.adminDatabase,
      tlsMode: e.tls?.mode ?? 'disable',
      iam: e.iam,
      adopt: e.adopt ?? false,
      adminPassword: async () =>
        e.adminPassword ? this.secret(e.adminPassword, `databaseServers.${name}.adminPassword`) : undefined,
      tlsMaterial: async () => {
        const get = (ref: string | undefined, f: string) =>
          ref ? this.secret(ref, `databaseServers.${name}.tls.${f}`) : Promise.resolve(undefined);
        const [ca, cert, key] = await Promise.all([
          get(e.tls?.ca, 'ca'),
          get(e.tls?.cert, 'cert'),
          get(e.tls?.key, 'key'),
        ]);
        return { ca, cert, key };
      },
    };
  }

  /**
   * An input that repeats a configured server must agree with it: a reference it gives must be the
   * one bound there, and it cannot change the login, TLS mode or IAM setting the operator chose.
   */
  private matchServer(name: string, e: DatabaseServerEntry, req: ServerRequest, key: string): void {
    const bound: Record<string, string | undefined> = {
      'server.adminPasswordRef': e.adminPassword,
      'server.tls.caRef': e.tls?.ca,
      'server.tls.certRef': e.tls?.cert,
      'server.tls.keyRef': e.tls?.key,
    };
    for (const [field, ref] of Authority.serverRefs(req)) {
      if (ref !== bound[field])
        throw notBound(
          field,
          ref,
          key,
          `databaseServers.${name} binds ${bound[field] ? 'another reference' : 'none'} there`,
        );
    }
    const mismatch = (field: string, given: string, configured: string) =>
      ApplicationFailure.nonRetryable(
        `${field} ${given} differs from the operator's configuration of ${key} (databaseServers.${name}: ${configured})`,
        SERVER_CONFIG_MISMATCH,
      );
    if (req.adminUser !== e.adminUser) throw mismatch('server.adminUser', req.adminUser, e.adminUser);
    if ((req.tls?.mode ?? 'disable') !== (e.tls?.mode ?? 'disable'))
      throw mismatch('server.tls.mode', req.tls?.mode ?? 'disable (none given)', e.tls?.mode ?? 'disable');
    if (req.adminDatabase !== undefined && req.adminDatabase !== (e.adminDatabase ?? 'postgres'))
      throw mismatch('server.adminDatabase', req.adminDatabase, e.adminDatabase ?? 'postgres');
    if ((req.iam?.region ?? '') !== (e.iam?.region ?? ''))
      throw mismatch('server.iam', req.iam?.region ?? '(none)', e.iam?.region ?? '(none)');
  }

  aerospike(req: AerospikeRequest): BoundAerospike {
    let name: string;
    let entry: AerospikeEntry;
    if (req.account !== undefined) {
      const e = Object.hasOwn(this.config.aerospikeCloud, req.account)
        ? this.config.aerospikeCloud[req.account]
        : undefined;
      if (!e) throw notConfigured(`Aerospike Cloud account "${req.account}"`, Object.keys(this.config.aerospikeCloud));
      name = req.account;
      entry = e;
    } else {
      const same = (a: string | undefined, b: string) => {
        try {
          return a !== undefined && normaliseUrl(a) === normaliseUrl(b);
        } catch {
          return false;
        }
      };
      const atUrls = Object.entries(this.config.aerospikeCloud).filter(
        ([, e]) => same(req.apiUrl, e.apiUrl) && same(req.tokenUrl, e.tokenUrl),
      );
      if (!atUrls.length) {
        throw notBound(
          'cloud.clientSecretRef',
          req.clientSecretRef ?? '(none)',
          `token URL ${req.tokenUrl ?? '(none)'}`,
          'no Aerospike Cloud account with that API and token URL is configured',
        );
      }
      const found = atUrls.find(([, e]) => e.clientId === req.clientIdRef && e.clientSecret === req.clientSecretRef);
      if (!found) {
        const field = atUrls.some(([, e]) => e.clientId === req.clientIdRef)
          ? 'cloud.clientSecretRef'
          : 'cloud.clientIdRef';
        const ref = (field === 'cloud.clientIdRef' ? req.clientIdRef : req.clientSecretRef) ?? '(none)';
        throw notBound(
          field,
          ref,
          `token URL ${req.tokenUrl}`,
          `aerospikeCloud.${atUrls.map(([n]) => n).join(', ')} bind${atUrls.length > 1 ? '' : 's'} other references`,
        );
      }
      [name, entry] = found;
    }
    const e = entry;
    return {
      name,
      apiUrl: e.apiUrl.replace(/\/+$/, ''),
      tokenUrl: e.tokenUrl,
      clientId: () => this.secret(e.clientId, `aerospikeCloud.${name}.clientId`),
      clientSecret: () => this.secret(e.clientSecret, `aerospikeCloud.${name}.clientSecret`),
    };
  }

  /** Throws unless the operator lets runs replace routes that point elsewhere (forceRouteCreation). */
  forceRouteCreation(): void {
    if (!this.config.allowForceRouteCreation) {
      throw ApplicationFailure.nonRetryable(
        `forceRouteCreation is not allowed on this worker (aws.allowForceRouteCreation is off): a run may not replace a route that points elsewhere: ${HINT}`,
        FORCE_ROUTE_NOT_ALLOWED,
      );
    }
  }

  /** Throws unless the private zone name ends in one of the configured suffixes (default db.internal). */
  privateZoneName(zoneName: string): void {
    const name = zoneName.toLowerCase().replace(/\.$/, '');
    if (!this.config.privateZoneSuffixes.some((s) => name === s || name.endsWith(`.${s}`))) {
      throw ApplicationFailure.nonRetryable(
        `zoneName ${zoneName} is not under a private zone suffix of this worker (aws.privateZoneSuffixes: ${this.config.privateZoneSuffixes.join(', ') || 'none'}): a zone named like a real domain would shadow it inside the VPC: ${HINT}`,
        ZONE_NAME_NOT_ALLOWED,
      );
    }
  }

  /** Throws unless the operator lets runs assume `roleArn`. */
  assumeRole(roleArn: string): void {
    if (!this.config.assumeRoles.includes(roleArn)) {
      throw ApplicationFailure.nonRetryable(
        `role ${roleArn} may not be assumed on this worker (aws.assumeRoles lists ${this.config.assumeRoles.length ? this.config.assumeRoles.join(', ') : 'none'}): ${HINT}`,
        ROLE_NOT_ALLOWED,
      );
    }
  }

  /**
   * Throws unless provisioning may keep credentials at this target: a file inside a configured
   * directory (symbolic links resolved, so a link cannot lead outside), or a Secrets Manager name
   * under a configured prefix.
   */
  async credentialsTarget(
    target: { kind: 'file'; path: string } | { kind: 'aws-secretsmanager'; name: string; region?: string },
  ): Promise<void> {
    const c = this.config.credentials;
    if (target.kind === 'file') {
      const real = async (p: string) => fs.realpath(p).catch(() => path.resolve(p));
      const file = path.resolve(target.path);
      const dir = await real(path.dirname(file));
      const allowed = await Promise.all(c.directories.map(real));
      const inside = allowed.some((d) => dir === d || dir.startsWith(d.endsWith(path.sep) ? d : d + path.sep));
      if (!inside) {
        throw ApplicationFailure.nonRetryable(
          `credentialsTarget.path ${target.path} is outside the directories credentials may be written to on this worker (${c.directories.join(', ') || 'none'}): ${HINT}`,
          CREDENTIALS_TARGET_NOT_ALLOWED,
        );
      }
      return;
    }
    if (!c.secretsManagerPrefixes.some((prefix) => target.name.startsWith(prefix))) {
      throw ApplicationFailure.nonRetryable(
        `credentialsTarget.name ${target.name} is outside the Secrets Manager prefixes credentials may be stored under on this worker (${c.secretsManagerPrefixes.join(', ') || 'none'}): ${HINT}`,
        CREDENTIALS_TARGET_NOT_ALLOWED,
      );
    }
  }
}
