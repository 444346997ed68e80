/** Step 1 of a job (docs/architecture.md §3): a price quote and its candidates; no money moves. */
import type { PrepareRequest, PrepareResponse } from "../../events/api";
import type { CoreDeps } from "../deps";
import { CocoonError, UnknownModelError } from "../errors";
import { newJobId } from "../ids";
import { maxJobCost } from "../pricing";
import { candidatesFor, matchCandidates } from "../workers";
import { quoteKey, type QuoteItem } from "./items";

export async function prepareJob(deps: CoreDeps, requester: string, req: PrepareRequest): Promise<PrepareResponse> {
  const k = req.candidates ?? deps.config.defaultCandidates;
  const { offers, why } = await matchCandidates(deps, {
    model: req.model,
    tiers: req.tiers,
    ...(req.maxPricePerToken !== undefined ? { maxPricePerToken: req.maxPricePerToken } : {}),
    k,
  });
  if (why === "unknown_model") throw new UnknownModelError(req.model);
  if (offers.length === 0) throw new CocoonError(409, "no_workers", `no worker can take this job now: ${why}; see GET /v1/models`);
  const candidates = await candidatesFor(deps, offers);
  const prices = candidates.map((c) => BigInt(c.pricePerToken));
  // The worst case at the dearest candidate: failover to any other never needs more money.
  const maxCost = maxJobCost(deps.config.pricing, prices, req.maxPromptTokens, req.maxTokens);
  const now = deps.clock.now();
  const jobId = newJobId(now);
  const expiresAt = now + deps.config.quoteTtlSeconds * 1000;
  const quote: QuoteItem = {
    ...quoteKey(jobId),
    jobId,
    requester,
    model: req.model,
    maxTokens: req.maxTokens,
    maxPromptTokens: req.maxPromptTokens,
    maxCost: maxCost.toString(),
    candidates: candidates.map((c) => ({ workerId: c.workerId, pricePerToken: c.pricePerToken, tier: c.tier })),
    expiresAt,
    ttl: Math.ceil(expiresAt / 1000) + 3600,
  };
  await deps.store.transact([{ op: "put", table: "quotes", item: quote, when: { kind: "notExists" } }]);
  return { jobId, model: req.model, maxTokens: req.maxTokens, maxPromptTokens: req.maxPromptTokens, maxCost: maxCost.toString(), candidates, quoteExpiresAt: expiresAt };
}
