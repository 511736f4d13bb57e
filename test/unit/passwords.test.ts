import { mysqlNativeHash, scramMatches, scramVerifier } from '../../src/activities/sql/passwords';
import { generatePassword } from '../../src/activities/credentials';
import { classifySqlError, scrub } from '../../src/activities/sql/errors';

test('SCRAM-SHA-256 verifier: PostgreSQL format, verifiable, salted', () => {
  const v = scramVerifier('s3cret');
  expect(v).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
  expect(v).not.toContain('s3cret');
  expect(scramMatches('s3cret', v)).toBe(true);
  expect(scramMatches('other', v)).toBe(false);
  expect(scramVerifier('s3cret')).not.toBe(v);
  expect(scramMatches('s3cret', 'md5abc')).toBe(false);
  expect(scramMatches('s3cret', null)).toBe(false);
});

test('SCRAM verifier matches the RFC 7677 test vector keys', () => {
  // RFC 7677 §3: password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations
  const v = scramVerifier('pencil', Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'), 4096);
  expect(v.split('$')[2].split(':')[1]).toBe('wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=');
});

test('mysql_native_password hash matches MySQL PASSWORD()', () => {
  expect(mysqlNativeHash('password')).toBe('*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19');
});

test('generated passwords are 43 URL-safe characters and distinct', () => {
  const a = generatePassword();
  expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(new Set(Array.from({ length: 50 }, generatePassword)).size).toBe(50);
});

test('error classification: network retried; auth, TLS and permission not; secrets scrubbed', () => {
  const ctx = {
    engine: 'postgres' as const,
    host: 'h',
    port: 5432,
    login: 'admin',
    action: 'do x',
    secrets: ['topsecretvalue'],
  };
  const net = classifySqlError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), ctx);
  expect([net.type, net.nonRetryable]).toEqual(['SqlServerUnreachable', false]);
  const auth = classifySqlError(
    Object.assign(new Error('password topsecretvalue authentication failed'), { code: '28P01' }),
    ctx,
  );
  expect([auth.type, auth.nonRetryable]).toEqual(['SqlAuthFailed', true]);
  expect(auth.message).not.toContain('topsecretvalue');
  const tls = classifySqlError(
    Object.assign(new Error('self-signed certificate'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }),
    ctx,
  );
  expect([tls.type, tls.nonRetryable]).toEqual(['SqlTlsError', true]);
  expect(tls.message).toContain('certificate was not accepted');
  const hba = classifySqlError(
    Object.assign(new Error('no pg_hba.conf entry for host "1.2.3.4", user "a", database "b", no encryption'), {
      code: '28000',
    }),
    ctx,
  );
  expect(hba.type).toBe('SqlTlsError');
  expect(hba.message).toContain('the server requires TLS');
  const perm = classifySqlError(
    Object.assign(new Error('permission denied to create database'), { code: '42501' }),
    ctx,
  );
  expect([perm.type, perm.nonRetryable]).toEqual(['SqlPermissionDenied', true]);
  const deadlock = classifySqlError(Object.assign(new Error('deadlock detected'), { code: '40P01' }), ctx);
  expect(deadlock.nonRetryable).toBe(false);
  const my = classifySqlError(
    Object.assign(new Error('Access denied'), { errno: 1045, code: 'ER_ACCESS_DENIED_ERROR' }),
    { ...ctx, engine: 'mysql' },
  );
  expect(my.type).toBe('SqlAuthFailed');
  const secure = classifySqlError(
    Object.assign(
      new Error('Connections using insecure transport are prohibited while --require_secure_transport=ON.'),
      { errno: 3159 },
    ),
    { ...ctx, engine: 'mysql' },
  );
  expect(secure.type).toBe('SqlTlsError');
  expect(scrub('a topsecretvalue b', ['topsecretvalue'])).toBe('a *** b');
});
