/**
 * Limits on opening tabs (docs/security.md, "Tabs without a minimum"): an open and close cost
 * ~12 write units and hold nothing for long, so new tabs are rate-limited per requester
 * (`tab_open`); a replayed open answers the same tab and is never counted or refused.
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_RATE_LIMITS } from "../attestation/rate-limit";
import { DEFAULT_MIN_TAB_HOLD } from "../config";
import { CocoonError } from "../errors";
import { openTab } from "./tabs";
import { makeJobWorld } from "./testing";

const body = { slots: 4, slotCost: "1000000", ttlSeconds: 300 };

/** A world whose tab_open bucket holds `burst` tokens and refills one per second. */
async function limitedWorld(burst: number) {
  const w = makeJobWorld();
  w.deps.config = { ...w.deps.config, rateLimits: { tab_open: { burst, perMinute: 60 } } };
  const r = await w.requester();
  return { w, r };
}

const thrown = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => (e instanceof CocoonError ? e : Promise.reject(e)),
  );

describe("opening tabs is rate-limited per requester", () => {
  it("refuses a new tab past the burst with 429 rate_limited and a Retry-After, writing and holding nothing", async () => {
    // Prepare
    const { w, r } = await limitedWorld(2);
    await openTab(w.deps, r.id, body, "k-1");
    await openTab(w.deps, r.id, body, "k-2");
    const before = { balance: await w.balance(r.id), transacts: w.transacts.length };

    // Act
    const e = await thrown(openTab(w.deps, r.id, body, "k-3"));

    // Assess
    expect(e).toMatchObject({ status: 429, code: "rate_limited", details: { action: "tab_open", retryAfterSeconds: 1 } });
    expect(await w.balance(r.id)).toEqual(before.balance);
    expect(w.transacts.length).toBe(before.transacts);
  });

  it("lets a new tab through once a token is back", async () => {
    // Prepare
    const { w, r } = await limitedWorld(1);
    await openTab(w.deps, r.id, body, "k-1");
    expect(await thrown(openTab(w.deps, r.id, body, "k-2"))).toMatchObject({ status: 429 });

    // Act
    w.clock.t += 1_000;
    const second = await openTab(w.deps, r.id, body, "k-2");

    // Assess
    expect(second.replayed).toBe(false);
  });

  it("never counts or refuses a replayed open (same Idempotency-Key, same tab)", async () => {
    // Prepare: the bucket's only token spent on the first open
    const { w, r } = await limitedWorld(1);
    const first = await openTab(w.deps, r.id, body, "k-1");

    // Act: retries of the same open, far more than the burst
    const replays = [];
    for (let i = 0; i < 5; i++) replays.push(await openTab(w.deps, r.id, body, "k-1"));

    // Assess: each answers the same tab; the bucket was not touched (a token comes back after 1 s, not 5)
    for (const again of replays) expect(again).toMatchObject({ replayed: true, view: { tab: { tabId: first.view.tab.tabId } } });
    w.clock.t += 1_000;
    expect((await openTab(w.deps, r.id, body, "k-2")).replayed).toBe(false);
  });

  it("keeps each requester's bucket its own", async () => {
    // Prepare
    const { w, r } = await limitedWorld(1);
    const other = await w.requester();
    await openTab(w.deps, r.id, body, "k-1");

    // Act
    const theirs = await openTab(w.deps, other.id, body, "k-1");

    // Assess
    expect(theirs.replayed).toBe(false);
  });

  it("defaults never refuse an honest heavy client (32-slot tabs at 1,000 jobs/s: ~31 opens/s)", () => {
    const opensPerMinute = (1_000 / 32) * 60;
    expect(DEFAULT_RATE_LIMITS.tab_open.perMinute).toBeGreaterThanOrEqual(opensPerMinute);
    expect(DEFAULT_RATE_LIMITS.tab_open.burst).toBeGreaterThanOrEqual(32);
  });
});

describe("a tab must hold at least the floor (CoreConfig.minTabHold)", () => {
  it("refuses a tab under the floor with 400 tab_too_small naming the floor, holding and writing nothing", async () => {
    // Prepare
    const w = makeJobWorld();
    w.deps.config = { ...w.deps.config, minTabHold: 1_000n };
    const r = await w.requester();
    const before = { balance: await w.balance(r.id), transacts: w.transacts.length };

    // Act: 2 slots of 1 nanoTON, the free open of docs/security.md
    const e = await thrown(openTab(w.deps, r.id, { slots: 2, slotCost: "1", ttlSeconds: 300 }, "tiny"));

    // Assess
    expect(e).toMatchObject({ status: 400, code: "tab_too_small", details: { held: "2", minHold: "1000" } });
    expect(await w.balance(r.id)).toEqual(before.balance);
    expect(w.transacts.length).toBe(before.transacts);
  });

  it("opens a tab of exactly the floor", async () => {
    // Prepare
    const w = makeJobWorld();
    w.deps.config = { ...w.deps.config, minTabHold: 1_000n };
    const r = await w.requester();

    // Act
    const opened = await openTab(w.deps, r.id, { slots: 4, slotCost: "250", ttlSeconds: 300 }, "k");

    // Assess
    expect(opened.replayed).toBe(false);
    expect((await w.balance(r.id)).held).toBe(1_000n);
  });

  it("applies DEFAULT_MIN_TAB_HOLD when the config names none", async () => {
    // Prepare
    const w = makeJobWorld();
    w.deps.config = { ...w.deps.config, minTabHold: undefined };
    const r = await w.requester();

    // Act
    const e = await thrown(openTab(w.deps, r.id, { slots: 1, slotCost: (DEFAULT_MIN_TAB_HOLD - 1n).toString(), ttlSeconds: 300 }, "k"));

    // Assess
    expect(e).toMatchObject({ status: 400, code: "tab_too_small" });
  });
});
