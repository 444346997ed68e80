import { afterEach, describe, expect, it, vi } from "vitest";
import { backoff, interruptibleSleep, sleepUnlessAborted, unlessAborted } from "./backoff";

/** The timers setTimeout made during `act`, to ask each whether it keeps the process alive. */
async function timersMadeBy(act: () => Promise<void>): Promise<NodeJS.Timeout[]> {
  const made: NodeJS.Timeout[] = [];
  const real = globalThis.setTimeout;
  const spy = vi.spyOn(globalThis, "setTimeout").mockImplementation(((fn: () => void, ms?: number) => {
    const t = real(fn, ms);
    made.push(t);
    return t;
  }) as typeof setTimeout);
  try {
    await act();
  } finally {
    spy.mockRestore();
  }
  return made;
}

describe("backoff", () => {
  it("doubles its ceiling from the base up to the cap, and starts again after a success", () => {
    // Prepare: the top of the jitter, so each wait is its ceiling
    const b = backoff({ baseMs: 100, capMs: 1_000, random: () => 0.999_999 });

    // Act
    const waits = [b.next(), b.next(), b.next(), b.next(), b.next()];
    const failures = b.failures;
    b.reset();

    // Assess
    expect(waits).toEqual([100, 200, 400, 800, 1_000]);
    expect(failures).toBe(5);
    expect(b.failures).toBe(0);
    expect(b.next()).toBe(100);
  });

  it("starts at 500 ms and stops doubling at 30 s by default", () => {
    const b = backoff({ random: () => 0.999_999 });

    const waits = Array.from({ length: 12 }, () => b.next());

    expect(waits[0]).toBe(500);
    expect(waits.at(-1)).toBe(30_000);
  });

  it("draws each wait uniformly below its ceiling (full jitter)", () => {
    const b = backoff({ baseMs: 1_000, random: () => 0.25 });

    expect([b.next(), b.next()]).toEqual([250, 500]);
  });
});

describe("sleepUnlessAborted", () => {
  afterEach(() => vi.useRealTimers());

  it("sleeps its time when nothing aborts, keeping the process alive by default", async () => {
    // Prepare
    vi.useFakeTimers();
    let woke = false;

    // Act
    const slept = sleepUnlessAborted(1_000, new AbortController().signal).then(() => (woke = true));
    await vi.advanceTimersByTimeAsync(999);
    const early = woke;
    await vi.advanceTimersByTimeAsync(1);
    await slept;

    // Assess
    expect(early).toBe(false);
    expect(woke).toBe(true);
  });

  it("ends at once when its signal aborts, and lets go of its listener", async () => {
    // Prepare
    const stop = new AbortController();
    const removed = vi.spyOn(stop.signal, "removeEventListener");
    const started = Date.now();

    // Act
    const slept = sleepUnlessAborted(60_000, stop.signal);
    stop.abort();
    await slept;

    // Assess
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(removed).toHaveBeenCalledWith("abort", expect.any(Function));
  });

  it("sleeps its time without a signal", async () => {
    vi.useFakeTimers();
    let woke = false;

    const slept = sleepUnlessAborted(1_000, undefined).then(() => (woke = true));
    await vi.advanceTimersByTimeAsync(1_000);
    await slept;

    expect(woke).toBe(true);
  });

  it("leaves no timer behind when aborted early", async () => {
    // Prepare
    vi.useFakeTimers();
    const stop = new AbortController();

    // Act
    const slept = sleepUnlessAborted(60_000, stop.signal);
    const during = vi.getTimerCount();
    stop.abort();
    await slept;

    // Assess
    expect(during).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("does not sleep under a signal already aborted", async () => {
    const stop = new AbortController();
    stop.abort();

    const made = await timersMadeBy(() => sleepUnlessAborted(60_000, stop.signal));

    expect(made).toHaveLength(0);
  });

  it("keeps the process alive unless told not to", async () => {
    const stop = new AbortController();
    const made = await timersMadeBy(async () => {
      const held = sleepUnlessAborted(60_000, stop.signal);
      const loose = sleepUnlessAborted(60_000, stop.signal, { keepAlive: false });
      stop.abort();
      await Promise.all([held, loose]);
    });

    expect(made.map((t) => t.hasRef())).toEqual([true, false]);
  });
});

describe("interruptibleSleep", () => {
  it("ends early on wake(), and its timer does not keep the process alive", async () => {
    // Prepare
    const s = interruptibleSleep();
    const started = Date.now();

    // Act
    const made = await timersMadeBy(async () => {
      const slept = s.sleep(60_000);
      s.wake();
      await slept;
    });

    // Assess
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(made.map((t) => t.hasRef())).toEqual([false]);
  });

  it("loses a wake with nobody asleep: the next sleep runs its full time", async () => {
    // Prepare
    vi.useFakeTimers();
    const s = interruptibleSleep();
    let woke = false;

    // Act
    s.wake();
    const slept = s.sleep(1_000).then(() => (woke = true));
    await vi.advanceTimersByTimeAsync(500);
    const early = woke;
    await vi.advanceTimersByTimeAsync(500);
    await slept;
    vi.useRealTimers();

    // Assess
    expect(early).toBe(false);
    expect(woke).toBe(true);
  });
});

describe("unlessAborted", () => {
  const stopped = () => new Error("stopped");

  it("gives the promise's value when nothing aborts", async () => {
    await expect(unlessAborted(Promise.resolve(7), new AbortController().signal, stopped)).resolves.toBe(7);
  });

  it("gives the promise's failure when nothing aborts", async () => {
    await expect(unlessAborted(Promise.reject(new Error("load failed")), new AbortController().signal, stopped)).rejects.toThrow(
      "load failed",
    );
  });

  it.each([
    ["resolves", () => Promise.resolve(1)],
    ["rejects", () => Promise.reject(new Error("no"))],
  ])("lets go of its abort listener once the promise %s", async (_, p) => {
    // Prepare
    const stop = new AbortController();
    const removed = vi.spyOn(stop.signal, "removeEventListener");

    // Act
    await unlessAborted(p(), stop.signal, stopped).catch(() => undefined);

    // Assess
    expect(removed).toHaveBeenCalledWith("abort", expect.any(Function));
  });

  it("rejects with stopped() at the abort, and swallows the promise's later failure", async () => {
    // Prepare
    const stop = new AbortController();
    let fail!: (e: Error) => void;
    const slow = new Promise<number>((_, reject) => (fail = reject));
    const unhandled = vi.fn();
    process.on("unhandledRejection", unhandled);

    // Act
    const waited = unlessAborted(slow, stop.signal, stopped);
    stop.abort();
    const outcome = await waited.catch((e: Error) => e.message);
    fail(new Error("late"));
    await new Promise((r) => setImmediate(r));
    process.off("unhandledRejection", unhandled);

    // Assess
    expect(outcome).toBe("stopped");
    expect(unhandled).not.toHaveBeenCalled();
  });

  it("rejects at once under a signal already aborted", async () => {
    const stop = new AbortController();
    stop.abort();

    await expect(unlessAborted(new Promise(() => {}), stop.signal, stopped)).rejects.toThrow("stopped");
  });

  it("swallows the later failure of a promise given under a signal already aborted", async () => {
    // Prepare
    const stop = new AbortController();
    stop.abort();
    let fail!: (e: Error) => void;
    const slow = new Promise<number>((_, reject) => (fail = reject));
    const unhandled = vi.fn();
    process.on("unhandledRejection", unhandled);

    // Act
    const outcome = await unlessAborted(slow, stop.signal, stopped).catch((e: Error) => e.message);
    fail(new Error("late"));
    await new Promise((r) => setImmediate(r));
    process.off("unhandledRejection", unhandled);

    // Assess
    expect(outcome).toBe("stopped");
    expect(unhandled).not.toHaveBeenCalled();
  });

  it("is the promise itself without a signal", () => {
    const p = Promise.resolve(1);

    expect(unlessAborted(p, undefined, stopped)).toBe(p);
  });
});
