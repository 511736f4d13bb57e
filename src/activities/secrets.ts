/** Resolves secret references inside activities. Never logs or echoes a resolved value. */
import fs from 'node:fs/promises';
import { GetSecretValueCommand, ResourceNotFoundException } from '@aws-sdk/client-secrets-manager';
import { ApplicationFailure } from '@temporalio/common';
import { parseSecretRef, SecretRefError } from '../domain/secret-refs';
import type { AwsClients } from './aws-clients';

export type SecretResolver = (ref: string, field: string) => Promise<string>;

function missing(field: string, what: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`${field}: ${what}`, 'SecretNotFound');
}

export function createSecretResolver(deps: {
  env: NodeJS.ProcessEnv;
  aws: AwsClients;
  defaultRegion?: string;
}): SecretResolver {
  return async (refText, field) => {
    let ref;
    try {
      ref = parseSecretRef(refText, field);
    } catch (err) {
      if (err instanceof SecretRefError) throw ApplicationFailure.nonRetryable(err.message, 'InvalidInput');
      throw err;
    }
    switch (ref.kind) {
      case 'env': {
        const v = deps.env[ref.name];
        if (v === undefined) throw missing(field, `environment variable ${ref.name} is not set on the worker`);
        return v;
      }
      case 'file':
        try {
          return (await fs.readFile(ref.path, 'utf8')).replace(/\r?\n$/, '');
        } catch (err) {
          throw missing(
            field,
            `cannot read ${ref.path} on the worker (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
          );
        }
      case 'aws-sm': {
        const sm = deps.aws.secretsManager(ref.region ?? deps.defaultRegion);
        let text: string | undefined;
        try {
          text = (await sm.send(new GetSecretValueCommand({ SecretId: ref.secretId }))).SecretString;
        } catch (err) {
          if (err instanceof ResourceNotFoundException)
            throw missing(field, `Secrets Manager secret ${ref.secretId} does not exist`);
          throw err; // throttling, network: retryable
        }
        if (text === undefined) throw missing(field, `secret ${ref.secretId} has no SecretString`);
        if (!ref.jsonKey) return text;
        let obj: Record<string, unknown>;
        try {
          obj = JSON.parse(text) as Record<string, unknown>;
        } catch {
          throw missing(field, `secret ${ref.secretId} is not JSON, so it has no key "${ref.jsonKey}"`);
        }
        const v = obj[ref.jsonKey];
        if (typeof v !== 'string') throw missing(field, `secret ${ref.secretId} has no string key "${ref.jsonKey}"`);
        return v;
      }
    }
  };
}
