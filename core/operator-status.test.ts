/**
 * The fee the operator's status names (core/operator-status.ts): the one a job submitted now is
 * settled with (core/jobs/submit.ts operatorFeeBpsOf): the registry's where there is one, with
 * its version, else the configured one; a registry too stale to act on is said (bps null) while
 * the balances are still answered.
 */
import { describe, expect, it } from "vitest";
import { generateSigningKey } from "./crypto/keys";
import { makeJobWorld, T0 } from "./jobs/testing";
import { operatorStatus } from "./operator-status";
import type { PayoutDeps } from "./payouts";
import { DEV_IMAGE_DIGEST, PolicyCache, type PolicyReading } from "./policy-registry";

/** Factory: a job world with the operator key configured and, unless `registry` is false, a registry whose fee is `registryBps`. */
function world(o: { configBps?: number; registryBps?: number; registry?: boolean } = {}) {
  const w = makeJobWorld();
  const operator = generateSigningKey();
  const deps = Object.assign(w.deps, { operatorKeyId: operator.id }) as typeof w.deps & PayoutDeps;
  deps.config = { ...deps.config, operatorFeeBps: o.configBps ?? 0 };
  const chain = { now: T0 / 1000, up: true };
  if (o.registry !== false) {
    const source = {
      async read(): Promise<PolicyReading> {
        if (!chain.up) throw new Error("toncenter down");
        return {
          version: 7,
          updatedAt: T0 / 1000,
          readAt: chain.now,
          policy: {
            coordinatorKey: "11".repeat(32),
            fees: { pricePerToken: 100n, promptBps: 2_500, completionBps: 10_000, operatorFeeBps: o.registryBps ?? 0 },
            images: [DEV_IMAGE_DIGEST],
            models: {},
          },
        };
      },
    };
    deps.policyRegistry = new PolicyCache(source, { refreshSeconds: 2, maxAgeSeconds: 60, now: deps.clock.now });
  }
  return { w, deps, operator, chain };
}

describe("the operator's status: the fee in force", () => {
  it("no registry: the configured fee (source config)", async () => {
    // Prepare
    const { deps, operator } = world({ registry: false, configBps: 250 });
    // Act
    const s = await operatorStatus(deps, operator.id);
    // Assess
    expect(s.fee).toEqual({ bps: 250, source: "config" });
  });

  it("a registry: its fee and its policy's version, not the configured one", async () => {
    // Prepare
    const { deps, operator } = world({ configBps: 250, registryBps: 500 });
    // Act
    const s = await operatorStatus(deps, operator.id);
    // Assess
    expect(s.fee).toEqual({ bps: 500, source: "registry", registryVersion: 7 });
  });

  it("a registry too stale to act on: bps null (no job is accepted meanwhile), and the balances are still answered", async () => {
    // Prepare: read once, then the chain unreadable for longer than maxAgeSeconds
    const { w, deps, operator, chain } = world({ registryBps: 500 });
    await deps.policyRegistry!.current();
    chain.up = false;
    w.advance(61_000);
    // Act
    const s = await operatorStatus(deps, operator.id);
    // Assess
    expect(s.fee).toEqual({ bps: null, source: "registry" });
    expect(s).toMatchObject({ earned: "0", available: "0", vouchered: "0", redeemed: "0" });
  });
});
