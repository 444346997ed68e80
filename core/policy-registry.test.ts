import { describe, expect, it } from "vitest";
import { measurementDigest as contractDigest } from "../contracts/registry";
import { createMemoryStore } from "../local/memory-store";
import { localPolicy, testImages } from "./attestation/policy";
import { DEFAULT_CORE_CONFIG } from "./config";
import type { CoreDeps } from "./deps";
import { DEFAULT_PRICING } from "./pricing";
import {
  DEV_IMAGE_DIGEST,
  measurementDigest,
  POLICY_SNAPSHOT_KEY,
  PolicyCache,
  PolicySnapshotError,
  PolicyStaleError,
  publishPolicySnapshot,
  seedRegistryPolicy,
  StorePolicySource,
  type PolicyReading,
  type RegistryPolicy,
} from "./policy-registry";
import { matchCandidates, offerKey, type OfferItem } from "./workers";

// ---------------------------------------------------------------- factories
const T0 = 1_750_000_000_000;
const policy = (images: string[]): RegistryPolicy => ({
  coordinatorKey: "11".repeat(32),
  fees: { pricePerToken: 100n, promptBps: 2500, completionBps: 10_000, operatorFeeBps: 0 },
  images,
  models: {},
});

/** A registry the test edits: each read returns its current policy at the chain time `chainNow`. */
function fakeRegistry(images: string[]) {
  const r = { images, version: 1, reads: 0, fail: false, chainNow: T0 / 1000 };
  const source = {
    async read(): Promise<PolicyReading> {
      r.reads++;
      if (r.fail) throw new Error("toncenter unreachable");
      return { version: r.version, updatedAt: T0 / 1000, policy: policy([...r.images]), readAt: r.chainNow };
    },
  };
  return { r, source };
}

function offer(workerId: string, tier: OfferItem["tier"], image?: string): OfferItem {
  return {
    ...offerKey("m", workerId),
    workerId,
    model: "m",
    priceBps: 10_000,
    pricePerToken: 100n,
    tier,
    hpkePublicKey: "k",
    capacity: 4,
    load: 0,
    lastHeartbeat: T0,
    attestationExpiresAt: T0 + 86_400_000,
    ...(image ? { image } : {}),
  };
}

describe("policy cache", () => {
  it("re-reads the registry once per refresh interval, and shares one read between concurrent callers", async () => {
    // Prepare
    let now = T0;
    const { r, source } = fakeRegistry(["aa".repeat(32)]);
    const cache = new PolicyCache(source, { refreshSeconds: 2, maxAgeSeconds: 60, now: () => now });

    // Act
    await Promise.all([cache.current(), cache.current()]);
    now += 1_000;
    await cache.current();
    now += 1_500;
    r.chainNow += 2.5;
    await cache.current();

    // Assess
    expect(r.reads).toBe(2);
  });

  it("serves the cached reading while a refresh fails, then refuses (policy_stale) once it is older than the bound", async () => {
    // Prepare
    let now = T0;
    const { r, source } = fakeRegistry(["aa".repeat(32)]);
    const errors: unknown[] = [];
    const cache = new PolicyCache(source, { refreshSeconds: 2, maxAgeSeconds: 60, now: () => now, onError: (e) => errors.push(e) });
    await cache.current();
    r.fail = true;

    // Act
    now += 30_000;
    const young = await cache.current();
    now += 31_000;
    const old = cache.current();

    // Assess
    expect(young.version).toBe(1);
    await expect(old).rejects.toBeInstanceOf(PolicyStaleError);
    await expect(old).rejects.toMatchObject({ status: 503, code: "policy_stale" });
    expect(errors.length).toBeGreaterThan(0);
  });

  it("the chain time of the read counts, not when we asked: a reader serving an old state is stale", async () => {
    // Prepare
    const { r, source } = fakeRegistry(["aa".repeat(32)]);
    r.chainNow = T0 / 1000 - 3600; // a liteserver an hour behind
    const cache = new PolicyCache(source, { refreshSeconds: 2, maxAgeSeconds: 60, now: () => T0 });

    // Act / Assess
    await expect(cache.current()).rejects.toBeInstanceOf(PolicyStaleError);
  });

  it("with no reading at all it refuses rather than guessing", async () => {
    const { r, source } = fakeRegistry([]);
    r.fail = true;
    await expect(new PolicyCache(source, { refreshSeconds: 2, maxAgeSeconds: 60, now: () => T0 }).current()).rejects.toBeInstanceOf(
      PolicyStaleError,
    );
  });
});

describe("issue 12: the registry snapshot the chain watcher keeps in the store (the AWS routes' source)", () => {
  const REGISTRY = "0:" + "cd".repeat(32);
  const reading = (o: { version?: number; readAt?: number; images?: string[]; models?: Record<string, bigint> } = {}): PolicyReading => ({
    version: o.version ?? 1,
    updatedAt: T0 / 1000 - 100,
    readAt: o.readAt ?? T0 / 1000,
    policy: { ...policy(o.images ?? ["aa".repeat(32)]), models: o.models ?? { ["ef".repeat(32)]: 250n } },
  });

  it("what the watcher stores is what the routes read: the same policy, bigints included, the same chain time", async () => {
    // Prepare
    const store = createMemoryStore();
    const r = reading({ images: ["bb".repeat(32), "aa".repeat(32)] });

    // Act
    const written = await publishPolicySnapshot(store, REGISTRY, r);
    const read = await new StorePolicySource(store, REGISTRY).read();

    // Assess
    expect(written).toBe(true);
    expect(read).toEqual({ ...r, policy: { ...r.policy, images: ["aa".repeat(32), "bb".repeat(32)] } });
  });

  it("a snapshot of an older chain state never replaces a newer one (overlapping watcher passes)", async () => {
    // Prepare
    const store = createMemoryStore();
    await publishPolicySnapshot(store, REGISTRY, reading({ version: 3, readAt: T0 / 1000 + 60 }));

    // Act
    const older = await publishPolicySnapshot(store, REGISTRY, reading({ version: 2, readAt: T0 / 1000 }));
    const newer = await publishPolicySnapshot(store, REGISTRY, reading({ version: 4, readAt: T0 / 1000 + 120 }));

    // Assess
    expect({ older, newer }).toEqual({ older: false, newer: true });
    expect(await new StorePolicySource(store, REGISTRY).read()).toMatchObject({ version: 4, readAt: T0 / 1000 + 120 });
  });

  it("no snapshot, another registry's, or a malformed one is refused: the cache over it answers 503 policy_stale", async () => {
    // Prepare
    const empty = createMemoryStore();
    const other = createMemoryStore();
    await publishPolicySnapshot(other, "0:" + "99".repeat(32), reading());
    const broken = createMemoryStore();
    await broken.transact([
      { op: "put", table: "chain", item: { ...POLICY_SNAPSHOT_KEY, registry: REGISTRY, version: 1, readAt: T0 / 1000 } },
    ]);
    const cacheOver = (store: ReturnType<typeof createMemoryStore>) =>
      new PolicyCache(new StorePolicySource(store, REGISTRY), { refreshSeconds: 60, maxAgeSeconds: 600, now: () => T0 });

    // Act / Assess
    for (const store of [empty, other, broken]) {
      await expect(new StorePolicySource(store, REGISTRY).read()).rejects.toBeInstanceOf(PolicySnapshotError);
      await expect(cacheOver(store).current()).rejects.toMatchObject({ status: 503, code: "policy_stale" });
    }
  });

  it("the age bound is on the chain time of the watcher's read: a watcher that stopped leaves the routes refusing once it is too old, and a new pass lets them act again", async () => {
    // Prepare
    let now = T0;
    const store = createMemoryStore();
    await publishPolicySnapshot(store, REGISTRY, reading({ readAt: T0 / 1000 }));
    const cache = new PolicyCache(new StorePolicySource(store, REGISTRY), { refreshSeconds: 60, maxAgeSeconds: 600, now: () => now });

    // Act
    now += 599_000;
    const young = await cache.current();
    now += 2_000; // 601 s after the chain state the watcher read, and no pass since
    const stale = cache.current();
    await stale.catch(() => undefined);
    await publishPolicySnapshot(store, REGISTRY, reading({ version: 2, readAt: now / 1000 - 30 }));
    now += 60_000; // the routes re-read the store once per refresh interval
    const fresh = await cache.current();

    // Assess
    expect(young.version).toBe(1);
    await expect(stale).rejects.toMatchObject({ status: 503, code: "policy_stale" });
    expect(fresh.version).toBe(2);
  });
});

describe("image digests and the local seed", () => {
  it("measurementDigest is the contract wrapper's function", () => {
    const m = { mrtd: "01".repeat(48), rtmr0: "02".repeat(48), rtmr1: "03".repeat(48), rtmr2: "04".repeat(48) };
    expect(measurementDigest(m)).toBe(contractDigest(m));
  });

  it("the local seed lists the test images that pin rtmr0..2, the dev image, the pricing config and the coordinator key", () => {
    const p = seedRegistryPolicy({ attestation: localPolicy, pricing: DEFAULT_PRICING, coordinatorKey: "22".repeat(32), devImage: true });
    const t = testImages[0]!;
    expect(p.images).toEqual(
      [measurementDigest({ mrtd: t.mrtd, rtmr0: t.rtmr0!, rtmr1: t.rtmr1!, rtmr2: t.rtmr2! }), DEV_IMAGE_DIGEST].sort(),
    );
    expect(p.fees).toEqual({ pricePerToken: 100n, promptBps: 2500, completionBps: 10_000, operatorFeeBps: 0 });
    expect(p.coordinatorKey).toBe("22".repeat(32));
  });
});

describe("matching under the registry", () => {
  it("a worker whose image was removed from the on-chain allow-list leaves the candidate lists at the next policy refresh; tier none is not on any list", async () => {
    // Prepare
    let now = T0;
    const keep = "aa".repeat(32);
    const drop = "bb".repeat(32);
    const { r, source } = fakeRegistry([keep, drop]);
    const store = createMemoryStore();
    await store.transact(
      [offer("w-keep", "tdx", keep), offer("w-drop", "tdx", drop), offer("w-none", "none"), offer("w-old", "tdx")].map((item) => ({
        op: "put" as const,
        table: "offers" as const,
        item,
      })),
    );
    const deps = {
      store,
      clock: { now: () => now },
      config: DEFAULT_CORE_CONFIG,
      policyRegistry: new PolicyCache(source, { refreshSeconds: 2, maxAgeSeconds: 60, now: () => now }),
    } as unknown as CoreDeps;
    const match = async () =>
      (await matchCandidates(deps, { model: "m", tiers: ["tdx", "none"], k: 10 })).offers.map((o) => o.workerId).sort();

    // Act
    const before = await match();
    r.images = [keep];
    r.version = 2;
    const sameRefresh = await match();
    now += 2_000;
    r.chainNow += 2;
    const afterRefresh = await match();

    // Assess
    expect(before).toEqual(["w-drop", "w-keep", "w-none"]); // w-old registered without an image name: not listed
    expect(sameRefresh).toEqual(before);
    expect(afterRefresh).toEqual(["w-keep", "w-none"]);
  });
});
