import { AUTH_FUTURE_SKEW_MS, ReplayGuardFullError } from "../core/auth";
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
  /** Nonces held at most (default MAX_REPLAY_ENTRIES); past it a claim fails with ReplayGuardFullError. */
  maxEntries?: number;
}

/**
 * Each claimed nonce is held until its request is stale everywhere (ts + 2 × authWindowMs, two
 * minutes), so the guard holds request rate × 120 s entries, about 210 bytes each: without a
 * cap a flood of guarded requests (any key may make them) grew it without limit. Half a million
 * is about 100 MB, and 4,000 guarded requests a second for two minutes, far above what one
 * local coordinator serves (most requests are to idempotent routes, which claim nothing).
 */
export const MAX_REPLAY_ENTRIES = 500_000;

/** How often a full guard may walk its entries for expired ones (the walk costs ~25 ms per 500,000). */
const FULL_SWEEP_EVERY_MS = 1_000;

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
 *
 * Bounded (`maxEntries`): a full guard refuses new claims (ReplayGuardFullError: 503
 * server_busy, retry when its soonest entry expires) and never forgets an entry before it
 * expires, which would let that request be replayed. A nonce it holds is still refused as a
 * replay when full.
 */
export function createMemoryReplayGuard(o: MemoryReplayGuardOptions = {}): ReplayGuard & { size(): number } {
  const now = o.now ?? Date.now;
  const skew = o.futureSkewMs ?? AUTH_FUTURE_SKEW_MS;
  const startedAt = now();
  const max = o.maxEntries ?? MAX_REPLAY_ENTRIES;
  const seen = new Map<string, number>(); // id -> expiresAt
  let lastSweep = startedAt;
  /** The soonest expiry among the entries the last sweep kept: when a full guard has room again. */
  let soonest = Infinity;
  const sweep = (t: number) => {
    soonest = Infinity;
    for (const [k, exp] of seen) {
      if (exp < t) seen.delete(k);
      else if (exp < soonest) soonest = exp;
    }
    lastSweep = t;
  };
  return {
    async claim(id, signedAt, expiresAt) {
      const t = now();
      if (t - lastSweep > 10_000) sweep(t);
      if (signedAt < startedAt) return false;
      const exp = seen.get(id);
      if (exp !== undefined && exp >= t) return false;
      if (seen.size >= max && exp === undefined) {
        // (at most once a second: a full guard under a flood must not walk every entry per request)
        if (t - lastSweep >= FULL_SWEEP_EVERY_MS) sweep(t);
        // (soonest unknown until a sweep has run: a second)
        if (seen.size >= max)
          throw new ReplayGuardFullError(max, Number.isFinite(soonest) ? Math.max(1, Math.ceil((soonest - t) / 1000)) : 1);
      }
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
