/**
 * How long the SDK keeps a quote (client/sdk.ts quoteFor), in one place: the scale simulation
 * (bench/sim/world.ts) models the SDK with the same numbers.
 */

/** A kept quote is not used this close to its expiry (the submit must arrive before it). */
export const QUOTE_MARGIN_MS = 10_000;

/**
 * A quote is kept this long at most (usable for this less QUOTE_MARGIN_MS: a minute), then
 * asked afresh: a kept quote sends all of one client's jobs to its few candidates, so a busy
 * client keeping one for the quote's whole life (5 min) skews who earns what (bench/sim, 2,000
 * agents at 200 jobs/s: earnings Gini among equal workers 0.22 kept 5 min, 0.11 kept 1 min).
 */
export const KEPT_QUOTE_MS = 70_000;
