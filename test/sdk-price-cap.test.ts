/**
 * a malicious coordinator quotes a candidate above the requester's maxPricePerToken.
 * The SDK sends the cap to prepare but never checks the answer: it holds and pays the coordinator's price.
 */
import { describe, expect, it } from "vitest";
import { DEV_MEASUREMENT } from "../core/attestation/dev";
import { replyHash, requestHash, sealReply } from "../core/crypto/envelope";
import { signReceipt } from "../core/crypto/receipt";
import { generateSigningKey } from "../core/crypto/keys";
import { DEFAULT_PRICING, jobCost } from "../core/pricing";
import type { Quote } from "../events/api";
import type { RequestEnvelope } from "../events/envelope";
import { CocoonClient } from "../client/sdk";
import { devCandidate, MODEL, T0 } from "../client/sdk-stub-testing";

const CAP = 100n; // what the requester agreed to pay per token
const GREEDY = 1_000_000n; // what the coordinator quotes

describe("maxPricePerToken is the requester's cap, whatever the coordinator quotes", () => {
  it("a quote whose candidate costs more than maxPricePerToken is never submitted (nothing held, nothing billed)", async () => {
    const signing = generateSigningKey();
    const cand = { ...devCandidate(undefined, signing), pricePerToken: String(GREEDY) };
    const key = generateSigningKey();
    const c = new CocoonClient({ apiUrl: "http://127.0.0.1:9", key, allowDev: true, now: () => T0 });
    const quote: Quote = {
      v: 1,
      requester: key.id,
      model: MODEL,
      maxTokens: 16,
      maxPromptTokens: 64,
      maxCost: "1000000000",
      candidates: [{ workerId: cand.workerId, hpkePublicKey: cand.hpkePublicKey, pricePerToken: cand.pricePerToken, tier: "dev" }],
      promptBps: DEFAULT_PRICING.promptBps,
      completionBps: DEFAULT_PRICING.completionBps,
      expiresAt: T0 + 60_000,
      mac: "AAAA",
    };
    const usage = { promptTokens: 10, completionTokens: 4 };
    const calls: string[] = [];
    let prepareBody: unknown;
    c.api.request = (async (route: { path: string }, o?: { body?: { envelope: RequestEnvelope } }) => {
      calls.push(route.path);
      if (route.path === "/v1/jobs/{id}/relay") return { transport: "http" };
      if (route.path === "/v1/jobs/prepare") {
        prepareBody = o?.body;
        return {
          jobId: "job-1",
          model: MODEL,
          maxTokens: 16,
          maxPromptTokens: 64,
          maxCost: quote.maxCost,
          candidates: [cand],
          quoteExpiresAt: T0 + 60_000,
          quote,
        };
      }
      if (route.path === "/v1/jobs") {
        const envelope = o!.body!.envelope;
        const h = envelope.header;
        const reply = sealReply(
          h,
          cand.workerId,
          new TextEncoder().encode(JSON.stringify({ text: "ok", usage, engine: "t", finishReason: "stop" })),
        );
        const body = {
          v: 1 as const,
          jobId: h.jobId,
          workerId: cand.workerId,
          model: h.model,
          requestHash: requestHash(envelope),
          replyHash: replyHash(reply),
          usage,
          measurement: DEV_MEASUREMENT,
          finishedAt: T0,
        };
        const cost = jobCost(DEFAULT_PRICING, GREEDY, usage);
        return {
          jobId: h.jobId,
          status: "completed",
          model: h.model,
          workerId: cand.workerId,
          tier: "dev",
          attempt: 0,
          maxCost: h.maxCost,
          cost: String(cost < BigInt(h.maxCost) ? cost : BigInt(h.maxCost)),
          reply,
          receipt: signReceipt(body, signing),
          createdAt: T0,
          updatedAt: T0,
        };
      }
      throw new Error(`stub: no answer for ${route.path}`);
    }) as typeof c.api.request;

    const outcome = await c.ask({ model: MODEL, tiers: ["dev"], prompt: "hi", maxTokens: 4, maxPricePerToken: CAP, timeoutMs: 5_000 }).then(
      (r) => ({ ok: true as const, cost: r.cost, maxCost: r.maxCost }),
      (e: Error & { code?: string }) => ({ ok: false as const, code: e.code }),
    );

    expect(prepareBody).toMatchObject({ maxPricePerToken: CAP }); // the cap was asked for...
    expect(calls).not.toContain("/v1/jobs"); // ...so a quote above it must not be submitted (held) at all
    expect(outcome.ok).toBe(false);
  }, 15_000);
});
