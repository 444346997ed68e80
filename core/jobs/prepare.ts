/**
 * Step 1 of a job (docs/architecture.md §3): candidates and a stateless price quote. Nothing
 * is written (the quote is MAC'd, ./quote.ts) and no money moves, so a prepare is a read: a
 * replay of it changes nothing, and the SDK asks again only when its quote runs out.
 */
import type { PrepareRequest, PrepareResponse } from "../../events/api";
import type { CoreDeps } from "../deps";
import { CocoonError, PriceAboveCapError, UnknownModelError } from "../errors";
import { newJobId } from "../ids";
import { registryPricing } from "../policy-registry";
import { maxJobCost } from "../pricing";
import { candidatesFor, matchCandidates, type EarningsReads } from "../workers";
import { quoteCandidates, signQuote } from "./quote";

/** `reads`: the request's reads of workers' earnings (a renewal shares its submit's, core/workers.ts EarningsReads). */
export async function prepareJob(deps: CoreDeps, requester: string, req: PrepareRequest, reads?: EarningsReads): Promise<PrepareResponse> {
  const k = req.candidates ?? deps.config.defaultCandidates;
  const { offers, why, allLive, reading, cheapestAboveCap } = await matchCandidates(
    deps,
    {
      model: req.model,
      tiers: req.tiers,
      ...(req.maxPricePerToken !== undefined ? { maxPricePerToken: req.maxPricePerToken } : {}),
      k,
    },
    reads,
  );
  if (why === "unknown_model") throw new UnknownModelError(req.model);
  if (offers.length === 0 && cheapestAboveCap !== undefined && req.maxPricePerToken !== undefined)
    throw new PriceAboveCapError(req.maxPricePerToken, cheapestAboveCap, why!);
  if (offers.length === 0) throw new CocoonError(409, "no_workers", `no worker can take this job now: ${why}`);
  // issue 15: with a registry, the fees of the reading matching admitted and priced the offers by:
  // the weights here, and each offer's price from the registry's base for its weights' digest and
  // the worker's coefficient (an offer keeps the price of its registration, which the owners may
  // have changed since), already held to the cap. One reading for both: a refresh in between
  // cannot quote weights of one and prices of another.
  const pricing = reading ? registryPricing(reading) : deps.config.pricing;
  const candidates = await candidatesFor(deps, offers, req.held);
  if (candidates.length === 0) throw new CocoonError(409, "no_workers", "no worker can take this job now: its registration is gone");
  const prices = candidates.map((c) => BigInt(c.pricePerToken));
  // The worst case at the dearest candidate: failover to any other never needs more money.
  const maxCost = maxJobCost(pricing, prices, req.maxPromptTokens, req.maxTokens);
  const now = deps.clock.now();
  // A quote lives no longer than the evidence of any of its candidates: past that the SDK
  // must not encrypt to them anyway, and a fresh prepare finds who is still attested.
  const attested = Math.min(...offers.map((o) => o.attestationExpiresAt));
  const expiresAt = Math.min(now + deps.config.quoteTtlSeconds * 1000, attested);
  const quote = signQuote(deps, {
    v: 1,
    requester,
    model: req.model,
    maxTokens: req.maxTokens,
    maxPromptTokens: req.maxPromptTokens,
    maxCost: maxCost.toString(),
    candidates: quoteCandidates(candidates),
    promptBps: pricing.promptBps,
    completionBps: pricing.completionBps,
    expiresAt,
  });
  return {
    jobId: newJobId(now, deps.random),
    model: req.model,
    maxTokens: req.maxTokens,
    maxPromptTokens: req.maxPromptTokens,
    maxCost: maxCost.toString(),
    candidates,
    quoteExpiresAt: expiresAt,
    quote,
    // every live worker that fits (those left out since, unregistered or above the cap, do not): a renewal would name the same ones
    ...(allLive ? { allLive: true as const } : {}),
  };
}

/**
 * The next quote, prepared with a submit's answer (SubmitRequest.renew): the SDK keeps a quote
 * so that a job costs two requests, but a kept quote sends all of a client's jobs to the same
 * few workers, skewing who earns what and queueing jobs on busy workers (bench/sim at 100k
 * agents). Renewed with each submit (at most one a second per kept quote, client/quote-keeping.ts),
 * every job's candidates come out of a fair-share contest run no longer ago than its client's
 * previous job, at no request of its own. A prepare writes nothing, so a replayed submit renews
 * again harmlessly. A renewal that cannot be made (no worker free now, an unknown model) is no
 * answer, not an error: the job is already submitted, and the SDK keeps its quote or prepares.
 * `reads`: the submit's reads of workers' earnings, which the renewal's contest shares (most of
 * its contenders are the submit's own candidates).
 */
export async function renewQuote(
  deps: CoreDeps,
  requester: string,
  req: PrepareRequest,
  reads?: EarningsReads,
): Promise<PrepareResponse | undefined> {
  try {
    return await prepareJob(deps, requester, req, reads);
  } catch (e) {
    // the submit it rides on succeeded: its answer is not lost over a renewal (a store error here
    // included; it is logged and the SDK prepares when its quote runs out)
    if (e instanceof CocoonError && e.status < 500) deps.log.info("quote not renewed", { requester, model: req.model, code: e.code });
    else deps.log.warn("quote renewal failed", { requester, model: req.model, error: String(e) });
    return undefined;
  }
}
