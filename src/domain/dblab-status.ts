/**
 * What a DBLab `GET /status` reply means for a refresh we triggered at `triggeredAt`. Success
 * needs evidence that *this* refresh ran: a start seen after the trigger, or a lastRefresh newer
 * than the trigger. Pure; the waiting activity keeps `sawStart` across polls (and restarts).
 */
export type RetrievalStatus =
  'inactive' | 'pending' | 'failed' | 'refreshing' | 'renewed' | 'snapshotting' | 'finished' | string;

export interface StatusReply {
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
