/**
 * Password verifiers computed on the worker, so a plaintext password is never sent inside a SQL
 * statement (which `log_statement=ddl` or a general log would record).
 */
import crypto from 'node:crypto';

const hmac = (key: Buffer, text: string) => crypto.createHmac('sha256', key).update(text).digest();

/** PostgreSQL's SCRAM-SHA-256 verifier (RFC 5802/7677), as stored in pg_authid.rolpassword. */
export function scramVerifier(password: string, salt = crypto.randomBytes(16), iterations = 4096): string {
  const salted = crypto.pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const storedKey = crypto.createHash('sha256').update(hmac(salted, 'Client Key')).digest();
  const serverKey = hmac(salted, 'Server Key');
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** Whether `password` matches a stored SCRAM-SHA-256 verifier (false for md5 or anything else). */
export function scramMatches(password: string, verifier: string | null | undefined): boolean {
  const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(verifier ?? '');
  if (!m) return false;
  const again = scramVerifier(password, Buffer.from(m[2], 'base64'), Number(m[1]));
  return crypto.timingSafeEqual(Buffer.from(again), Buffer.from(verifier!));
}

/** mysql_native_password hash: `*` + upper hex of SHA1(SHA1(password)). */
export function mysqlNativeHash(password: string): string {
  const once = crypto.createHash('sha1').update(password, 'utf8').digest();
  return `*${crypto.createHash('sha1').update(once).digest('hex').toUpperCase()}`;
}
