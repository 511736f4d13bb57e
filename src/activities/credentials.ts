/**
 * Where a provisioned user's credentials live: a file on the worker or an AWS Secrets Manager
 * secret. The password is claimed there (created only if absent, atomically) before the user is
 * created or changed, so a crash never loses it and two runs at once agree on one password.
 *
 * A run's input names the target, so nothing is read, written or deleted there unless the
 * operator's configuration allows the location (src/authority.ts) and the target is either absent
 * or already holds dbops credentials for this same engine, server, database and user. Files are
 * opened without following symbolic links, so a link placed at the target cannot redirect a read,
 * a write or a delete; secrets must carry the ManagedBy=dbops tag dbops puts on the ones it makes,
 * and are deleted with a recovery window.
 */
import crypto from 'node:crypto';
import { constants as fsc } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
} from '@aws-sdk/client-secrets-manager';
import { ApplicationFailure } from '@temporalio/common';
import type { Authority } from '../authority';
import type { CredentialsTarget, SqlPlan } from '../domain/provision';
import { connectionString } from '../domain/sql-names';
import { standbyName } from '../domain/rotation';
import { classifyAwsError } from './aws-errors';
import type { AwsClients } from './aws-clients';

/** The target cannot hold credentials at all (a directory, a symbolic link, a special file, …). */
export const CREDENTIALS_TARGET_INVALID = 'CredentialsTargetInvalid';
/** The target holds something else: foreign content, an untagged secret, another tenant's credentials. */
export const CREDENTIALS_TARGET_IN_USE = 'CredentialsTargetInUse';

/** The largest credentials record dbops reads (its own are a few hundred bytes). */
const MAX_RECORD = 64 * 1024;

export interface StoredCredentials {
  engine: string;
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  connectionString?: string;
  /** The run that first stored them (a cancelled run removes only its own). */
  run?: string;
}

export interface CredentialsDeps {
  aws: AwsClients;
  authority: Authority;
}

/** What is at the target now: nothing, or its raw content (and, for a file, which file it was). */
interface Loaded {
  text: string | undefined;
  identity?: { dev: number; ino: number };
}

interface CredentialsStore {
  /** For messages: `file /path` or `secret name`. */
  readonly label: string;
  /** The non-secret reference handed back to callers (file:/path or aws-sm:<arn>). */
  reference(): Promise<string>;
  /** Fails clearly when the target cannot be used at all (checked before anything is created). */
  usable(): Promise<void>;
  /** The content, or undefined when absent (a secret scheduled for deletion counts as absent with `deleted`). */
  load(): Promise<Loaded & { deleted?: boolean }>;
  /** Stores `candidate` unless something is already there. */
  claim(candidate: StoredCredentials): Promise<void>;
  /** Replaces what is there (the caller checked it is this tenant's). */
  write(c: StoredCredentials): Promise<void>;
  /** Removes what `load` returned, and nothing else. */
  remove(seen: Loaded): Promise<boolean>;
}

/** A URL-safe random password (43 characters, 256 bits). */
export function generatePassword(): string {
  return crypto.randomBytes(32).toString('base64url');
}

/** The target as written in a user's ownership mark: file:/absolute/path or aws-sm:[region:]name. */
export function targetRef(target: CredentialsTarget): string {
  return target.kind === 'file'
    ? `file:${path.resolve(target.path)}`
    : `aws-sm:${target.region ? `${target.region}:` : ''}${target.name}`;
}

function invalid(text: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(text, CREDENTIALS_TARGET_INVALID);
}

function inUse(text: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(text, CREDENTIALS_TARGET_IN_USE);
}

function parseStored(text: string, label: string): StoredCredentials {
  let v: Partial<StoredCredentials> | undefined;
  try {
    v = JSON.parse(text) as Partial<StoredCredentials>;
  } catch {
    v = undefined;
  }
  const ok =
    v !== undefined &&
    v !== null &&
    typeof v === 'object' &&
    typeof v.engine === 'string' &&
    typeof v.host === 'string' &&
    typeof v.port === 'number' &&
    typeof v.database === 'string' &&
    typeof v.user === 'string' &&
    typeof v.password === 'string';
  if (!ok) {
    throw inUse(
      `credentials target ${label} already holds something that is not dbops credentials; dbops neither reads nor replaces it: give a target that does not exist yet`,
    );
  }
  return v as StoredCredentials;
}

/** `users`: the logins the record may name (a rotated tenant's target names either of its two). */
function sameTenant(s: StoredCredentials, plan: SqlPlan, users: readonly string[] = [plan.user]): boolean {
  return (
    s.engine === plan.engine &&
    s.host.toLowerCase() === plan.server.host.toLowerCase() &&
    s.port === plan.server.port &&
    s.database === plan.database &&
    users.includes(s.user)
  );
}

class FileStore implements CredentialsStore {
  readonly label: string;

  constructor(private readonly file: string) {
    this.label = `file ${file}`;
  }

  async reference(): Promise<string> {
    return `file:${this.file}`;
  }

  async usable(): Promise<void> {
    const dir = path.dirname(this.file);
    try {
      const st = await fs.stat(dir);
      if (!st.isDirectory()) throw new Error('not a directory');
      await fs.access(dir, fs.constants.W_OK);
    } catch {
      throw invalid(`credentials target: directory ${dir} does not exist or is not writable on the worker`);
    }
  }

  async load(): Promise<Loaded> {
    let fh: FileHandle;
    try {
      // O_NOFOLLOW: a symbolic link at the target is refused, not followed; O_NONBLOCK: a FIFO does not hang.
      fh = await fs.open(this.file, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return { text: undefined };
      if (code === 'ELOOP')
        throw invalid(
          `credentials target ${this.file} is a symbolic link; dbops does not follow links there: give the path of a regular file`,
        );
      if (code === 'ENOTDIR' || code === 'EISDIR')
        throw invalid(`credentials target ${this.file} is not a regular file path`);
      if (code === 'EACCES') throw invalid(`credentials target ${this.file} cannot be read by the worker`);
      throw err;
    }
    try {
      const st = await fh.stat();
      if (st.isDirectory())
        throw invalid(`credentials target ${this.file} is a directory, not a file: give a file path inside it`);
      if (!st.isFile()) throw invalid(`credentials target ${this.file} is not a regular file`);
      if (st.size > MAX_RECORD)
        throw inUse(
          `credentials target ${this.file} already holds something that is not dbops credentials; dbops neither reads nor replaces it: give a target that does not exist yet`,
        );
      return { text: await fh.readFile('utf8'), identity: { dev: st.dev, ino: st.ino } };
    } finally {
      await fh.close();
    }
  }

  /** A new file next to the target, created exclusively (never through an existing name or link). */
  /**
   * A worker killed between writing a temporary file and linking or renaming it leaves
   * `<file>.<12 hex>.tmp` behind, holding a password: remove those of this target (only names of
   * exactly that form, so nothing else in the directory is touched).
   */
  private async removeStaleTemporaries(): Promise<void> {
    const dir = path.dirname(this.file);
    const base = path.basename(this.file);
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    for (const n of names) {
      if (!(n.startsWith(`${base}.`) && /^\.[0-9a-f]{12}\.tmp$/.test(n.slice(base.length)))) continue;
      // Not one a concurrent run is about to link (that takes milliseconds); a crash's is older.
      const st = await fs.lstat(path.join(dir, n)).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > 2_000) await fs.rm(path.join(dir, n), { force: true });
    }
  }

  private async tmp(c: StoredCredentials): Promise<string> {
    await this.removeStaleTemporaries();
    const tmp = `${this.file}.${crypto.randomBytes(6).toString('hex')}.tmp`;
    await fs.writeFile(tmp, `${JSON.stringify(c, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    return tmp;
  }

  async claim(candidate: StoredCredentials): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const tmp = await this.tmp(candidate);
      try {
        await fs.link(tmp, this.file); // atomic create-if-absent; an existing name (or link) is left alone
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') return;
        // Our temporary file was taken for a crash's leftover by another run: write it again.
        if (code !== 'ENOENT' || attempt >= 3) throw err;
      } finally {
        await fs.rm(tmp, { force: true });
      }
    }
  }

  async write(c: StoredCredentials): Promise<void> {
    const tmp = await this.tmp(c);
    try {
      await fs.rename(tmp, this.file); // atomic replace of the name itself (a link there is replaced, never followed)
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
  }

  async remove(seen: Loaded): Promise<boolean> {
    let st;
    try {
      st = await fs.lstat(this.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    if (!seen.identity || st.dev !== seen.identity.dev || st.ino !== seen.identity.ino) {
      throw ApplicationFailure.retryable(
        `credentials target ${this.file} changed while it was being removed`,
        'CredentialsTargetChanged',
      );
    }
    try {
      await fs.unlink(this.file); // unlink removes a name, never what a link points to
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }
}

class SecretsManagerStore implements CredentialsStore {
  readonly label: string;

  constructor(
    private readonly aws: AwsClients,
    private readonly name: string,
    private readonly region: string | undefined,
    private readonly recoveryWindowDays: number,
  ) {
    this.label = `secret ${name}`;
  }

  private get sm() {
    return this.aws.secretsManager(this.region);
  }

  async reference(): Promise<string> {
    const d = await this.sm.send(new DescribeSecretCommand({ SecretId: this.name }));
    return `aws-sm:${d.ARN ?? this.name}`;
  }

  async usable(): Promise<void> {
    // reachability and permissions show in load()
  }

  async load(): Promise<Loaded & { deleted?: boolean }> {
    let d;
    try {
      d = await this.sm.send(new DescribeSecretCommand({ SecretId: this.name }));
    } catch (err) {
      if (err instanceof ResourceNotFoundException) return { text: undefined };
      throw err;
    }
    if (!(d.Tags ?? []).some((t) => t.Key === 'ManagedBy' && t.Value === 'dbops')) {
      throw inUse(
        `credentials target secret ${this.name} exists and was not made by dbops (it has no ManagedBy=dbops tag); dbops neither reads, replaces nor deletes it: give a secret name that does not exist yet`,
      );
    }
    if (d.DeletedDate) return { text: undefined, deleted: true };
    let r;
    try {
      r = await this.sm.send(new GetSecretValueCommand({ SecretId: this.name }));
    } catch (err) {
      if (err instanceof ResourceNotFoundException) return { text: undefined }; // no value yet
      throw err;
    }
    if (r.SecretString === undefined) {
      throw inUse(
        `credentials target secret ${this.name} already holds something that is not dbops credentials; dbops neither reads nor replaces it: give a target that does not exist yet`,
      );
    }
    return { text: r.SecretString };
  }

  async claim(candidate: StoredCredentials): Promise<void> {
    try {
      await this.sm.send(
        new CreateSecretCommand({
          Name: this.name,
          SecretString: JSON.stringify(candidate),
          Description: `dbops credentials for ${candidate.engine} ${candidate.host} ${candidate.database}`,
          Tags: [{ Key: 'ManagedBy', Value: 'dbops' }],
        }),
      );
    } catch (err) {
      if (!(err instanceof ResourceExistsException)) throw err; // another run created it first
    }
  }

  async write(c: StoredCredentials): Promise<void> {
    await this.sm.send(new PutSecretValueCommand({ SecretId: this.name, SecretString: JSON.stringify(c) }));
  }

  async remove(): Promise<boolean> {
    try {
      // Never ForceDeleteWithoutRecovery: a mistaken deprovision can be undone with RestoreSecret.
      await this.sm.send(
        new DeleteSecretCommand({ SecretId: this.name, RecoveryWindowInDays: this.recoveryWindowDays }),
      );
      return true;
    } catch (err) {
      if (err instanceof ResourceNotFoundException) return false;
      throw err;
    }
  }
}

function credentialsStore(target: CredentialsTarget, deps: CredentialsDeps): CredentialsStore {
  return target.kind === 'file'
    ? new FileStore(path.resolve(target.path))
    : new SecretsManagerStore(
        deps.aws,
        target.name,
        target.region,
        deps.authority.config.credentials.recoveryWindowDays,
      );
}

function requireTarget(plan: SqlPlan): CredentialsTarget {
  if (!plan.credentialsTarget)
    throw ApplicationFailure.nonRetryable('no credentials target in the plan', 'InvalidInput');
  return plan.credentialsTarget;
}

export type TargetState =
  { state: 'absent'; ref: string; deleted?: boolean } | { state: 'ours'; ref: string; stored: StoredCredentials };

interface Inspected {
  target: TargetState;
  store: CredentialsStore;
  seen: Loaded & { deleted?: boolean };
}

async function inspect(
  target: CredentialsTarget,
  plan: SqlPlan,
  deps: CredentialsDeps,
  users?: readonly string[],
): Promise<Inspected> {
  await deps.authority.credentialsTarget(target); // the operator's allow-list of locations
  const store = credentialsStore(target, deps);
  await store.usable();
  const seen = await store.load();
  const ref = targetRef(target);
  if (seen.text === undefined)
    return { target: { state: 'absent', ref, ...(seen.deleted ? { deleted: true } : {}) }, store, seen };
  const stored = parseStored(seen.text, store.label);
  if (!sameTenant(stored, plan, users)) {
    throw inUse(
      `credentials target ${store.label} holds the credentials of another tenant (${stored.engine} ${stored.host}:${stored.port}, database ${stored.database}, user ${stored.user}), not of database ${plan.database} with user ${plan.user} on ${plan.engine} ${plan.server.host}:${plan.server.port}; dbops leaves it alone: give this tenant's own target`,
    );
  }
  return { target: { state: 'ours', ref, stored }, store, seen };
}

async function awsClassified<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw classifyAwsError(err);
  }
}

/**
 * What the plan's credentials target holds: nothing, or dbops credentials for this same engine,
 * server, database and user. Anything else is refused (non-retryable), as is a location the
 * operator does not allow. Read-only.
 */
export async function inspectCredentialsTarget(plan: SqlPlan, deps: CredentialsDeps): Promise<TargetState> {
  return awsClassified(async () => (await inspect(requireTarget(plan), plan, deps, removalUsers(plan))).target);
}

/**
 * Whose credentials a deprovisioning may find and remove: the user's, or (after a credential
 * rotation switched the target to it) its rotation twin's; a provisioning only the user's.
 */
function removalUsers(plan: SqlPlan): readonly string[] | undefined {
  return 'reclaimPolicy' in plan ? [plan.user, standbyName(plan.user)] : undefined;
}

/**
 * Plan mode and reconcile: what the target holds, read-only, refused as the apply refuses it (a
 * location the operator does not allow, foreign content, a secret scheduled for deletion).
 * `users`: the logins the record may name (a reconcile accepts a rotated tenant's `<user>_b`).
 */
export async function planCredentialsTarget(
  plan: SqlPlan,
  users: readonly string[],
  deps: CredentialsDeps,
  /** A secret scheduled for deletion counts as absent (deprovisioning) instead of being refused (provisioning). */
  deletedIsAbsent = false,
): Promise<TargetState & { label: string; upToDate?: boolean }> {
  return awsClassified(async () => {
    const { target, store } = await inspect(requireTarget(plan), plan, deps, users);
    if (target.state === 'absent') {
      if (target.deleted && !deletedIsAbsent) throw scheduledForDeletion(store);
      return { ...target, label: store.label };
    }
    return {
      ...target,
      label: store.label,
      upToDate: JSON.stringify(fullRecord(plan, target.stored)) === JSON.stringify(target.stored),
    };
  });
}

/** The record storeCredentials leaves: the stored one with its connection string. */
function fullRecord(plan: SqlPlan, stored: StoredCredentials): StoredCredentials {
  return {
    ...stored,
    connectionString: connectionString({
      engine: plan.engine,
      host: plan.server.host,
      port: plan.server.port,
      database: plan.database,
      user: plan.user,
      password: plan.auth === 'iam' ? undefined : stored.password,
      sslMode: plan.sslMode,
    }),
  };
}

/** The password for the plan's user: the stored one, or a new one stored before it is used. */
export async function claimPassword(plan: SqlPlan, deps: CredentialsDeps): Promise<string> {
  return awsClassified(async () => {
    const target = requireTarget(plan);
    const first = await inspect(target, plan, deps);
    if (first.target.state === 'ours') return first.target.stored.password;
    if (first.target.state === 'absent' && first.target.deleted) throw scheduledForDeletion(first.store);
    await first.store.claim({
      engine: plan.engine,
      host: plan.server.host,
      port: plan.server.port,
      database: plan.database,
      user: plan.user,
      password: generatePassword(),
      ...(plan.runId !== undefined ? { run: plan.runId } : {}),
    });
    const again = await inspect(target, plan, deps); // ours, or the concurrent run's claim for the same tenant
    if (again.target.state !== 'ours')
      throw invalid(`credentials target ${first.store.label} could not be claimed; re-run the provisioning`);
    return again.target.stored.password;
  });
}

function scheduledForDeletion(store: CredentialsStore): ApplicationFailure {
  return invalid(
    `credentials target ${store.label} is scheduled for deletion (an earlier deprovision): restore it with RestoreSecret, or give another name`,
  );
}

/** The stored credentials of the plan's user, or undefined when there are none yet. */
export async function readCredentials(plan: SqlPlan, deps: CredentialsDeps): Promise<StoredCredentials | undefined> {
  const t = await inspectCredentialsTarget(plan, deps);
  return t.state === 'ours' ? t.stored : undefined;
}

/**
 * Rotation: the record in the target of a tenant with two logins (`users`), refused when the
 * target holds nothing (the tenant was never provisioned there) or anything else.
 */
export async function readRotationTarget(
  plan: SqlPlan,
  users: readonly string[],
  deps: CredentialsDeps,
): Promise<{ stored: StoredCredentials; label: string }> {
  return awsClassified(async () => {
    const { target, store } = await inspect(requireTarget(plan), plan, deps, users);
    if (target.state !== 'ours')
      throw ApplicationFailure.nonRetryable(
        `credentials target ${store.label} holds no credentials of user ${plan.user}: provision the tenant with this credentialsTarget first; dbops rotates only what it stored`,
        'NothingToRotate',
      );
    return { stored: target.stored, label: store.label };
  });
}

/**
 * Rotation: replaces the record with `user` and `password` in one atomic write (a file by rename;
 * a secret by PutSecretValue, so AWSCURRENT moves to it and the replaced one becomes AWSPREVIOUS),
 * after checking again that the target still holds this tenant's record.
 */
export async function writeRotatedCredentials(
  plan: SqlPlan,
  users: readonly string[],
  user: string,
  password: string,
  deps: CredentialsDeps,
): Promise<void> {
  await awsClassified(async () => {
    const { target, store } = await inspect(requireTarget(plan), plan, deps, users);
    if (target.state !== 'ours')
      throw invalid(`credentials target ${store.label} lost this tenant's credentials during the rotation`);
    await store.write({
      ...target.stored,
      user,
      password,
      connectionString: connectionString({
        engine: plan.engine,
        host: plan.server.host,
        port: plan.server.port,
        database: plan.database,
        user,
        password,
        sslMode: plan.sslMode,
      }),
    });
  });
}

export interface StoreResult {
  changed: boolean;
  credentialsRef: string;
}

export function createCredentialsActivities(deps: CredentialsDeps) {
  return {
    /**
     * Checks the credentials target can be used (before anything is created): an allowed
     * location, a regular file or a dbops-tagged secret, absent or holding this tenant's credentials.
     */
    async checkCredentialsTarget(plan: SqlPlan): Promise<void> {
      const { target, store } = await inspect(requireTarget(plan), plan, deps);
      if (target.state === 'absent' && target.deleted) throw scheduledForDeletion(store);
    },

    /** Writes the full record with the connection string; a no-op when it is already there. */
    async storeCredentials(plan: SqlPlan): Promise<StoreResult> {
      const { target, store } = await inspect(requireTarget(plan), plan, deps);
      if (target.state !== 'ours') {
        throw invalid('credentials target lost the password claimed for this user; re-run the provisioning');
      }
      const stored = target.stored;
      const full = fullRecord(plan, stored);
      const changed = JSON.stringify(full) !== JSON.stringify(stored);
      if (changed) await store.write(full);
      return { changed, credentialsRef: await store.reference() };
    },

    /** Deletes the target only when it holds this tenant's dbops credentials; anything else is refused and left. */
    async removeCredentials(plan: SqlPlan & { madeByRun?: string }): Promise<{ changed: boolean }> {
      if (!plan.credentialsTarget) return { changed: false };
      const { target, store, seen } = await inspect(plan.credentialsTarget, plan, deps, removalUsers(plan));
      if (target.state === 'absent') return { changed: false };
      // The undo of a cancelled run removes only credentials that run stored first.
      if (plan.madeByRun !== undefined && (target.state !== 'ours' || target.stored.run !== plan.madeByRun))
        return { changed: false };
      return { changed: await store.remove(seen) };
    },
  };
}
