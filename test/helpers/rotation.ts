/** What the rotation tests (rotation.test.ts, rotation-crash.test.ts) share: the target, the input, the run's stages. */
import fs from 'node:fs';
import { DeleteSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { WorkflowHandle } from '@temporalio/client';
import type { Progress } from '../../src/api';
import { motoAws } from './activities';

export type Target = { kind: 'file'; path: string } | { kind: 'aws-secretsmanager'; name: string };

export interface Stored {
  user: string;
  password: string;
  database: string;
  connectionString: string;
}

/** The credentials in the target (a Secrets Manager target at `stage`); undefined when a file target has none. */
export async function readTarget(target: Target, stage = 'AWSCURRENT'): Promise<Stored | undefined> {
  if (target.kind === 'file') {
    if (!fs.existsSync(target.path)) return undefined;
    return JSON.parse(fs.readFileSync(target.path, 'utf8')) as Stored;
  }
  const r = await motoAws()
    .secretsManager()
    .send(new GetSecretValueCommand({ SecretId: target.name, VersionStage: stage }));
  return JSON.parse(r.SecretString!) as Stored;
}

export async function deleteSecrets(names: string[]): Promise<void> {
  for (const name of names)
    await motoAws()
      .secretsManager()
      .send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }))
      .catch(() => undefined);
}

/** A provisioning or rotation input for a tenant of the server. */
export function tenantInput(engine: string, server: object, tenant: string, target: Target, extra: object = {}) {
  return { engine, server, tenant, credentialsTarget: target, ...extra };
}

/** Each stage's status, by name, from the run's progress query. */
export async function stageStatuses(h: WorkflowHandle): Promise<Record<string, string>> {
  return Object.fromEntries((await h.query<Progress>('progress')).stages.map((x) => [x.name, x.status]));
}

/** The attempt the run's `<engine>RotateSwitch` started last (the killed or failed ones count). */
export async function switchAttempt(h: WorkflowHandle, engine: string): Promise<number> {
  const events = (await h.fetchHistory()).events ?? [];
  const id = events.find(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === `${engine}RotateSwitch`,
  )?.eventId;
  const started = events.find(
    (e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId ?? '') === String(id),
  );
  return started?.activityTaskStartedEventAttributes?.attempt ?? 0;
}
