/**
 * The SDK's side of tabs (client/tab-keeper.ts) on its own: which slot each job takes, when a kept
 * tab is passed over (full, near its expiry, too cheap a slot), when a new one is opened and with
 * what body, one open shared by concurrent jobs, the pause after a failed open, dropping a tab,
 * what callers see, and which refusals say the tab is no good. The coordinator is a fake `open`
 * that records its calls and answers a TabView as core/jobs/tabs.ts would (expiresAt = now + ttl).
 */
import { describe, expect, it } from "vitest";
import { MAX_TAB_SLOTS, OpenTabRequest, type Tab, type TabView } from "../events/api";
import { ApiError } from "../api-client/api";
import { TabKeeper, tabRefused, type TabOptions } from "./tab-keeper";

const T0 = 1_700_000_000_000;
const MARGIN_MS = 10_000;
const PAUSE_MS = 60_000;

/** A clock the test moves by hand. */
function fakeClock(start = T0) {
  let t = start;
  return {
    now: () => t,
    set: (ms: number) => {
      t = ms;
    },
  };
}

interface OpenCall {
  body: OpenTabRequest;
  key: string;
  /** would the coordinator take this body (POST /v1/tabs validates it with OpenTabRequest) */
  valid: boolean;
}

/**
 * The coordinator's POST /v1/tabs: records each call and answers the tab it asked for, expiring
 * ttlSeconds after now (or `expiresIn` ms after), unless `fails` says that call (0-based) rejects.
 * `gate`, when given, holds every answer until it resolves; `maxCalls` (20 unless told) rejects
 * every call past it, so a keeper that opens without end fails its test instead of hanging it.
 */
function fakeOpen(
  clock: { now: () => number },
  o: { fails?: (call: number) => boolean; gate?: Promise<void>; expiresIn?: number; maxCalls?: number } = {},
) {
  const calls: OpenCall[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const open = async (body: OpenTabRequest, key: string): Promise<TabView> => {
    const n = calls.length;
    calls.push({ body, key, valid: OpenTabRequest.safeParse(body).success });
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      if (o.gate) await o.gate;
      if (o.fails?.(n) || n >= (o.maxCalls ?? 20)) throw new Error("402 insufficient_funds");
      const now = clock.now();
      const tab: Tab = {
        v: 1,
        tabId: tabIdOf(n),
        requester: "A".repeat(43),
        slots: body.slots,
        slotCost: body.slotCost,
        expiresAt: now + (o.expiresIn ?? body.ttlSeconds * 1000),
        mac: "bWFj",
      };
      return { tab, status: "open", closesAfter: tab.expiresAt + 120_000 };
    } finally {
      inFlight--;
    }
  };
  return { open, calls, maxInFlight: () => maxInFlight };
}

/** The id the fake coordinator gives its n-th tab (0-based): tab_ and 26 base32 chars. */
const tabIdOf = (n: number) => `tab_${String(n).padStart(26, "0")}`;

/** A keeper over a fake clock and a fake open. */
function keeperOf(options: TabOptions = {}, o: Parameters<typeof fakeOpen>[1] = {}) {
  const clock = fakeClock();
  const coordinator = fakeOpen(clock, o);
  const keeper = new TabKeeper(options, coordinator.open, clock.now);
  return { clock, coordinator, keeper };
}

/** A promise and the function that resolves it. */
function gate() {
  let release!: () => void;
  const p = new Promise<void>((r) => (release = r));
  return { p, release };
}

describe("the open body: slots and ttl as the options ask, clamped to what the coordinator takes", () => {
  it("opens with 16 slots and 300 s by default", async () => {
    // Prepare
    const { keeper, coordinator } = keeperOf();

    // Act
    await keeper.take(100n, 100n);

    // Assess
    expect(coordinator.calls.map((c) => c.body)).toEqual([{ slots: 16, slotCost: "100", ttlSeconds: 300 }]);
    expect(coordinator.calls[0]!.valid).toBe(true);
  });

  it.each([
    { slots: 0, want: 1 },
    { slots: -5, want: 1 },
    { slots: 0.9, want: 1 },
    { slots: 1, want: 1 },
    { slots: 2.9, want: 2 },
    { slots: MAX_TAB_SLOTS, want: MAX_TAB_SLOTS },
    { slots: MAX_TAB_SLOTS + 1, want: MAX_TAB_SLOTS },
    { slots: 1000, want: MAX_TAB_SLOTS },
  ])("asks $want slots for slots: $slots", async ({ slots, want }) => {
    // Prepare
    const { keeper, coordinator } = keeperOf({ slots });

    // Act
    await keeper.take(100n, 100n);

    // Assess
    expect(coordinator.calls[0]!.body.slots).toBe(want);
    expect(coordinator.calls[0]!.valid).toBe(true);
  });

  it.each([
    { ttlSeconds: 0, want: 60 },
    { ttlSeconds: 59, want: 60 },
    { ttlSeconds: 60, want: 60 },
    { ttlSeconds: 61, want: 61 },
    { ttlSeconds: 120.7, want: 120 },
    { ttlSeconds: 3599, want: 3599 },
    { ttlSeconds: 3600, want: 3600 },
    { ttlSeconds: 3601, want: 3600 },
    { ttlSeconds: 86_400, want: 3600 },
  ])("asks $want s for ttlSeconds: $ttlSeconds", async ({ ttlSeconds, want }) => {
    // Prepare
    const { keeper, coordinator } = keeperOf({ ttlSeconds });

    // Act
    await keeper.take(100n, 100n);

    // Assess
    expect(coordinator.calls[0]!.body.ttlSeconds).toBe(want);
    expect(coordinator.calls[0]!.valid).toBe(true);
  });

  it.each([
    { maxCost: 100n, slotCost: 250n, want: "250" },
    { maxCost: 300n, slotCost: 250n, want: "300" },
    { maxCost: 100n, slotCost: 100n, want: "100" },
  ])(
    "opens at slotCost $want for a job of maxCost $maxCost offered slotCost $slotCost (never below the job's maxCost)",
    async ({ maxCost, slotCost, want }) => {
      // Prepare
      const { keeper, coordinator } = keeperOf();

      // Act
      const got = await keeper.take(maxCost, slotCost);

      // Assess
      expect(coordinator.calls[0]!.body.slotCost).toBe(want);
      expect(got?.tab.slotCost).toBe(want);
    },
  );

  it("names each open with its own idempotency key", async () => {
    // Prepare
    const { keeper, coordinator } = keeperOf({ slots: 1 });

    // Act
    await keeper.take(100n, 100n);
    await keeper.take(100n, 100n);

    // Assess
    const keys = coordinator.calls.map((c) => c.key);
    expect(keys).toHaveLength(2);
    for (const k of keys) expect(k).toMatch(/^tab-[A-Za-z0-9_-]{16}$/);
    expect(keys[0]).not.toBe(keys[1]);
  });
});

describe("slots: each handed out once, none past the tab's last", () => {
  it("hands out slots 0..slots-1 of one tab in order, from one open", async () => {
    // Prepare
    const { keeper, coordinator } = keeperOf({ slots: 5 });

    // Act
    const got = [];
    for (let i = 0; i < 5; i++) got.push(await keeper.take(100n, 100n));

    // Assess
    expect(coordinator.calls).toHaveLength(1);
    expect(got.map((s) => s?.slot)).toEqual([0, 1, 2, 3, 4]);
    expect(new Set(got.map((s) => s?.tab.tabId))).toEqual(new Set([tabIdOf(0)]));
  });

  it("opens a new tab after the last slot instead of handing out slot == slots", async () => {
    // Prepare
    const { keeper, coordinator } = keeperOf({ slots: 2 });
    await keeper.take(100n, 100n);
    await keeper.take(100n, 100n);

    // Act
    const third = await keeper.take(100n, 100n);

    // Assess
    expect(third).toEqual({ tab: expect.objectContaining({ tabId: tabIdOf(1) }), slot: 0 });
    expect(coordinator.calls).toHaveLength(2);
  });

  it("never hands out a slot at or past the tab's slots, over many jobs and tabs", async () => {
    // Prepare
    const { keeper } = keeperOf({ slots: 3 });

    // Act
    const got = [];
    for (let i = 0; i < 10; i++) got.push((await keeper.take(100n, 100n))!);

    // Assess
    for (const s of got) expect(s.slot).toBeLessThan(s.tab.slots);
    const ids = got.map((s) => `${s.tab.tabId}#${s.slot}`);
    expect(new Set(ids).size).toBe(10);
    expect(got.map((s) => s.slot)).toEqual([0, 1, 2, 0, 1, 2, 0, 1, 2, 0]);
  });

  it("with one slot a tab, every job opens its own tab", async () => {
    // Prepare
    const { keeper, coordinator } = keeperOf({ slots: 1 });

    // Act
    const a = await keeper.take(100n, 100n);
    const b = await keeper.take(100n, 100n);

    // Assess
    expect([a?.tab.tabId, a?.slot, b?.tab.tabId, b?.slot]).toEqual([tabIdOf(0), 0, tabIdOf(1), 0]);
    expect(coordinator.calls).toHaveLength(2);
  });
});

describe("the expiry margin: a tab is not drawn on within 10 s of its expiry", () => {
  it("draws on a tab with just over 10 s left", async () => {
    // Prepare
    const { keeper, clock, coordinator } = keeperOf({ ttlSeconds: 60 });
    const first = await keeper.take(100n, 100n);
    clock.set(first!.tab.expiresAt - MARGIN_MS - 1);

    // Act
    const got = await keeper.take(100n, 100n);

    // Assess
    expect(got).toEqual({ tab: first!.tab, slot: 1 });
    expect(coordinator.calls).toHaveLength(1);
  });

  it("opens a new tab when exactly 10 s are left on the kept one", async () => {
    // Prepare
    const { keeper, clock, coordinator } = keeperOf({ ttlSeconds: 60 });
    const first = await keeper.take(100n, 100n);
    clock.set(first!.tab.expiresAt - MARGIN_MS);

    // Act
    const got = await keeper.take(100n, 100n);

    // Assess
    expect(got?.tab.tabId).toBe(tabIdOf(1));
    expect(got?.slot).toBe(0);
    expect(coordinator.calls).toHaveLength(2);
  });

  it("passes over an expired tab and forgets it", async () => {
    // Prepare
    const { keeper, clock } = keeperOf({ ttlSeconds: 60 });
    const first = await keeper.take(100n, 100n);
    clock.set(first!.tab.expiresAt + 1);

    // Act
    const got = await keeper.take(100n, 100n);

    // Assess
    expect(got?.tab.tabId).toBe(tabIdOf(1));
    expect(keeper.view().map((v) => v.tabId)).toEqual([tabIdOf(1)]);
  });

  // Found by this file (fixed): the margin was checked with the client's clock against the
  // coordinator's expiresAt. With the client's clock ahead by more than ttl − 10 s every new tab
  // looked spent and take() opened tab after tab, each holding slots × slotCost, until an open
  // failed. The fake answers an expiry 5 s away by our clock (the coordinator's 295 s behind).
  it("opens one tab, not one after another, when the tab answered is already within the margin by the client's clock", async () => {
    // Prepare
    const { keeper, coordinator } = keeperOf({}, { expiresIn: 5_000, maxCalls: 5 });

    // Act
    await keeper.take(100n, 100n);

    // Assess
    expect(coordinator.calls).toHaveLength(1);
  });
});

describe("the expiry margin with clocks that differ: the ttl is measured on this client's clock from the open", () => {
  it("stops drawing on a tab 10 s before ttl after its open, even when the coordinator's clock (ahead) says it has longer", async () => {
    // Prepare: the coordinator's expiresAt is 10 min later than ours would be (its clock 10 min ahead)
    const { keeper, clock, coordinator } = keeperOf({ ttlSeconds: 60 }, { expiresIn: 60_000 + 600_000 });
    const openedAt = clock.now();
    await keeper.take(100n, 100n);
    clock.set(openedAt + 60_000 - MARGIN_MS - 1);
    const stillDrawn = await keeper.take(100n, 100n);

    // Act
    clock.set(openedAt + 60_000 - MARGIN_MS);
    const after = await keeper.take(100n, 100n);

    // Assess
    expect(stillDrawn).toEqual({ tab: expect.objectContaining({ tabId: tabIdOf(0) }), slot: 1 });
    expect(after).toEqual({ tab: expect.objectContaining({ tabId: tabIdOf(1) }), slot: 0 });
    expect(coordinator.calls).toHaveLength(2);
  });
});

describe("options that are not numbers", () => {
  it.each([{ slots: Number.NaN }, { ttlSeconds: Number.NaN }, { slots: Number.POSITIVE_INFINITY }])(
    "refuses %o at construction with a RangeError naming the option (every open would be refused)",
    (options) => {
      // Act
      const make = () => keeperOf(options);

      // Assess
      expect(make).toThrow(RangeError);
      expect(make).toThrow(new RegExp(`tabs\\.${Object.keys(options)[0]} must be a finite number`));
    },
  );
});

describe("slot cost: a job is drawn on a tab only if its maxCost fits the tab's slotCost", () => {
  it("draws a job whose maxCost equals the tab's slotCost on that tab", async () => {
    // Prepare
    const { keeper, coordinator } = keeperOf();
    await keeper.take(100n, 100n);

    // Act
    const got = await keeper.take(100n, 100n);

    // Assess
    expect(got).toEqual({ tab: expect.objectContaining({ tabId: tabIdOf(0) }), slot: 1 });
    expect(coordinator.calls).toHaveLength(1);
  });

  it("draws a cheaper job on the tab", async () => {
    // Prepare
    const { keeper, coordinator } = keeperOf();
    await keeper.take(100n, 100n);

    // Act
    const got = await keeper.take(1n, 1n);

    // Assess
    expect(got).toEqual({ tab: expect.objectContaining({ tabId: tabIdOf(0) }), slot: 1 });
    expect(coordinator.calls).toHaveLength(1);
  });

  it("opens a dearer tab for a job whose maxCost is one over the kept tab's slotCost, and keeps both", async () => {
    // Prepare
    const { keeper, coordinator } = keeperOf();
    await keeper.take(100n, 100n);

    // Act
    const dear = await keeper.take(101n, 101n);
    const cheap = await keeper.take(100n, 100n);

    // Assess
    expect(dear).toEqual({ tab: expect.objectContaining({ tabId: tabIdOf(1), slotCost: "101" }), slot: 0 });
    expect(cheap).toEqual({ tab: expect.objectContaining({ tabId: tabIdOf(0) }), slot: 1 });
    expect(coordinator.calls.map((c) => c.body.slotCost)).toEqual(["100", "101"]);
  });
});

describe("one open at a time: jobs that find no slot wait for the same open", () => {
  it("shares one open between concurrent takers, each getting its own slot", async () => {
    // Prepare
    const g = gate();
    const { keeper, coordinator } = keeperOf({ slots: 4 }, { gate: g.p });

    // Act
    const pending = [keeper.take(100n, 100n), keeper.take(100n, 100n), keeper.take(100n, 100n)];
    g.release();
    const got = await Promise.all(pending);

    // Assess
    expect(coordinator.calls).toHaveLength(1);
    expect(got.map((s) => s?.tab.tabId)).toEqual([tabIdOf(0), tabIdOf(0), tabIdOf(0)]);
    expect(got.map((s) => s?.slot).sort()).toEqual([0, 1, 2]);
  });

  it("opens the next tab, one at a time, for takers the new tab has no slot for", async () => {
    // Prepare
    const g = gate();
    const { keeper, coordinator } = keeperOf({ slots: 2 }, { gate: g.p });

    // Act
    const pending = [keeper.take(100n, 100n), keeper.take(100n, 100n), keeper.take(100n, 100n)];
    g.release();
    const got = await Promise.all(pending);

    // Assess
    expect(coordinator.calls).toHaveLength(2);
    expect(coordinator.maxInFlight()).toBe(1);
    const ids = got.map((s) => `${s?.tab.tabId}#${s?.slot}`).sort();
    expect(ids).toEqual([`${tabIdOf(0)}#0`, `${tabIdOf(0)}#1`, `${tabIdOf(1)}#0`]);
  });

  it("answers every waiting taker undefined when the shared open fails, after one call", async () => {
    // Prepare
    const g = gate();
    const { keeper, coordinator } = keeperOf({}, { gate: g.p, fails: () => true });

    // Act
    const pending = [keeper.take(100n, 100n), keeper.take(100n, 100n), keeper.take(100n, 100n)];
    g.release();
    const got = await Promise.all(pending);

    // Assess
    expect(got).toEqual([undefined, undefined, undefined]);
    expect(coordinator.calls).toHaveLength(1);
  });
});

describe("a failed open: jobs hold for themselves for 60 s", () => {
  it("answers undefined when the open fails", async () => {
    // Prepare
    const { keeper, coordinator } = keeperOf({}, { fails: (n) => n === 0 });

    // Act
    const got = await keeper.take(100n, 100n);

    // Assess
    expect(got).toBeUndefined();
    expect(coordinator.calls).toHaveLength(1);
    expect(keeper.view()).toEqual([]);
  });

  it("does not try to open again until 60 s have passed", async () => {
    // Prepare
    const { keeper, clock, coordinator } = keeperOf({}, { fails: (n) => n === 0 });
    await keeper.take(100n, 100n);
    clock.set(T0 + PAUSE_MS - 1);

    // Act
    const got = await keeper.take(100n, 100n);

    // Assess
    expect(got).toBeUndefined();
    expect(coordinator.calls).toHaveLength(1);
  });

  it("opens again at exactly 60 s after the failure", async () => {
    // Prepare
    const { keeper, clock, coordinator } = keeperOf({}, { fails: (n) => n === 0 });
    await keeper.take(100n, 100n);
    clock.set(T0 + PAUSE_MS);

    // Act
    const got = await keeper.take(100n, 100n);

    // Assess
    expect(got).toEqual({ tab: expect.objectContaining({ tabId: tabIdOf(1) }), slot: 0 });
    expect(coordinator.calls).toHaveLength(2);
  });

  it("still draws on a kept tab that fits while opens are paused", async () => {
    // Prepare
    const { keeper, coordinator } = keeperOf({}, { fails: (n) => n === 1 });
    await keeper.take(100n, 100n);
    expect(await keeper.take(200n, 200n)).toBeUndefined();

    // Act
    const got = await keeper.take(100n, 100n);

    // Assess
    expect(got).toEqual({ tab: expect.objectContaining({ tabId: tabIdOf(0) }), slot: 1 });
    expect(coordinator.calls).toHaveLength(2);
  });
});

describe("tabRefused: the refusals that say the tab (or the slot) is no good", () => {
  it.each(["tab_expired", "bad_tab", "not_your_tab", "job_exists", "idempotency_key_reused"])("%s drops the tab", (code) => {
    // Act / Assess
    expect(tabRefused(code)).toBe(true);
  });

  it.each(["", "insufficient_funds", "quote_expired", "bad_request", "TAB_EXPIRED", "tab"])("%j does not", (code) => {
    // Act / Assess
    expect(tabRefused(code)).toBe(false);
  });
});

describe("drop: forgetting a tab by id", () => {
  it("forgets only the tab named; the others are still drawn on", async () => {
    // Prepare
    const { keeper, coordinator } = keeperOf();
    await keeper.take(100n, 100n);
    await keeper.take(200n, 200n);

    // Act
    keeper.drop(tabIdOf(0));
    const got = await keeper.take(100n, 100n);

    // Assess
    expect(keeper.view().map((v) => v.tabId)).toEqual([tabIdOf(1)]);
    expect(got).toEqual({ tab: expect.objectContaining({ tabId: tabIdOf(1) }), slot: 1 });
    expect(coordinator.calls).toHaveLength(2);
  });

  it("opens a new tab after the only one is dropped", async () => {
    // Prepare
    const { keeper, coordinator } = keeperOf();
    await keeper.take(100n, 100n);

    // Act
    keeper.drop(tabIdOf(0));
    const got = await keeper.take(100n, 100n);

    // Assess
    expect(got).toEqual({ tab: expect.objectContaining({ tabId: tabIdOf(1) }), slot: 0 });
    expect(coordinator.calls).toHaveLength(2);
  });

  it("changes nothing for an id it does not keep", async () => {
    // Prepare
    const { keeper } = keeperOf();
    await keeper.take(100n, 100n);
    const before = keeper.view();

    // Act
    keeper.drop(tabIdOf(7));

    // Assess
    expect(keeper.view()).toEqual(before);
  });
});

describe("view: the kept tabs as callers see them", () => {
  it("shows nothing before any job", () => {
    // Prepare
    const { keeper } = keeperOf();

    // Act / Assess
    expect(keeper.view()).toEqual([]);
  });

  it("shows each kept tab's id, slots, slots used, slot cost and expiry", async () => {
    // Prepare
    const { keeper } = keeperOf({ slots: 3, ttlSeconds: 120 });
    await keeper.take(100n, 100n);
    await keeper.take(100n, 100n);
    await keeper.take(500n, 400n);

    // Act
    const shown = keeper.view();

    // Assess
    expect(shown).toEqual([
      { tabId: tabIdOf(0), slots: 3, used: 2, slotCost: "100", expiresAt: T0 + 120_000 },
      { tabId: tabIdOf(1), slots: 3, used: 1, slotCost: "500", expiresAt: T0 + 120_000 },
    ]);
  });
});

describe("an open whose answer was lost: the next open asks again under the same key, holding nothing twice", () => {
  /**
   * A coordinator that, like core/jobs/tabs.ts openTab, names each tab by its Idempotency-Key and
   * answers a key it has seen with the tab it opened then; `lose(n)` opens call n's tab and then
   * loses the answer (a dropped connection), `refuse(n)` refuses call n with a 4xx before opening.
   */
  function keyedCoordinator(
    clock: { now: () => number },
    o: { lose?: (n: number) => boolean; refuse?: (n: number) => number | undefined },
  ) {
    const opened = new Map<string, Tab>();
    const keys: string[] = [];
    const open = async (body: OpenTabRequest, key: string): Promise<TabView> => {
      const n = keys.length;
      keys.push(key);
      const status = o.refuse?.(n);
      if (status !== undefined) throw new ApiError(status, "insufficient_funds", "refused before anything was held");
      let tab = opened.get(key);
      if (!tab) {
        tab = {
          v: 1,
          tabId: tabIdOf(opened.size),
          requester: "A".repeat(43),
          slots: body.slots,
          slotCost: body.slotCost,
          expiresAt: clock.now() + body.ttlSeconds * 1000,
          mac: "bWFj",
        };
        opened.set(key, tab);
      }
      if (o.lose?.(n)) throw new ApiError(0, "unreachable", "socket hang up");
      return { tab, status: "open", closesAfter: tab.expiresAt + 120_000 };
    };
    return { open, keys, opened };
  }

  it("after a lost answer, the next open (after the pause) answers the tab already opened: one tab held, its slots used from 0", async () => {
    // Prepare
    const clock = fakeClock();
    const coordinator = keyedCoordinator(clock, { lose: (n) => n === 0 });
    const keeper = new TabKeeper({ slots: 4 }, coordinator.open, clock.now);
    expect(await keeper.take(100n, 100n)).toBeUndefined();
    clock.set(T0 + PAUSE_MS);

    // Act
    const got = await keeper.take(100n, 100n);

    // Assess
    expect(coordinator.keys).toHaveLength(2);
    expect(coordinator.keys[1]).toBe(coordinator.keys[0]);
    expect(coordinator.opened.size).toBe(1);
    expect(got).toEqual({ tab: expect.objectContaining({ tabId: tabIdOf(0) }), slot: 0 });
  });

  it("the tab answered late is drawn on only until ttl after its first open was sent (minus the margin)", async () => {
    // Prepare: the answer lost at T0, asked again 60 s later
    const clock = fakeClock();
    const coordinator = keyedCoordinator(clock, { lose: (n) => n === 0 });
    const keeper = new TabKeeper({ slots: 4, ttlSeconds: 300 }, coordinator.open, clock.now);
    await keeper.take(100n, 100n);
    clock.set(T0 + PAUSE_MS);
    await keeper.take(100n, 100n);

    // Act: 10 s before ttl after the FIRST send
    clock.set(T0 + 300_000 - MARGIN_MS);
    await keeper.take(100n, 100n);

    // Assess: that tab is passed over (a new one opened, under a new key)
    expect(coordinator.opened.size).toBe(2);
    expect(new Set(coordinator.keys).size).toBe(2);
  });

  it.each([
    [400, "tab_too_small"],
    [429, "rate_limited"],
  ])("a %i %s open answers no slot (the job holds for itself) and pauses opens", async (status, code) => {
    // Prepare: a coordinator refusing every open as tabs.ts does under its floor or its tab_open limit
    const clock = fakeClock();
    const opens: string[] = [];
    const open = async (_b: OpenTabRequest, key: string): Promise<TabView> => {
      opens.push(key);
      throw new ApiError(status, code, "refused before anything was held");
    };
    const keeper = new TabKeeper({ slots: 4 }, open, clock.now);

    // Act
    const first = await keeper.take(100n, 100n);
    const second = await keeper.take(100n, 100n);

    // Assess
    expect(first).toBeUndefined();
    expect(second).toBeUndefined();
    expect(opens).toHaveLength(1);
  });

  it("a 4xx refusal opened nothing: the next open takes a new key", async () => {
    // Prepare
    const clock = fakeClock();
    const coordinator = keyedCoordinator(clock, { refuse: (n) => (n === 0 ? 402 : undefined) });
    const keeper = new TabKeeper({ slots: 4 }, coordinator.open, clock.now);
    await keeper.take(100n, 100n);
    clock.set(T0 + PAUSE_MS);

    // Act
    await keeper.take(100n, 100n);

    // Assess
    expect(coordinator.keys).toHaveLength(2);
    expect(coordinator.keys[1]).not.toBe(coordinator.keys[0]);
  });

  it("a lost answer for another body (a dearer slot) is not reused for it: each body its own key", async () => {
    // Prepare
    const clock = fakeClock();
    const coordinator = keyedCoordinator(clock, { lose: (n) => n === 0 });
    const keeper = new TabKeeper({ slots: 4 }, coordinator.open, clock.now);
    await keeper.take(100n, 100n);
    clock.set(T0 + PAUSE_MS);

    // Act
    const got = await keeper.take(200n, 200n);

    // Assess
    expect(coordinator.keys[1]).not.toBe(coordinator.keys[0]);
    expect(got?.tab.slotCost).toBe("200");
  });

  it("the lost open is still asked again under its key when its body comes up after another body's open", async () => {
    // Prepare: the open of slotCost 100 lost; one of 200 answered
    const clock = fakeClock();
    const coordinator = keyedCoordinator(clock, { lose: (n) => n === 0 });
    const keeper = new TabKeeper({ slots: 4 }, coordinator.open, clock.now);
    await keeper.take(100n, 100n);
    clock.set(T0 + PAUSE_MS);
    await keeper.take(200n, 200n);
    keeper.drop(tabIdOf(1));

    // Act
    const got = await keeper.take(100n, 100n);

    // Assess
    expect(coordinator.keys[2]).toBe(coordinator.keys[0]);
    expect(coordinator.opened.size).toBe(2);
    expect(got).toEqual({ tab: expect.objectContaining({ tabId: tabIdOf(0), slotCost: "100" }), slot: 0 });
  });
});
