/**
 * GET /v1/models on Lambda answers from a listing at most MODEL_LISTING_TTL_MS old per container:
 * the route is public and reads every offer, so a caller must not be able to make it read the
 * offers table at will (a review finding: cost amplification).
 */
import { describe, expect, it } from "vitest";
import { cachedFor, MODEL_LISTING_TTL_MS } from "./list-models";

describe("GET /v1/models on Lambda: one listing per container per MODEL_LISTING_TTL_MS", () => {
  it("calls within the TTL share one read, concurrent ones too; the next read comes once it is that old", async () => {
    // Prepare
    let clock = 1_000_000;
    let reads = 0;
    const listing = cachedFor(
      MODEL_LISTING_TTL_MS,
      async () => ++reads,
      () => clock,
    );
    // Act
    const first = await Promise.all([listing(), listing(), listing()]);
    clock += MODEL_LISTING_TTL_MS - 1;
    const within = await listing();
    clock += 1;
    const after = await listing();
    // Assess
    expect(first).toEqual([1, 1, 1]);
    expect(within).toBe(1);
    expect(after).toBe(2);
    expect(reads).toBe(2);
  });

  it("a failed read is not kept: the next call reads again", async () => {
    // Prepare
    let reads = 0;
    const listing = cachedFor(MODEL_LISTING_TTL_MS, async () => {
      if (++reads === 1) throw new Error("store down");
      return reads;
    });
    // Act
    const failed = await listing().catch((e: unknown) => e);
    const next = await listing();
    // Assess
    expect(failed).toMatchObject({ message: "store down" });
    expect(next).toBe(2);
  });
});
