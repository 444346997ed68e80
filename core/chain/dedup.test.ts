import { describe, expect, it } from "vitest";
import type { Alert } from "../ports";
import { collectingAlerts, dedupAlerts, storeDedupAlerts } from "./dedup";
import { TestStore } from "../../test/fixtures/faulty-store";

const alert = (key: string): Alert => ({ key, severity: "critical", title: "t", details: {} });

describe("dedupAlerts", () => {
  it("sends a key once per window, again after it", async () => {
    let now = 0;
    const inner = collectingAlerts();
    const d = dedupAlerts(inner, 1000, { now: () => now });
    await d.raise(alert("a"));
    await d.raise(alert("a"));
    await d.raise(alert("b"));
    now = 999;
    await d.raise(alert("a"));
    now = 1000;
    await d.raise(alert("a"));
    expect(inner.raised.map((a) => a.key)).toEqual(["a", "b", "a"]);
  });

  it("does not remember a failed send", async () => {
    let fail = true;
    const sent: string[] = [];
    const d = dedupAlerts(
      {
        raise: async (a) => {
          if (fail) throw new Error("down");
          sent.push(a.key);
        },
      },
      1000,
      { now: () => 0 },
    );
    await expect(d.raise(alert("a"))).rejects.toThrow("down");
    fail = false;
    await d.raise(alert("a"));
    expect(sent).toEqual(["a"]);
  });
});

describe("storeDedupAlerts", () => {
  it("dedups across instances sharing a store (Lambda restarts)", async () => {
    let now = 10_000;
    const clock = { now: () => now };
    const store = new TestStore(clock);
    const inner = collectingAlerts();
    await storeDedupAlerts(inner, store, 1000, clock).raise(alert("a"));
    await storeDedupAlerts(inner, store, 1000, clock).raise(alert("a"));
    now = 11_000;
    await storeDedupAlerts(inner, store, 1000, clock).raise(alert("a"));
    expect(inner.raised.map((a) => a.key)).toEqual(["a", "a"]);
  });

  it("releases the claim when the send fails", async () => {
    const store = new TestStore();
    const clock = { now: () => 5 };
    await expect(
      storeDedupAlerts(
        {
          raise: async () => {
            throw new Error("down");
          },
        },
        store,
        1000,
        clock,
      ).raise(alert("a")),
    ).rejects.toThrow("down");
    const inner = collectingAlerts();
    await storeDedupAlerts(inner, store, 1000, clock).raise(alert("a"));
    expect(inner.raised).toHaveLength(1);
  });
});
