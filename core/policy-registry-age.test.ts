/**
 * PolicyCache's age bound, measured when the reading is handed over (found by the fault
 * simulation's registry outages, test/sim: seed 28 with a registry, prices changing and outages
 * often). A request whose refresh hangs (a reader's timeout) must not be handed, once the refresh
 * fails, a reading that grew past maxAgeSeconds while it waited.
 */
import { describe, expect, it } from "vitest";
import { PolicyCache, PolicyStaleError, type PolicyReading, type RegistryPolicy } from "./policy-registry";

const T0 = 1_750_000_000_000;
const POLICY: RegistryPolicy = {
  coordinatorKey: "00".repeat(32),
  fees: { pricePerToken: 100n, promptBps: 10_000, completionBps: 10_000, operatorFeeBps: 0 },
  images: [],
  models: {},
};

describe("PolicyCache age bound", () => {
  it("a reading that passes the bound while a refresh hangs is refused (policy_stale), not handed over", async () => {
    // Prepare: a reading of T0, then a reader that hangs until its timeout
    let now = T0;
    let fail: ((e: Error) => void) | undefined;
    let reads = 0;
    const source = {
      read: (): Promise<PolicyReading> => {
        if (reads++ === 0) return Promise.resolve({ version: 1, updatedAt: T0 / 1000, policy: POLICY, readAt: T0 / 1000 });
        return new Promise((_, reject) => (fail = reject));
      },
    };
    const cache = new PolicyCache(source, { refreshSeconds: 2, maxAgeSeconds: 60, now: () => now });
    await cache.current();

    // Act: called at 50 s (young enough), the refresh it waits on times out 20 s later
    now = T0 + 50_000;
    const handed = cache.current();
    now = T0 + 70_000;
    fail!(new Error("timed out"));

    // Assess: at 70 s the reading is past the 60 s bound
    await expect(handed).rejects.toBeInstanceOf(PolicyStaleError);
  });

  it("a reading already past the bound does not count as a refresh: the next call reads again, and is served once the reader has caught up", async () => {
    // Prepare: the reader answers a state frozen 90 s ago (a lagging indexer), then the present
    let now = T0;
    const readings: PolicyReading[] = [
      { version: 1, updatedAt: (T0 - 90_000) / 1000, policy: POLICY, readAt: (T0 - 90_000) / 1000 },
      { version: 2, updatedAt: T0 / 1000, policy: POLICY, readAt: T0 / 1000 },
    ];
    let reads = 0;
    const cache = new PolicyCache(
      { read: async () => readings[Math.min(reads++, 1)]! },
      { refreshSeconds: 60, maxAgeSeconds: 60, now: () => now },
    );

    // Act: two calls in the same millisecond (well inside refreshSeconds)
    const first = await cache.current().catch((e: unknown) => e);
    now += 1;
    const second = await cache.current();

    // Assess
    expect(first).toBeInstanceOf(PolicyStaleError);
    expect(second.version).toBe(2);
    expect(reads).toBe(2);
  });

  it("a reading older than the one held never replaces it (a reader that goes back)", async () => {
    // Prepare: version 2 read at T0, then a reader that answers version 1 of 30 s before
    let now = T0;
    const readings: PolicyReading[] = [
      { version: 2, updatedAt: T0 / 1000, policy: POLICY, readAt: T0 / 1000 },
      { version: 1, updatedAt: (T0 - 30_000) / 1000, policy: POLICY, readAt: (T0 - 30_000) / 1000 },
    ];
    let reads = 0;
    const cache = new PolicyCache(
      { read: async () => readings[Math.min(reads++, 1)]! },
      { refreshSeconds: 2, maxAgeSeconds: 60, now: () => now },
    );
    await cache.current();

    // Act: past refreshSeconds, the reader goes back
    now += 3_000;
    const after = await cache.current();

    // Assess
    expect(reads).toBe(2);
    expect(after.version).toBe(2);
  });
});
