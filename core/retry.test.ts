import { describe, expect, it } from "vitest";
import { RETRY, retryOptimistic } from "./retry";

describe("retryOptimistic", () => {
  it("returns the first attempt's value that is not RETRY, waiting the backoff before each new attempt", async () => {
    // Prepare
    const slept: number[] = [];
    const seen: number[] = [];
    // Act
    const v = await retryOptimistic(
      { attempts: 5, exhausted: () => new Error("no"), backoffMs: (n) => 10 * 2 ** n, sleep: async (ms) => void slept.push(ms) },
      async (n) => {
        seen.push(n);
        return n < 2 ? RETRY : `won at ${n}`;
      },
    );
    // Assess
    expect(v).toBe("won at 2");
    expect(seen).toEqual([0, 1, 2]);
    expect(slept).toEqual([10, 20]);
  });

  it("throws the exhausted error after the last attempt asked for another, and passes the body's own errors through at once", async () => {
    let calls = 0;
    const exhausted = await retryOptimistic(
      { attempts: 3, exhausted: () => new Error("kept conflicting") },
      async () => (calls++, RETRY),
    ).catch((e) => e);
    const own = await retryOptimistic({ attempts: 3, exhausted: () => new Error("x") }, async () => {
      throw new TypeError("boom");
    }).catch((e) => e);
    expect(exhausted).toMatchObject({ message: "kept conflicting" });
    expect(calls).toBe(3);
    expect(own).toBeInstanceOf(TypeError);
  });
});
