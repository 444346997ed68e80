/**
 * GET /v1/models on Lambda answers from a listing at most MODEL_LISTING_TTL_MS old per container:
 * the route is public and reads every offer, so a caller must not be able to make it read the
 * offers table at will (a review finding: cost amplification).
 */
import { describe, expect, it, vi } from "vitest";
import { bodyText, httpRequest } from "../../edge/http";
import { MODEL, makeJobWorld, type JobWorld } from "../../core/jobs/testing";
import { heartbeat } from "../../core/workers";
import { cachedFor, LOCAL_MODEL_LISTING_TTL_MS, MODEL_LISTING_TTL_MS, route } from "./list-models";
import { invokeRoute, type Route } from "./middleware";

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

describe("GET /v1/models on the local network: one read per second between offer writes", () => {
  /** Factory: a world with one live worker, and a count of the reads of the model names (one per listing). */
  async function listedWorld() {
    const w = makeJobWorld();
    const worker = await w.worker();
    const query = vi.spyOn(w.store, "query");
    const reads = () => query.mock.calls.filter(([table, pk]) => table === "offers" && pk === "*").length;
    return { w, worker, reads };
  }
  const list = async (w: JobWorld) => {
    const res = await invokeRoute(
      route as Route,
      httpRequest({ method: "GET", path: "/v1/models", rawQuery: "", headers: {}, body: "", host: "api.test" }),
      w.deps,
    );
    const body = JSON.parse(await bodyText(res.body)) as { models: Array<{ model: string; workers: number }> };
    return body.models.find((m) => m.model === MODEL)?.workers;
  };

  it("a flood of calls within LOCAL_MODEL_LISTING_TTL_MS reads the offers once; the next read comes once it is that old", async () => {
    // Prepare
    const { w, reads } = await listedWorld();
    // Act
    const flood = await Promise.all(Array.from({ length: 20 }, () => list(w)));
    w.advance(LOCAL_MODEL_LISTING_TTL_MS - 1);
    const within = await list(w);
    const readsWithin = reads();
    w.advance(1);
    const after = await list(w);
    // Assess
    expect(flood).toEqual(Array(20).fill(1));
    expect(within).toBe(1);
    expect(readsWithin).toBe(1);
    expect(after).toBe(1);
    expect(reads()).toBe(2);
  });

  it("a worker that joins or leaves shows at once: an offer write makes the next call read again", async () => {
    // Prepare
    const { w, worker } = await listedWorld();
    const before = await list(w);
    // Act
    await w.worker();
    const joined = await list(w);
    await heartbeat(w.deps, worker.id, 0, true);
    const left = await list(w);
    // Assess
    expect([before, joined, left]).toEqual([1, 2, 1]);
  });
});
