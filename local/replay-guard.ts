import type { ReplayGuard } from "../core/ports";

/**
 * In-memory nonce memory for one coordinator process: no disk write on the request path.
 * It cannot know nonces from before it started, so it refuses requests signed before then;
 * with a signature window of ±60 s that costs a client at most one re-signed retry after a
 * restart, and no captured request can be replayed across the restart.
 */
export function createMemoryReplayGuard(now: () => number = Date.now): ReplayGuard & { size(): number } {
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
      seen.set(id, expiresAt);
      return true;
    },
    size: () => seen.size,
  };
}
