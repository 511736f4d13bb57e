/**
 * Provisioning input: its JSON shape, validation into a plan (names derived and checked, secret
 * references checked for form), and the workflow ids. Pure; used by the workflows and the client.
 */
import { z } from 'zod';
import { boundedString, invalidInput, MAX, region, show } from './limits';
import { parseSecretRef, SecretRefError } from './secret-refs';
import { deriveNames, reservedNameProblem, validateName, NameError, type Engine, type SslMode } from './sql-names';
import { InvalidInput } from './errors';

/*
 * The schemas below are built for each validation and not kept: the SDK evaluates workflow modules
 * once per cached run, and a schema kept at module level stayed in memory as long as its run did
 * (bench/RESULTS.md, "memory").
 */

/** Checked for form in checkServer (every problem at once, with the field's name). */
const secretRef = () => boundedString(MAX.secretRef).min(1);

export function serverSchema() {
  return z
    .object({
      host: boundedString(253)
        .min(1)
        .regex(/^[A-Za-z0-9.\-:[\]_]+$/, 'must be a host name or IP address'),
      port: z.number().int().min(1).max(65535).optional(),
      adminUser: boundedString(128).min(1),
      /** Omit only for servers that trust the admin (local development). */
      adminPasswordRef: secretRef().optional(),
      /** Database the admin connects to (PostgreSQL; default "postgres"). */
      adminDatabase: boundedString(63).min(1).optional(),
      tls: z
        .object({
          mode: z.enum(['disable', 'require', 'verify-ca', 'verify-full']),
          caRef: secretRef().optional(),
          certRef: secretRef().optional(),
          keyRef: secretRef().optional(),
        })
        .strict()
        .optional(),
      /** Log the admin in with an RDS IAM token instead of a password. */
      iam: z.object({ region: region() }).strict().optional(),
    })
    .strict();
}

export function credentialsTargetSchema() {
  return z.discriminatedUnion('kind', [
    z
      .object({
        kind: z.literal('aws-secretsmanager'),
        name: boundedString(512)
          .min(1)
          .regex(/^[A-Za-z0-9/_+=.@-]+$/, 'may only contain A-Z a-z 0-9 / _ + = . @ -'),
        region: region().optional(),
      })
      .strict(),
    z
      .object({ kind: z.literal('file'), path: boundedString(MAX.path).startsWith('/', 'must be an absolute path') })
      .strict(),
  ]);
}

/**
 * The fields that name a tenant, in every SQL workflow's input (provision, deprovision, rotation),
 * in this order (the order of the problems a refusal lists): the engine, the server, the tenant
 * (`tenant`: required or not) and the names as given, long enough that an over-long name still
 * gets the engine's own limit in its message (validateName), bounded so none is absurd.
 */
export function tenantFields<T extends z.ZodType>(tenant: T) {
  return {
    engine: z.enum(['postgres', 'mysql']),
    server: serverSchema(),
    tenant,
    database: boundedString(128).optional(),
    user: boundedString(128).optional(),
  };
}

export function provisionInputSchema() {
  return z
    .object({
      ...tenantFields(boundedString(200)),
      auth: z.enum(['password', 'iam']).default('password'),
      credentialsTarget: credentialsTargetSchema(),
    })
    .strict();
}

export function deprovisionInputSchema() {
  return z
    .object({
      ...tenantFields(boundedString(200).optional()),
      reclaimPolicy: z.enum(['delete', 'retain']),
      credentialsTarget: credentialsTargetSchema().optional(),
    })
    .strict();
}

export type ProvisionInput = z.input<ReturnType<typeof provisionInputSchema>>;
export type DeprovisionInput = z.input<ReturnType<typeof deprovisionInputSchema>>;
export type CredentialsTarget = z.infer<ReturnType<typeof credentialsTargetSchema>>;
export type ServerSpec = z.infer<ReturnType<typeof serverSchema>>;

/** Everything an activity needs, validated; no secret values, only references. */
export interface SqlPlan {
  engine: Engine;
  server: ServerSpec & { port: number };
  database: string;
  user: string;
  auth: 'password' | 'iam';
  sslMode: SslMode;
  credentialsTarget?: CredentialsTarget;
  /**
   * The run that makes what this plan creates (its first run id), set by the workflow after
   * validation, never from input: written in the mark of each database, user and credentials
   * record the run creates, so a cancelled run can undo exactly what it made.
   */
  runId?: string;
}

export const DEFAULT_PORT: Record<Engine, number> = { postgres: 5432, mysql: 3306 };

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
  if (Boolean(server.tls?.certRef) !== Boolean(server.tls?.keyRef))
    problems.push('server.tls.certRef and keyRef go together');
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
  server: ServerSpec,
  tenant: string | undefined,
  database: string | undefined,
  user: string | undefined,
  problems: string[],
): { database: string; user: string } | undefined {
  const before = problems.length;
  const given = (raw: string, kind: 'database' | 'user'): string | undefined => {
    const reserved = reservedNameProblem(raw, engine, kind);
    if (reserved) {
      problems.push(`${kind} ${JSON.stringify(raw)} ${reserved}; give another ${kind}`);
      return undefined;
    }
    try {
      return validateName(raw, engine, kind, kind);
    } catch (e) {
      if (!(e instanceof NameError)) throw e;
      problems.push(e.message);
      return undefined;
    }
  };
  let derived: { database: string; user: string } | undefined;
  if (tenant !== undefined) {
    try {
      derived = deriveNames(tenant, engine);
    } catch (e) {
      if (!(e instanceof NameError)) throw e;
      problems.push(e.message);
    }
  }
  const fromTenant = (kind: 'database' | 'user', name: string): string | undefined => {
    const reserved = reservedNameProblem(name, engine, kind);
    if (!reserved) return name;
    problems.push(
      `${kind} "${name}" (derived from tenant ${JSON.stringify(tenant)}) ${reserved}; give another tenant, or name the ${kind}`,
    );
    return undefined;
  };
  const db = database !== undefined ? given(database, 'database') : derived && fromTenant('database', derived.database);
  const u = user !== undefined ? given(user, 'user') : derived && fromTenant('user', derived.user);
  if (problems.length > before) return undefined;
  if (!db || !u) {
    problems.push('give a tenant, or both database and user');
    return undefined;
  }
  if (u === server.adminUser.toLowerCase()) {
    problems.push(
      `user "${u}"${user === undefined ? ` (derived from tenant ${JSON.stringify(tenant)})` : ''} is the server's admin user (server.adminUser); give another ${user === undefined ? 'tenant, or name the user' : 'user'}`,
    );
    return undefined;
  }
  if (engine === 'postgres' && server.adminDatabase !== undefined && db === server.adminDatabase.toLowerCase()) {
    problems.push(
      `database "${db}"${database === undefined ? ` (derived from tenant ${JSON.stringify(tenant)})` : ''} is the admin's database (server.adminDatabase); give another ${database === undefined ? 'tenant, or name the database' : 'database'}`,
    );
    return undefined;
  }
  return { database: db, user: u };
}

/** Problems found after the schema passed: each names its fields in its message. */
export function fail(problems: string[]): never {
  throw new InvalidInput(
    `invalid input: ${problems.join('; ')}`,
    problems.map((message) => ({ path: '', message })),
  );
}

type Common = {
  engine: Engine;
  server: ServerSpec;
  tenant?: string;
  database?: string;
  user?: string;
  credentialsTarget?: CredentialsTarget;
};

/** What both plans share: references checked, names derived or validated, port defaulted. */
export function commonPlan<T extends Common>(
  schema: z.ZodType<T>,
  raw: unknown,
): { input: T; plan: Omit<SqlPlan, 'auth'> } {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw invalidInput(parsed.error, 'invalid input', 'input');
  const i = parsed.data;
  const problems: string[] = [];
  checkServer(i.engine, i.server, problems);
  const n = names(i.engine, i.server, i.tenant, i.database, i.user, problems);
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
  const { input, plan } = commonPlan(provisionInputSchema(), raw);
  return { ...plan, auth: input.auth };
}

export function planDeprovision(raw: unknown): SqlPlan & { reclaimPolicy: 'delete' | 'retain' } {
  const { input, plan } = commonPlan(deprovisionInputSchema(), raw);
  return { ...plan, auth: 'password', reclaimPolicy: input.reclaimPolicy };
}

/** `<engine>://<host>:<port>/<database>`, best effort for inputs that do not validate. */
export function sqlTarget(raw: {
  engine?: unknown;
  server?: { host?: unknown; port?: unknown };
  tenant?: unknown;
  database?: unknown;
}): string {
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
  return `${show(raw.engine)}://${show(raw.server?.host)}:${port}/${db ?? '?'}`;
}

export function provisionWorkflowId(plan: Pick<SqlPlan, 'engine' | 'server' | 'database'>): string {
  return `provision-db:${plan.engine}:${plan.server.host}:${plan.database}`;
}

export function deprovisionWorkflowId(plan: Pick<SqlPlan, 'engine' | 'server' | 'database'>): string {
  return `deprovision-db:${plan.engine}:${plan.server.host}:${plan.database}`;
}
