/**
 * Issue 9 #5 at the verifier: evidence is bounded before it is parsed, and what an attacker
 * makes up leaves nothing in the (bounded) caches.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { IN_WINDOW, LAYOUT, SAMPLE_QUOTE, sampleCollateral } from "../../test/fixtures/attestation/helpers";
import {
  SAMPLE_CHAIN,
  bogusCollateral,
  bogusLeaf,
  quoteWithBogusCerts,
  quoteWithBogusLeaf,
  quoteWithChain,
  toPem,
} from "../../test/fixtures/attestation/forge";
import { Lru } from "./lru";
import { DEFAULT_RATE_LIMITS, TokenBuckets } from "./rate-limit";
import { MAX_CERT_BYTES, MAX_CERT_DATA_BYTES, MAX_CHAIN_CERTS, MAX_QUOTE_BYTES } from "./tdx/quote";
import { TDX_CACHE_MAX_ENTRIES, TdxVerifierCache, verifyTdxQuote } from "./tdx/verify";
import { X509, type Cert } from "./tdx/x509";

const at = { now: IN_WINDOW };
/** Counts certificate parses (X509.parse is the only way a certificate gets parsed). */
const countParses = () => vi.spyOn(X509, "parse");

afterEach(() => vi.restoreAllMocks());

describe("issue 9 #5: certificate count and sizes are capped before parsing", () => {
  it("issue 9 #5: a quote carrying hundreds of bogus certificates is refused before any is parsed", async () => {
    // Prepare: 340 distinct, well-formed certificates (what took a coordinator to 1 GiB in 8 registrations)
    const quote = quoteWithBogusCerts(340);
    const parses = countParses();
    // Act
    const v = await verifyTdxQuote(quote, { ...at, collateral: sampleCollateral(), cache: new TdxVerifierCache() });
    // Assess
    expect(quote.length).toBeGreaterThan(MAX_QUOTE_BYTES);
    expect(v).toMatchObject({ genuine: false, code: "quote_too_large" });
    expect(parses.mock.calls.length).toBe(0);
  });

  it("issue 9 #5: a small quote with more PEM certificates than a chain holds is refused before any is parsed", async () => {
    // Prepare: 5 certificates (an Intel chain has 3)
    expect(MAX_CHAIN_CERTS).toBeLessThan(5);
    const quote = quoteWithBogusCerts(5);
    const parses = countParses();
    const v = await verifyTdxQuote(quote, { ...at, cache: new TdxVerifierCache() });
    expect(quote.length).toBeLessThanOrEqual(MAX_QUOTE_BYTES);
    expect(v).toMatchObject({ genuine: false, code: "cert_chain_too_long" });
    expect(parses.mock.calls.length).toBe(0);
  });

  it("issue 9 #5: an oversized certificate is refused before it is parsed", async () => {
    // Prepare: the leaf padded past the per-certificate cap (still one PEM block)
    expect(MAX_CERT_BYTES).toBeLessThan(5000);
    const big = new Uint8Array(5000);
    big.set(SAMPLE_CHAIN[0]!);
    const parses = countParses();
    // Act
    const v = await verifyTdxQuote(quoteWithChain([big, ...SAMPLE_CHAIN.slice(1)].map(toPem).join("")), {
      ...at,
      cache: new TdxVerifierCache(),
    });
    // Assess
    expect(v).toMatchObject({ genuine: false, code: "cert_too_large" });
    expect(parses.mock.calls.length).toBe(0);
  });

  it("issue 9 #5: certification data announced larger than the cap is refused before it is read", async () => {
    // Prepare: 16 KiB announced (the sample carries about 4 KB)
    const q = SAMPLE_QUOTE.slice();
    new DataView(q.buffer).setUint32(LAYOUT.certType[1], 16 * 1024, true);
    expect(MAX_CERT_DATA_BYTES).toBeLessThan(16 * 1024);
    const v = await verifyTdxQuote(q, { ...at, cache: new TdxVerifierCache() });
    expect(v).toMatchObject({ genuine: false, code: "quote_cert_data_too_large" });
  });

  it("issue 9 #5: collateral issuer chains are capped the same way", async () => {
    const chain = Array.from({ length: 5 }, (_, i) => toPem(bogusLeaf(i))).join("");
    const parses = countParses();
    const v = await verifyTdxQuote(SAMPLE_QUOTE, {
      ...at,
      collateral: { ...sampleCollateral(), tcb_info_issuer_chain: chain },
      cache: new TdxVerifierCache(),
    });
    expect(v).toMatchObject({ genuine: false, code: "cert_chain_too_long" });
    // Only the quote's own (genuine) chain was parsed, never the made-up one.
    expect(parses.mock.calls.every(([ber]) => SAMPLE_CHAIN.some((c) => Buffer.from(c).equals(Buffer.from(ber))))).toBe(true);
  });

  it("the genuine sample, rebuilt through the same framing, still verifies (the caps leave room for real quotes)", async () => {
    const v = await verifyTdxQuote(quoteWithChain(SAMPLE_CHAIN.map(toPem).join("")), {
      ...at,
      collateral: sampleCollateral(),
      cache: new TdxVerifierCache(),
    });
    expect(v).toMatchObject({ genuine: true, status: "UpToDate" });
  });
});

describe("issue 9 #5: the verifier cache keeps only what verified, and is bounded", () => {
  it("issue 9 #5: failures are not cached (made-up chains and collateral leave nothing behind)", async () => {
    // Prepare: a warm cache holding the genuine sample's results
    const cache = new TdxVerifierCache();
    await verifyTdxQuote(SAMPLE_QUOTE, { ...at, collateral: sampleCollateral(), cache });
    const warm = cache.sizes();
    // Act: 50 distinct bogus leaves, and 50 distinct unsigned collaterals
    const codes = new Set<string>();
    for (let i = 0; i < 50; i++) {
      codes.add((await verifyTdxQuote(quoteWithBogusLeaf(i), { ...at, cache })).code);
      codes.add((await verifyTdxQuote(SAMPLE_QUOTE, { ...at, collateral: bogusCollateral(i), cache })).code);
    }
    // Assess
    expect([...codes].sort()).toEqual(["pck_chain_invalid", "tcb_info_signature_invalid"]);
    expect(cache.sizes()).toEqual(warm);
  });

  it("issue 9 #5: a failure is not remembered: the same evidence is checked again", async () => {
    const cache = new TdxVerifierCache();
    const first = await verifyTdxQuote(quoteWithBogusLeaf(7), { ...at, cache });
    const parses = countParses();
    const again = await verifyTdxQuote(quoteWithBogusLeaf(7), { ...at, cache });
    expect(first.code).toBe("pck_chain_invalid");
    expect(again.code).toBe("pck_chain_invalid");
    expect(parses.mock.calls.length).toBeGreaterThan(0); // re-checked, not answered from a cached failure
  });

  it("issue 9 #5: every map of the verifier cache is bounded (LRU)", () => {
    // Prepare
    const cache = new TdxVerifierCache(8);
    const n = 10 * TDX_CACHE_MAX_ENTRIES;
    // Act: far more distinct entries than the bound, as many distinct registrations would make
    for (let i = 0; i < n; i++) {
      cache.chains.set(`c${i}`, Promise.resolve({ certs: [], validity: [] }));
      cache.keys.set(`k${i}`, new Promise(() => {}));
      cache.collateral.set(`o${i}`, new Promise(() => {}));
      cache.certs.remember(bogusLeaf(i % 65536), {} as Cert);
    }
    // Assess
    const sizes = cache.sizes();
    for (const [map, size] of Object.entries(sizes)) expect(size, map).toBeLessThanOrEqual(8);
    expect(new TdxVerifierCache().maxEntries).toBe(TDX_CACHE_MAX_ENTRIES);
  });
});

describe("Lru", () => {
  it("evicts the least recently used key; a read refreshes a key", () => {
    const l = new Lru<string, number>(2);
    l.set("a", 1).set("b", 2);
    expect(l.get("a")).toBe(1); // a is now newest
    l.set("c", 3); // evicts b
    expect([l.has("a"), l.has("b"), l.has("c"), l.size]).toEqual([true, false, true, 2]);
  });
  it("refuses a size that is not a positive integer", () => {
    expect(() => new Lru(0)).toThrow(RangeError);
  });
});

describe("TokenBuckets", () => {
  it("allows a burst, then one call per refill interval; keys are independent", () => {
    const b = new TokenBuckets({ burst: 3, perMinute: 6 }); // one token every 10 s
    const t0 = 1_000_000;
    expect([1, 2, 3].map(() => b.take("k", t0).ok)).toEqual([true, true, true]);
    expect(b.take("k", t0)).toEqual({ ok: false, retryAfterMs: 10_000 });
    expect(b.take("other", t0).ok).toBe(true);
    expect(b.take("k", t0 + 9_999).ok).toBe(false);
    expect(b.take("k", t0 + 10_000).ok).toBe(true);
    expect(b.take("k", t0 + 10_000).ok).toBe(false);
  });
  it("a clock that goes backwards refills nothing; a long pause refills only up to the burst", () => {
    const b = new TokenBuckets({ burst: 2, perMinute: 60 });
    expect([b.take("k", 100_000).ok, b.take("k", 100_000).ok]).toEqual([true, true]);
    expect(b.take("k", 50_000).ok).toBe(false);
    expect([1, 2, 3].map(() => b.take("k", 10_000_000).ok)).toEqual([true, true, false]);
  });
  it("remembers a bounded number of keys (key churn cannot grow it)", () => {
    const b = new TokenBuckets(DEFAULT_RATE_LIMITS.registration, 100);
    for (let i = 0; i < 1000; i++) b.take(`k${i}`, 0);
    expect(b.keys).toBe(100);
  });
});
