/**
 * What a DBLab `GET /status` reply means for a refresh we triggered at `triggeredAt`. Success
 * needs evidence that *this* refresh ran: a start seen after the trigger, or a lastRefresh newer
 * than the trigger. Pure; the waiting activity keeps `sawStart` across polls (and restarts).
 */
export type RetrievalStatus =
  'inactive' | 'pending' | 'failed' | 'refreshing' | 'renewed' | 'snapshotting' | 'finished' | string;

/**
 * A storage pool as `GET /status` lists it (DBLab Engine's models.PoolEntry: `name`, `mode`,
 * `dataStateAt`, `status` one of `active`, `refreshing`, `empty`, `cloneList` the ids of the clones
 * on it, `fileSystem`).
 */
export interface PoolEntry {
  name?: string;
  mode?: string;
  dataStateAt?: string;
  status?: string;
  cloneList?: string[] | null;
  fileSystem?: unknown;
}

export interface StatusReply {
  pools?: PoolEntry[] | null;
  cloning?: { numClones?: number; clones?: unknown[] | null } | null;
  retrieving?: {
    mode?: string;
    status?: RetrievalStatus;
    lastRefresh?: string | null;
    nextRefresh?: string | null;
    alerts?: Record<string, { level?: string; message?: string; lastSeen?: string; count?: number }> | null;
    activity?: unknown;
  };
}

export const IN_PROGRESS = new Set(['refreshing', 'renewed', 'snapshotting']);

export type Verdict =
  | { kind: 'done'; lastRefresh?: string }
  | { kind: 'failed'; message: string }
  | { kind: 'running'; status: string; sawStart: true }
  | { kind: 'not-started'; status: string };

export function alertMessage(reply: StatusReply): string | undefined {
  const alerts = reply.retrieving?.alerts ?? {};
  const a = alerts.refresh_failed ?? Object.values(alerts).find((x) => x.level === 'error');
  return a?.message;
}

export function interpretStatus(reply: StatusReply, triggeredAt: Date, sawStart: boolean): Verdict {
  const status = reply.retrieving?.status ?? 'unknown';
  const last = reply.retrieving?.lastRefresh ? Date.parse(reply.retrieving.lastRefresh) : NaN;
  const freshLast = !Number.isNaN(last) && last > triggeredAt.getTime();
  if (status === 'failed' && (sawStart || freshLast)) {
    return { kind: 'failed', message: alertMessage(reply) ?? 'DBLab reports the refresh failed (no alert message)' };
  }
  if (IN_PROGRESS.has(status)) return { kind: 'running', status, sawStart: true };
  if (status === 'finished' && (sawStart || freshLast))
    return { kind: 'done', lastRefresh: reply.retrieving?.lastRefresh ?? undefined };
  // finished/failed from an earlier refresh, pending, inactive: nothing shows this refresh ran yet
  return sawStart ? { kind: 'running', status, sawStart: true } : { kind: 'not-started', status };
}

/** DBLab cannot take a refresh now (one is running or retrieval is pending). */
export function isBusy(reply: StatusReply): boolean {
  const s = reply.retrieving?.status ?? '';
  return IN_PROGRESS.has(s) || s === 'pending';
}

/**
 * After DBLab answered 400 to a retried POST /full-refresh: whether a refresh that an earlier
 * attempt started (its reply lost) is under way or already over, rather than DBLab refusing for
 * another reason (no free pool…). Busy now, or a lastRefresh after the trigger.
 */
export function startedSince(reply: StatusReply, triggeredAt: Date | undefined): boolean {
  if (isBusy(reply)) return true;
  const last = reply.retrieving?.lastRefresh ? Date.parse(reply.retrieving.lastRefresh) : NaN;
  return triggeredAt !== undefined && !Number.isNaN(last) && last > triggeredAt.getTime();
}

/**
 * Why DBLab would refuse `POST /full-refresh` now, or undefined when it can take one. DBLab
 * Engine's Retrieval.CanStartRefresh refuses while `refreshing` or `snapshotting` ("The data
 * refresh/snapshot is currently in progress") and while `pending`; `renewed` sits between the
 * refresh and its snapshot, so it is a refresh under way too. HasAvailablePool refuses ("Pool to
 * perform full refresh not found") when no pool is free of clones (pool.Manager.GetPoolToUpdate:
 * the first pool, from the back of the list, whose clone list is empty). A reply without `pools`
 * (an older DBLab) tells nothing about them: not a refusal.
 */
export function refreshBlocker(reply: StatusReply): string | undefined {
  const s = reply.retrieving?.status ?? '';
  if (IN_PROGRESS.has(s)) return `DBLab is already refreshing (${s})`;
  if (s === 'pending') return 'DBLab retrieval is pending (its configuration is not complete yet)';
  const pools = reply.pools ?? [];
  if (pools.length && pools.every((p) => (p.cloneList ?? []).length > 0)) {
    const held = pools.map((p) => `${p.name ?? '?'}: ${(p.cloneList ?? []).length} clone(s)`).join(', ');
    return `every DBLab pool holds clones (${held}): DBLab refreshes only a pool without clones`;
  }
  return undefined;
}

type Alert = NonNullable<NonNullable<StatusReply['retrieving']>['alerts']>[string];

/** The alert of that type when DBLab last saw it after `since` (its `lastSeen`). */
export function freshAlert(reply: StatusReply, type: string, since: Date): Alert | undefined {
  const a = reply.retrieving?.alerts?.[type];
  const seen = a?.lastSeen ? Date.parse(a.lastSeen) : NaN;
  return a && !Number.isNaN(seen) && seen > since.getTime() ? a : undefined;
}

export type WaitVerdict = Verdict | { kind: 'skipped'; message: string };

/**
 * interpretStatus, plus what shows at once that this refresh will not finish: a `refresh_failed`
 * alert DBLab saw after the trigger (whatever the status), `failed` with such an alert, or a
 * `refresh_skipped` alert seen after the trigger (DBLab accepted the trigger, then found no pool
 * free of clones). Without these a quick failure looked like a refresh not yet started and was
 * reported only at the start deadline.
 */
export function interpretWait(reply: StatusReply, triggeredAt: Date, sawStart: boolean): WaitVerdict {
  const failed = freshAlert(reply, 'refresh_failed', triggeredAt);
  const status = reply.retrieving?.status ?? 'unknown';
  if (failed && !(status === 'finished' && freshLastRefresh(reply, failed.lastSeen)))
    return { kind: 'failed', message: failed.message ?? 'DBLab reports the refresh failed (no alert message)' };
  const skipped = freshAlert(reply, 'refresh_skipped', triggeredAt);
  if (skipped && !sawStart && !IN_PROGRESS.has(status))
    return { kind: 'skipped', message: skipped.message ?? 'DBLab skipped the refresh (no alert message)' };
  return interpretStatus(reply, triggeredAt, sawStart);
}

/** lastRefresh is after `iso` (a refresh completed after the alert). */
function freshLastRefresh(reply: StatusReply, iso: string | undefined): boolean {
  const last = reply.retrieving?.lastRefresh ? Date.parse(reply.retrieving.lastRefresh) : NaN;
  const at = iso ? Date.parse(iso) : NaN;
  return !Number.isNaN(last) && !Number.isNaN(at) && last > at;
}
