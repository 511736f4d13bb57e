/**
 * Provisioning input: its JSON shape, validation into a plan (names derived and checked, secret
 * references checked for form), and the workflow ids. Pure; used by the workflows and the client.
 */
import { z } from 'zod';
import { parseSecretRef, SecretRefError } from './secret-refs';
import { deriveNames, validateName, NameError, type Engine, type SslMode } from './sql-names';

const secretRef = z.string().min(1);

export const ServerSchema = z.object({
  host: z.string().min(1).max(253).regex(/^[A-Za-z0-9.\-:[\]_]+$/, 'must be a host name or IP address'),
  port: z.number().int().min(1).max(65535).optional(),
  adminUser: z.string().min(1).max(128),
  /** Omit only for servers that trust the admin (local development). */
  adminPasswordRef: secretRef.optional(),
  /** Database the admin connects to (PostgreSQL; default "postgres"). */
  adminDatabase: z.string().min(1).max(63).optional(),
  tls: z
    .object({
      mode: z.enum(['disable', 'require', 'verify-ca', 'verify-full']),
      caRef: secretRef.optional(),
      certRef: secretRef.optional(),
      keyRef: secretRef.optional(),
    })
    .strict()
    .optional(),
  /** Log the admin in with an RDS IAM token instead of a password. */
  iam: z.object({ region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region like us-east-1') }).strict().optional(),
}).strict();

export const CredentialsTargetSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('aws-secretsmanager'), name: z.string().min(1).max(512).regex(/^[A-Za-z0-9/_+=.@-]+$/, 'may only contain A-Z a-z 0-9 / _ + = . @ -'), region: z.string().optional() }).strict(),
  z.object({ kind: z.literal('file'), path: z.string().startsWith('/', 'must be an absolute path') }).strict(),
]);

export const ProvisionInputSchema = z.object({
  engine: z.enum(['postgres', 'mysql']),
  server: ServerSchema,
  tenant: z.string(),
  database: z.string().optional(),
  user: z.string().optional(),
  auth: z.enum(['password', 'iam']).default('password'),
  credentialsTarget: CredentialsTargetSchema,
}).strict();

export const DeprovisionInputSchema = z.object({
  engine: z.enum(['postgres', 'mysql']),
  server: ServerSchema,
  tenant: z.string().optional(),
  database: z.string().optional(),
  user: z.string().optional(),
  reclaimPolicy: z.enum(['delete', 'retain']),
  credentialsTarget: CredentialsTargetSchema.optional(),
}).strict();

export type ProvisionInput = z.input<typeof ProvisionInputSchema>;
export type DeprovisionInput = z.input<typeof DeprovisionInputSchema>;
export type CredentialsTarget = z.infer<typeof CredentialsTargetSchema>;
export type ServerSpec = z.infer<typeof ServerSchema>;

/** Everything an activity needs, validated; no secret values, only references. */
export interface SqlPlan {
  engine: Engine;
  server: ServerSpec & { port: number };
  database: string;
  user: string;
  auth: 'password' | 'iam';
  sslMode: SslMode;
  credentialsTarget?: CredentialsTarget;
}

export class InvalidInputError extends Error {}

export const DEFAULT_PORT: Record<Engine, number> = { postgres: 5432, mysql: 3306 };

function zodProblems(err: z.ZodError): string[] {
  return err.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`);
}

function checkServer(engine: Engine, server: ServerSpec, problems: string[]): void {
  const refs: Array<[string | undefined, string]> = [
    [server.adminPasswordRef, 'server.adminPasswordRef'],
    [server.tls?.caRef, 'server.tls.caRef'],
    [server.tls?.certRef, 'server.tls.certRef'],
    [server.tls?.keyRef, 'server.tls.keyRef'],
  ];
  for (const [ref, field] of refs) {
    if (ref === undefined) continue;
    try {
      parseSecretRef(ref, field);
    } catch (e) {
      if (e instanceof SecretRefError) problems.push(e.message);
      else throw e;
    }
  }
  if (server.tls?.mode === 'verify-full' || server.tls?.mode === 'verify-ca') {
    if (!server.tls.caRef) problems.push(`server.tls.caRef is required with mode ${server.tls.mode}`);
  }
  if (Boolean(server.tls?.certRef) !== Boolean(server.tls?.keyRef)) problems.push('server.tls.certRef and keyRef go together');
  if (engine === 'mysql' && server.tls?.mode === 'verify-full' && isIpAddress(server.host)) {
    problems.push(
      `server.tls.mode verify-full needs server.host to be a DNS name on MySQL/MariaDB: the MySQL driver does not check an IP address (${server.host}) against the certificate; use the server's DNS name, or verify-ca`,
    );
  }
}

/** An IPv4 dotted quad or an IPv6 address (what Node's net.isIP accepts, near enough). */
function isIpAddress(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':');
}

function names(
  engine: Engine,
  tenant: string | undefined,
  database: string | undefined,
  user: string | undefined,
  problems: string[],
): { database: string; user: string } | undefined {
  try {
    const derived = tenant !== undefined ? deriveNames(tenant, engine) : undefined;
    const db = database !== undefined ? validateName(database, engine, 'database', 'database') : derived?.database;
    const u = user !== undefined ? validateName(user, engine, 'user', 'user') : derived?.user;
    if (!db || !u) {
      problems.push('give a tenant, or both database and user');
      return undefined;
    }
    return { database: db, user: u };
  } catch (e) {
    if (e instanceof NameError) {
      problems.push(e.message);
      return undefined;
    }
    throw e;
  }
}

function fail(problems: string[]): never {
  throw new InvalidInputError(`invalid input: ${problems.join('; ')}`);
}

type Common = { engine: Engine; server: ServerSpec; tenant?: string; database?: string; user?: string; credentialsTarget?: CredentialsTarget };

/** What both plans share: references checked, names derived or validated, port defaulted. */
function commonPlan<T extends Common>(schema: z.ZodType<T>, raw: unknown): { input: T; plan: Omit<SqlPlan, 'auth'> } {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) fail(zodProblems(parsed.error));
  const i = parsed.data;
  const problems: string[] = [];
  checkServer(i.engine, i.server, problems);
  const n = names(i.engine, i.tenant, i.database, i.user, problems);
  if (problems.length || !n) fail(problems);
  return {
    input: i,
    plan: {
      engine: i.engine,
      server: { ...i.server, port: i.server.port ?? DEFAULT_PORT[i.engine] },
      ...n,
      sslMode: i.server.tls?.mode ?? 'disable',
      credentialsTarget: i.credentialsTarget,
    },
  };
}

/** Validates a provisioning input into a plan; every problem is reported at once. */
export function planProvision(raw: unknown): SqlPlan {
  const { input, plan } = commonPlan(ProvisionInputSchema, raw);
  return { ...plan, auth: input.auth };
}

export function planDeprovision(raw: unknown): SqlPlan & { reclaimPolicy: 'delete' | 'retain' } {
  const { input, plan } = commonPlan(DeprovisionInputSchema, raw);
  return { ...plan, auth: 'password', reclaimPolicy: input.reclaimPolicy };
}

/** `<engine>://<host>:<port>/<database>`, best effort for inputs that do not validate. */
export function sqlTarget(raw: { engine?: unknown; server?: { host?: unknown; port?: unknown }; tenant?: unknown; database?: unknown }): string {
  const engine = raw.engine === 'mysql' ? 'mysql' : 'postgres';
  const port = typeof raw.server?.port === 'number' ? raw.server.port : DEFAULT_PORT[engine];
  let db = typeof raw.database === 'string' ? raw.database : undefined;
  if (db === undefined && typeof raw.tenant === 'string') {
    try {
      db = deriveNames(raw.tenant, engine).database;
    } catch {
      db = raw.tenant;
    }
  }
  return `${String(raw.engine)}://${String(raw.server?.host)}:${port}/${db ?? '?'}`;
}

export function provisionWorkflowId(plan: Pick<SqlPlan, 'engine' | 'server' | 'database'>): string {
  return `provision-db:${plan.engine}:${plan.server.host}:${plan.database}`;
}

export function deprovisionWorkflowId(plan: Pick<SqlPlan, 'engine' | 'server' | 'database'>): string {
  return `deprovision-db:${plan.engine}:${plan.server.host}:${plan.database}`;
}
