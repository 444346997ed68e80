import { AUTH_FUTURE_SKEW_MS } from "../core/auth";
import type { ReplayGuard } from "../core/ports";

export interface MemoryReplayGuardOptions {
  now?: () => number;
  /** How far ahead of the clock core/auth.ts accepts a request (AUTH_FUTURE_SKEW_MS). */
  futureSkewMs?: number;
  /**
   * A durable guard (the store's conditional put) for the few requests the memory cannot vouch
   * for across a restart. Without it those are refused, and for `futureSkewMs` after start
   * every request is.
   */
  durable?: ReplayGuard;
}

/**
 * Nonce memory for one coordinator process, in memory for the common case: no disk write on
 * the request path.
 *
 * Across a restart (issue 9 #10): a previous process accepted requests signed up to
 * `futureSkewMs` ahead of its clock, so any request signed before `startedAt + futureSkewMs`
 * may have been accepted already, and memory does not know. Therefore:
 *  - signed before startedAt: refused (costs a client at most one re-signed retry);
 *  - signed ahead of our clock (a client clock running fast): accepted only through the
 *    durable guard, which records it, so the next process can refuse it;
 *  - signed in [startedAt, startedAt + futureSkewMs): checked against the durable guard (only
 *    a request recorded there, as above, can have been accepted before the restart).
 * Everything else is claimed in memory only. The same wall clock serves both processes (one
 * machine); a clock stepped backwards across a restart is outside this argument.
 */
export function createMemoryReplayGuard(o: MemoryReplayGuardOptions = {}): ReplayGuard & { size(): number } {
  const now = o.now ?? Date.now;
  const skew = o.futureSkewMs ?? AUTH_FUTURE_SKEW_MS;
  const startedAt = now();
  const seen = new Map<string, number>(); // id -> expiresAt
  let lastSweep = startedAt;
  return {
    async claim(id, signedAt, expiresAt) {
      const t = now();
      if (t - lastSweep > 10_000) {
        for (const [k, exp] of seen) if (exp < t) seen.delete(k);
        lastSweep = t;
      }
      if (signedAt < startedAt) return false;
      const exp = seen.get(id);
      if (exp !== undefined && exp >= t) return false;
      // Claimed in memory before any await, so two copies racing in cannot both pass.
      seen.set(id, expiresAt);
      const mayPredateStart = signedAt < startedAt + skew;
      const fromFuture = signedAt > t;
      if (!mayPredateStart && !fromFuture) return true;
      if (!o.durable) return false;
      return o.durable.claim(id, signedAt, expiresAt);
    },
    size: () => seen.size,
  };
}
