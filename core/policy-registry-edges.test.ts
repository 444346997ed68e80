/**
 * core/policy-registry.ts at its edges (issue 15; the survivors of a mutation run): how a
 * worker's image is named (a TDX verdict by its four registers, the dev image by a fixed digest,
 * tier none by nothing) and checked against the registry's allow-list; the register and key
 * formats (anchored lower-case hex); the local seed (an image entry counts only with rtmr0..2
 * all pinned; only 32-byte model digests); model digests looked up as own keys only; the age
 * bound at its exact edge; the store snapshot's parsing; and publishing it under races.
 * Registration runs through core/workers.ts with simulated (dev) evidence, so its refusals are
 * checked to write nothing; a TDX verdict cannot be injected there (CoreDeps has no verifier
 * hook), so the TDX naming is checked on verdicts of the shape verifyAttestation returns.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../local/memory-store";
import { DEV_MEASUREMENT } from "./attestation/dev";
import { defaultPolicy, type AllowedMeasurement, type Policy as AttestationPolicy } from "./attestation/policy";
import type { AttestationResult } from "./attestation/verify";
import { generateSigningKey } from "./crypto/keys";
import { CocoonError } from "./errors";
import { makeJobWorld, MODEL, registration, T0 } from "./jobs/testing";
import {
  DEV_IMAGE_DIGEST,
  imageAllowed,
  imageDigestOf,
  ImageNotAllowedError,
  measurementDigest,
  modelAllowed,
  ModelNotAllowedError,
  POLICY_SNAPSHOT_KEY,
  PolicyCache,
  PolicySnapshotError,
  PolicyStaleError,
  policyToBody,
  publishPolicySnapshot,
  refusedModel,
  registryPricePerToken,
  seedRegistryPolicy,
  StorePolicySource,
  type PolicyReading,
  type PolicySource,
  type RegistryFees,
  type RegistryPolicy,
} from "./policy-registry";
import type { WriteOp } from "./ports";
import { DEFAULT_PRICING } from "./pricing";
import { offerKey, registerWorker, issueRegistrationNonce, type OfferItem } from "./workers";

// ---------------------------------------------------------------- factories

const REGISTRY = "0:" + "cd".repeat(32);
const OTHER_REGISTRY = "0:" + "99".repeat(32);
const KEY = "11".repeat(32);
const LISTED = "1a".repeat(32);
const UNLISTED = "2b".repeat(32);
const FEES: RegistryFees = { pricePerToken: 300n, promptBps: 5_000, completionBps: 20_000, operatorFeeBps: 0 };
const NOW_S = T0 / 1000;

type Registers = { mrtd: string; rtmr0: string; rtmr1: string; rtmr2: string };
type Verdict = Extract<AttestationResult, { ok: true }>;

/** Factory: the four registers of image number `n`, each 48 bytes of lower-case hex (distinct per image and register). */
const registersOf = (n: number): Registers => {
  const reg = (i: number) => ((n * 4 + i) & 0xff).toString(16).padStart(2, "0").repeat(48);
  return { mrtd: reg(0), rtmr0: reg(1), rtmr1: reg(2), rtmr2: reg(3) };
};

/** Factory: a verdict of verifyAttestation for `tier`, with `registers` when given (tdx names its image by them). */
const verdictOf = (tier: Verdict["tier"], registers?: Registers): Verdict => ({
  ok: true,
  tier,
  measurement: registers?.mrtd ?? "none",
  expiresAt: T0 + 86_400_000,
  ...(registers ? { registers } : {}),
});

/** Factory: a registry policy listing `images` and `models` (digest → base price). */
const policyOf = (o: { images?: string[]; models?: Record<string, bigint> } = {}): RegistryPolicy => ({
  coordinatorKey: KEY,
  fees: { ...FEES },
  images: o.images ?? [],
  models: o.models ?? {},
});

/** Factory: a reading of policy version 7 (or `version`) at chain time `readAt` (s). */
const readingOf = (o: { images?: string[]; models?: Record<string, bigint>; readAt?: number; version?: number } = {}): PolicyReading => ({
  version: o.version ?? 7,
  updatedAt: NOW_S - 100,
  readAt: o.readAt ?? NOW_S,
  policy: policyOf(o),
});

/** Factory: the snapshot item the chain watcher stores for `reading` of `registry`. */
const snapshotOf = (reading: PolicyReading, registry = REGISTRY) => ({
  ...POLICY_SNAPSHOT_KEY,
  registry,
  version: reading.version,
  updatedAt: reading.updatedAt,
  readAt: reading.readAt,
  policy: policyToBody(reading.policy),
});

/** Factory: an attestation policy (the production one) with `measurements` and `models`. */
const attestationOf = (measurements: AllowedMeasurement[], models: Record<string, string[]> = {}): AttestationPolicy => ({
  ...defaultPolicy,
  measurements,
  models,
});

/** Factory: an allow-list entry for image `n` pinning mrtd and the registers in `pin`. */
const entryOf = (n: number, pin: Array<"rtmr0" | "rtmr1" | "rtmr2">): AllowedMeasurement => {
  const r = registersOf(n);
  return { name: `image-${n}`, mrtd: r.mrtd, ...Object.fromEntries(pin.map((k) => [k, r[k]])) };
};

/** The error `f` throws (fails the test when it returns). */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error("expected a throw");
}

/** The error `p` rejects with (fails the test when it resolves). */
const rejection = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e,
  );

/** A source returning `reading()` each time; `fail` makes reads throw; `reads` counts them. */
function sourceOf(reading: () => PolicyReading) {
  const s = {
    reads: 0,
    fail: false,
    async read(): Promise<PolicyReading> {
      s.reads++;
      if (s.fail) throw new Error("toncenter unreachable");
      return reading();
    },
  };
  return s;
}

/**
 * A job world whose coordinator reads `policy` (version 7, read at the world's now) through a
 * PolicyCache; `register` registers a dev worker offering MODEL (attesting `digest` when given)
 * and reports its refusal (if any), the store transactions it made, and its offer.
 */
function registryWorld(policy: RegistryPolicy) {
  const w = makeJobWorld();
  const source: PolicySource = { read: async () => ({ version: 7, updatedAt: NOW_S, readAt: w.clock.now() / 1000, policy }) };
  w.deps.policyRegistry = new PolicyCache(source, { refreshSeconds: 2, maxAgeSeconds: 60, now: w.deps.clock.now });
  async function register(digest?: string) {
    const key = generateSigningKey();
    const { nonce } = await issueRegistrationNonce(w.deps, key.id);
    const request = registration(w, key, nonce, digest ? { modelDigests: { [MODEL]: digest } } : {});
    const before = w.transacts.length;
    const error = await registerWorker(w.deps, key.id, request).then(
      () => undefined,
      (e: unknown) => e,
    );
    return {
      error,
      writes: w.transacts.length - before,
      offer: await w.store.get<OfferItem>("offers", offerKey(MODEL, key.id)),
      worker: await w.store.get("workers", { pk: key.id, sk: "worker" }),
    };
  }
  return { w, register };
}

/** An in-memory store whose transactions are counted; `beforeWrite(n)` runs before the n-th (a rival's write, a failure). */
function watchedStore() {
  const store = createMemoryStore();
  const inner = store.transact.bind(store);
  const s = {
    store,
    /** writes that bypass the counting and the hook (a rival watcher pass) */
    inner,
    writes: 0,
    beforeWrite: async (_n: number): Promise<void> => undefined,
  };
  store.transact = async (ops: WriteOp[]) => {
    s.writes++;
    await s.beforeWrite(s.writes);
    return inner(ops);
  };
  return s;
}

const storedSnapshot = (s: { store: ReturnType<typeof createMemoryStore> }) =>
  s.store.get<ReturnType<typeof snapshotOf>>("chain", POLICY_SNAPSHOT_KEY);

// ---------------------------------------------------------------- images

describe("a worker's image on the registry: TDX registers, the dev image, tier none", () => {
  it("a TDX worker is named by its four registers: listed registers are allowed; other registers, even one register off, are refused 403 attestation_image_not_in_registry naming the image", () => {
    // Prepare
    const listed = registersOf(1);
    const reading = readingOf({ images: [measurementDigest(listed)] });

    // Act
    const own = imageDigestOf(verdictOf("tdx", listed));
    const other = imageDigestOf(verdictOf("tdx", registersOf(2)));
    const oneOff = imageDigestOf(verdictOf("tdx", { ...listed, rtmr2: registersOf(2).rtmr2 }));
    const refusal = new ImageNotAllowedError(other, reading.version);

    // Assess
    expect(own).toBe(measurementDigest(listed));
    expect(imageAllowed(reading, "tdx", own)).toBe(true);
    expect([imageAllowed(reading, "tdx", other), imageAllowed(reading, "tdx", oneOff)]).toEqual([false, false]);
    expect(refusal).toBeInstanceOf(CocoonError);
    expect(refusal).toMatchObject({ name: "ImageNotAllowedError", status: 403, code: "attestation_image_not_in_registry" });
    expect(refusal.message).toBe(`the worker's image ${other} is not on the policy registry's allow-list (policy v7)`);
    expect(reading.policy.images).toEqual([measurementDigest(listed)]); // the check changes nothing
  });

  it("a TDX verdict without its registers names no image, so no allow-list admits it; its refusal says (unknown)", () => {
    // Prepare
    const reading = readingOf({ images: [measurementDigest(registersOf(1)), DEV_IMAGE_DIGEST] });

    // Act
    const image = imageDigestOf(verdictOf("tdx"));
    const refusal = new ImageNotAllowedError(image, reading.version);

    // Assess
    expect(image).toBeUndefined();
    expect(imageAllowed(reading, "tdx", image)).toBe(false);
    expect(refusal).toMatchObject({ name: "ImageNotAllowedError", status: 403, code: "attestation_image_not_in_registry" });
    expect(refusal.message).toBe("the worker's image (unknown) is not on the policy registry's allow-list (policy v7)");
  });

  it("tier none names no image even if its verdict carried registers, and needs none (requesters opt into it)", () => {
    // Prepare
    const reading = readingOf({ images: [] });

    // Act
    const image = imageDigestOf(verdictOf("none", registersOf(1)));

    // Assess
    expect(image).toBeUndefined();
    expect(imageAllowed(reading, "none", image)).toBe(true);
  });

  it("a dev worker is named DEV_IMAGE_DIGEST, a fixed value (registries on chain list it): SHA-256 of 'cocoon/v1/dev-image\\n' and the dev measurement", () => {
    // Act
    const image = imageDigestOf(verdictOf("dev"));

    // Assess
    expect(image).toBe(DEV_IMAGE_DIGEST);
    expect(DEV_IMAGE_DIGEST).toBe("00688ee3ff9834a0fc199081d1d94d2a7b56b145570fa8ab8965e5705f746261");
    expect(DEV_IMAGE_DIGEST).toBe(createHash("sha256").update(`cocoon/v1/dev-image\n${DEV_MEASUREMENT}`).digest("hex"));
  });

  it("a dev worker registers only under a registry seeded with the dev image: without it 403 attestation_image_not_in_registry and nothing is written", async () => {
    // Prepare
    const seed = (devImage: boolean) =>
      seedRegistryPolicy({
        attestation: attestationOf([entryOf(1, ["rtmr0", "rtmr1", "rtmr2"])]),
        pricing: DEFAULT_PRICING,
        coordinatorKey: KEY,
        devImage,
      });
    const without = registryWorld(seed(false));
    const withDev = registryWorld(seed(true));

    // Act
    const refused = await without.register();
    const accepted = await withDev.register();

    // Assess
    expect(refused.error).toBeInstanceOf(ImageNotAllowedError);
    expect(refused.error).toMatchObject({ status: 403, code: "attestation_image_not_in_registry" });
    expect((refused.error as Error).message).toContain(`image ${DEV_IMAGE_DIGEST} is not on`);
    expect({ writes: refused.writes, offer: refused.offer, worker: refused.worker }).toEqual({
      writes: 0,
      offer: undefined,
      worker: undefined,
    });
    expect(accepted.error).toBeUndefined();
    expect(accepted.offer).toMatchObject({ tier: "dev", image: DEV_IMAGE_DIGEST });
  });
});

describe("measurementDigest: each register exactly 48 bytes of lower-case hex", () => {
  it("a register that is longer, prefixed, suffixed, upper-case or short throws, whichever of the four it is", () => {
    // Prepare
    const good = registersOf(1);
    const hex = "ab".repeat(48);
    const bad = [hex + "a", "0x" + hex, hex + "ff", hex.toUpperCase(), hex.slice(2), ""];

    // Act
    const errors = (["mrtd", "rtmr0", "rtmr1", "rtmr2"] as const).flatMap((reg) =>
      bad.map((value) => thrown(() => measurementDigest({ ...good, [reg]: value }))),
    );

    // Assess
    expect(errors).toHaveLength(24);
    for (const e of errors) {
      expect(e).toBeInstanceOf(Error);
      expect((e as Error).message).toBe("each TDX measurement register is 48 bytes of lower-case hex");
    }
    expect(measurementDigest(good)).toMatch(/^[0-9a-f]{64}$/);
  });
});

// ---------------------------------------------------------------- the local seed

describe("the local seed (seedRegistryPolicy)", () => {
  it("an image entry counts only with rtmr0, rtmr1 and rtmr2 all pinned: an entry missing any one allows nothing", () => {
    // Prepare
    const full = entryOf(1, ["rtmr0", "rtmr1", "rtmr2"]);
    const partial = [entryOf(2, ["rtmr1", "rtmr2"]), entryOf(3, ["rtmr0", "rtmr2"]), entryOf(4, ["rtmr0", "rtmr1"])];
    const seed = (measurements: AllowedMeasurement[]) =>
      seedRegistryPolicy({ attestation: attestationOf(measurements), pricing: DEFAULT_PRICING, coordinatorKey: KEY }).images;

    // Act
    const eachAlone = partial.map((entry) => seed([entry]));
    const mixed = seed([...partial, full]);

    // Assess
    expect(eachAlone).toEqual([[], [], []]);
    expect(mixed).toEqual([measurementDigest(registersOf(1))]); // and no dev image unless asked for
  });

  it("model digests: only 32-byte lower-case hex ones enter, at their model's configured base price (none configured: 0n, the registry's default)", () => {
    // Prepare
    const a = "a1".repeat(32);
    const b = "b2".repeat(32);
    const attestation = attestationOf([], { "m-a": [a, "c3".repeat(64), "D4".repeat(32)], "m-b": [b] });
    const pricing = { ...DEFAULT_PRICING, basePerToken: { "m-a": 500n } };

    // Act
    const p = seedRegistryPolicy({ attestation, pricing, coordinatorKey: KEY });

    // Assess
    expect(p.models).toEqual({ [a]: 500n, [b]: 0n });
  });

  it("the coordinator key must be 64 lower-case hex: a longer, prefixed, upper-case or short key throws", () => {
    // Prepare
    const seed = (coordinatorKey: string) => () =>
      seedRegistryPolicy({ attestation: attestationOf([]), pricing: DEFAULT_PRICING, coordinatorKey });

    // Act
    const errors = [KEY + "1", "0x" + KEY, "AB".repeat(32), KEY.slice(1), "z".repeat(64)].map((k) => thrown(seed(k)));

    // Assess
    for (const e of errors) {
      expect(e).toBeInstanceOf(Error);
      expect((e as Error).message).toBe("coordinatorKey must be 32 bytes of lower-case hex");
    }
    expect(seed(KEY)().coordinatorKey).toBe(KEY);
  });
});

// ---------------------------------------------------------------- model digests

describe("model digests on the registry", () => {
  it("with the allow-list in force, registration names what is wrong (no digest; an unlisted digest) and writes nothing; a listed digest registers", async () => {
    // Prepare
    const { register } = registryWorld(policyOf({ images: [DEV_IMAGE_DIGEST], models: { [LISTED]: 0n } }));

    // Act
    const bare = await register();
    const unlisted = await register(UNLISTED);
    const listed = await register(LISTED);

    // Assess
    for (const r of [bare, unlisted]) {
      expect(r.error).toBeInstanceOf(ModelNotAllowedError);
      expect(r.error).toMatchObject({ name: "ModelNotAllowedError", status: 403, code: "model_not_in_registry" });
      expect({ writes: r.writes, offer: r.offer, worker: r.worker }).toEqual({ writes: 0, offer: undefined, worker: undefined });
    }
    expect((bare.error as Error).message).toBe(
      `model "${MODEL}" is offered without a weight digest, and the policy registry's model allow-list is in force (policy v7): attest the digest of the weights served (modelDigests)`,
    );
    expect((unlisted.error as Error).message).toBe(
      `model "${MODEL}" digest ${UNLISTED} is not on the policy registry's model allow-list (policy v7)`,
    );
    expect(listed.error).toBeUndefined();
    expect(listed.offer).toMatchObject({ modelDigest: LISTED });
  });

  it("a digest (or a model name) is looked up as an own key only: 'constructor', '__proto__', 'toString' are never listed", () => {
    // Prepare
    const reading = readingOf({ models: { [LISTED]: 900n } });
    const inherited = ["constructor", "__proto__", "toString", "hasOwnProperty"];

    // Act
    const allowed = inherited.map((d) => modelAllowed(reading, d));
    const refused = inherited.map((d) => refusedModel(reading, ["m"], { m: d }));
    const prices = inherited.map((d) => registryPricePerToken(reading, d, 10_000));
    const byName = refusedModel(reading, ["constructor"], {});

    // Assess
    expect(allowed).toEqual(inherited.map(() => false));
    expect(refused).toEqual(inherited.map((digest) => ({ model: "m", digest })));
    expect(prices).toEqual(inherited.map(() => 300n)); // the registry's default, not a listed base
    expect(byName).toEqual({ model: "constructor", digest: undefined });
    expect(modelAllowed(reading, LISTED.toUpperCase())).toBe(true);
    // allowed as listed, so priced as listed (session 14: it was allowed and priced at the default)
    expect(registryPricePerToken(reading, LISTED.toUpperCase(), 10_000)).toBe(900n);
  });

  it("the price per token: a listed digest's base, else (0n, unlisted, no digest) the registry's default, times the worker's coefficient; no digest is never looked up", () => {
    // Prepare: a map that (oddly) holds the key "undefined": an absent digest must not find it
    const reading = readingOf({ models: { [LISTED]: 1_000n, [UNLISTED]: 0n, undefined: 5_000n } });

    // Act
    const prices = [LISTED, UNLISTED, "3c".repeat(32), undefined].map((d) => registryPricePerToken(reading, d, 15_000));

    // Assess
    expect(prices).toEqual([1_500n, 450n, 450n, 450n]);
  });
});

// ---------------------------------------------------------------- the age bound and the cache

describe("the policy cache: the age bound at its edge, peek", () => {
  it("a reading exactly maxAgeSeconds old is still acted on; one second more is refused 503 policy_stale saying how old", async () => {
    // Prepare
    let now = T0;
    const source = sourceOf(() => readingOf({ readAt: NOW_S }));
    const cache = new PolicyCache(source, { refreshSeconds: 2, maxAgeSeconds: 60, now: () => now });

    // Act
    now = T0 + 60_000;
    const atBound = await cache.current();
    now = T0 + 61_000;
    const past = await rejection(cache.current());

    // Assess
    expect(atBound.version).toBe(7);
    expect(past).toBeInstanceOf(PolicyStaleError);
    expect(past).toMatchObject({
      name: "PolicyStaleError",
      status: 503,
      code: "policy_stale",
      message: "the newest policy read from the registry is 61 s old (limit 60 s); nothing is matched or accepted until a fresh read",
    });
    expect(cache.peek()).toBe(atBound); // the refusal drops nothing
  });

  it("with no reading at all it refuses saying the registry could not be read; peek shows nothing before a read and the last reading after, without reading", async () => {
    // Prepare
    const source = sourceOf(() => readingOf());
    source.fail = true;
    const cache = new PolicyCache(source, { refreshSeconds: 2, maxAgeSeconds: 60, now: () => T0 });

    // Act
    const before = cache.peek();
    const refused = await rejection(cache.current());
    source.fail = false;
    const got = await cache.current();
    const reads = source.reads;
    const peeked = cache.peek();

    // Assess
    expect(before).toBeUndefined();
    expect(refused).toBeInstanceOf(PolicyStaleError);
    expect(refused).toMatchObject({
      name: "PolicyStaleError",
      code: "policy_stale",
      message: "the policy registry could not be read; nothing is matched or accepted until it can",
    });
    expect(peeked).toBe(got);
    expect(source.reads).toBe(reads);
  });
});

// ---------------------------------------------------------------- the store snapshot

describe("the store snapshot: reading it", () => {
  it("no snapshot, or another registry's, is refused (PolicySnapshotError policy_snapshot_unusable) saying which", async () => {
    // Prepare
    const empty = createMemoryStore();
    const other = createMemoryStore();
    await other.transact([{ op: "put", table: "chain", item: snapshotOf(readingOf(), OTHER_REGISTRY) }]);

    // Act
    const none = await rejection(new StorePolicySource(empty, REGISTRY).read());
    const foreign = await rejection(new StorePolicySource(other, REGISTRY).read());

    // Assess
    for (const e of [none, foreign]) {
      expect(e).toBeInstanceOf(PolicySnapshotError);
      expect(e).toMatchObject({ name: "PolicySnapshotError", code: "policy_snapshot_unusable" });
    }
    expect((none as Error).message).toBe("no policy snapshot in the store yet: the chain watcher writes one on each pass");
    expect((foreign as Error).message).toBe(`the policy snapshot is of registry ${OTHER_REGISTRY}, not of the configured ${REGISTRY}`);
    expect(await other.get("chain", POLICY_SNAPSHOT_KEY)).toMatchObject({ registry: OTHER_REGISTRY }); // left as it was
  });

  it("version, updatedAt or readAt not a non-negative safe integer (-1, 1.5, '3', 2**53, absent), or a policy failing its schema: malformed; 0 is fine", async () => {
    // Prepare
    const good = snapshotOf(readingOf());
    const cases: Array<[string, Record<string, unknown>]> = [];
    for (const field of ["version", "updatedAt", "readAt"] as const) {
      for (const v of [-1, 1.5, "3", 2 ** 53]) cases.push([`${field}=${String(v)}`, { ...good, [field]: v }]);
      const { [field]: _, ...absent } = good;
      cases.push([`${field} absent`, absent]);
    }
    cases.push(["upper-case image", { ...good, policy: { ...good.policy, images: ["AA".repeat(32)] } }]);
    cases.push(["short coordinator key", { ...good, policy: { ...good.policy, coordinatorKey: "11" } }]);
    cases.push(["no policy", { ...good, policy: undefined }]);
    const readOf = async (item: Record<string, unknown>) => {
      const store = createMemoryStore();
      await store.transact([{ op: "put", table: "chain", item: JSON.parse(JSON.stringify(item)) as typeof good }]);
      return new StorePolicySource(store, REGISTRY).read();
    };

    // Act
    const outcomes = await Promise.all(
      cases.map(async ([label, item]) => {
        const e = await rejection(readOf(item));
        return [label, e instanceof PolicySnapshotError, (e as PolicySnapshotError).code, (e as Error).message];
      }),
    );
    const zero = await readOf({ ...good, version: 0, updatedAt: 0, readAt: 0 });

    // Assess
    expect(outcomes).toEqual(
      cases.map(([label]) => [label, true, "policy_snapshot_unusable", "the policy snapshot in the store is malformed"]),
    );
    expect(zero).toMatchObject({ version: 0, updatedAt: 0, readAt: 0 });
  });
});

describe("the store snapshot: publishing it (publishPolicySnapshot)", () => {
  it("a reading of the same chain time as the stored one is not written (nothing written); another registry's snapshot is replaced, even a newer one", async () => {
    // Prepare
    const same = watchedStore();
    await publishPolicySnapshot(same.store, REGISTRY, readingOf({ version: 3 }));
    const other = watchedStore();
    await other.inner([{ op: "put", table: "chain", item: snapshotOf(readingOf({ readAt: NOW_S + 3600 }), OTHER_REGISTRY) }]);
    const writesBefore = same.writes;

    // Act
    const again = await publishPolicySnapshot(same.store, REGISTRY, readingOf({ version: 4 }));
    const replaced = await publishPolicySnapshot(other.store, REGISTRY, readingOf({ version: 2 }));

    // Assess
    expect(again).toBe(false);
    expect(same.writes).toBe(writesBefore);
    expect(await storedSnapshot(same)).toMatchObject({ version: 3, readAt: NOW_S });
    expect(replaced).toBe(true);
    expect(await storedSnapshot(other)).toMatchObject({ registry: REGISTRY, version: 2, readAt: NOW_S });
  });

  it("a pass that loses a race to a newer snapshot (written between its read and its write) reads again and leaves the newer one", async () => {
    // Prepare
    const s = watchedStore();
    await s.inner([{ op: "put", table: "chain", item: snapshotOf(readingOf({ version: 1, readAt: NOW_S })) }]);
    s.beforeWrite = async (n) => {
      if (n === 1) await s.inner([{ op: "put", table: "chain", item: snapshotOf(readingOf({ version: 3, readAt: NOW_S + 120 })) }]);
    };

    // Act
    const written = await publishPolicySnapshot(s.store, REGISTRY, readingOf({ version: 2, readAt: NOW_S + 60 }));

    // Assess
    expect(written).toBe(false);
    expect(s.writes).toBe(1);
    expect(await storedSnapshot(s)).toMatchObject({ version: 3, readAt: NOW_S + 120 });
  });

  it("a snapshot that keeps changing under it (each write loses a race to an older rival): three attempts, then false, its reading never written", async () => {
    // Prepare
    const s = watchedStore();
    await s.inner([{ op: "put", table: "chain", item: snapshotOf(readingOf({ version: 1, readAt: NOW_S - 100 })) }]);
    s.beforeWrite = async (n) => {
      if (n > 10) throw new Error("runaway retries");
      await s.inner([{ op: "put", table: "chain", item: snapshotOf(readingOf({ version: 1, readAt: NOW_S - n })) }]);
    };

    // Act
    const written = await publishPolicySnapshot(s.store, REGISTRY, readingOf({ version: 2, readAt: NOW_S + 60 }));

    // Assess
    expect(written).toBe(false);
    expect(s.writes).toBe(3);
    expect(await storedSnapshot(s)).toMatchObject({ version: 1, readAt: NOW_S - 3 });
  });

  it("a store failure other than a lost race propagates at once, without retrying, and the stored snapshot stays", async () => {
    // Prepare
    const s = watchedStore();
    await s.inner([{ op: "put", table: "chain", item: snapshotOf(readingOf({ version: 1, readAt: NOW_S })) }]);
    const failure = new Error("store throttled");
    s.beforeWrite = async () => {
      throw failure;
    };

    // Act
    const e = await rejection(publishPolicySnapshot(s.store, REGISTRY, readingOf({ version: 2, readAt: NOW_S + 60 })));

    // Assess
    expect(e).toBe(failure);
    expect(s.writes).toBe(1);
    expect(await storedSnapshot(s)).toMatchObject({ version: 1, readAt: NOW_S });
  });
});
