/**
 * The TDX verifier's cache (cache.ts): keys that no two inputs share, bounded maps, one
 * verification shared by concurrent callers, failures never kept, and the pinned root's rules.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Lru } from "../lru";
import { cacheKey, loadRoot, memo, TdxVerifierCache } from "./cache";
import { TdxCheckError } from "./x509";
import { makeForeignRootPem, thrownBy } from "../../../test/fixtures/attestation/helpers";

/** Factory: a promise settled from outside. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe("cacheKey: one key per list of parts", () => {
  it("parts split differently hash differently (a zero separator byte made these equal)", () => {
    // Act
    const keys = [cacheKey("a\u0000", "b"), cacheKey("a", "\u0000b"), cacheKey("a\u0000b"), cacheKey("a", "b")];

    // Assess
    expect(new Set(keys).size).toBe(4);
  });

  it("DER bytes: [A‖00‖B] and [A, B] are two keys", () => {
    // Prepare
    const a = Uint8Array.of(0x30, 0x01, 0x00);
    const b = Uint8Array.of(0x30, 0x00);

    // Act / Assess
    expect(cacheKey(Uint8Array.of(...a, 0x00, ...b))).not.toBe(cacheKey(a, b));
  });

  it("a string and its UTF-8 bytes are the same part", () => {
    expect(cacheKey("é", "x")).toBe(cacheKey(Buffer.from("é", "utf8"), Buffer.from("x")));
  });
});

describe("memo: one verification per key among concurrent callers", () => {
  it("a second caller while the first is in flight gets the same promise; make runs once", async () => {
    // Prepare
    const map = new Lru<string, Promise<number>>(4);
    let made = 0;
    const d = deferred<number>();
    const make = () => {
      made++;
      return d.promise;
    };

    // Act
    const p1 = memo(map, "k", make);
    const p2 = memo(map, "k", make);
    d.resolve(7);

    // Assess
    expect(p2).toBe(p1);
    expect(await p2).toBe(7);
    expect(made).toBe(1);
    expect(memo(map, "k", make)).toBe(p1); // kept once it succeeded
    expect(made).toBe(1);
  });

  it("a failure is dropped once it settles: the next caller verifies afresh", async () => {
    // Prepare
    const map = new Lru<string, Promise<number>>(4);
    const failing = memo(map, "k", () => Promise.reject(new Error("bad chain")));

    // Act
    await expect(failing).rejects.toThrow("bad chain");
    await Promise.resolve();

    // Assess
    expect(map.has("k")).toBe(false);
    expect(await memo(map, "k", () => Promise.resolve(1))).toBe(1);
  });

  it("a failure that settles after its key was given a new verification leaves the new one", async () => {
    // Prepare
    const map = new Lru<string, Promise<number>>(4);
    const old = deferred<number>();
    const first = memo(map, "k", () => old.promise);
    map.delete("k"); // evicted while in flight
    const second = memo(map, "k", () => Promise.resolve(2));

    // Act
    old.reject(new Error("late failure"));
    await expect(first).rejects.toThrow("late failure");
    await Promise.resolve();

    // Assess
    expect(map.get("k")).toBe(second);
  });
});

describe("TdxVerifierCache: bounded maps", () => {
  it("at most 8 pinned roots however large the bound, and fewer when the bound is smaller", async () => {
    // Prepare
    const pems = await Promise.all([0, 1, 2].map((i) => makeForeignRootPem(`root ${i}`)));
    const small = new TdxVerifierCache(2);

    // Act
    for (const pem of pems) loadRoot(pem, small);

    // Assess
    expect(small.roots.max).toBe(2);
    expect(small.sizes().roots).toBe(2);
    expect(new TdxVerifierCache(1000).roots.max).toBe(8);
    expect(new TdxVerifierCache(1000).collateral.max).toBe(32);
    expect(new TdxVerifierCache(3).collateral.max).toBe(3);
  });

  it("clear() empties every map", async () => {
    // Prepare
    const cache = new TdxVerifierCache();
    loadRoot(await makeForeignRootPem(), cache);
    void memo(cache.chains, "c", () => Promise.resolve({} as never));
    void memo(cache.collateral, "c", () => Promise.resolve({} as never));
    void memo(cache.keys, "c", () => Promise.resolve({} as never));
    expect(Object.values(cache.sizes()).filter((n) => n > 0).length).toBeGreaterThanOrEqual(4);

    // Act
    cache.clear();

    // Assess
    expect(Object.values(cache.sizes()).every((n) => n === 0)).toBe(true);
  });
});

describe("loadRoot: exactly one pinned certificate", () => {
  it("the same PEM twice: parsed once, the same root", async () => {
    // Prepare
    const cache = new TdxVerifierCache();
    const pem = await makeForeignRootPem();

    // Act
    const a = loadRoot(pem, cache);
    const b = loadRoot(pem, cache);

    // Assess
    expect(b).toBe(a);
    expect(cache.sizes().roots).toBe(1);
    expect(a.key).toBe(createHash("sha256").update(a.der).digest("base64"));
  });

  it("a PEM of two certificates is refused as root_ca_invalid, and nothing is cached", async () => {
    // Prepare
    const cache = new TdxVerifierCache();
    const pem = (await makeForeignRootPem("one")) + (await makeForeignRootPem("two"));

    // Act
    const e = thrownBy(TdxCheckError, () => loadRoot(pem, cache));

    // Assess
    expect(e.code).toBe("root_ca_invalid");
    expect(e.message).toContain("exactly one certificate, found 2");
    expect(cache.sizes().roots).toBe(0);
  });

  it("a PEM without a certificate is refused as root_ca_invalid", () => {
    const e = thrownBy(TdxCheckError, () => loadRoot("no certificate here", new TdxVerifierCache()));
    expect(e.code).toBe("root_ca_invalid");
    expect(e.message).toContain("found 0");
  });

  it("a PEM block that is not a certificate is refused as root_ca_invalid, naming the pinned root", () => {
    const junk = `-----BEGIN CERTIFICATE-----\n${Buffer.from("not DER").toString("base64")}\n-----END CERTIFICATE-----\n`;
    const e = thrownBy(TdxCheckError, () => loadRoot(junk, new TdxVerifierCache()));
    expect(e.code).toBe("root_ca_invalid");
    expect(e.message).toContain("pinned root CA");
  });
});
