/**
 * issue 15: the coordinator acts on every part of the registry's policy, not only its image
 * list: model digests (registration refused, offers not matched, not listed), fees (offer
 * prices, quote weights and holds, the weights a job is billed by) and the age bound on every
 * route that reads it. Real use cases over the in-memory store (core/jobs/testing.ts), a fake
 * registry the test edits.
 */
import { describe, expect, it } from "vitest";
import { createDevAttestation } from "./attestation/dev";
import { b64u } from "./crypto/encoding";
import { generateKemKey, generateSigningKey } from "./crypto/keys";
import { prepareJob } from "./jobs/prepare";
import { postResult } from "./jobs/results";
import { submitJob } from "./jobs/submit";
import { jobKey, type JobItem } from "./jobs/items";
import { makeJobWorld, MODEL, T0 } from "./jobs/testing";
import { DEV_IMAGE_DIGEST, PolicyCache, type PolicyReading, type RegistryFees } from "./policy-registry";
import { issueRegistrationNonce, listModels, matchCandidates, offerKey, registerWorker, type OfferItem, type WorkerItem } from "./workers";

// ---------------------------------------------------------------- factories
const LISTED = "1a".repeat(32);
const OTHER = "2b".repeat(32);
const FEES: RegistryFees = { pricePerToken: 300n, promptBps: 5_000, completionBps: 20_000, operatorFeeBps: 0 };

/** A registry the test edits; each read returns its current policy at chain time `chainNow` (s). */
function fakeRegistry(o: { models?: Record<string, bigint>; fees?: RegistryFees } = {}) {
  const r = {
    images: [DEV_IMAGE_DIGEST],
    models: { ...(o.models ?? {}) },
    fees: { ...(o.fees ?? FEES) },
    version: 1,
    chainNow: T0 / 1000,
    fail: false,
  };
  const source = {
    async read(): Promise<PolicyReading> {
      if (r.fail) throw new Error("toncenter unreachable");
      return {
        version: r.version,
        updatedAt: T0 / 1000,
        readAt: r.chainNow,
        policy: { coordinatorKey: "11".repeat(32), fees: { ...r.fees }, images: [...r.images], models: { ...r.models } },
      };
    },
  };
  return { r, source };
}

/** A job world whose coordinator reads `registry` (refresh 2 s, bound 60 s), on the world's clock. */
function worldWithRegistry(registry: ReturnType<typeof fakeRegistry>) {
  const w = makeJobWorld();
  w.deps.policyRegistry = new PolicyCache(registry.source, { refreshSeconds: 2, maxAgeSeconds: 60, now: w.deps.clock.now });
  /** The registry changes and the next read sees it (the clock and chain time move past one refresh). */
  const nextRefresh = (change: () => void) => {
    change();
    registry.r.version++;
    w.advance(2_000);
    registry.r.chainNow += 2;
  };
  /** Registers a dev worker offering MODEL with `digest` attested for it (none: no digest). */
  async function register(digest: string | undefined, priceBps = 10_000) {
    const signing = generateSigningKey();
    const kem = generateKemKey();
    const { nonce } = await issueRegistrationNonce(w.deps, signing.id);
    const attestation = createDevAttestation({
      hpkePublicKey: kem.publicKey,
      signingPublicKey: signing.publicKey,
      nonce: b64u.decode(nonce),
      now: w.clock.now(),
      ...(digest ? { modelDigests: { [MODEL]: digest } } : {}),
    });
    await registerWorker(w.deps, signing.id, { attestation, models: [{ model: MODEL, priceBps }], capacity: 4 });
    return { id: signing.id, signing, kem, measurement: "" };
  }
  const offerOf = (id: string) => w.store.get<OfferItem>("offers", offerKey(MODEL, id));
  return { ...w, nextRefresh, register, offerOf };
}

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: { status?: number; code?: string }) => ({ status: e.status, code: e.code }),
  );

// ---------------------------------------------------------------- model digests

describe("issue 15: the registry's model allow-list", () => {
  it("registration: a model whose attested digest the registry does not list is refused (403 model_not_in_registry); a listed one is accepted", async () => {
    // Prepare
    const w = worldWithRegistry(fakeRegistry({ models: { [LISTED]: 0n } }));

    // Act
    const other = await refusal(w.register(OTHER));
    const bare = await refusal(w.register(undefined));
    const listed = await w.register(LISTED);

    // Assess
    expect(other).toEqual({ status: 403, code: "model_not_in_registry" });
    expect(bare).toEqual({ status: 403, code: "model_not_in_registry" }); // no digest at all while the list is in force
    expect((await w.offerOf(listed.id))?.modelDigest).toBe(LISTED);
  });

  it("a registry that lists no model digest checks no model (the local default's first policy)", async () => {
    // Prepare
    const w = worldWithRegistry(fakeRegistry({ models: {} }));

    // Act
    const a = await w.register(OTHER);
    const b = await w.register(undefined);

    // Assess
    expect(await w.offerOf(a.id)).toBeDefined();
    expect(await w.offerOf(b.id)).toBeDefined();
  });

  it("matching: a worker whose model digest left the registry is not matched after the next refresh, and GET /v1/models stops counting it", async () => {
    // Prepare
    const reg = fakeRegistry({ models: { [LISTED]: 0n, [OTHER]: 0n } });
    const w = worldWithRegistry(reg);
    const keep = await w.register(LISTED);
    const drop = await w.register(OTHER);
    const matched = async () =>
      (await matchCandidates(w.deps, { model: MODEL, tiers: ["dev"], k: 10 })).offers.map((o) => o.workerId).sort();
    const listed = async () => (await listModels(w.deps)).models.find((m) => m.model === MODEL)?.workers;
    const before = { matched: await matched(), listed: await listed() };

    // Act
    w.nextRefresh(() => delete reg.r.models[OTHER]);

    // Assess
    expect(before).toEqual({ matched: [keep.id, drop.id].sort(), listed: 2 });
    expect(await matched()).toEqual([keep.id]);
    expect(await listed()).toBe(1);
  });
  it("submit: a kept quote's candidate whose digest left the registry since is not dispatched to; with none left, 409 no_live_candidate holding nothing", async () => {
    // Prepare: a quote naming both workers, then the registry drops OTHER
    const reg = fakeRegistry({ models: { [LISTED]: 0n, [OTHER]: 0n } });
    const w = worldWithRegistry(reg);
    const keep = await w.register(LISTED);
    const drop = await w.register(OTHER);
    const who = await w.requester();
    const both = await w.sealedJob(who, { candidates: 2 });
    const onlyDropped = await w.sealedJob(who, { candidates: 2 });
    w.nextRefresh(() => delete reg.r.models[OTHER]);

    // Act
    await submitJob(w.deps, who.id, both.envelope, `submit-${both.header.jobId}`, both.quote);
    w.nextRefresh(() => {
      delete reg.r.models[LISTED];
      reg.r.models["3c".repeat(32)] = 0n; // a list still in force (an empty one checks no model)
    });
    const none = await refusal(submitJob(w.deps, who.id, onlyDropped.envelope, `submit-${onlyDropped.header.jobId}`, onlyDropped.quote));

    // Assess
    expect(both.envelope.keys.map((k) => k.workerId).sort()).toEqual([keep.id, drop.id].sort());
    const job = await w.store.get<JobItem>("jobs", jobKey(both.header.jobId));
    expect(job!.candidates.map((c) => c.workerId)).toEqual([keep.id]);
    expect(none).toEqual({ status: 409, code: "no_live_candidate" });
    expect(await w.store.get<JobItem>("jobs", jobKey(onlyDropped.header.jobId))).toBeUndefined();
    expect(await w.balance(who.id)).toMatchObject({ held: BigInt(both.header.maxCost) });
  });
});

// ---------------------------------------------------------------- GET /v1/models

describe("issue 15: GET /v1/models counts only workers matching could choose", () => {
  it("a worker whose image was delisted is not counted (nor its tier or price)", async () => {
    // Prepare
    const reg = fakeRegistry();
    const w = worldWithRegistry(reg);
    await w.register(undefined, 10_000);
    const before = (await listModels(w.deps)).models.find((m) => m.model === MODEL);

    // Act
    w.nextRefresh(() => (reg.r.images = []));
    const after = (await listModels(w.deps)).models.find((m) => m.model === MODEL);
    const match = await matchCandidates(w.deps, { model: MODEL, tiers: ["dev"], k: 3 });

    // Assess
    expect(before).toMatchObject({ workers: 1, tiers: { dev: 1 }, price: { min: "300", max: "300" } });
    expect(after).toMatchObject({ workers: 0, tiers: {}, price: { min: "0", median: "0", max: "0" } });
    expect(match.offers).toEqual([]); // the same rule: what the listing counts is what matching can choose
  });

  it("refuses (503 policy_stale) when the newest reading is older than the bound, as matching does", async () => {
    // Prepare
    const reg = fakeRegistry();
    const w = worldWithRegistry(reg);
    await w.register(undefined);
    reg.r.fail = true;

    // Act
    w.advance(61_000);

    // Assess
    expect(await refusal(listModels(w.deps))).toEqual({ status: 503, code: "policy_stale" });
  });
});

// ---------------------------------------------------------------- fees

describe("issue 15: prices and weights come from the registry", () => {
  it("an offer is priced from the registry: its model's listed base price by digest, else the registry's default, times the worker's coefficient", async () => {
    // Prepare
    const w = worldWithRegistry(fakeRegistry({ models: { [LISTED]: 1_000n, [OTHER]: 0n } }));

    // Act
    const dear = await w.register(LISTED, 15_000);
    const plain = await w.register(OTHER, 10_000);

    // Assess
    expect((await w.offerOf(dear.id))?.pricePerToken).toBe(1_500n);
    expect((await w.offerOf(plain.id))?.pricePerToken).toBe(300n); // 0: the registry's pricePerToken
  });

  it("a price change on the registry reaches the next quote without the worker registering again; a price cap applies to it", async () => {
    // Prepare
    const reg = fakeRegistry({ models: { [LISTED]: 1_000n } });
    const w = worldWithRegistry(reg);
    await w.register(LISTED, 20_000);
    const prepare = (maxPricePerToken?: bigint) =>
      prepareJob(w.deps, generateSigningKey().id, {
        model: MODEL,
        maxTokens: 10,
        maxPromptTokens: 100,
        tiers: ["dev"],
        candidates: 1,
        ...(maxPricePerToken !== undefined ? { maxPricePerToken } : {}),
      });
    const before = await prepare();

    // Act
    w.nextRefresh(() => (reg.r.models[LISTED] = 2_000n));
    const listed = (await listModels(w.deps)).models.find((m) => m.model === MODEL)?.price;
    const after = await prepare();
    const capped = await refusal(prepare(3_000n));

    // Assess
    expect(before.candidates[0]?.pricePerToken).toBe("2000"); // 1000 × 2.0
    expect(after.candidates[0]?.pricePerToken).toBe("4000"); // 2000 × 2.0, the offer unchanged
    expect(after.quote.candidates[0]?.pricePerToken).toBe("4000");
    expect(after.maxCost).toBe("280000"); // 4000 × (100 × 5000 + 10 × 20000) / 10000
    expect(capped).toEqual({ status: 409, code: "price_above_cap" });
    expect(listed).toEqual({ min: "4000", median: "4000", max: "4000" }); // GET /v1/models shows what prepare quotes
  });

  it("prepare quotes the registry's weights and holds by them; submit keeps them on the job and refuses a quote made under weights the owners changed since", async () => {
    // Prepare
    const reg = fakeRegistry();
    const w = worldWithRegistry(reg);
    await w.register(undefined);
    const who = await w.requester();

    // Act
    const first = await w.sealedJob(who, { maxTokens: 10, maxPromptTokens: 100 });
    const accepted = await submitJob(w.deps, who.id, first.envelope, `submit-${first.header.jobId}`, first.quote);
    const job = await w.store.get<JobItem>("jobs", jobKey(first.header.jobId));
    const second = await w.sealedJob(who, { maxTokens: 10, maxPromptTokens: 100 });
    w.nextRefresh(() => (reg.r.fees = { ...FEES, completionBps: 30_000 }));
    const stale = await refusal(submitJob(w.deps, who.id, second.envelope, `submit-${second.header.jobId}`, second.quote));

    // Assess
    // 300 × (100 × 5000 + 10 × 20000) / 10000 = 21000 (the config's weights would give 100 × (25000 + 100000) / 10000 …)
    expect(first.prepared.maxCost).toBe("21000");
    expect(accepted.status).toBe("assigned");
    expect(job?.weights).toEqual({ promptBps: 5_000, completionBps: 20_000 });
    expect(stale).toEqual({ status: 410, code: "quote_expired" });
  });

  it("settlement bills by the weights the job was held under, even after the registry changed them", async () => {
    // Prepare
    const reg = fakeRegistry();
    const w = worldWithRegistry(reg);
    const worker = await w.register(undefined);
    worker.measurement = (await w.store.get<WorkerItem>("workers", { pk: worker.id, sk: "worker" }))!.measurement;
    const who = await w.requester();
    const job = await w.sealedJob(who, { maxTokens: 10, maxPromptTokens: 100 });
    await submitJob(w.deps, who.id, job.envelope, `submit-${job.header.jobId}`, job.quote);
    w.nextRefresh(() => (reg.r.fees = { ...FEES, promptBps: 1, completionBps: 1 }));

    // Act
    const r = await postResult(w.deps, worker.id, w.completed(worker, job.envelope, { usage: { promptTokens: 10, completionTokens: 5 } }));

    // Assess: 300 × (10 × 5000 + 5 × 20000) / 10000 = 4500 (the changed weights would bill 1)
    expect(r.cost).toBe("4500");
    expect(await w.earned(worker.id)).toBe(4_500n);
  });

  it("prepare and submit refuse (503 policy_stale) on a reading older than the bound", async () => {
    // Prepare
    const reg = fakeRegistry();
    const w = worldWithRegistry(reg);
    await w.register(undefined);
    const who = await w.requester();
    const job = await w.sealedJob(who);
    reg.r.fail = true;

    // Act
    w.advance(61_000);
    const submitted = await refusal(submitJob(w.deps, who.id, job.envelope, `submit-${job.header.jobId}`, job.quote));
    const prepared = await refusal(
      prepareJob(w.deps, who.id, { model: MODEL, maxTokens: 8, maxPromptTokens: 8, tiers: ["dev"], candidates: 1 }),
    );

    // Assess
    expect(submitted).toEqual({ status: 503, code: "policy_stale" });
    expect(prepared).toEqual({ status: 503, code: "policy_stale" });
  });
});
