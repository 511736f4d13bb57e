/**
 * How the AWS SDK retries inside one activity attempt. Throttling is always retried: AWS refused
 * the call before doing anything. Other transient errors (5xx, a reset connection, a timeout) are
 * retried only for calls that are safe to send twice: a create, accept, associate or delete whose
 * reply was lost may already have happened. Sending it again blindly made a second peering or VPC,
 * or turned AWS's "already exists"/"not found" answer into a failure. Instead the activity attempt
 * fails, Temporal retries the activity, and the activity's own check finds what the lost call did.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** Calls that may have taken effect even when their reply was lost. */
export const NOT_SAFE_TO_REPEAT =
  /^(Create|Restore|Accept|Associate|Disassociate|Replace|Authorize|Delete|Reboot|Start|Stop|ChangeResourceRecordSets|Put)/;

const currentCommand = new AsyncLocalStorage<string>();

type Handler = (args: unknown) => Promise<unknown>;

/** An `initialize` middleware that makes the command's name known to the retry strategy. */
export function commandNameMiddleware() {
  return (next: Handler, context: { commandName?: string }) => (args: unknown) =>
    currentCommand.run((context.commandName ?? '').replace(/Command$/, ''), () => next(args));
}

interface Token {
  getRetryCount(): number;
  getRetryDelay(): number;
}

const token = (count: number): Token => ({ getRetryCount: () => count, getRetryDelay: () => 0 });

/** Whether the SDK may send this call again after this kind of error. */
export function sdkMayRetry(command: string, errorType: string): boolean {
  if (errorType === 'THROTTLING') return true;
  return errorType === 'TRANSIENT' && !NOT_SAFE_TO_REPEAT.test(command);
}

/** A RetryStrategyV2 for the SDK clients: the rule above, exponential backoff with full jitter. */
export class DbopsRetryStrategy {
  readonly mode = 'standard';

  constructor(private readonly maxAttempts: number) {}

  async acquireInitialRetryToken(): Promise<Token> {
    return token(0);
  }

  async refreshRetryTokenForRetry(previous: Token, info: { errorType: string }): Promise<Token> {
    const attempt = previous.getRetryCount() + 1;
    if (attempt >= this.maxAttempts || !sdkMayRetry(currentCommand.getStore() ?? '', info.errorType)) {
      throw new Error('not retried by the SDK'); // the SDK then throws the call's own error
    }
    const base = info.errorType === 'THROTTLING' ? 500 : 100;
    await new Promise((r) => setTimeout(r, Math.random() * Math.min(20_000, base * 2 ** previous.getRetryCount())));
    return token(attempt);
  }

  recordSuccess(): void {}
}
