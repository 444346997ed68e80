import { describe, expect, it, vi } from "vitest";
import { createLocalNotifier } from "./notifier";

describe("local notifier", () => {
  it("resolves every wait on a topic when it is notified and leaves no listener", async () => {
    // Prepare
    const notifier = createLocalNotifier();
    let resolved = 0;
    const waits = [1, 2, 3].map(() => notifier.wait("job:1", 60_000).then(() => resolved++));
    const other = notifier.wait("job:2", 60_000);
    // Act
    notifier.notify("job:1");
    await Promise.all(waits);
    // Assess
    expect(resolved).toBe(3);
    expect(notifier.pending("job:1")).toBe(0);
    expect(notifier.pending("job:2")).toBe(1);
    notifier.notify("job:2");
    await other;
  });

  it("resolves after ms without a notify", async () => {
    // Prepare: fake timers, so "after ms" is checked (a wait that resolved at once passed before)
    vi.useFakeTimers();
    try {
      const notifier = createLocalNotifier();
      let got: unknown = "pending";
      void notifier.wait("job:quiet", 5_000).then((v) => (got = v));
      // Act / Assess
      await vi.advanceTimersByTimeAsync(4_999);
      expect(got).toBe("pending");
      await vi.advanceTimersByTimeAsync(1);
      expect(got).toBeUndefined();
      expect(notifier.pending()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it("leaves no listeners after 10,000 waits that time out", async () => {
    const notifier = createLocalNotifier();
    const waits = Array.from({ length: 10_000 }, (_, i) => notifier.wait(`job:${i % 7}`, 1));
    expect(notifier.pending()).toBe(10_000);
    await Promise.all(waits);
    expect(notifier.pending()).toBe(0);
  });

  it("a wait whose signal aborts resolves undefined at once and leaves no listener; an aborted signal waits not at all", async () => {
    // Prepare
    const notifier = createLocalNotifier();
    const stop = new AbortController();
    const waiting = notifier.wait("job:1", 60_000, stop.signal);
    const pendingBefore = notifier.pending("job:1");
    // Act
    stop.abort();
    const got = await waiting;
    const already = await notifier.wait("job:1", 60_000, stop.signal);
    // Assess
    expect(pendingBefore).toBe(1);
    expect(got).toBeUndefined();
    expect(already).toBeUndefined();
    expect(notifier.pending()).toBe(0);
  });

  it("a notify with no waiters is harmless", () => {
    expect(() => createLocalNotifier().notify("job:none")).not.toThrow();
  });
});
