/**
 * Token buckets (rate-limit.ts) driven by an explicit clock: the limit's validation, the exact
 * refill and retry-after arithmetic at its boundaries, a clock that goes backwards, and
 * enforceRateLimit rebuilding the buckets when the configured limit changes. A mutation run
 * (c1b8f79) left all of these alive; limits.test.ts covers the burst and the LRU bound.
 */
import { describe, expect, it } from "vitest";
import { RateLimitedError } from "../errors";
import { DEFAULT_RATE_LIMITS, TokenBuckets, enforceRateLimit, type RateLimit } from "./rate-limit";

const T0 = 1_000_000;

/** Buckets of `burst` tokens refilled at `perMinute`. */
const buckets = (burst: number, perMinute: number) => new TokenBuckets({ burst, perMinute });

/** Empties `key`'s bucket at time `now` (takes `n` tokens, each must succeed). */
function drain(b: TokenBuckets, key: string, now: number, n = b.limit.burst) {
  for (let i = 0; i < n; i++) expect(b.take(key, now)).toEqual({ ok: true });
}

/** The error enforceRateLimit throws, or undefined. */
function thrown(f: () => void): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe("TokenBuckets: the limit is validated", () => {
  it.each<[string, RateLimit]>([
    ["a burst below 1", { burst: 0.5, perMinute: 10 }],
    ["a burst of 0", { burst: 0, perMinute: 10 }],
    ["a NaN burst", { burst: NaN, perMinute: 10 }],
    ["a perMinute of 0", { burst: 1, perMinute: 0 }],
    ["a negative perMinute", { burst: 1, perMinute: -1 }],
    ["a NaN perMinute", { burst: 1, perMinute: NaN }],
  ])("%s → RangeError naming the limit", (_name, limit) => {
    // Act
    const e = thrown(() => new TokenBuckets(limit));
    // Assess
    expect(e).toBeInstanceOf(RangeError);
    expect((e as Error).message).toBe(`a rate limit needs burst >= 1 and perMinute > 0, got ${JSON.stringify(limit)}`);
  });

  it("the smallest limits allowed: a burst of exactly 1, any perMinute above 0", () => {
    // Act
    const b = buckets(1, 0.001);
    // Assess
    expect(b.limit).toEqual({ burst: 1, perMinute: 0.001 });
    expect(b.take("k", T0)).toEqual({ ok: true });
  });

  it("keys counts the keys seen, one per distinct key", () => {
    // Prepare
    const b = buckets(2, 60);
    // Act
    const counts = [b.keys];
    b.take("a", T0);
    counts.push(b.keys);
    b.take("a", T0);
    b.take("b", T0);
    counts.push(b.keys);
    // Assess
    expect(counts).toEqual([0, 1, 2]);
  });
});

describe("TokenBuckets: refill and retry-after, to the millisecond", () => {
  it("an empty bucket: retry after exactly one refill interval; one ms earlier is still refused", () => {
    // Prepare: 6 per minute, a token every 10 s
    const b = buckets(2, 6);
    drain(b, "k", T0);
    // Act
    const refused = b.take("k", T0);
    const early = b.take("k", T0 + 9_999);
    const onTime = b.take("k", T0 + 10_000);
    // Assess
    expect(refused).toEqual({ ok: false, retryAfterMs: 10_000 });
    expect(early).toEqual({ ok: false, retryAfterMs: 1 });
    expect(onTime).toEqual({ ok: true });
  });

  it("a partly refilled bucket: retry after the rest of the interval only (1 − tokens, not 1 + tokens)", () => {
    // Prepare: a token every 10 s; 4 s later 0.4 of a token is back
    const b = buckets(1, 6);
    drain(b, "k", T0);
    // Act
    const partial = b.take("k", T0 + 4_000);
    const justBefore = b.take("k", T0 + 9_999);
    const onTime = b.take("k", T0 + 10_000);
    // Assess
    expect(partial).toEqual({ ok: false, retryAfterMs: 6_000 });
    expect(justBefore).toEqual({ ok: false, retryAfterMs: 1 });
    expect(onTime).toEqual({ ok: true });
  });

  it("refill is elapsed × rate: a short wait brings back only its share, a refused take keeps the refill", () => {
    // Prepare: 60 per minute, a token a second, burst 3
    const b = buckets(3, 60);
    drain(b, "k", T0);
    // Act: 1.5 s refill one token and a half
    const first = b.take("k", T0 + 1_500);
    const second = b.take("k", T0 + 1_500);
    // Assess: half a token left, so 500 ms to wait
    expect(first).toEqual({ ok: true });
    expect(second).toEqual({ ok: false, retryAfterMs: 500 });
    expect(b.take("k", T0 + 2_000)).toEqual({ ok: true });
    expect(b.take("k", T0 + 2_000)).toEqual({ ok: false, retryAfterMs: 1_000 });
  });

  it("a long pause refills up to the burst, never beyond", () => {
    // Prepare
    const b = buckets(2, 60);
    drain(b, "k", T0);
    // Act
    const later = T0 + 3_600_000;
    const takes = [b.take("k", later), b.take("k", later), b.take("k", later)];
    // Assess
    expect(takes).toEqual([{ ok: true }, { ok: true }, { ok: false, retryAfterMs: 1_000 }]);
  });

  it("a fresh key starts with a full bucket, whatever the clock", () => {
    // Prepare
    const b = buckets(2, 60);
    drain(b, "used", T0);
    // Act
    const takes = [b.take("fresh", 0), b.take("fresh", 0), b.take("fresh", 0)];
    // Assess
    expect(takes).toEqual([{ ok: true }, { ok: true }, { ok: false, retryAfterMs: 1_000 }]);
  });
});

describe("TokenBuckets: a clock that goes backwards", () => {
  it("refills nothing, and the bucket keeps its later time: going forward again refills from there", () => {
    // Prepare: a token a second, burst 2; one taken at T0
    const b = buckets(2, 60);
    expect(b.take("k", T0)).toEqual({ ok: true });
    // Act: the clock jumps back 50 s; the remaining token is taken then
    const back = b.take("k", T0 - 50_000);
    const stillBack = b.take("k", T0 - 50_000);
    // Assess: nothing refilled, and half a second after T0 only half a token is back
    expect(back).toEqual({ ok: true });
    expect(stillBack).toEqual({ ok: false, retryAfterMs: 1_000 });
    expect(b.take("k", T0 + 500)).toEqual({ ok: false, retryAfterMs: 500 });
    expect(b.take("k", T0 + 1_000)).toEqual({ ok: true });
  });

  it("a clock that moves forward records the new time: the next refill counts from it", () => {
    // Prepare
    const b = buckets(2, 60);
    drain(b, "k", T0);
    // Act: a token back at T0 + 1 s is taken; half a second later nothing is whole
    const taken = b.take("k", T0 + 1_000);
    const after = b.take("k", T0 + 1_500);
    // Assess
    expect(taken).toEqual({ ok: true });
    expect(after).toEqual({ ok: false, retryAfterMs: 500 });
  });
});

describe("enforceRateLimit", () => {
  it("uses the defaults without configured limits, then refuses with 429 rate_limited and the seconds to wait", () => {
    // Prepare
    const owner = {};
    const { burst, perMinute } = DEFAULT_RATE_LIMITS.registration;
    for (let i = 0; i < burst; i++) enforceRateLimit(owner, undefined, "registration", "w", T0);
    // Act
    const e = thrown(() => enforceRateLimit(owner, undefined, "registration", "w", T0));
    // Assess: 10 per minute, a token every 6 s
    expect(e).toBeInstanceOf(RateLimitedError);
    expect(e).toMatchObject({
      status: 429,
      code: "rate_limited",
      message: `too many registration calls from this key (at most ${burst} at once, ${perMinute} per minute): retry in 6 s`,
      details: { action: "registration", retryAfterSeconds: 6 },
    });
  });

  it("rounds the wait up to whole seconds", () => {
    // Prepare: a token every 10 s
    const owner = {};
    const limits = { challenge: { burst: 1, perMinute: 6 } };
    enforceRateLimit(owner, limits, "challenge", "r", T0);
    // Act
    const e = thrown(() => enforceRateLimit(owner, limits, "challenge", "r", T0 + 8_500));
    // Assess: 1 500 ms left → 2 s
    expect(e).toMatchObject({ code: "rate_limited", details: { action: "challenge", retryAfterSeconds: 2 } });
  });

  it("keeps state per owner and per action", () => {
    // Prepare
    const limits = { registration_nonce: { burst: 1, perMinute: 1 }, registration: { burst: 1, perMinute: 1 } };
    const owner = {};
    enforceRateLimit(owner, limits, "registration_nonce", "w", T0);
    // Act / Assess
    expect(() => enforceRateLimit(owner, limits, "registration_nonce", "w", T0)).toThrow(RateLimitedError);
    expect(() => enforceRateLimit(owner, limits, "registration", "w", T0)).not.toThrow();
    expect(() => enforceRateLimit({}, limits, "registration_nonce", "w", T0)).not.toThrow();
  });

  it.each<[string, RateLimit]>([
    ["burst", { burst: 2, perMinute: 1 }],
    ["perMinute", { burst: 1, perMinute: 2 }],
  ])("a changed %s rebuilds the buckets with the new limit (full again)", (_what, changed) => {
    // Prepare: the one token of { burst 1, 1 per minute } is spent
    const owner = {};
    const before = { challenge: { burst: 1, perMinute: 1 } };
    enforceRateLimit(owner, before, "challenge", "r", T0);
    expect(() => enforceRateLimit(owner, before, "challenge", "r", T0)).toThrow(RateLimitedError);
    // Act
    const e = thrown(() => enforceRateLimit(owner, { challenge: changed }, "challenge", "r", T0));
    // Assess
    expect(e).toBeUndefined();
  });

  it("the same limit again (a new but equal object) keeps the buckets", () => {
    // Prepare
    const owner = {};
    enforceRateLimit(owner, { challenge: { burst: 1, perMinute: 1 } }, "challenge", "r", T0);
    // Act
    const e = thrown(() => enforceRateLimit(owner, { challenge: { burst: 1, perMinute: 1 } }, "challenge", "r", T0));
    // Assess
    expect(e).toMatchObject({ code: "rate_limited", details: { retryAfterSeconds: 60 } });
  });
});
