/**
 * How long the SDK keeps a quote (client/sdk.ts quoteFor), in one place: the scale simulation
 * (bench/sim/world.ts) models the SDK with the same numbers.
 */

/** A kept quote is not used this close to its expiry (the submit must arrive before it). */
export const QUOTE_MARGIN_MS = 10_000;

/**
 * A quote is kept this long at most (usable for this less QUOTE_MARGIN_MS: 15 s), then asked
 * afresh: a kept quote sends all of one client's jobs to its few candidates, which skews who
 * earns what. Measured with `npm run sim` (100k agents, 1,000 jobs/s, 10 min; a worker's fair
 * share there is ~5 jobs): earnings Gini among equal workers 0.39 kept 1 min, 0.31 kept 1 min
 * with the in-flight cap, 0.22 kept 15 s with it, 0.09 with a prepare for every job (target
 * 0.1: not met while quotes are kept; at 2,000 agents 0.07); renewed by the submit
 * (RENEW_AFTER_MS) 0.145. Shorter costs a prepare request more often; a client asking steadily
 * still makes two requests a job.
 */
export const KEPT_QUOTE_MS = 25_000;

/**
 * A kept quote is renewed by a submit under it once it is this old (SubmitRequest.renew: the
 * coordinator picks the next quote by fair share and answers it with the submit, no request
 * of its own), one renewal at a time. So a client asking less than once a second gets every
 * job's candidates from a contest run at its previous job, as with a prepare for every job,
 * and a busy one renews once a second instead of once per job (a renewal costs the submit a
 * prepare's reads and CPU). Measured with `npm run sim` (KEPT_QUOTE_MS): README.
 */
export const RENEW_AFTER_MS = 1_000;

/** The smallest power of two ≥ n, at least `min`. */
const bucket = (n: number, min: number) => {
  let b = min;
  while (b < n) b *= 2;
  return b;
};

/**
 * The maxima a quote is asked for: in powers of two, so the next asks can reuse it (each job's
 * hold is still computed at its own maxima), never below this job's own (a quote under them
 * could not carry it), within the API's bounds.
 */
export const quoteMaxima = (limits: { maxTokens: number; maxPromptTokens: number }) => ({
  maxTokens: Math.max(limits.maxTokens, Math.min(32_768, bucket(limits.maxTokens, 256))),
  maxPromptTokens: Math.max(limits.maxPromptTokens, Math.min(262_144, bucket(limits.maxPromptTokens, 1024))),
});
