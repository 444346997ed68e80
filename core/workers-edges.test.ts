/**
 * core/workers.ts at its edges (the survivors of a mutation run): what registration binds and
 * refuses (and that a refusal writes nothing), the nonce's single use and lifetime, the
 * transactions a re-registration splits into; heartbeats, suspects and liveness boundaries;
 * matching's guarantees (only live, eligible, distinct workers, at most k; power of two
 * choices; the fair-share contest and its bound; the sample reaching every shard of a small
 * model and more than the first page of a big one, within its query budget); the fair-share
 * score; GET /v1/models, commonCapabilities and a worker's status. Randomness is a seeded
 * Random in deps, so every draw here replays exactly; where one draw cannot pin a fact, many
 * draws assert its invariant.
 */
import { describe, expect, it } from "vitest";
import type { ModelCapabilities } from "../events/api";
import { createNoneAttestation } from "./attestation/dev";
import { b64u } from "./crypto/encoding";
import { generateKemKey, generateSigningKey, type SigningKeyPair } from "./crypto/keys";
import type { CoreDeps } from "./deps";
import { CocoonError } from "./errors";
import { MODEL, T0, makeJobWorld, offerAt, registered, registration, setOffer, type JobWorld } from "./jobs/testing";
import { workerAccount } from "./ledger";
import { DEV_IMAGE_DIGEST, PolicyCache, type PolicyReading } from "./policy-registry";
import { mulberry32 } from "./mulberry32";
import type { Item, QueueName, Random, Store, TableName, WriteOp } from "./ports";
import { pricePerToken } from "./pricing";
import {
  byFairShare,
  candidatesFor,
  commonCapabilities,
  EMPTY_SHARD_MS,
  heartbeat,
  issueRegistrationNonce,
  listModels,
  markSuspect,
  matchCandidates,
  offerKey,
  offerShard,
  OFFER_SHARDS,
  registerWorker,
  requireWorker,
  workerStatus,
  type EarningsReads,
  type OfferItem,
  type WorkerItem,
} from "./workers";

const OTHER = "test/model-2";
const DIGEST = "ab".repeat(32);
const UNLISTED = "cd".repeat(32);

// ---------------------------------------------------------------- factories

/** A seeded Random (mulberry32): the same seed draws the same bytes, so a matching decision replays exactly. */
function seeded(seed: number): Random {
  const next = mulberry32(seed);
  return { bytes: (n) => Uint8Array.from({ length: n }, () => (next() * 4294967296) >>> 24) };
}

/** A worker id like a real one (base64url of 32 bytes), drawn from `random`. */
const idFrom = (random: Random) => b64u.encode(random.bytes(32));

/** A worker id that lands on `shard`. */
function idOnShard(random: Random, shard: number): string {
  for (;;) {
    const id = idFrom(random);
    if (offerShard(id) === shard) return id;
  }
}

/** Factory: a live offer of MODEL as registration writes it (T0 the clock of offerWorld). */
function offerOf(workerId: string, o: Partial<OfferItem> = {}): OfferItem {
  const priceBps = o.priceBps ?? 10_000;
  return {
    ...offerKey(o.model ?? MODEL, workerId),
    workerId,
    model: MODEL,
    priceBps,
    pricePerToken: pricePerToken({ basePerToken: {}, defaultBasePerToken: 100n, promptBps: 2_500, completionBps: 10_000 }, MODEL, priceBps),
    tier: "dev",
    hpkePublicKey: "k",
    capacity: 4,
    load: 0,
    lastHeartbeat: T0,
    attestationExpiresAt: T0 + 86_400_000,
    since: T0 - 3_600_000,
    ...o,
  };
}

interface QueryRecord {
  pk: string;
  skPrefix?: string;
  eventual: boolean;
  returned: number;
}

/**
 * Factory: core deps over a memory store holding `offers` (clock fixed at T0, a seeded Random),
 * every query and get recorded; `earn` bumps a worker's job counters as a settlement does.
 */
async function offerWorld(offers: OfferItem[], seed = 1) {
  const world = makeJobWorld();
  const inner = world.store;
  for (let i = 0; i < offers.length; i += 100)
    await inner.transact(offers.slice(i, i + 100).map((item) => ({ op: "put" as const, table: "offers" as const, item })));
  const queries: QueryRecord[] = [];
  const gets: Array<{ table: TableName; eventual: boolean }> = [];
  const store: Store = {
    get: (t, k, o) => {
      gets.push({ table: t, eventual: o?.eventual === true });
      return inner.get(t, k, o);
    },
    transact: (ops) => inner.transact(ops),
    async query<T extends Item>(t: TableName, pk: string, q?: { skPrefix?: string; limit?: number; eventual?: boolean }) {
      const items = await inner.query<T>(t, pk, q);
      queries.push({
        pk,
        ...(q?.skPrefix !== undefined ? { skPrefix: q.skPrefix } : {}),
        eventual: q?.eventual === true,
        returned: items.length,
      });
      return items;
    },
  };
  const deps: CoreDeps = { ...world.deps, store, random: seeded(seed) };
  const earn = (workerId: string, add: { promptTokens?: number; completionTokens?: number }) =>
    inner.transact([{ op: "update", table: "accounts", key: { pk: workerAccount(workerId), sk: "balance" }, add: { jobs: 1, ...add } }]);
  /** One decision, with the queries and gets it made. */
  async function decide(req: { k: number; tiers?: Array<"dev" | "tdx" | "none">; maxPricePerToken?: bigint; model?: string }) {
    const q0 = queries.length;
    const g0 = gets.length;
    const r = await matchCandidates(deps, {
      model: req.model ?? MODEL,
      tiers: req.tiers ?? ["dev"],
      k: req.k,
      ...(req.maxPricePerToken !== undefined ? { maxPricePerToken: req.maxPricePerToken } : {}),
    });
    return { ...r, queries: queries.slice(q0), gets: gets.slice(g0) };
  }
  return { deps, inner, queries, gets, earn, decide, clock: world.clock };
}

const nonceOf = (w: JobWorld, workerId: string) => w.store.get("nonces", { pk: `reg#${workerId}`, sk: "n" });

/** A use case's refusal: { status, code, message } (fails the test when it did not refuse with a CocoonError). */
async function refusal(p: Promise<unknown>) {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(CocoonError);
  const c = e as CocoonError;
  return { status: c.status, code: c.code, message: c.message };
}

/** A registry the test edits (listing DEV_IMAGE_DIGEST and `models`), read through a PolicyCache on the world's clock. */
function withRegistry(w: JobWorld, o: { images?: string[]; models?: Record<string, bigint> } = {}) {
  const r = { images: o.images ?? [DEV_IMAGE_DIGEST], models: { ...(o.models ?? {}) }, version: 7, chainNow: w.clock.now() / 1000 };
  const source = {
    async read(): Promise<PolicyReading> {
      return {
        version: r.version,
        updatedAt: r.chainNow,
        readAt: r.chainNow,
        policy: {
          coordinatorKey: "11".repeat(32),
          fees: { pricePerToken: 300n, promptBps: 2_500, completionBps: 10_000, operatorFeeBps: 0 },
          images: [...r.images],
          models: { ...r.models },
        },
      };
    },
  };
  w.deps.policyRegistry = new PolicyCache(source, { refreshSeconds: 2, maxAgeSeconds: 60, now: w.deps.clock.now });
  /** The registry changes and the next read sees it. */
  const change = (f: () => void) => {
    f();
    r.version++;
    w.advance(2_000);
    r.chainNow += 2;
  };
  return { r, change };
}

// ---------------------------------------------------------------- offer layout

describe("offer layout", () => {
  it("a worker's shard is FNV-1a (32-bit, the published test vectors) of its id modulo 16, so stored offers keep their shard across versions", () => {
    // Act, Assess: FNV-1a("") = 0x811c9dc5, ("a") = 0xe40c292c, ("foobar") = 0xbf9cf968
    expect([offerShard(""), offerShard("a"), offerShard("foobar")]).toEqual([0x811c9dc5 % 16, 0xe40c292c % 16, 0xbf9cf968 % 16]);
    expect(offerKey(MODEL, "a")).toEqual({ pk: `${MODEL}#12`, sk: "a" });
  });
});

// ---------------------------------------------------------------- registration and trust

describe("registration: the nonce", () => {
  it("two registrations racing on one nonce: one commits, the other is 401 bad_registration_nonce, and no offer of the loser's stays", async () => {
    // Prepare: both read the nonce before either commits (a retrying agent)
    const w = makeJobWorld();
    const key = generateSigningKey();
    const { nonce } = await issueRegistrationNonce(w.deps, key.id);
    const first = registration(w, key, nonce, { models: [{ model: MODEL, priceBps: 10_000 }] });
    const second = registration(w, key, nonce, { models: [{ model: OTHER, priceBps: 10_000 }] });
    // Act
    const results = await Promise.allSettled([registerWorker(w.deps, key.id, first), registerWorker(w.deps, key.id, second)]);
    // Assess
    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason).toMatchObject({ status: 401, code: "bad_registration_nonce" });
    const worker = await w.store.get<WorkerItem>("workers", { pk: key.id, sk: "worker" });
    const offered = [(await offerAt(w, MODEL, key.id)) !== undefined, (await offerAt(w, OTHER, key.id)) !== undefined];
    expect(offered.filter(Boolean)).toHaveLength(1);
    expect(worker!.models).toEqual(offered[0] ? [MODEL] : [OTHER]);
    expect(await nonceOf(w, key.id)).toBeUndefined();
  });

  it("a nonce is used up in the very transaction that writes the worker: nonce delete, worker and summary puts, one offer put per model, nothing else", async () => {
    // Prepare
    const w = makeJobWorld();
    const key = generateSigningKey();
    const { nonce } = await issueRegistrationNonce(w.deps, key.id);
    const before = w.transacts.length;
    // Act
    await registerWorker(
      w.deps,
      key.id,
      registration(w, key, nonce, {
        models: [
          { model: MODEL, priceBps: 10_000 },
          { model: OTHER, priceBps: 10_000 },
        ],
      }),
    );
    // Assess: the model listing puts (one transaction each), then one transaction with exactly the nonce, the worker, its summary and its offers
    const txs = w.transacts.slice(before);
    const main = txs.find((ops) => ops.some((op) => op.table === "nonces"))!;
    expect(main.map((op) => `${op.op} ${op.table}`)).toEqual(["delete nonces", "put workers", "put workers", "put offers", "put offers"]);
    expect(main.slice(1, 3).map((op) => (op.op === "put" ? op.item.sk : op.op))).toEqual(["worker", "summary"]);
    expect(main[0]).toEqual({
      op: "delete",
      table: "nonces",
      key: { pk: `reg#${key.id}`, sk: "n" },
      when: { kind: "cmp", attr: "nonce", op: "=", value: nonce },
    });
    expect(
      txs.filter((ops) => ops !== main).map((ops) => ops.map((op) => (op.op === "put" ? `${op.item.pk} ${op.item.sk}` : op.op))),
    ).toEqual([[`* ${MODEL}`], [`* ${OTHER}`]]);
    expect(await nonceOf(w, key.id)).toBeUndefined();
  });

  it("a nonce lives exactly 5 minutes: registering 1 ms before works, at 5 minutes it is refused 401 bad_registration_nonce and nothing is written", async () => {
    // Prepare: two workers, each with a nonce issued at T0
    const w = makeJobWorld();
    const early = generateSigningKey();
    const late = generateSigningKey();
    const n1 = await issueRegistrationNonce(w.deps, early.id);
    const n2 = await issueRegistrationNonce(w.deps, late.id);
    expect(n1.expiresAt).toBe(T0 + 300_000);
    // Act
    w.advance(300_000 - 1);
    const ok = await registerWorker(w.deps, early.id, registration(w, early, n1.nonce));
    w.advance(1);
    const before = w.transacts.length;
    const refused = await refusal(registerWorker(w.deps, late.id, registration(w, late, n2.nonce)));
    // Assess
    expect(ok.workerId).toBe(early.id);
    expect(refused).toMatchObject({ status: 401, code: "bad_registration_nonce" });
    expect(refused.message).toContain("a fresh registration nonce"); // the route is the edge's (functions/http/route-hints.ts)
    expect(w.transacts.length).toBe(before);
    expect(await w.store.get("workers", { pk: late.id, sk: "worker" })).toBeUndefined();
  });

  it("a nonce issued again replaces the one before: the older nonce is refused, the newer one registers", async () => {
    // Prepare
    const w = makeJobWorld();
    const key = generateSigningKey();
    const first = await issueRegistrationNonce(w.deps, key.id);
    const second = await issueRegistrationNonce(w.deps, key.id);
    // Act
    const old = await refusal(registerWorker(w.deps, key.id, registration(w, key, first.nonce)));
    const fresh = await registerWorker(w.deps, key.id, registration(w, key, second.nonce));
    // Assess
    expect(old).toMatchObject({ status: 401, code: "bad_registration_nonce" });
    expect(fresh.workerId).toBe(key.id);
  });

  it("a registration refused for its evidence does not use the nonce up: the same nonce then registers with good evidence", async () => {
    // Prepare: evidence whose report data binds another nonce than the document names
    const w = makeJobWorld();
    const key = generateSigningKey();
    const { nonce } = await issueRegistrationNonce(w.deps, key.id);
    const bad = registration(w, key, nonce, { boundNonce: b64u.encode(new Uint8Array(32).fill(9)) });
    // Act
    const refused = await refusal(registerWorker(w.deps, key.id, bad));
    const kept = await nonceOf(w, key.id);
    const ok = await registerWorker(w.deps, key.id, registration(w, key, nonce));
    // Assess
    expect(refused).toMatchObject({ status: 403, code: "attestation_report_data_mismatch" });
    expect(kept).toMatchObject({ nonce });
    expect(ok.workerId).toBe(key.id);
  });
});

describe("registration: what the evidence must bind, and refusals that write nothing", () => {
  it("refusals carry their machine-readable code and write nothing: key_mismatch, bad_registration_nonce, report data over another HPKE key, too_many_models, duplicate_model", async () => {
    // Prepare
    const w = makeJobWorld();
    const key = generateSigningKey();
    const other = generateSigningKey();
    const { nonce } = await issueRegistrationNonce(w.deps, key.id);
    const swapped = registration(w, key, nonce);
    swapped.attestation = { ...swapped.attestation, hpkePublicKey: b64u.encode(generateKemKey().publicKey) };
    const before = w.transacts.length;
    // Act
    const mismatch = await refusal(registerWorker(w.deps, key.id, registration(w, other, nonce)));
    const wrongNonce = await refusal(registerWorker(w.deps, key.id, registration(w, key, b64u.encode(new Uint8Array(32).fill(1)))));
    const hpke = await refusal(registerWorker(w.deps, key.id, swapped));
    const many = await refusal(
      registerWorker(
        w.deps,
        key.id,
        registration(w, key, nonce, { models: Array.from({ length: 33 }, (_, i) => ({ model: `m-${i}`, priceBps: 10_000 })) }),
      ),
    );
    const twice = await refusal(
      registerWorker(
        w.deps,
        key.id,
        registration(w, key, nonce, {
          models: [
            { model: MODEL, priceBps: 10_000 },
            { model: MODEL, priceBps: 9_000 },
          ],
        }),
      ),
    );
    // Assess
    expect(mismatch).toMatchObject({ status: 403, code: "key_mismatch" });
    expect(mismatch.message).toContain("signingPublicKey");
    expect(wrongNonce).toMatchObject({ status: 401, code: "bad_registration_nonce" });
    expect(wrongNonce.message).toContain("single use");
    expect(hpke).toMatchObject({ status: 403, code: "attestation_report_data_mismatch" });
    expect(many).toMatchObject({ status: 400, code: "too_many_models" });
    expect(twice).toMatchObject({ status: 400, code: "duplicate_model" });
    expect(w.transacts.length).toBe(before);
    expect(await nonceOf(w, key.id)).toMatchObject({ nonce });
    expect(await w.store.query("offers", "*")).toEqual([]);
  });

  it("the stored worker and its offers carry the keys the evidence bound (HPKE key, attestation) and its expiry", async () => {
    // Prepare
    const w = makeJobWorld();
    const key = generateSigningKey();
    const { nonce } = await issueRegistrationNonce(w.deps, key.id);
    const req = registration(w, key, nonce);
    // Act
    const out = await registerWorker(w.deps, key.id, req);
    // Assess
    const worker = (await w.store.get<WorkerItem>("workers", { pk: key.id, sk: "worker" }))!;
    const offer = (await offerAt(w, MODEL, key.id))!;
    const expiresAt = req.attestation.issuedAt + w.deps.policy.maxEvidenceAgeSeconds * 1000;
    expect(out.attestationExpiresAt).toBe(expiresAt);
    expect(worker).toMatchObject({
      hpkePublicKey: req.attestation.hpkePublicKey,
      attestation: req.attestation,
      attestationExpiresAt: expiresAt,
    });
    expect(offer).toMatchObject({ hpkePublicKey: req.attestation.hpkePublicKey, attestationExpiresAt: expiresAt });
  });

  it("tier none (no TEE) registers, labelled as such: tier and measurement none, and its offers name no image", async () => {
    // Prepare
    const w = makeJobWorld();
    const key = generateSigningKey();
    const { nonce } = await issueRegistrationNonce(w.deps, key.id);
    const attestation = createNoneAttestation({
      hpkePublicKey: generateKemKey().publicKey,
      signingPublicKey: key.publicKey,
      nonce: b64u.decode(nonce),
      now: w.clock.now(),
    });
    // Act
    const out = await registerWorker(w.deps, key.id, { attestation, models: [{ model: MODEL, priceBps: 10_000 }], capacity: 2 });
    // Assess
    expect(out).toMatchObject({ tier: "none", measurement: "none" });
    const offer = (await offerAt(w, MODEL, key.id))!;
    expect(offer.tier).toBe("none");
    expect(Object.hasOwn(offer, "image")).toBe(false);
  });

  it("a dev offer names its image (DEV_IMAGE_DIGEST) and the weight digest attested for its model; a model attested without a digest has none", async () => {
    // Prepare, Act
    const w = makeJobWorld();
    const { key } = await registered(w, {
      models: [
        { model: MODEL, priceBps: 10_000 },
        { model: OTHER, priceBps: 10_000 },
      ],
      modelDigests: { [MODEL]: DIGEST },
    });
    // Assess
    const withDigest = (await offerAt(w, MODEL, key.id))!;
    const without = (await offerAt(w, OTHER, key.id))!;
    expect(withDigest).toMatchObject({ image: DEV_IMAGE_DIGEST, modelDigest: DIGEST });
    expect(without.image).toBe(DEV_IMAGE_DIGEST);
    expect(Object.hasOwn(without, "modelDigest")).toBe(false);
  });

  it("registration ensures the worker's own queue, worker-<id>", async () => {
    // Prepare
    const w = makeJobWorld();
    const ensured: string[] = [];
    const ensure = w.deps.queues.ensure.bind(w.deps.queues);
    w.deps.queues.ensure = (q: QueueName) => {
      ensured.push(q);
      return ensure(q);
    };
    // Act
    const { key } = await registered(w);
    // Assess
    expect(ensured).toEqual([`worker-${key.id}`]);
  });

  it("requireWorker of an unregistered key: 403 not_a_worker naming the worker and what its owner can do", async () => {
    // Prepare
    const w = makeJobWorld();
    const id = generateSigningKey().id;
    // Act
    const r = await refusal(requireWorker(w.deps, id));
    // Assess
    expect(r).toMatchObject({ status: 403, code: "not_a_worker" });
    expect(r.message).toBe(
      `worker ${id} is not registered (or was registered under another key): cocoon-agent start registers it; a worker registered before signs with the key it registered with (its COCOON_HOME, or --key)`,
    );
  });
});

describe("registration under the policy registry (issue 15)", () => {
  it("an image the registry does not list is refused 403 attestation_image_not_in_registry, and nothing is written (the nonce stays)", async () => {
    // Prepare
    const w = makeJobWorld();
    withRegistry(w, { images: [] });
    const key = generateSigningKey();
    const { nonce } = await issueRegistrationNonce(w.deps, key.id);
    const before = w.transacts.length;
    // Act
    const r = await refusal(registerWorker(w.deps, key.id, registration(w, key, nonce)));
    // Assess
    expect(r).toMatchObject({ status: 403, code: "attestation_image_not_in_registry" });
    expect(w.transacts.length).toBe(before);
    expect(await nonceOf(w, key.id)).toMatchObject({ nonce });
  });

  it("with the model allow-list in force: an unlisted digest is refused 403 model_not_in_registry naming the model; a listed one registers at the registry's price for that digest", async () => {
    // Prepare: DIGEST listed at a base of 700 nanoTON per token (the registry's default is 300)
    const w = makeJobWorld();
    withRegistry(w, { models: { [DIGEST]: 700n } });
    const bad = generateSigningKey();
    const { nonce } = await issueRegistrationNonce(w.deps, bad.id);
    const before = w.transacts.length;
    // Act
    const refused = await refusal(
      registerWorker(
        w.deps,
        bad.id,
        registration(w, bad, nonce, { models: [{ model: MODEL, priceBps: 15_000 }], modelDigests: { [MODEL]: UNLISTED } }),
      ),
    );
    const writes = w.transacts.length - before;
    const { key } = await registered(w, { models: [{ model: MODEL, priceBps: 15_000 }], modelDigests: { [MODEL]: DIGEST } });
    // Assess
    expect(refused).toMatchObject({ status: 403, code: "model_not_in_registry" });
    expect(refused.message).toContain(MODEL);
    expect(writes).toBe(0);
    expect(await offerAt(w, MODEL, key.id)).toMatchObject({ modelDigest: DIGEST, image: DEV_IMAGE_DIGEST, pricePerToken: 1050n });
  });
});

describe("registration: stale offers beyond one transaction", () => {
  /** A worker registered first with `old` models as an older coordinator stored them (no cap then). */
  async function withOldModels(w: JobWorld, old: string[]) {
    const key = generateSigningKey();
    const { nonce } = await issueRegistrationNonce(w.deps, key.id);
    await registerWorker(w.deps, key.id, registration(w, key, nonce, { models: [{ model: old[0]!, priceBps: 10_000 }] }));
    const prev = (await w.store.get<WorkerItem>("workers", { pk: key.id, sk: "worker" }))!;
    await w.store.transact([{ op: "put", table: "workers", item: { ...prev, models: old } }]);
    for (let i = 0; i < old.length; i += 50)
      await w.store.transact(
        old.slice(i, i + 50).map((model) => ({
          op: "put" as const,
          table: "offers" as const,
          item: { ...offerKey(model, key.id), workerId: key.id, model },
        })),
      );
    return key;
  }
  const names = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  /** The transactions of a re-registration with `models`, the store stopping a runaway loop. */
  async function reRegister(w: JobWorld, key: SigningKeyPair, models: string[]) {
    const { nonce } = await issueRegistrationNonce(w.deps, key.id);
    const before = w.transacts.length;
    const transact = w.store.transact;
    w.store.transact = (ops: WriteOp[]) => {
      if (w.transacts.length - before > 200) throw new Error("runaway: more than 200 transactions for one registration");
      return transact(ops);
    };
    await registerWorker(w.deps, key.id, registration(w, key, nonce, { models: models.map((model) => ({ model, priceBps: 10_000 })) }));
    w.store.transact = transact;
    return w.transacts.slice(before).filter((ops) => !ops.some((op) => op.op === "put" && op.item.pk === "*"));
  }

  it("100 stale offers and 32 new models: one full transaction of 100 operations (nonce, worker, summary, 32 offers, 65 deletes), then one with the other 35 deletes; every stale offer is gone", async () => {
    // Prepare
    const w = makeJobWorld();
    const old = names(100, "old");
    const key = await withOldModels(w, old);
    // Act
    const txs = await reRegister(w, key, names(32, "new"));
    // Assess
    expect(txs.map((ops) => ops.length)).toEqual([100, 35]);
    expect(txs[1]!.every((op) => op.op === "delete" && op.table === "offers")).toBe(true);
    for (const model of old) expect(await offerAt(w, model, key.id)).toBeUndefined();
    for (const model of names(32, "new")) expect(await offerAt(w, model, key.id)).toMatchObject({ workerId: key.id });
  });

  it("stale offers that exactly fill the first transaction leave no second (and no empty) transaction", async () => {
    // Prepare: 65 stale, 32 new: 3 + 32 + 65 = 100
    const w = makeJobWorld();
    const old = names(65, "old");
    const key = await withOldModels(w, old);
    // Act
    const txs = await reRegister(w, key, names(32, "new"));
    // Assess
    expect(txs.map((ops) => ops.length)).toEqual([100]);
    for (const model of old) expect(await offerAt(w, model, key.id)).toBeUndefined();
  });
});

// ---------------------------------------------------------------- heartbeats, suspects, liveness

describe("heartbeats, suspects and liveness", () => {
  it("a suspect leaves the candidate lists until its next heartbeat brings it back", async () => {
    // Prepare
    const w = makeJobWorld();
    const a = (await registered(w)).key.id;
    const b = (await registered(w)).key.id;
    // Act
    await markSuspect(w.deps, MODEL, a);
    const during = await matchCandidates(w.deps, { model: MODEL, tiers: ["dev"], k: 3 });
    const r = await heartbeat(w.deps, a, 1);
    const after = await matchCandidates(w.deps, { model: MODEL, tiers: ["dev"], k: 3 });
    // Assess
    expect(during.offers.map((o) => o.workerId)).toEqual([b]);
    expect(after.offers.map((o) => o.workerId)).toEqual([b, a]); // a reported load 1: after b
    expect(r).toEqual({
      ok: true,
      attestationExpiresAt: (await requireWorker(w.deps, a)).attestationExpiresAt,
      heartbeatSeconds: w.deps.config.heartbeatSeconds,
    });
  });

  it("liveness at its edges through matching: a heartbeat exactly livenessMs old is matched, 1 ms older is not; evidence expiring now is not", async () => {
    // Prepare
    const w = makeJobWorld();
    const { key } = await registered(w);
    const o = (await offerAt(w, MODEL, key.id))!;
    const match = () => matchCandidates(w.deps, { model: MODEL, tiers: ["dev"], k: 1 });
    // Act, Assess
    w.clock.t = o.lastHeartbeat + w.deps.config.livenessMs;
    await setOffer(w, MODEL, key.id, { attestationExpiresAt: w.clock.t + 1 });
    expect((await match()).offers.map((x) => x.workerId)).toEqual([key.id]);
    w.clock.t += 1;
    expect((await match()).why).toBe("no live worker (all missed heartbeats or attestation expired)");
    await setOffer(w, MODEL, key.id, { lastHeartbeat: w.clock.t, attestationExpiresAt: w.clock.t });
    expect((await match()).why).toBe("no live worker (all missed heartbeats or attestation expired)");
  });
});

// ---------------------------------------------------------------- matching

describe("matching: who may be a candidate", () => {
  it("over 200 seeded decisions: only live offers of the model, in the tiers, under the cap; at most k distinct workers; every eligible worker appears", async () => {
    // Prepare: 6 equal eligible workers (power of two choices never names a strictly worst one) and 6 that must never be named
    const random = seeded(42);
    const cap = pricePerToken(makeJobWorld().deps.config.pricing, MODEL, 12_000);
    const eligible = Array.from({ length: 6 }, () => offerOf(idFrom(random)));
    const ineligible = [
      offerOf(idFrom(random), { lastHeartbeat: 0 }), // a suspect
      offerOf(idFrom(random), { lastHeartbeat: T0 - 4_500_001 }), // missed heartbeats
      offerOf(idFrom(random), { attestationExpiresAt: T0 }), // evidence expired
      offerOf(idFrom(random), { tier: "none" }), // another tier
      offerOf(idFrom(random), { priceBps: 12_001 }), // over the cap
      offerOf("x", { model: OTHER }), // another model
    ].map((o) => ({ ...o, pricePerToken: o.priceBps === 12_001 ? cap + 1n : o.pricePerToken }));
    const world = await offerWorld([...eligible, ...ineligible], 7);
    const ok = new Set(eligible.map((o) => o.workerId));
    const seen = new Set<string>();
    // Act, Assess
    for (let i = 0; i < 200; i++) {
      const r = await world.decide({ k: 3, maxPricePerToken: cap });
      const ids = r.offers.map((o) => o.workerId);
      expect(ids).toHaveLength(3);
      expect(new Set(ids).size).toBe(3);
      for (const id of ids) expect(ok.has(id)).toBe(true);
      ids.forEach((id) => seen.add(id));
    }
    expect([...seen].sort()).toEqual([...ok].sort());
  });

  it("power of two choices: at k=1 the most loaded of three workers never gets the job (200 seeded decisions), the other two both do", async () => {
    // Prepare
    const random = seeded(3);
    const [a, b, c] = [offerOf(idFrom(random)), offerOf(idFrom(random)), offerOf(idFrom(random), { load: 2 })];
    const world = await offerWorld([a!, b!, c!], 11);
    const firsts = new Map<string, number>();
    // Act
    for (let i = 0; i < 200; i++) {
      const id = (await world.decide({ k: 1 })).offers[0]!.workerId;
      firsts.set(id, (firsts.get(id) ?? 0) + 1);
    }
    // Assess
    expect(firsts.has(c!.workerId)).toBe(false);
    expect(firsts.get(a!.workerId)).toBeGreaterThan(40);
    expect(firsts.get(b!.workerId)).toBeGreaterThan(40);
  });

  it("load is a share of capacity (2 of 8 before 1 of 2), and equal load goes to the cheaper first", async () => {
    // Prepare
    const random = seeded(5);
    const quarter = offerOf(idFrom(random), { load: 2, capacity: 8 });
    const half = offerOf(idFrom(random), { load: 1, capacity: 2 });
    const idle = offerOf(idFrom(random), { load: 0, capacity: 1, priceBps: 20_000 });
    const idleCheap = offerOf(idFrom(random), { load: 0, capacity: 1, priceBps: 9_000, pricePerToken: 90n });
    const world = await offerWorld([half, quarter, idle, idleCheap]);
    // Act
    const r = await world.decide({ k: 4 });
    // Assess
    expect(r.offers.map((o) => o.workerId)).toEqual([idleCheap.workerId, idle.workerId, quarter.workerId, half.workerId]);
  });

  it("equal load and price are ordered by worker id whatever order the shards were read in (10 seeds)", async () => {
    for (let seed = 1; seed <= 10; seed++) {
      // Prepare
      const random = seeded(100 + seed);
      const offers = Array.from({ length: 6 }, () => offerOf(idFrom(random)));
      const world = await offerWorld(offers, seed);
      // Act
      const r = await world.decide({ k: 6 });
      // Assess
      expect(r.offers.map((o) => o.workerId)).toEqual(offers.map((o) => o.workerId).sort());
    }
  });

  it("allLive is said exactly when every eligible offer was returned (sample no larger than k), not when busy workers were left out", async () => {
    // Prepare
    const random = seeded(9);
    const three = [
      offerOf(idFrom(random)),
      offerOf(idFrom(random), { priceBps: 11_000, pricePerToken: 110n }),
      offerOf(idFrom(random), { priceBps: 12_000, pricePerToken: 120n }),
    ];
    const all = await offerWorld(three);
    const busy = await offerWorld([three[0]!, { ...three[1]!, load: 4 }, { ...three[2]!, load: 5 }]);
    // Act
    const whole = await all.decide({ k: 3 });
    const part = await busy.decide({ k: 1 });
    // Assess
    expect({ ids: whole.offers.map((o) => o.workerId), allLive: whole.allLive }).toEqual({
      ids: three.map((o) => o.workerId),
      allLive: true,
    });
    expect(part.offers.map((o) => o.workerId)).toEqual([three[0]!.workerId]);
    expect(Object.hasOwn(part, "allLive")).toBe(false);
  });

  it("says why nothing matched, naming every tier asked for", async () => {
    // Prepare
    const world = await offerWorld([offerOf(idFrom(seeded(1)))]);
    // Act
    const r = await world.decide({ k: 1, tiers: ["tdx", "none"] });
    // Assess
    expect(r).toMatchObject({ offers: [], why: "no live worker in tiers [tdx, none]" });
  });
});

describe("matching: the fair-share contest for the first candidate", () => {
  it("among 8 equal workers the one furthest below its share always does the job; the failover candidate is not chosen by fair share (it varies)", async () => {
    // Prepare: worker i earned i × 1,000 completion tokens (worker 0 nothing)
    const random = seeded(21);
    const offers = Array.from({ length: 8 }, () => offerOf(idFrom(random)));
    const world = await offerWorld(offers, 22);
    for (let i = 1; i < 8; i++) await world.earn(offers[i]!.workerId, { completionTokens: i * 1_000 });
    const seconds = new Set<string>();
    // Act
    for (let i = 0; i < 60; i++) {
      const r = await world.decide({ k: 2 });
      // Assess
      expect(r.offers[0]!.workerId).toBe(offers[0]!.workerId);
      seconds.add(r.offers[1]!.workerId);
    }
    expect(seconds.size).toBeGreaterThanOrEqual(3);
  });

  it("at most FAIR_CHOICES (8) shares are read per decision among 12 equal workers, so the poorest wins often but not always", async () => {
    // Prepare
    const random = seeded(31);
    const offers = Array.from({ length: 12 }, () => offerOf(idFrom(random)));
    const world = await offerWorld(offers, 32);
    for (let i = 1; i < 12; i++) await world.earn(offers[i]!.workerId, { completionTokens: 1_000 + i });
    let poorest = 0;
    // Act
    for (let i = 0; i < 60; i++) {
      const r = await world.decide({ k: 1 });
      const shareReads = r.gets.filter((g) => g.table === "accounts").length;
      // Assess
      expect(shareReads).toBeGreaterThanOrEqual(2);
      expect(shareReads).toBeLessThanOrEqual(8);
      if (r.offers[0]!.workerId === offers[0]!.workerId) poorest++;
    }
    expect(poorest).toBeGreaterThan(20);
    expect(poorest).toBeLessThan(60);
  });

  it("no share is read when the pick has no equal (same load and price) to contest it", async () => {
    // Prepare
    const random = seeded(41);
    const offers = [10_000, 11_000, 12_000].map((bps) => offerOf(idFrom(random), { priceBps: bps, pricePerToken: BigInt(bps / 100) }));
    const world = await offerWorld(offers, 42);
    // Act
    const r = await world.decide({ k: 1 });
    // Assess
    expect(r.offers).toHaveLength(1);
    expect(r.gets.filter((g) => g.table === "accounts")).toEqual([]);
  });
});

describe("matching: the sample of a sharded model", () => {
  it("a small model (one worker per shard) is read whole, decision after decision: every worker, allLive, one eventual query per shard", async () => {
    // Prepare
    const random = seeded(51);
    const offers = Array.from({ length: OFFER_SHARDS }, (_, s) => offerOf(idOnShard(random, s)));
    const world = await offerWorld(offers, 52);
    for (let i = 0; i < 8; i++) {
      // Act
      const r = await world.decide({ k: OFFER_SHARDS });
      // Assess
      expect(r.offers.map((o) => o.workerId).sort()).toEqual(offers.map((o) => o.workerId).sort());
      expect(r.allLive).toBe(true);
      expect(r.queries.map((q) => q.pk).sort()).toEqual(offers.map((o) => o.pk).sort());
      expect(r.queries.every((q) => q.eventual && q.skPrefix === undefined)).toBe(true);
    }
  });

  it("a tiny model (4 workers, 12 empty shards) stays read whole: the first decision queries all 16 shards, the next 29 (within EMPTY_SHARD_MS) only the 4 that held offers, each choosing 3 of the 4 (with k = 4 the sample would be every live worker: all 16 are read then, below)", async () => {
    // Prepare
    const random = seeded(55);
    const offers = [0, 5, 10, 15].map((s) => offerOf(idOnShard(random, s)));
    const world = await offerWorld(offers, 56);
    for (let i = 0; i < 30; i++) {
      // Act
      const r = await world.decide({ k: 3 });
      world.clock.t += 100; // 2.9 s in all: within EMPTY_SHARD_MS
      // Assess
      expect(r.offers).toHaveLength(3);
      expect(offers.map((o) => o.workerId)).toEqual(expect.arrayContaining(r.offers.map((o) => o.workerId)));
      expect(r.allLive).toBeUndefined();
      const read = i === 0 ? Array.from({ length: OFFER_SHARDS }, (_, s) => s) : [0, 5, 10, 15];
      expect(r.queries.map((q) => q.pk).sort()).toEqual(read.map((s) => `${MODEL}#${s}`).sort());
      expect(r.queries.every((q) => q.skPrefix === undefined)).toBe(true);
    }
  });

  it("a worker that lands on a shard found empty (its registration in another process) is sampled once EMPTY_SHARD_MS (15 s) has passed, not later", async () => {
    // Prepare: four workers (more than k = 3: no decision reads every shard to claim allLive); the first decision finds the other 12 shards empty
    const random = seeded(53);
    const offers = [0, 5, 10, 15].map((s) => offerOf(idOnShard(random, s)));
    const world = await offerWorld(offers, 54);
    await world.decide({ k: 3 });
    const late = offerOf(idOnShard(random, 9));
    await world.inner.transact([{ op: "put", table: "offers", item: late }]);
    // Act
    world.clock.t += EMPTY_SHARD_MS - 1;
    const before = await world.decide({ k: 3 });
    world.clock.t += 1;
    const after = await world.decide({ k: 3 });
    // Assess: the four known shards only, then every shard again, the newcomer's among them
    expect(before.queries).toHaveLength(4);
    expect(before.offers.map((o) => o.workerId)).not.toContain(late.workerId);
    expect(after.queries).toHaveLength(OFFER_SHARDS);
    expect(after.queries.map((q) => q.pk)).toContain(`${MODEL}#9`);
  });

  it("a sample no larger than k (every live worker, allLive) is drawn from every shard: a newcomer on a shard found empty a moment ago is named at once", async () => {
    // Prepare: two workers, k = 3; the first decision finds the other 14 shards empty
    const random = seeded(57);
    const offers = [0, 5].map((s) => offerOf(idOnShard(random, s)));
    const world = await offerWorld(offers, 58);
    await world.decide({ k: 3 });
    const late = offerOf(idOnShard(random, 9));
    await world.inner.transact([{ op: "put", table: "offers", item: late }]);
    // Act: within EMPTY_SHARD_MS
    world.clock.t += 1_000;
    const r = await world.decide({ k: 3 });
    // Assess
    expect(r.offers.map((o) => o.workerId).sort()).toEqual([...offers, late].map((o) => o.workerId).sort());
    expect(r.allLive).toBe(true);
  });

  it("a sample of exactly k from the shards read is not yet every live worker: the skipped shards are read before allLive is said", async () => {
    // Prepare: two workers, k = 2 (the first decision's sample is every live worker); a newcomer lands on a shard found empty
    const random = seeded(59);
    const offers = [0, 5].map((s) => offerOf(idOnShard(random, s)));
    const world = await offerWorld(offers, 60);
    expect((await world.decide({ k: 2 })).allLive).toBe(true);
    const late = offerOf(idOnShard(random, 9));
    await world.inner.transact([{ op: "put", table: "offers", item: late }]);
    // Act: within EMPTY_SHARD_MS
    world.clock.t += 1_000;
    const r = await world.decide({ k: 2 });
    // Assess: three live workers for k = 2: the newcomer's shard was read, and allLive is not claimed
    expect(r.queries.map((q) => q.pk)).toContain(`${MODEL}#9`);
    expect(r.allLive).toBeUndefined();
    expect(r.offers).toHaveLength(2);
  });

  it("a shard found empty is skipped from the very millisecond it was read, and not at all once the clock has stepped back before that read", async () => {
    // Prepare: four workers (more than k = 3), a first decision that finds the other 12 shards empty
    const random = seeded(61);
    const offers = [0, 5, 10, 15].map((s) => offerOf(idOnShard(random, s)));
    const world = await offerWorld(offers, 62);
    await world.decide({ k: 3 });
    // Act: again at the same instant; then with the clock stepped back a minute (an NTP correction)
    const same = await world.decide({ k: 3 });
    world.clock.t -= 60_000;
    const back = await world.decide({ k: 3 });
    // Assess: the four known shards only; then every shard, as a hint from the future is none
    expect(same.queries).toHaveLength(4);
    expect(back.queries).toHaveLength(OFFER_SHARDS);
  });

  it("a worker registered through this process is matched at once, though matching found its shard empty a moment before", async () => {
    // Prepare: one registered worker and a decision that finds the other shards empty
    const w = makeJobWorld();
    const first = await w.worker();
    const match = () => matchCandidates(w.deps, { model: MODEL, tiers: ["dev"], k: 8 });
    expect((await match()).offers.map((o) => o.workerId)).toEqual([first.id]);
    // Act: a second registration (on another shard) at the same instant
    let second = await w.worker();
    while (offerShard(second.id) === offerShard(first.id)) second = await w.worker();
    const r = await match();
    // Assess
    expect(r.offers.map((o) => o.workerId)).toContain(second.id);
  });

  it("a model that grows from tiny (10 decisions) to big (1,600 offers) is matched at once: the first decision to meet full shards slices them and names k workers", async () => {
    // Prepare
    const random = seeded(57);
    const world = await offerWorld(
      [0, 5, 10, 15].map((s) => offerOf(idOnShard(random, s))),
      58,
    );
    for (let i = 0; i < 10; i++) await world.decide({ k: 4 });
    const grown = Array.from({ length: 1_600 }, () => offerOf(idFrom(random)));
    for (let i = 0; i < grown.length; i += 100)
      await world.inner.transact(grown.slice(i, i + 100).map((item) => ({ op: "put" as const, table: "offers" as const, item })));
    // Act
    const r = await world.decide({ k: 3 });
    // Assess: one round of full pages (at most MAX_PARALLEL = 8) is dropped, then slices are read
    expect(r.offers).toHaveLength(3);
    expect(r.queries.length).toBeLessThanOrEqual(24);
    expect(r.queries.filter((q) => q.returned >= 64).length).toBeLessThanOrEqual(8);
  });

  it("a name asked before anyone offered it keeps no hint: once 1,600 offers exist, its first decision reads as a fresh process's does", async () => {
    // Prepare: one process asked for the model when it had no offer (unknown_model); both then see 1,600 offers
    const random = seeded(63);
    const grown = Array.from({ length: 1_600 }, () => offerOf(idFrom(random)));
    const asked = await offerWorld([], 64);
    expect((await asked.decide({ k: 3 })).why).toBe("unknown_model");
    for (let i = 0; i < grown.length; i += 100)
      await asked.inner.transact(grown.slice(i, i + 100).map((item) => ({ op: "put" as const, table: "offers" as const, item })));
    asked.clock.t += EMPTY_SHARD_MS;
    const fresh = await offerWorld(grown, 64);
    fresh.clock.t = asked.clock.t;
    // Act
    const afterAsking = await asked.decide({ k: 3 });
    const first = await fresh.decide({ k: 3 });
    // Assess: as many whole shards and slices read (which ones is the draw's), as no hint of the empty name was kept
    const shape = (qs: typeof first.queries) => ({ whole: qs.filter((q) => q.skPrefix === undefined).length, sliced: qs.length });
    expect(shape(afterAsking.queries)).toEqual(shape(first.queries));
    expect(afterAsking.offers).toHaveLength(3);
  });

  it("matching looks for max(SAMPLE_MIN = 12, 4k) eligible offers: k=1 reads 12 shards of one worker each, k=5 reads all 16", async () => {
    // Prepare
    const random = seeded(61);
    const offers = Array.from({ length: OFFER_SHARDS }, (_, s) => offerOf(idOnShard(random, s)));
    // Act
    const one = await (await offerWorld(offers, 62)).decide({ k: 1 });
    const five = await (await offerWorld(offers, 63)).decide({ k: 5 });
    // Assess
    expect(one.queries).toHaveLength(12);
    expect(five.queries).toHaveLength(OFFER_SHARDS);
    expect(five.offers).toHaveLength(5);
  });

  describe("a big model (1,600 offers: about 100 a shard, more than one page of 64)", () => {
    const random = seeded(71);
    const big = Array.from({ length: 1_600 }, () => offerOf(idFrom(random)));
    /** Per shard, the ids of its first page (the 64 lowest): what a matcher that read only first pages could ever name. */
    const firstPages = new Set<string>();
    for (let s = 0; s < OFFER_SHARDS; s++)
      big
        .filter((o) => offerShard(o.workerId) === s)
        .map((o) => o.workerId)
        .sort()
        .slice(0, 64)
        .forEach((id) => firstPages.add(id));

    it("30 decisions: k distinct candidates each, some beyond their shard's first page, never a slice read twice, at most 24 queries, all eventual; once sliced, no full page is read again", async () => {
      // Prepare
      const world = await offerWorld(big, 72);
      const named: string[] = [];
      // Act
      for (let i = 0; i < 30; i++) {
        const r = await world.decide({ k: 3 });
        const ids = r.offers.map((o) => o.workerId);
        // Assess
        expect(new Set(ids).size).toBe(3);
        named.push(...ids);
        const slices = r.queries.map((q) => `${q.pk}/${q.skPrefix ?? ""}`);
        expect(new Set(slices).size).toBe(slices.length);
        expect(r.queries.length).toBeLessThanOrEqual(24);
        expect(r.queries.every((q) => q.eventual)).toBe(true);
        if (i > 0) expect(r.queries.filter((q) => q.returned >= 64)).toEqual([]);
      }
      expect(named.filter((id) => !firstPages.has(id)).length).toBeGreaterThan(10);
    });

    it("a big model with only 5 live offers: each decision stops at 24 queries (no full scan), and what it finds is live", async () => {
      // Prepare
      const live = new Set(big.slice(0, 5).map((o) => o.workerId));
      const world = await offerWorld(
        big.map((o) => (live.has(o.workerId) ? o : { ...o, lastHeartbeat: 0 })),
        73,
      );
      // Act
      for (let i = 0; i < 10; i++) {
        const r = await world.decide({ k: 3 });
        // Assess
        expect(r.queries.length).toBeLessThanOrEqual(24);
        for (const o of r.offers) expect(live.has(o.workerId)).toBe(true);
      }
    });

    it("after a big model shrinks to 8 offers a shard, matching goes back to reading whole shards within two decisions (a couple of queries, no slices)", async () => {
      // Prepare: one decision slices the big model; then all but 8 offers a shard leave
      const world = await offerWorld(big, 74);
      await world.decide({ k: 3 });
      const keep = new Set<string>();
      for (let s = 0; s < OFFER_SHARDS; s++)
        big
          .filter((o) => offerShard(o.workerId) === s)
          .slice(0, 8)
          .forEach((o) => keep.add(o.workerId));
      const gone = big.filter((o) => !keep.has(o.workerId));
      for (let i = 0; i < gone.length; i += 100)
        await world.inner.transact(
          gone.slice(i, i + 100).map((o) => ({ op: "delete" as const, table: "offers" as const, key: { pk: o.pk, sk: o.sk } })),
        );
      // Act
      await world.decide({ k: 3 });
      const r = await world.decide({ k: 3 });
      // Assess
      expect(r.offers).toHaveLength(3);
      expect(r.queries.every((q) => q.skPrefix === undefined)).toBe(true);
      expect(r.queries.length).toBeLessThanOrEqual(4);
    });
  });
});

describe("matching and listing under the policy registry", () => {
  it("a worker whose image left the registry is matched no more (why names the policy version) and GET /v1/models stops counting it; a listed one is matched", async () => {
    // Prepare
    const w = makeJobWorld();
    const reg = withRegistry(w);
    const { key } = await registered(w);
    // Act
    const listed = await matchCandidates(w.deps, { model: MODEL, tiers: ["dev"], k: 1 });
    const listedModels = (await listModels(w.deps)).models;
    reg.change(() => (reg.r.images = []));
    const delisted = await matchCandidates(w.deps, { model: MODEL, tiers: ["dev"], k: 1 });
    const delistedModels = (await listModels(w.deps)).models;
    // Assess
    expect(listed.offers.map((o) => o.workerId)).toEqual([key.id]);
    expect(listedModels[0]).toMatchObject({ model: MODEL, workers: 1, price: { min: "300", median: "300", max: "300" } });
    expect(delisted).toEqual({
      offers: [],
      why: "no live worker runs an image and model on the policy registry's allow-lists (policy v8)",
    });
    expect(delistedModels[0]).toMatchObject({ model: MODEL, workers: 0, tiers: {} });
  });
});

describe("eventual reads (half the read units on DynamoDB)", () => {
  it("GET /v1/models reads every shard of a model eventually consistent; candidatesFor reads the workers eventually consistent", async () => {
    // Prepare
    const w = makeJobWorld();
    await registered(w);
    const reads: string[] = [];
    const store = w.deps.store;
    const recording: Store = {
      ...store,
      get: (t, k, o) => {
        reads.push(`get ${t} ${o?.eventual ? "eventual" : "consistent"}`);
        return store.get(t, k, o);
      },
      query: (t, pk, o) => {
        reads.push(`query ${t} ${pk === "*" ? "*" : "shard"} ${o?.eventual ? "eventual" : "consistent"}`);
        return store.query(t, pk, o);
      },
    };
    const deps = { ...w.deps, store: recording };
    // Act
    await listModels(deps);
    const listing = [...new Set(reads)].sort();
    reads.length = 0;
    await candidatesFor(deps, (await matchCandidates(w.deps, { model: MODEL, tiers: ["dev"], k: 1 })).offers);
    // Assess
    expect(listing).toEqual(["query offers * consistent", "query offers shard eventual"]);
    expect(reads).toEqual(["get workers eventual"]);
  });
});

// ---------------------------------------------------------------- the fair-share score

describe("byFairShare: earnings per capacity per time since registration", () => {
  /** Orders `offers` (each with the earnings given) by fair share, returning their labels. */
  async function order(entries: Array<{ label: string; offer: Partial<OfferItem>; prompt?: number; completion?: number }>) {
    const random = seeded(81);
    const offers = entries.map((e) => offerOf(idFrom(random), e.offer));
    const world = await offerWorld(offers);
    for (const [i, e] of entries.entries())
      if (e.prompt || e.completion)
        await world.earn(offers[i]!.workerId, { promptTokens: e.prompt ?? 0, completionTokens: e.completion ?? 0 });
    const sorted = await byFairShare(world.deps, offers, (o) => o);
    return sorted.map((o) => entries[offers.indexOf(o)]!.label);
  }
  const HOUR = 3_600_000;

  it("one item (a kept quote with one live candidate) has nothing to contest: returned as it is, no counters read", async () => {
    // Prepare
    const world = await offerWorld([offerOf(idFrom(seeded(82)))]);
    // Act
    const sorted = await byFairShare(world.deps, ["only"], () => offerOf("x"));
    // Assess
    expect(sorted).toEqual(["only"]);
    expect(world.gets).toEqual([]);
  });

  it("a request's reads (EarningsReads) serve matching's contest and byFairShare: each worker's earnings read once between them", async () => {
    // Prepare: four equal live workers, one of them the furthest above its share
    const random = seeded(83);
    const offers = Array.from({ length: 4 }, () => offerOf(idFrom(random)));
    const world = await offerWorld(offers);
    await world.earn(offers[0]!.workerId, { completionTokens: 1_000 });
    const reads: EarningsReads = new Map();
    // Act: the renewal's contest (k=3 of 4: all four contend) and the submit's order of three of them, in one request
    const matched = await matchCandidates(world.deps, { model: MODEL, tiers: ["dev"], k: 3 }, reads);
    const sorted = await byFairShare(world.deps, offers.slice(0, 3), (o) => o, reads);
    // Assess: four reads in all, and both ordered by what they read
    expect(world.gets.filter((g) => g.table === "accounts")).toHaveLength(4);
    expect(matched.offers[0]!.workerId).not.toBe(offers[0]!.workerId);
    expect(sorted.map((o) => o.workerId)).toEqual([offers[1]!.workerId, offers[2]!.workerId, offers[0]!.workerId]);
  });

  it("tokens are weighted as priced: a prompt token a quarter of a completion token", async () => {
    // Prepare, Act, Assess: 3,000 prompt = 7.5M, 800 completion = 8M, 4,000 prompt = 10M (weighted bps)
    expect(
      await order([
        { label: "4000p", offer: { since: T0 - HOUR }, prompt: 4_000 },
        { label: "800c", offer: { since: T0 - HOUR }, completion: 800 },
        { label: "3000p", offer: { since: T0 - HOUR }, prompt: 3_000 },
      ]),
    ).toEqual(["3000p", "800c", "4000p"]);
  });

  it("earnings count per unit of capacity: 2,000 tokens on capacity 8 are below 500 on capacity 1", async () => {
    // Prepare, Act, Assess (order() stores the earnings and sorts)
    expect(
      await order([
        { label: "small", offer: { capacity: 1, since: T0 - HOUR }, completion: 500 },
        { label: "large", offer: { capacity: 8, since: T0 - HOUR }, completion: 2_000 },
      ]),
    ).toEqual(["large", "small"]);
  });

  it("earnings count per time since the first registration: the same earnings over 10 hours are below those over 1 hour", async () => {
    // Prepare, Act, Assess (order() stores the earnings and sorts)
    expect(
      await order([
        { label: "1h", offer: { since: T0 - HOUR }, completion: 1_000 },
        { label: "10h", offer: { since: T0 - 10 * HOUR }, completion: 1_000 },
      ]),
    ).toEqual(["10h", "1h"]);
  });

  it("an older offer without `since` counts as registered a day ago", async () => {
    // Prepare, Act, Assess: a day: 1,000 tokens / 24 h; 12 h: 600 / 12 h (higher)
    expect(
      await order([
        { label: "12h", offer: { since: T0 - 12 * HOUR }, completion: 600 },
        { label: "legacy", offer: { since: undefined }, completion: 1_000 },
      ]),
    ).toEqual(["legacy", "12h"]);
  });

  it("the furthest below its share first, ties keep their order", async () => {
    // Prepare, Act, Assess (order() stores the earnings and sorts)
    expect(
      await order([
        { label: "a5", offer: { since: T0 - HOUR }, completion: 500 },
        { label: "b1", offer: { since: T0 - HOUR }, completion: 100 },
        { label: "c5", offer: { since: T0 - HOUR }, completion: 500 },
        { label: "d0", offer: { since: T0 - HOUR } },
        { label: "e1", offer: { since: T0 - HOUR }, completion: 100 },
      ]),
    ).toEqual(["d0", "b1", "e1", "a5", "c5"]);
  });
});

// ---------------------------------------------------------------- listing, capabilities, status

describe("commonCapabilities: what every live offer can do", () => {
  const full: ModelCapabilities = {
    chat: true,
    completions: true,
    embeddings: true,
    streaming: true,
    tools: true,
    jsonSchema: true,
    contextLength: 8_192,
    logprobs: true,
  };

  it("every flag true when all offers have it, logprobs included; the smallest context length", () => {
    // Act, Assess
    expect(commonCapabilities([{ capabilities: full }, { capabilities: { ...full, contextLength: 4_096 } }])).toStrictEqual({
      ...full,
      contextLength: 4_096,
    });
  });

  it("a flag one offer lacks is false; logprobs one offer lacks is absent (not false)", () => {
    // Prepare
    const { logprobs: _lp, ...rest } = full;
    // Act
    const c = commonCapabilities([
      { capabilities: full },
      { capabilities: { ...full, chat: false, embeddings: false, jsonSchema: false, logprobs: false } },
    ]);
    // Assess
    expect(c).toStrictEqual({ ...rest, chat: false, embeddings: false, jsonSchema: false });
  });

  it("a context length one offer does not know is left out (no key at all)", () => {
    // Prepare
    const { contextLength: _unknown, ...noLength } = full;
    // Act
    const c = commonCapabilities([{ capabilities: noLength }, { capabilities: full }]);
    // Assess
    expect(Object.hasOwn(c!, "contextLength")).toBe(false);
    expect(commonCapabilities([{ capabilities: noLength }])).toStrictEqual(noLength);
  });

  it("offers without capabilities are left out; none at all is undefined", () => {
    // Act, Assess
    expect(commonCapabilities([{}, { capabilities: full }, {}])).toStrictEqual(full);
    expect(commonCapabilities([{}, {}])).toBeUndefined();
  });

  it("vision only when every live offer says it: one without it, or an older agent's without capabilities, leaves it absent", () => {
    // Prepare
    const seeing: ModelCapabilities = { ...full, vision: true };
    // Act
    const all = commonCapabilities([{ capabilities: seeing }, { capabilities: seeing }]);
    const oneFalse = commonCapabilities([{ capabilities: seeing }, { capabilities: { ...full, vision: false } }]);
    const oneUnsaid = commonCapabilities([{ capabilities: seeing }, { capabilities: full }]);
    const oneOlder = commonCapabilities([{ capabilities: seeing }, {}]);
    // Assess
    expect(all).toStrictEqual(seeing);
    for (const c of [oneFalse, oneUnsaid, oneOlder]) expect(Object.hasOwn(c!, "vision")).toBe(false);
    expect(oneOlder).toStrictEqual(full);
  });
});

describe("workerStatus", () => {
  it("jobs and tokens are the legacy stats item plus the counters on the balance item; a model whose offer is gone does not spoil the latest heartbeat", async () => {
    // Prepare
    const w = makeJobWorld();
    const { key } = await registered(w, {
      models: [
        { model: MODEL, priceBps: 10_000 },
        { model: OTHER, priceBps: 10_000 },
      ],
    });
    await w.store.transact([
      { op: "put", table: "workers", item: { pk: key.id, sk: "stats", jobs: 2, promptTokens: 30, completionTokens: 40 } },
    ]);
    await w.store.transact([
      {
        op: "update",
        table: "accounts",
        key: { pk: workerAccount(key.id), sk: "balance" },
        add: { jobs: 5, promptTokens: 100, completionTokens: 200 },
      },
    ]);
    await setOffer(w, MODEL, key.id, { lastHeartbeat: w.clock.now() + 7_000 });
    await w.store.transact([{ op: "delete", table: "offers", key: offerKey(OTHER, key.id) }]);
    // Act
    const s = await workerStatus(w.deps, key.id);
    // Assess
    expect(s).toMatchObject({ jobs: 7, promptTokens: 130, completionTokens: 240, lastHeartbeat: w.clock.now() + 7_000 });
  });
});
