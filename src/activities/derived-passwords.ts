/**
 * Passwords dbops derives from the DBLab token and a clone's name, so every attempt of a run
 * (and a later activity of the same run) computes the same one without storing it anywhere.
 */
import crypto from 'node:crypto';

/** The clone's master password (prepare-clone) or the login DBLab uses on it (`dblab-user`). */
export function derivePassword(token: string, cloneId: string, purpose: 'master' | 'dblab-user'): string {
  return crypto.createHmac('sha256', token).update(`dbops:${purpose}:${cloneId}`).digest('base64url');
}

/**
 * The value restore-dblab writes over the password configure-dblab left in DBLab's config: derived
 * from the DBLab token and the clone's name (so a retry writes the same), logging in nowhere.
 */
export function retiredPassword(token: string, cloneId: string): string {
  return `dbops-retired-${crypto.createHmac('sha256', token).update(`dbops:dblab-retired:${cloneId}`).digest('base64url')}`;
}
