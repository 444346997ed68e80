/**
 * The AnchorPoster's error for a hand-over that failed, in a module of its own (no imports): the
 * posters in ton/anchor.ts (which the CLI's receipts verify also loads, for its reader) throw it
 * without pulling in the anchorer and the receipt log.
 */

/**
 * The transfer's hand-over failed (toncenter's sendBoc threw: a timeout, a 5xx), so it may have
 * gone out all the same. The anchorer counts it as a send: were it taken back like a post that
 * never reached the network, an anchor the contract refuses for good would be broadcast, and
 * cost a fee, every resendAfterSeconds instead of backing off.
 */
export class AnchorPostUncertainError extends Error {
  constructor(cause: unknown) {
    super(`the anchor transfer may have been sent: its hand-over failed (${cause instanceof Error ? cause.message : String(cause)})`, {
      cause,
    });
    this.name = "AnchorPostUncertainError";
  }
}
