/**
 * Where a provisioned user's credentials live: a file on the worker or an AWS Secrets Manager
 * secret. The password is claimed there (created only if absent, atomically) before the user is
 * created or changed, so a crash never loses it and two runs at once agree on one password.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
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
import type { CredentialsTarget, SqlPlan } from '../domain/provision';
import { connectionString } from '../domain/sql-names';
import type { AwsClients } from './aws-clients';

export interface StoredCredentials {
  engine: string;
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  connectionString?: string;
}

export interface CredentialsStore {
  /** The non-secret reference handed back to callers (file:/path or aws-sm:<arn>). */
  reference(): Promise<string>;
  /** Fails clearly when the target cannot be used (checked before anything is created). */
  check(): Promise<void>;
  read(): Promise<StoredCredentials | undefined>;
  /** Stores `candidate` unless credentials are already there; returns what is stored. */
  claim(candidate: StoredCredentials): Promise<StoredCredentials>;
  write(c: StoredCredentials): Promise<void>;
  remove(): Promise<boolean>;
}

/** A URL-safe random password (43 characters, 256 bits). */
export function generatePassword(): string {
  return crypto.randomBytes(32).toString('base64url');
}

function parseStored(text: string, where: string): StoredCredentials {
  try {
    const v = JSON.parse(text) as StoredCredentials;
    if (typeof v.password !== 'string' || typeof v.user !== 'string') throw new Error('missing fields');
    return v;
  } catch {
    throw ApplicationFailure.nonRetryable(`credentials target ${where} holds something that is not dbops credentials`, 'CredentialsTargetInvalid');
  }
}

class FileStore implements CredentialsStore {
  constructor(private readonly file: string) {}

  async reference(): Promise<string> {
    return `file:${this.file}`;
  }

  async check(): Promise<void> {
    const dir = path.dirname(this.file);
    try {
      await fs.access(dir, fs.constants.W_OK);
    } catch {
      throw ApplicationFailure.nonRetryable(`credentials target: directory ${dir} does not exist or is not writable on the worker`, 'CredentialsTargetInvalid');
    }
    await this.read();
  }

  async read(): Promise<StoredCredentials | undefined> {
    try {
      return parseStored(await fs.readFile(this.file, 'utf8'), this.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  private async tmp(c: StoredCredentials): Promise<string> {
    const tmp = `${this.file}.${crypto.randomBytes(6).toString('hex')}.tmp`;
    await fs.writeFile(tmp, `${JSON.stringify(c, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    return tmp;
  }

  async claim(candidate: StoredCredentials): Promise<StoredCredentials> {
    const existing = await this.read();
    if (existing) return existing;
    const tmp = await this.tmp(candidate);
    try {
      await fs.link(tmp, this.file); // atomic create-if-absent
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      await fs.rm(tmp, { force: true });
    }
    return (await this.read())!;
  }

  async write(c: StoredCredentials): Promise<void> {
    const tmp = await this.tmp(c);
    await fs.rename(tmp, this.file); // atomic replace
  }

  async remove(): Promise<boolean> {
    try {
      await fs.rm(this.file);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }
}

class SecretsManagerStore implements CredentialsStore {
  constructor(
    private readonly aws: AwsClients,
    private readonly name: string,
    private readonly region?: string,
  ) {}

  private get sm() {
    return this.aws.secretsManager(this.region);
  }

  async reference(): Promise<string> {
    const d = await this.sm.send(new DescribeSecretCommand({ SecretId: this.name }));
    return `aws-sm:${d.ARN ?? this.name}`;
  }

  async check(): Promise<void> {
    await this.read(); // reachable, permitted, and not foreign content
  }

  async read(): Promise<StoredCredentials | undefined> {
    try {
      const r = await this.sm.send(new GetSecretValueCommand({ SecretId: this.name }));
      return r.SecretString ? parseStored(r.SecretString, `secret ${this.name}`) : undefined;
    } catch (err) {
      if (err instanceof ResourceNotFoundException) return undefined;
      throw err;
    }
  }

  async claim(candidate: StoredCredentials): Promise<StoredCredentials> {
    const existing = await this.read();
    if (existing) return existing;
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
    return (await this.read())!;
  }

  async write(c: StoredCredentials): Promise<void> {
    await this.sm.send(new PutSecretValueCommand({ SecretId: this.name, SecretString: JSON.stringify(c) }));
  }

  async remove(): Promise<boolean> {
    try {
      await this.sm.send(new DeleteSecretCommand({ SecretId: this.name, ForceDeleteWithoutRecovery: true }));
      return true;
    } catch (err) {
      if (err instanceof ResourceNotFoundException) return false;
      throw err;
    }
  }
}

export function credentialsStore(target: CredentialsTarget, aws: AwsClients): CredentialsStore {
  return target.kind === 'file' ? new FileStore(target.path) : new SecretsManagerStore(aws, target.name, target.region);
}

function requireTarget(plan: SqlPlan): CredentialsTarget {
  if (!plan.credentialsTarget) throw ApplicationFailure.nonRetryable('no credentials target in the plan', 'InvalidInput');
  return plan.credentialsTarget;
}

/** The password for the plan's user: the stored one, or a new one stored before it is used. */
export async function claimPassword(plan: SqlPlan, aws: AwsClients): Promise<string> {
  const store = credentialsStore(requireTarget(plan), aws);
  const stored = await store.claim({
    engine: plan.engine,
    host: plan.server.host,
    port: plan.server.port,
    database: plan.database,
    user: plan.user,
    password: generatePassword(),
  });
  if (stored.user !== plan.user || stored.database !== plan.database) {
    throw ApplicationFailure.nonRetryable(
      `credentials target already holds credentials for user ${stored.user} of database ${stored.database}, not ${plan.user}/${plan.database}`,
      'CredentialsTargetInUse',
    );
  }
  return stored.password;
}

export interface StoreResult {
  changed: boolean;
  credentialsRef: string;
}

export function createCredentialsActivities(deps: { aws: AwsClients }) {
  return {
    /** Checks the credentials target can be used (before anything is created). */
    async checkCredentialsTarget(plan: SqlPlan): Promise<void> {
      await credentialsStore(requireTarget(plan), deps.aws).check();
    },

    /** Writes the full record with the connection string; a no-op when it is already there. */
    async storeCredentials(plan: SqlPlan): Promise<StoreResult> {
      const store = credentialsStore(requireTarget(plan), deps.aws);
      const stored = await store.read();
      if (!stored) {
        throw ApplicationFailure.nonRetryable('credentials target lost the password claimed for this user; re-run the provisioning', 'CredentialsTargetInvalid');
      }
      const full: StoredCredentials = {
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
      const changed = JSON.stringify(full) !== JSON.stringify(stored);
      if (changed) await store.write(full);
      return { changed, credentialsRef: await store.reference() };
    },

    async removeCredentials(plan: SqlPlan): Promise<{ changed: boolean }> {
      if (!plan.credentialsTarget) return { changed: false };
      return { changed: await credentialsStore(plan.credentialsTarget, deps.aws).remove() };
    },
  };
}
