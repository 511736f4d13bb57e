/**
 * Classifies SQL driver errors: network trouble is retried; authentication, TLS, permission and
 * statement errors are not. Messages say what failed and where, and are scrubbed of secrets.
 */
import { ApplicationFailure } from '@temporalio/common';
import { stripControl } from '../../domain/text';
import { scrubSecrets } from '../scrub';

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EPIPE',
  'PROTOCOL_CONNECTION_LOST',
  'ETIMEOUT',
]);
const TLS_CODES =
  /^(SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_\w+|ERR_TLS_\w+|ERR_SSL_\w+|HANDSHAKE_NO_SSL_SUPPORT|ERR_OSSL_\w+)$/;
const PG_RETRYABLE_CLASSES = ['08', '53', '57P', '40001', '40P01', '55P03'];
const MYSQL_RETRYABLE = new Set([1040, 1205, 1213, 2002, 2003, 2006, 2013]);

export interface SqlErrorContext {
  engine: 'postgres' | 'mysql';
  host: string;
  port: number;
  /** Who was logging in, for auth messages. */
  login?: string;
  /** What was being done, e.g. "create database acme". */
  action: string;
  /** Resolved secrets that must never appear in a message. */
  secrets: string[];
  /** Whether the connection used TLS (a MariaDB that requires TLS answers a plain login with 1045). */
  tls?: boolean;
}

/**
 * `text` with every spelling of every secret replaced by *** (../scrub.ts), and without control
 * characters: messages quote live names (a database called `x<ESC>]0;…`), and reach terminals.
 */
export function scrub(text: string, secrets: string[]): string {
  return stripControl(scrubSecrets(text, secrets));
}

function where(c: SqlErrorContext): string {
  return `${c.engine} server ${c.host}:${c.port}`;
}

/** Converts any driver error into an ApplicationFailure with a type and a clean message. */
export function classifySqlError(err: unknown, c: SqlErrorContext): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const e = err as { code?: string; errno?: number; message?: string; sqlMessage?: string };
  const code = e.code ?? '';
  const raw = scrub(e.sqlMessage ?? e.message ?? String(err), c.secrets);
  const msg = (text: string) => scrub(text, c.secrets);

  if (NETWORK_CODES.has(code) || /timeout expired|Connection terminated unexpectedly|connect ETIMEDOUT/i.test(raw)) {
    return ApplicationFailure.retryable(
      msg(`cannot reach ${where(c)} while trying to ${c.action} (${code || raw})`),
      'SqlServerUnreachable',
    );
  }
  if (
    TLS_CODES.test(code) ||
    /does not support SSL|SSL connection|certificate|secure transport|no encryption|HANDSHAKE_NO_SSL/i.test(raw)
  ) {
    let hint = 'check server.tls';
    if (/does not support SSL|HANDSHAKE_NO_SSL/i.test(raw + code))
      hint = 'the server does not offer TLS but server.tls.mode asks for it';
    else if (/no encryption|secure transport/i.test(raw))
      hint = 'the server requires TLS: set server.tls.mode (require, verify-ca or verify-full)';
    else if (/certificate|CERT|ERR_TLS/i.test(raw + code))
      hint = "the server's certificate was not accepted: check server.tls.caRef and the host name";
    return ApplicationFailure.nonRetryable(msg(`TLS problem with ${where(c)}: ${hint} (${raw})`), 'SqlTlsError');
  }
  if (
    code === '28P01' ||
    code === '28000' ||
    code === 'ER_ACCESS_DENIED_ERROR' ||
    e.errno === 1045 ||
    e.errno === 1698
  ) {
    // MariaDB with require_secure_transport refuses a plain connection with this same error.
    const tlsHint =
      c.engine === 'mysql' && c.tls === false
        ? '; if the server requires TLS (require_secure_transport), set server.tls.mode'
        : '';
    return ApplicationFailure.nonRetryable(
      msg(
        `${where(c)} rejected the login of ${c.login ?? 'the admin user'}: wrong user or password, or no access from this host${tlsHint} (${raw})`,
      ),
      'SqlAuthFailed',
    );
  }
  if (code === '42501' || e.errno === 1044 || e.errno === 1227 || e.errno === 1142) {
    return ApplicationFailure.nonRetryable(
      msg(`permission denied on ${where(c)} while trying to ${c.action}: ${raw}`),
      'SqlPermissionDenied',
    );
  }
  if (e.errno === 1524 || /AWSAuthenticationPlugin/.test(raw) || /role "rds_iam" does not exist/.test(raw)) {
    return ApplicationFailure.nonRetryable(
      msg(
        `IAM database authentication is not available on ${where(c)} (${raw}); it needs RDS/Aurora with IAM authentication enabled`,
      ),
      'SqlIamUnavailable',
    );
  }
  const retryable =
    (c.engine === 'postgres' && PG_RETRYABLE_CLASSES.some((p) => code.startsWith(p))) ||
    (c.engine === 'mysql' && e.errno !== undefined && MYSQL_RETRYABLE.has(e.errno));
  const text = msg(`${where(c)} failed to ${c.action}: ${raw}${code ? ` (${code})` : ''}`);
  return retryable
    ? ApplicationFailure.retryable(text, 'SqlTransientError')
    : ApplicationFailure.nonRetryable(text, 'SqlError');
}
