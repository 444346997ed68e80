/**
 * prepareJob reads the policy registry twice (matchCandidates, then its own pricing): found by the
 * fault simulation's cap check (test/sim, seed 36 with a registry, prices changing, 4 workers and
 * k = 1). When the owners' change lands between the two reads, matching picks the k candidates
 * within the cap under the first reading, prepare drops those above the cap under the second,
 * and refuses 409 no_workers though another live worker is within the cap under the reading it
 * acts on.
 */
import { describe, expect, it } from "vitest";
import { DEV_IMAGE_DIGEST, PolicyCache, type RegistryPolicy } from "../policy-registry";
import { heartbeat } from "../workers";
import { prepareJob } from "./prepare";
import { makeJobWorld, MODEL, registered, T0 } from "./testing";

const DIGEST = "1a".repeat(32);
const policy = (base: bigint): RegistryPolicy => ({
  coordinatorKey: "11".repeat(32),
  fees: { pricePerToken: 300n, promptBps: 10_000, completionBps: 10_000, operatorFeeBps: 0 },
  images: [DEV_IMAGE_DIGEST],
  models: { [DIGEST]: base },
});

describe("prepareJob under a registry whose prices change during the prepare", () => {
  it("a worker within the cap at the prices it quotes by is not refused because matching chose another by the prices before", async () => {
    // Prepare: base 1000; a dear worker (1.5×, idle) and a cheap one (1.0×, one job of 4); every call reads the registry
    const w = makeJobWorld();
    let current = policy(1_000n);
    let version = 1;
    let changeAfterNextRead = false;
    const source = {
      read: async () => {
        const r = { version, updatedAt: T0 / 1000, readAt: w.clock.now() / 1000, policy: current };
        if (changeAfterNextRead) [current, version, changeAfterNextRead] = [policy(1_500n), version + 1, false];
        return r;
      },
    };
    w.deps.policyRegistry = new PolicyCache(source, { refreshSeconds: 0, maxAgeSeconds: 60, now: w.deps.clock.now });
    const digests = { modelDigests: { [MODEL]: DIGEST } };
    const dear = await registered(w, { ...digests, models: [{ model: MODEL, priceBps: 15_000 }] });
    const cheap = await registered(w, { ...digests, models: [{ model: MODEL, priceBps: 10_000 }] });
    await heartbeat(w.deps, cheap.key.id, 1);

    // Act: the owners raise the base to 1500 right after matching's read (dear: 1500 → 2250, cheap: 1000 → 1500)
    changeAfterNextRead = true;
    const p = prepareJob(w.deps, "requester", {
      model: MODEL,
      maxTokens: 10,
      maxPromptTokens: 100,
      tiers: ["dev"],
      candidates: 1,
      maxPricePerToken: 1_600n,
    });

    // Assess: a quote (the cheap worker is within the cap at either reading), every candidate within the cap
    expect(dear.key.id).not.toBe(cheap.key.id);
    const quote = await p;
    expect(quote.candidates.map((c) => BigInt(c.pricePerToken) <= 1_600n)).toEqual([true]);
  });
});
