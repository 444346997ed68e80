/**
 * core/jobs/prepare.ts under a policy registry (issue 15 code, issue 14 mutation check): each
 * candidate is priced from the registry's fees of the moment, and the requester's cap is
 * applied to that price: a cap exactly at it keeps the candidate, a cap below it (the offer's
 * own, older price being under the cap) is 409 no_workers naming the cap and the policy
 * version, and a cap above it keeps the candidate though the offer's older price is above the
 * cap. core/policy-enforcement.test.ts covers the registry end to end.
 */
import { describe, expect, it } from "vitest";
import { createDevAttestation } from "../attestation/dev";
import { b64u } from "../crypto/encoding";
import { generateKemKey, generateSigningKey } from "../crypto/keys";
import { issueRegistrationNonce, registerWorker } from "../workers";
import { prepareJob } from "./prepare";
import { makeJobWorld, MODEL, readingRegistry, refusal } from "./testing";

const DIGEST = "1a".repeat(32);

/** A job world whose coordinator reads a registry the test edits (refresh 2 s); one worker (coefficient 2.0) attesting DIGEST. */
async function world() {
  const w = makeJobWorld();
  const registry = readingRegistry(w, {
    fees: { pricePerToken: 300n, promptBps: 5_000, completionBps: 20_000, operatorFeeBps: 0 },
    models: { [DIGEST]: 1_000n },
  });
  const signing = generateSigningKey();
  const kem = generateKemKey();
  const { nonce } = await issueRegistrationNonce(w.deps, signing.id);
  const attestation = createDevAttestation({
    hpkePublicKey: kem.publicKey,
    signingPublicKey: signing.publicKey,
    nonce: b64u.decode(nonce),
    now: w.clock.now(),
    modelDigests: { [MODEL]: DIGEST },
  });
  await registerWorker(w.deps, signing.id, { attestation, models: [{ model: MODEL, priceBps: 20_000 }], capacity: 4 });
  /** The owners change the base price; the next read sees it. */
  const raiseBase = (base: bigint) => registry.execute((p) => ({ ...p, models: { [DIGEST]: base } }));
  const prepare = (maxPricePerToken?: bigint) =>
    prepareJob(w.deps, generateSigningKey().id, {
      model: MODEL,
      maxTokens: 10,
      maxPromptTokens: 100,
      tiers: ["dev"],
      candidates: 1,
      ...(maxPricePerToken !== undefined ? { maxPricePerToken } : {}),
    });
  return { w, raiseBase, prepare, workerId: signing.id };
}

describe("prepareJob under a policy registry: the cap applies to the registry's price", () => {
  it("a cap exactly at the registry's price keeps the candidate, at that price", async () => {
    const { prepare, workerId } = await world();
    const p = await prepare(2_000n); // 1000 × 2.0
    expect(p.candidates.map((c) => [c.workerId, c.pricePerToken])).toEqual([[workerId, "2000"]]);
  });

  it("a cap under the registry's new price, though above the offer's registered one, is 409 price_above_cap naming the cap, the policy version and the registry's price", async () => {
    // Prepare: registered at 2000 per token; the owners double the base
    const { raiseBase, prepare } = await world();
    raiseBase(2_000n);
    // Act
    const capped = await refusal(prepare(3_000n));
    const atIt = await prepare(4_000n);
    // Assess
    expect(capped).toEqual({
      status: 409,
      code: "price_above_cap",
      message:
        "no worker can take this job now: none at or below 3000 nanoTON per token under the policy registry's fees (v2); the cheapest live one asks 4000: raise maxPricePerToken to at least that, or wait for a cheaper worker",
    });
    expect(atIt.candidates.map((c) => c.pricePerToken)).toEqual(["4000"]);
  });

  it("a cap above the registry's new, lower price, though under the offer's registered one, keeps the candidate at the new price", async () => {
    // Prepare: registered at 2000 per token; the owners halve the base (found while the fault simulation learnt price
    // changes: matching held the cap to the offer's registered price, so this requester was refused a worker within its cap)
    const { raiseBase, prepare, workerId } = await world();
    raiseBase(500n);
    // Act
    const p = await prepare(1_500n);
    // Assess
    expect(p.candidates.map((c) => [c.workerId, c.pricePerToken])).toEqual([[workerId, "1000"]]);
  });

  it("a prepare reads the registry once: the quote's weights and its candidate's price are both those of the reading matching admitted the offer by", async () => {
    // Prepare: each read after the first sees new fees (a refresh landing mid-prepare)
    const { w, prepare, workerId } = await world();
    const cache = w.deps.policyRegistry!;
    let reads = 0;
    w.deps.policyRegistry = {
      current: async () => {
        const r = await cache.current();
        reads++;
        if (reads === 1) return r;
        return {
          ...r,
          version: r.version + 1,
          policy: { ...r.policy, fees: { ...r.policy.fees, promptBps: 7_000 }, models: { [DIGEST]: 3_000n } },
        };
      },
    } as typeof cache;
    // Act
    const p = await prepare();
    // Assess: 1000 × 2.0 at the first reading's weights, and no second reading
    expect(reads).toBe(1);
    expect(p.candidates.map((c) => [c.workerId, c.pricePerToken])).toEqual([[workerId, "2000"]]);
    expect(p.quote.candidates.map((c) => c.pricePerToken)).toEqual(["2000"]);
    expect([p.quote.promptBps, p.quote.completionBps]).toEqual([5_000, 20_000]);
  });
});
