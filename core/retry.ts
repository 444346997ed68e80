/**
 * The one optimistic-retry loop: read, decide, write conditionally; when a concurrent writer
 * got there first (the condition failed, the transaction conflicted), read again and decide
 * again, a bounded number of times. Used by vouchers, withdrawals, the chain ledger and the
 * DynamoDB adapter's conflict retries.
 */

/** What an attempt returns to ask for another one. */
export const RETRY: unique symbol = Symbol("retry");
export type Retry = typeof RETRY;

export interface RetryOptions {
  /** Most attempts in all (Infinity: the body alone decides when to stop). */
  attempts: number;
  /** The error thrown when every attempt asked for another. */
  exhausted: () => Error;
  /** Wait before attempt n + 1 (n counts from 0, the attempt that failed); none when absent. */
  backoffMs?: (n: number) => number;
  sleep?: (ms: number) => Promise<void>;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs `attempt(n)` until it returns something other than RETRY; errors it throws end the loop. */
export async function retryOptimistic<T>(o: RetryOptions, attempt: (n: number) => Promise<T | Retry>): Promise<T> {
  for (let n = 0; n < o.attempts; n++) {
    if (n > 0 && o.backoffMs) await (o.sleep ?? realSleep)(o.backoffMs(n - 1));
    const r = await attempt(n);
    if (r !== RETRY) return r;
  }
  throw o.exhausted();
}
