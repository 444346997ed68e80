/**
 * The stateless price quote (docs/architecture.md §3, step 1). Prepare stores nothing: it
 * hands the requester the candidates, their prices and the maxima they were asked for, with
 * an HMAC-SHA256 the coordinator computed over all of it under its quote key
 * (config.quoteKey). The submit carries the quote back and the coordinator checks the MAC
 * instead of reading a stored item: one store write fewer per job, and no read.
 *
 * A quote names no job: the SDK keeps it (with the attestation verdicts of its candidates)
 * until it expires and submits many jobs under it, each with a job id of its own choosing.
 * What makes a job single-use is the job id itself (the job item, which records the job's hold,
 * is written only if absent), not the quote; once the job item is gone (archived), the expired
 * quote it was submitted under refuses the id again.
 *
 * The MAC covers: version, requester, model, the maxima and the maximum cost at them, every
 * candidate's worker id, HPKE key, price and tier, the price weights, and the expiry. A quote
 * edited in any of these, or made under another key, fails verification (403 bad_quote).
 *
 * Its domain also names the deployment (tokenDomain: config.deployment), so a quote made by
 * another stage that shares the quote key fails too: its candidates and prices are that stage's
 * word, not this one's. It costs nothing (no field on the wire, no read); a deploy of this change
 * refuses the quotes live then (≤ quoteTtlSeconds), and the SDK prepares again on bad_quote.
 */
import type { PrepareResponse, Quote } from "../../events/api";
import { b64u } from "../crypto/encoding";
import { tokenMac, tokenMacMatches } from "../crypto/keys";
import type { CoreDeps } from "../deps";
import { ForbiddenError, GoneError } from "../errors";

/** The quote without its MAC: what the MAC covers. */
export type QuoteBody = Omit<Quote, "mac">;

const DOMAIN = "cocoon/v1/quote\n";

/**
 * A token's MAC domain for this deployment: the kind's line, then the deployment's name as a JSON
 * string (self-delimiting, no raw newline) and a newline, then tokenMac's canonical JSON body.
 */
export const tokenDomain = (config: Pick<CoreDeps["config"], "deployment">, kind: string): string =>
  `${kind}${JSON.stringify(config.deployment)}\n`;

export function signQuote(deps: Pick<CoreDeps, "config">, body: QuoteBody): Quote {
  return { ...body, mac: b64u.encode(tokenMac(deps.config.quoteKey, tokenDomain(deps.config, DOMAIN), body)) };
}

/**
 * The quote, if this coordinator made it, for this requester, and it has not expired.
 * 403 bad_quote (forged, edited, made under another key or by another deployment), 403 not_your_quote, 410 quote_expired.
 */
export function verifyQuote(deps: Pick<CoreDeps, "config" | "clock">, requester: string, q: Quote): QuoteBody {
  const { mac, ...body } = q;
  if (!tokenMacMatches(deps.config.quoteKey, tokenDomain(deps.config, DOMAIN), body, mac)) {
    throw new ForbiddenError(
      "bad_quote",
      "the quote's MAC does not verify: it was changed, or made by another coordinator (another deployment, or one whose COCOON_QUOTE_KEY differs): prepare a fresh one",
    );
  }
  if (body.requester !== requester) throw new ForbiddenError("not_your_quote", "this quote was made for another account: prepare your own");
  if (body.expiresAt < deps.clock.now()) throw new GoneError("quote_expired", "the price quote expired: prepare a fresh one");
  return body;
}

/** The candidates of a prepare answer as the quote carries them (no attestation documents: the SDK has those). */
export const quoteCandidates = (cs: PrepareResponse["candidates"]) =>
  cs.map((c) => ({ workerId: c.workerId, hpkePublicKey: c.hpkePublicKey, pricePerToken: c.pricePerToken, tier: c.tier }));
