/**
 * issue 15: the SDK acts on the registry's whole policy, not only its image list: the model
 * digest a candidate attested, the price weights of the quote, and the coordinator key that
 * signs a withdrawal (the one signature of the coordinator a requester handles: quotes are
 * MAC'd, vouchers go to workers). The coordinator's API is stubbed at ApiClient.request, so
 * each test sees exactly which requests the SDK made.
 */
import { describe, expect, it } from "vitest";
import { DEV_MEASUREMENT } from "../core/attestation/dev";
import { replyHash, requestHash, sealReply } from "../core/crypto/envelope";
import { signReceipt } from "../core/crypto/receipt";
import type { RequestEnvelope } from "../events/envelope";
import { generateSigningKey } from "../core/crypto/keys";
import type { Candidate, Quote } from "../events/api";
import { VerificationError } from "./sdk";
import { coordinator, devCandidate, fakeRegistry, impostor, MODEL, signedWithdrawal, stubbedClient, T0, FEES } from "./sdk-stub-testing";

// ---------------------------------------------------------------- factories
const LISTED = "1a".repeat(32);
const OTHER = "2b".repeat(32);
/** sdk-stub-testing's client; the local default's relay (ask() asks which once per client: it holds nothing) */
const client = (registry?: ReturnType<typeof fakeRegistry>, now = () => T0) =>
  stubbedClient(registry, now, [["/v1/jobs/{id}/relay", { transport: "http" }]]);
const candidate = devCandidate;

/** What POST /v1/jobs/prepare answers: one candidate, a quote at `weights`. */
function prepared(requester: string, cand: Candidate, weights: { promptBps: number; completionBps: number }) {
  const quote: Quote = {
    v: 1,
    requester,
    model: MODEL,
    maxTokens: 16,
    maxPromptTokens: 64,
    maxCost: "100000",
    candidates: [{ workerId: cand.workerId, hpkePublicKey: cand.hpkePublicKey, pricePerToken: cand.pricePerToken, tier: cand.tier }],
    ...weights,
    expiresAt: T0 + 60_000,
    mac: "AAAA",
  };
  return {
    jobId: "job-1",
    model: MODEL,
    maxTokens: 16,
    maxPromptTokens: 64,
    maxCost: "100000",
    candidates: [cand],
    quoteExpiresAt: T0 + 60_000,
    quote,
  };
}

const withdrawal = (secretKey: Buffer) => signedWithdrawal(secretKey);

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: Error & { code?: string }) => ({ code: e.code, message: e.message }),
  );

// ---------------------------------------------------------------- model digests

describe("issue 15: the SDK checks the candidate's model digest against the registry", () => {
  it("a candidate whose attested digest of the model asked for is not listed is not encrypted to", async () => {
    // Prepare
    const { c } = client(fakeRegistry({ models: { [LISTED]: 0n } }));
    const listed = candidate(LISTED);
    const other = candidate(OTHER);
    const bare = candidate();

    // Act
    const kept = await c.verifyCandidates([listed, other, bare], ["dev"], MODEL);
    const none = await refusal(c.verifyCandidates([other], ["dev"], MODEL));

    // Assess
    expect(kept.map((k) => k.workerId)).toEqual([listed.workerId]);
    expect(none).toMatchObject({ code: "no_verified_candidates", message: expect.stringContaining(`model ${MODEL} digest`) });
  });

  it("the cached verdict is checked again: a digest delisted after a first verification is refused at the next refresh", async () => {
    // Prepare
    let now = T0;
    const reg = fakeRegistry({ models: { [LISTED]: 0n, [OTHER]: 0n } });
    const { c } = client(reg, () => now);
    const cand = candidate(OTHER);
    await c.verifyCandidates([cand], ["dev"], MODEL);

    // Act
    delete reg.r.models[OTHER];
    now += 2_000;
    reg.r.chainNow += 2;
    const after = await refusal(c.verifyCandidates([cand], ["dev"], MODEL));

    // Assess
    expect(after).toMatchObject({ code: "no_verified_candidates" });
  });

  it("without a registry, or one that lists no model, digests are not checked", async () => {
    const cand = candidate(OTHER);
    expect(await client().c.verifyCandidates([cand], ["dev"], MODEL)).toHaveLength(1);
    expect(await client(fakeRegistry()).c.verifyCandidates([cand], ["dev"], MODEL)).toHaveLength(1);
  });
});

// ---------------------------------------------------------------- fees

describe("issue 15: the SDK takes a quote only at the registry's price weights", () => {
  it("the bill is checked at the quote's (the registry's) weights: charged what they give, the answer is accepted", async () => {
    // Prepare: a registry whose weights differ from the SDK's defaults (2500 / 10000)
    const reg = fakeRegistry();
    reg.r.fees = { ...FEES, promptBps: 5_000, completionBps: 20_000 };
    const x = client(reg);
    const signing = generateSigningKey();
    const cand = candidate(undefined, signing);
    x.answers.set("/v1/jobs/prepare", prepared(x.requester.id, cand, { promptBps: 5_000, completionBps: 20_000 }));
    const usage = { promptTokens: 10, completionTokens: 4 };
    // 100 × (10 × 5000 + 4 × 20000) / 10000 = 1300 (the default weights would give 650: "overcharged")
    const completed = (envelope: RequestEnvelope) => {
      const h = envelope.header;
      const reply = sealReply(
        h,
        cand.workerId,
        new TextEncoder().encode(JSON.stringify({ text: "ok", usage, engine: "test", finishReason: "stop" })),
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
      return {
        jobId: h.jobId,
        status: "completed",
        model: h.model,
        workerId: cand.workerId,
        tier: "dev",
        attempt: 0,
        maxCost: h.maxCost,
        cost: "1300",
        reply,
        receipt: signReceipt(body, signing),
        createdAt: T0,
        updatedAt: T0,
      };
    };
    const request = x.c.api.request;
    x.c.api.request = (async (route: { path: string }, o?: { body?: { envelope: RequestEnvelope } }) =>
      route.path === "/v1/jobs" ? completed(o!.body!.envelope) : request(route as never, o as never)) as typeof request;

    // Act
    const r = await x.c.ask({ model: MODEL, tiers: ["dev"], prompt: "hi", maxTokens: 16 });

    // Assess
    expect(r).toMatchObject({ text: "ok", cost: "1300" });
  });

  it("a quote at other weights is refused (fees_not_on_chain) before anything is submitted; at the registry's it goes on to submit", async () => {
    // Prepare
    const reg = fakeRegistry();
    const off = client(reg);
    const on = client(reg);
    const cand = candidate();
    off.answers.set("/v1/jobs/prepare", prepared(off.requester.id, cand, { promptBps: 2_500, completionBps: 20_000 }));
    on.answers.set("/v1/jobs/prepare", prepared(on.requester.id, cand, { promptBps: 2_500, completionBps: 10_000 }));
    const ask = (x: ReturnType<typeof client>) => refusal(x.c.ask({ model: MODEL, tiers: ["dev"], prompt: "hi", maxTokens: 16 }));

    // Act
    const refused = await ask(off);
    const passed = await ask(on);

    // Assess
    expect(refused).toMatchObject({ code: "fees_not_on_chain" });
    expect(off.calls.filter((p) => p !== "/v1/jobs/{id}/relay")).toEqual(["/v1/jobs/prepare"]);
    expect(passed?.message).toContain("stub: no answer for /v1/jobs"); // past the check, at the submit
  });
});

// ---------------------------------------------------------------- the coordinator key

describe("issue 15: a withdrawal must be signed by the coordinator key on the registry", () => {
  it("signed by the on-chain key it is returned; by any other key it is refused (coordinator_key_not_on_chain)", async () => {
    // Prepare
    const good = client(fakeRegistry());
    const bad = client(fakeRegistry());
    good.answers.set("/v1/account/withdraw", await withdrawal(coordinator.secretKey));
    bad.answers.set("/v1/account/withdraw", await withdrawal(impostor.secretKey));

    // Act
    const ok = await good.c.withdraw(5_000_000n, "0:" + "cd".repeat(32));
    const refused = await refusal(bad.c.withdraw(5_000_000n, "0:" + "cd".repeat(32)));

    // Assess
    expect(ok.amount).toBe("5000000");
    expect(refused).toMatchObject({ code: "coordinator_key_not_on_chain" });
  });

  it("a withdrawal altered after signing (amount) is refused too", async () => {
    const w = await withdrawal(coordinator.secretKey);
    await expect(client(fakeRegistry()).c.checkWithdrawal({ ...w, amount: "5000001" })).rejects.toMatchObject({
      code: "coordinator_key_not_on_chain",
    });
  });

  it("a stale reading of the registry refuses (policy_stale) rather than trusting the key it last saw", async () => {
    // Prepare
    const reg = fakeRegistry();
    reg.r.chainNow = T0 / 1000 - 3_600;
    const w = await withdrawal(coordinator.secretKey);

    // Act / Assess
    await expect(client(reg).c.checkWithdrawal(w)).rejects.toBeInstanceOf(VerificationError);
    await expect(client(reg).c.checkWithdrawal(w)).rejects.toMatchObject({ code: "policy_stale" });
  });
});
