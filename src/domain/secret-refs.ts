/**
 * Secret references: what workflows carry instead of secrets. Parsed (pure) here, resolved only
 * inside activities (src/activities/secrets.ts).
 *   env:NAME                      an environment variable of the worker
 *   file:/abs/path                a file on the worker (trailing newline trimmed)
 *   aws-sm:<secret id or ARN>     an AWS Secrets Manager secret (SecretString)
 *   aws-sm:<id>#<json key>        one key of a JSON SecretString
 */
export type SecretRef =
  | { kind: 'env'; name: string }
  | { kind: 'file'; path: string }
  | { kind: 'aws-sm'; secretId: string; jsonKey?: string; region?: string };

export class SecretRefError extends Error {}

export function parseSecretRef(ref: string, field: string): SecretRef {
  if (typeof ref !== 'string' || ref.length === 0)
    throw new SecretRefError(`${field} must be a secret reference such as env:NAME`);
  const colon = ref.indexOf(':');
  const scheme = colon > 0 ? ref.slice(0, colon) : '';
  const rest = ref.slice(colon + 1);
  switch (scheme) {
    case 'env':
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(rest))
        throw new SecretRefError(`${field}: "env:" must be followed by a variable name`);
      return { kind: 'env', name: rest };
    case 'file':
      if (!rest.startsWith('/')) throw new SecretRefError(`${field}: "file:" must be followed by an absolute path`);
      return { kind: 'file', path: rest };
    case 'aws-sm': {
      const [secretId, jsonKey] = rest.split('#', 2);
      if (!secretId) throw new SecretRefError(`${field}: "aws-sm:" must be followed by a secret name or ARN`);
      const region = /^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):/.exec(secretId)?.[1];
      return { kind: 'aws-sm', secretId, jsonKey: jsonKey || undefined, region };
    }
    default:
      throw new SecretRefError(
        `${field} must be a secret reference (env:NAME, file:/path or aws-sm:<secret id>), not a literal value`,
      );
  }
}
