/**
 * prepare's 409 price_above_cap: a price cap below every live worker it could take is told apart
 * from no worker being up (409 no_workers), with the cheapest price the cap refused in its details,
 * taken from the offers matching read anyway (no read of its own).
 */
import { describe, expect, it } from "vitest";
import { PriceAboveCapDetails, type PrepareRequest } from "../../events/api";
import { pricePerToken } from "../pricing";
import { CocoonError, PriceAboveCapError } from "../errors";
import { prepareJob } from "./prepare";
import { makeJobWorld, MODEL, setOffer, type JobWorld, prepareAsk } from "./testing";

const ask = prepareAsk;

/** The error a prepare is refused with (it must be refused). */
const refused = (p: Promise<unknown>) =>
  p.then(
    () => expect.unreachable("the prepare was not refused"),
    (e: unknown) => {
      if (!(e instanceof CocoonError)) throw e;
      return e;
    },
  );

const price = (w: JobWorld, priceBps: number) => pricePerToken(w.deps.config.pricing, MODEL, priceBps);

describe("prepareJob: a cap below every live worker", () => {
  it("is 409 price_above_cap with the cap and the cheapest price in its details (not no_workers)", async () => {
    // Prepare: two workers, at 1.5× and 2× the base price
    const w = makeJobWorld();
    await w.worker(20_000);
    await w.worker(15_000);
    const r = await w.requester();
    const cap = price(w, 15_000) - 1n;
    // Act
    const e = await refused(prepareJob(w.deps, r.id, ask({ maxPricePerToken: cap })));
    // Assess
    expect(e).toBeInstanceOf(PriceAboveCapError);
    expect({ status: e.status, code: e.code, details: e.details }).toEqual({
      status: 409,
      code: "price_above_cap",
      details: { maxPricePerToken: String(cap), cheapestPricePerToken: String(price(w, 15_000)) },
    });
    expect(PriceAboveCapDetails.safeParse(e.details).success).toBe(true);
    // the cheapest price is one a cap reaches: at it, that worker is quoted
    const at = await prepareJob(w.deps, r.id, ask({ maxPricePerToken: price(w, 15_000) }));
    expect(at.candidates.map((c) => c.pricePerToken)).toEqual([String(price(w, 15_000))]);
  });

  it("the cheapest is of the workers the request could take: one cheaper in a tier not asked for, or not live, is not it", async () => {
    // Prepare: the cheapest worker is tdx, the next one's heartbeat is stale; the dearest is a live dev one
    const w = makeJobWorld();
    const tdx = await w.worker(11_000);
    const quiet = await w.worker(12_000);
    await w.worker(30_000);
    await setOffer(w, MODEL, tdx.id, { tier: "tdx" });
    await setOffer(w, MODEL, quiet.id, { lastHeartbeat: 0 });
    const r = await w.requester();
    // Act
    const e = await refused(prepareJob(w.deps, r.id, ask({ maxPricePerToken: price(w, 10_000) })));
    // Assess
    expect([e.code, e.details]).toEqual([
      "price_above_cap",
      { maxPricePerToken: String(price(w, 10_000)), cheapestPricePerToken: String(price(w, 30_000)) },
    ]);
  });

  it("no live worker, or none in the tiers asked, is still no_workers under a cap: the cap refused nobody", async () => {
    // Prepare
    const w = makeJobWorld();
    const only = await w.worker(20_000);
    const r = await w.requester();
    const cap = price(w, 10_000);
    // Act
    const wrongTier = await refused(prepareJob(w.deps, r.id, ask({ tiers: ["tdx"], maxPricePerToken: cap })));
    await setOffer(w, MODEL, only.id, { lastHeartbeat: 0 });
    const quiet = await refused(prepareJob(w.deps, r.id, ask({ maxPricePerToken: cap })));
    // Assess
    expect([wrongTier.code, wrongTier.details, quiet.code, quiet.details]).toEqual(["no_workers", undefined, "no_workers", undefined]);
  });

  it("the cheapest price costs no read: a cap-refused prepare reads what a tier-refused one does", async () => {
    // Prepare: two identical worlds (matching's per-store hints start alike), each counting its store's reads
    const counted = async (req: Partial<PrepareRequest>) => {
      const w = makeJobWorld();
      await w.worker(20_000);
      await w.worker(30_000);
      const r = await w.requester();
      const reads: string[] = [];
      const { get, query } = w.store;
      w.deps.store = {
        ...w.store,
        get: (t, k, o) => (reads.push(`get ${t}`), get.call(w.store, t, k, o)),
        query: (t, pk, o) => (reads.push(`query ${t}`), query.call(w.store, t, pk, o)),
      } as typeof w.store;
      const e = await refused(prepareJob(w.deps, r.id, ask(req)));
      return { code: e.code, reads: reads.sort() };
    };
    // Act
    const capped = await counted({ maxPricePerToken: 1n });
    const tiered = await counted({ tiers: ["tdx"] });
    // Assess
    expect(capped.code).toBe("price_above_cap");
    expect(tiered.code).toBe("no_workers");
    expect(capped.reads).toEqual(tiered.reads);
    expect(capped.reads.length).toBeGreaterThan(0);
  });
});
