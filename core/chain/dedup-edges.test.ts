/**
 * core/chain/dedup.ts at its edges (mutation-checked): the in-memory window measured from the
 * last send and its pruning past 10,000 keys, `forget`, the store-backed claim item (table,
 * key, sentAt, ttl) and its release when a send fails (only its own claim), a store outage
 * told apart from "already sent", and fan-out reaching every channel before it reports which
 * failed. The store is local/memory-store with the same fake clock as the dedup, so TTLs and
 * windows agree (a store on the system clock would expire every claim at once).
 */
import { describe, expect, it } from "vitest";
import type { Alert, Alerts } from "../ports";
import { createMemoryStore } from "../../local/memory-store";
import { TestStore } from "../../test/fixtures/faulty-store";
import { ALERT_OUTBOX_PK, collectingAlerts, DEDUP_SEND_LEASE_MS, dedupAlerts, fanoutAlerts, outboxAlerts, storeDedupAlerts } from "./dedup";

const T0 = 1_750_000_000_000; // a realistic epoch in ms: windows must be measured from the last send, not from 0
const WINDOW = 60_000;

/** Factory: an alert with this key. */
const alert = (key: string): Alert => ({ key, severity: "critical", title: `alert ${key}`, details: { key } });

/** Factory: a clock the test moves by hand. */
function fakeClock(start = T0) {
  let t = start;
  return {
    now: () => t,
    set: (ms: number) => {
      t = ms;
    },
  };
}

/** Factory: a channel whose sends all fail with `error`. */
const failingChannel = (error: Error): Alerts => ({
  raise: async () => {
    throw error;
  },
});

/** Factory: a promise the test settles by hand. */
function gate() {
  let open!: () => void;
  let fail!: (e: Error) => void;
  const promise = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { promise, open, fail };
}

/** Factory: a channel whose next send waits on a gate, then records the alert. */
function gatedChannel() {
  const g = gate();
  const raised: Alert[] = [];
  const channel: Alerts = {
    raise: async (a) => {
      await g.promise;
      raised.push(a);
    },
  };
  return { channel, raised, ...g };
}

const keys = (alerts: Alert[]) => alerts.map((a) => a.key);

describe("dedupAlerts (one process)", () => {
  it("measures the window from the last send at a real epoch: 1 ms short is suppressed, exactly the window later is sent", async () => {
    // Prepare
    const clock = fakeClock();
    const inner = collectingAlerts();
    const d = dedupAlerts(inner, WINDOW, clock);

    // Act
    await d.raise(alert("a"));
    clock.set(T0 + WINDOW - 1);
    await d.raise(alert("a"));
    clock.set(T0 + WINDOW);
    await d.raise(alert("a"));

    // Assess
    expect(keys(inner.raised)).toEqual(["a", "a"]);
  });

  it("forget(key) lets that key's next raise through inside its window and leaves other keys suppressed", async () => {
    // Prepare
    const clock = fakeClock();
    const inner = collectingAlerts();
    const d = dedupAlerts(inner, WINDOW, clock);
    await d.raise(alert("a"));
    await d.raise(alert("b"));

    // Act
    d.forget("a");
    clock.set(T0 + 1);
    await d.raise(alert("a"));
    await d.raise(alert("b"));

    // Assess
    expect(keys(inner.raised)).toEqual(["a", "b", "a"]);
  });

  // Found by this file (fixed): the key was remembered only after the inner send resolved, so two
  // raises of one key in flight together both passed the check and the alert went out twice.
  it("two raises of one key in flight together send it once", async () => {
    // Prepare
    const inner = collectingAlerts();
    const d = dedupAlerts(inner, WINDOW, fakeClock());

    // Act
    await Promise.all([d.raise(alert("a")), d.raise(alert("a"))]);

    // Assess
    expect(keys(inner.raised)).toEqual(["a"]);
  });

  it("a send that fails gives back only its own claim: a raise that claimed the key meanwhile stays remembered", async () => {
    // Prepare: the first send hangs, then fails; meanwhile the key is forgotten and sent again a moment later
    const clock = fakeClock();
    let failFirst!: (e: Error) => void;
    const sent: string[] = [];
    let calls = 0;
    const d = dedupAlerts(
      {
        raise: (a) => {
          calls++;
          if (calls === 1) return new Promise<void>((_, reject) => (failFirst = reject));
          sent.push(a.key);
          return Promise.resolve();
        },
      },
      WINDOW,
      clock,
    );
    const first = d.raise(alert("a"));
    d.forget("a");
    clock.set(T0 + 1);
    await d.raise(alert("a"));

    // Act
    failFirst(new Error("down"));
    await expect(first).rejects.toThrow("down");
    await d.raise(alert("a"));

    // Assess: the second send's claim survived the first one's failure
    expect(sent).toEqual(["a"]);
    expect(calls).toBe(2);
  });

  // Pruning only bounds memory; it shows through a wall clock stepped back (an NTP step): a
  // dropped key is sent again, a kept one is still inside its window and suppressed.
  it("with exactly 10,000 keys remembered nothing is dropped: after the clock steps back an old key is still suppressed", async () => {
    // Prepare: "old" sent at T0, then 9,999 other keys one window later (10,000 keys in all)
    const clock = fakeClock();
    const inner = collectingAlerts();
    const d = dedupAlerts(inner, WINDOW, clock);
    await d.raise(alert("old"));
    clock.set(T0 + WINDOW);
    for (let i = 1; i < 10_000; i++) await d.raise(alert(`k${i}`));

    // Act
    clock.set(T0 + WINDOW / 2);
    await d.raise(alert("old"));

    // Assess
    expect(inner.raised).toHaveLength(10_000);
    expect(keys(inner.raised).filter((k) => k === "old")).toEqual(["old"]);
  });

  it("past 10,000 keys, keys whose window ended (exactly windowMs ago included) are dropped and keys inside their window are kept", async () => {
    // Prepare: "old" sent at T0, then 10,000 other keys exactly one window later (10,001 keys)
    const clock = fakeClock();
    const inner = collectingAlerts();
    const d = dedupAlerts(inner, WINDOW, clock);
    await d.raise(alert("old"));
    clock.set(T0 + WINDOW);
    for (let i = 0; i < 10_000; i++) await d.raise(alert(`k${i}`));

    // Act: the clock steps back inside both windows
    clock.set(T0 + WINDOW / 2);
    await d.raise(alert("old"));
    await d.raise(alert("k0"));
    await d.raise(alert("k9999"));

    // Assess: "old" was pruned (sent again); the fresh keys were not (still suppressed)
    expect(inner.raised).toHaveLength(10_002);
    expect(keys(inner.raised.slice(-1))).toEqual(["old"]);
  });
});

describe("storeDedupAlerts (processes sharing a store)", () => {
  it("claims with one item in table chain: pk alert:<key>, sk sent, sentAt now, ttl one day after the window ends", async () => {
    // Prepare
    const clock = fakeClock();
    const store = createMemoryStore({ clock });
    const inner = collectingAlerts();

    // Act
    await storeDedupAlerts(inner, store, WINDOW, clock).raise(alert("chain.lag"));

    // Assess
    const ttl = (T0 + WINDOW) / 1000 + 86_400;
    expect(store.scan("chain")).toEqual([{ pk: "alert:chain.lag", sk: "sent", sentAt: T0, ttl }]);
    clock.set(ttl * 1000 - 1);
    expect(await store.get("chain", { pk: "alert:chain.lag", sk: "sent" })).toBeDefined();
    clock.set(ttl * 1000);
    expect(await store.get("chain", { pk: "alert:chain.lag", sk: "sent" })).toBeUndefined();
    expect(keys(inner.raised)).toEqual(["chain.lag"]);
  });

  it("two processes racing on the same key raise it once", async () => {
    // Prepare
    const clock = fakeClock();
    const store = createMemoryStore({ clock });
    const inner = collectingAlerts();

    // Act
    await Promise.all([
      storeDedupAlerts(inner, store, WINDOW, clock).raise(alert("a")),
      storeDedupAlerts(inner, store, WINDOW, clock).raise(alert("a")),
    ]);

    // Assess
    expect(keys(inner.raised)).toEqual(["a"]);
  });

  it("across processes, 1 ms short of the window is suppressed and exactly the window later is sent", async () => {
    // Prepare
    const clock = fakeClock();
    const store = createMemoryStore({ clock });
    const inner = collectingAlerts();
    const coordinator = () => storeDedupAlerts(inner, store, WINDOW, clock);
    await coordinator().raise(alert("a"));

    // Act
    clock.set(T0 + WINDOW - 1);
    await coordinator().raise(alert("a"));
    clock.set(T0 + WINDOW);
    await coordinator().raise(alert("a"));

    // Assess
    expect(keys(inner.raised)).toEqual(["a", "a"]);
    expect(store.scan("chain")).toMatchObject([{ pk: "alert:a", sentAt: T0 + WINDOW }]);
  });

  it("a failed send deletes its claim, so a raise inside the same window retries", async () => {
    // Prepare: the store's clock is the dedup's, so the claim is not expired by its ttl
    const clock = fakeClock();
    const store = createMemoryStore({ clock });
    const down = new Error("telegram down");

    // Act
    const failed = await storeDedupAlerts(failingChannel(down), store, WINDOW, clock)
      .raise(alert("a"))
      .catch((e: unknown) => e);
    const claimAfterFailure = store.scan("chain");
    clock.set(T0 + 1);
    const inner = collectingAlerts();
    await storeDedupAlerts(inner, store, WINDOW, clock).raise(alert("a"));

    // Assess
    expect(failed).toBe(down);
    expect(claimAfterFailure).toEqual([]);
    expect(keys(inner.raised)).toEqual(["a"]);
  });

  it("a failed send releases only its own claim: one taken meanwhile by another process (the window having passed) stays", async () => {
    // Prepare: process A claims at T0 and its send hangs
    const clock = fakeClock();
    const store = createMemoryStore({ clock });
    const slow = gatedChannel();
    const a = storeDedupAlerts(slow.channel, store, WINDOW, clock).raise(alert("k"));
    const aSettled = a.catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 0)); // let A take its claim
    expect(store.scan("chain")).toMatchObject([{ pk: "alert:k", sentAt: T0 }]);
    const inner = collectingAlerts();

    // Act: a window later B claims and sends; then A's send fails
    clock.set(T0 + WINDOW);
    await storeDedupAlerts(inner, store, WINDOW, clock).raise(alert("k"));
    slow.fail(new Error("sns down"));
    const aError = await aSettled;
    clock.set(T0 + WINDOW + 1);
    await storeDedupAlerts(inner, store, WINDOW, clock).raise(alert("k"));

    // Assess: B's claim survived A's release, so the third raise was suppressed
    expect(aError).toEqual(new Error("sns down"));
    expect(keys(inner.raised)).toEqual(["k"]);
    expect(store.scan("chain")).toMatchObject([{ pk: "alert:k", sentAt: T0 + WINDOW }]);
  });

  it("a claim whose process died mid-send (a Lambda killed while its channel hung) holds off others only for the lease, then the alert is sent", async () => {
    // Prepare: process A claims at T0 and its send never completes (the process is gone)
    const clock = fakeClock();
    const store = createMemoryStore({ clock });
    const dead = gatedChannel();
    void storeDedupAlerts(dead.channel, store, WINDOW, clock).raise(alert("chain.unmatched-outflow:withdraw:abc"));
    await new Promise((r) => setTimeout(r, 0)); // let A take its claim
    expect(store.scan("chain")).toMatchObject([{ sentAt: T0, sendingUntil: T0 + DEDUP_SEND_LEASE_MS }]);
    const inner = collectingAlerts();
    const next = () => storeDedupAlerts(inner, store, WINDOW, clock).raise(alert("chain.unmatched-outflow:withdraw:abc"));

    // Act: the next pass re-raises it inside the lease (suppressed: A might still be sending), then past it
    clock.set(T0 + DEDUP_SEND_LEASE_MS - 1);
    await next();
    const insideLease = keys(inner.raised);
    clock.set(T0 + DEDUP_SEND_LEASE_MS);
    await next();
    clock.set(T0 + DEDUP_SEND_LEASE_MS + 1);
    await next();

    // Assess: sent once, by the pass that took the claim over; confirmed (no lease left), so the window holds again
    expect(insideLease).toEqual([]);
    expect(keys(inner.raised)).toEqual(["chain.unmatched-outflow:withdraw:abc"]);
    expect(store.scan("chain")).toEqual([
      {
        pk: "alert:chain.unmatched-outflow:withdraw:abc",
        sk: "sent",
        sentAt: T0 + DEDUP_SEND_LEASE_MS,
        ttl: (T0 + DEDUP_SEND_LEASE_MS + WINDOW) / 1000 + 86_400,
      },
    ]);
  });

  it("a send confirmed after its lease ran out does not replace the claim that took it over: the window runs from the later send", async () => {
    // Prepare: process A claims at T0 and its send hangs past the lease
    const clock = fakeClock();
    const store = createMemoryStore({ clock });
    const slow = gatedChannel();
    const a = storeDedupAlerts(slow.channel, store, WINDOW, clock).raise(alert("k"));
    await new Promise((r) => setTimeout(r, 0)); // let A take its claim
    const inner = collectingAlerts();
    const later = T0 + DEDUP_SEND_LEASE_MS;

    // Act: B takes the claim over and sends; then A's send completes and A confirms its own claim
    clock.set(later);
    await storeDedupAlerts(inner, store, WINDOW, clock).raise(alert("k"));
    slow.open();
    await a;
    clock.set(T0 + WINDOW); // a window after A's claim, inside B's
    await storeDedupAlerts(inner, store, WINDOW, clock).raise(alert("k"));

    // Assess: B's item stands (A's confirmation would have moved the window back to T0 and let the last raise through)
    expect(keys(slow.raised)).toEqual(["k"]);
    expect(keys(inner.raised)).toEqual(["k"]);
    expect(store.scan("chain")).toEqual([{ pk: "alert:k", sk: "sent", sentAt: later, ttl: Math.ceil((later + WINDOW) / 1000) + 86_400 }]);
  });

  it("a store outage is not taken for 'already sent': the raise rejects with the store's error and sends nothing", async () => {
    // Prepare
    const clock = fakeClock();
    const store = new TestStore(clock);
    store.failNextTransacts = 1;
    const inner = collectingAlerts();

    // Act
    const raised = storeDedupAlerts(inner, store, WINDOW, clock).raise(alert("a"));

    // Assess
    await expect(raised).rejects.toThrow("injected store failure");
    expect(inner.raised).toEqual([]);
    expect(store.scan("chain")).toEqual([]);
  });
});

describe("outboxAlerts (a failing channel never stops the caller)", () => {
  it("keeps a refused alert and sends it again only once its retry is due (1 min, then 2 min), then forgets it", async () => {
    // Prepare
    const clock = fakeClock();
    const store = createMemoryStore({ clock });
    let down = true;
    const inner = collectingAlerts();
    const outbox = outboxAlerts({ raise: async (a) => (down ? Promise.reject(new Error("down")) : inner.raise(a)) }, store, clock);

    // Act: refused, then flushed early, then due but still refused, then due and sent
    await outbox.raise(alert("k"));
    clock.set(T0 + 59_999);
    const early = await outbox.flush();
    clock.set(T0 + 60_000);
    const stillDown = await outbox.flush();
    const kept = store.scan("chain");
    down = false;
    clock.set(T0 + 60_000 + 119_999);
    const beforeBackoff = await outbox.flush();
    clock.set(T0 + 60_000 + 120_000);
    const sent = await outbox.flush();

    // Assess
    expect([early, stillDown, beforeBackoff, sent]).toEqual([0, 0, 0, 1]);
    expect(kept).toMatchObject([{ pk: ALERT_OUTBOX_PK, sk: "k", attempts: 2, retryAt: T0 + 60_000 + 120_000, error: "down" }]);
    expect(inner.raised).toEqual([alert("k")]);
    expect(store.scan("chain")).toEqual([]);
  });

  it("a flush that sends a kept alert leaves a newer failure of the same key kept (raised while the flush was sending)", async () => {
    // Prepare: the alert was refused at T0 and is due at T0 + 1 min; the channel's next send hangs
    const clock = fakeClock();
    const store = createMemoryStore({ clock });
    let mode: "down" | "gated" = "down";
    const g = gate();
    const sent: Alert[] = [];
    const channel: Alerts = {
      raise: async (a) => {
        if (mode === "down") throw new Error("down");
        await g.promise;
        sent.push(a);
      },
    };
    const outbox = outboxAlerts(channel, store, clock);
    await outbox.raise(alert("k"));
    clock.set(T0 + 60_000);

    // Act: the flush re-sends it; meanwhile the same key is raised again and refused (kept anew); then the flush's send completes
    mode = "gated";
    const flushing = outbox.flush();
    await new Promise((r) => setTimeout(r, 0)); // the flush is sending
    mode = "down";
    clock.set(T0 + 60_001);
    await outbox.raise(alert("k"));
    g.open();
    const flushed = await flushing;

    // Assess: the flush sent the old one and deleted only it; the newer failure waits for its own retry
    expect([flushed, keys(sent)]).toEqual([1, ["k"]]);
    expect(store.scan("chain")).toMatchObject([{ pk: ALERT_OUTBOX_PK, sk: "k", attempts: 1, failedAt: T0 + 60_001 }]);
  });

  it("a store that cannot keep the alert either: raise rejects with the channel's error (nothing silently lost)", async () => {
    // Prepare
    const clock = fakeClock();
    const store = new TestStore(clock);
    store.failNextTransacts = 1;
    const down = new Error("telegram down");

    // Act
    const raised = outboxAlerts(failingChannel(down), store, clock).raise(alert("k"));

    // Assess
    await expect(raised).rejects.toBe(down);
    expect(store.scan("chain")).toEqual([]);
  });
});

describe("fanoutAlerts", () => {
  it("delivers the alert to every channel and resolves when all succeed", async () => {
    // Prepare
    const channels = [collectingAlerts(), collectingAlerts(), collectingAlerts()];

    // Act
    await fanoutAlerts(channels).raise(alert("chain.lag"));

    // Assess
    for (const c of channels) expect(c.raised).toEqual([alert("chain.lag")]);
  });

  it("failing channels do not stop the others; it then rejects with an AggregateError of exactly the failures, counted and keyed", async () => {
    // Prepare
    const ok1 = collectingAlerts();
    const ok2 = collectingAlerts();
    const snsDown = new Error("sns down");
    const telegramDown = new Error("telegram down");
    const fanout = fanoutAlerts([ok1, failingChannel(snsDown), ok2, failingChannel(telegramDown)]);

    // Act
    const error = await fanout.raise(alert("chain.lag")).catch((e: unknown) => e);

    // Assess
    expect(ok1.raised).toEqual([alert("chain.lag")]);
    expect(ok2.raised).toEqual([alert("chain.lag")]);
    expect(error).toBeInstanceOf(AggregateError);
    expect((error as AggregateError).errors).toEqual([snsDown, telegramDown]);
    expect((error as AggregateError).message).toBe("2 of 4 alert channels failed for chain.lag");
  });

  it("reports a failure only after the slower channels have finished sending", async () => {
    // Prepare
    const slow = gatedChannel();
    const fanout = fanoutAlerts([failingChannel(new Error("down")), slow.channel]);
    let settled = false;

    // Act
    const raised = fanout.raise(alert("a")).finally(() => {
      settled = true;
    });
    const outcome = raised.catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 10));
    const settledBeforeSlow = settled;
    slow.open();
    const error = await outcome;

    // Assess
    expect(settledBeforeSlow).toBe(false);
    expect(keys(slow.raised)).toEqual(["a"]);
    expect((error as AggregateError).message).toBe("1 of 2 alert channels failed for a");
  });

  it("a channel that throws at once instead of rejecting does not stop the channels after it", async () => {
    // Prepare
    const boom = new Error("bad config");
    const throwsAtOnce: Alerts = {
      raise: () => {
        throw boom;
      },
    };
    const after = collectingAlerts();

    // Act
    const error = await fanoutAlerts([throwsAtOnce, after])
      .raise(alert("a"))
      .catch((e: unknown) => e);

    // Assess
    expect(keys(after.raised)).toEqual(["a"]);
    expect((error as AggregateError).errors).toEqual([boom]);
  });
});
