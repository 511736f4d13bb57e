/**
 * Waits polled by activity retry, what the workflows and the activities share. Pure (runs in the
 * workflow sandbox too).
 */

/**
 * How a wait activity polls: sent by runs that poll by retry, as the activity's last argument.
 * Without it (the calls of runs made before) the activity polls in place until done.
 */
export interface PollMode {
  poll: 'once';
}

export const POLL_ONCE: PollMode = { poll: 'once' };

/** The retryable failure of a check that found the wait not over: the retry policy checks again. */
export const STILL_WAITING = 'StillWaiting';

/** What a StillWaiting failure carries (its details[0]): what is awaited and the status seen. */
export interface StillWaitingDetails {
  what: string;
  status: string;
}

/** The failure of a wait that reached its deadline, in the words the in-place wait has always used. */
export function waitTimeoutMessage(o: { what: string; timeout: string }, lastStatus: string): string {
  return `timed out after ${o.timeout} waiting for ${o.what} (last status: ${lastStatus})`;
}

export const WAIT_TIMEOUT = 'WaitTimeout';
