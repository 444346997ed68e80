/**
 * Worker registration and attestation challenges under abuse: issue 9 #5 (memory and CPU a
 * key holder can make the coordinator spend) and #11 (bad model lists answered 500).
 * Core use cases over the in-memory store, which enforces the store's transaction rules
 * (at most 100 operations, one operation per item) like DynamoDB does.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { MAX_WORKER_MODELS, RegisterWorkerRequest } from "../events/api";
import type { AttestationDoc } from "../events/attestation";
import { createMemoryStore } from "../local/memory-store";
import { createLocalNotifier } from "../local/notifier";
import { createLocalQueues } from "../local/queues";
import { bogusCollateral, quoteWithBogusCerts, quoteWithBogusLeaf } from "../test/fixtures/attestation/forge";
import { SAMPLE_QUOTE, sampleCollateral } from "../test/fixtures/attestation/helpers";
import { createDevAttestation } from "./attestation/dev";
import { localPolicy } from "./attestation/policy";
import type { RateLimit } from "./attestation/rate-limit";
import { sharedTdxCacheSizes } from "./attestation/verify";
import { TDX_CACHE_MAX_ENTRIES } from "./attestation/tdx/verify";
import { createChallenge } from "./challenges";
import { DEFAULT_CORE_CONFIG } from "./config";
import { b64u } from "./crypto/encoding";
import { generateKemKey, generateSigningKey } from "./crypto/keys";
import type { CoreDeps } from "./deps";
import { issueRegistrationNonce, offerKey, registerWorker, type OfferItem, type WorkerItem } from "./workers";
import { X509 } from "./attestation/tdx/x509";

const T0 = Date.parse("2025-06-25T00:00:00Z"); // inside the sample collateral's window

afterEach(() => vi.restoreAllMocks());

/** Factory: core deps over the in-memory store, with a clock the test moves. */
function makeDeps(rateLimits?: CoreDeps["config"]["rateLimits"]) {
  const clock = { t: T0, now: () => clock.t };
  const deps: CoreDeps = {
    store: createMemoryStore({ clock }),
    queues: createLocalQueues(),
    notifier: createLocalNotifier(),
    clock,
    log: { info: () => {}, warn: () => {}, error: () => {} },
    config: { ...DEFAULT_CORE_CONFIG, allowDevAttestation: true, allowTestImages: true, ...(rateLimits ? { rateLimits } : {}) },
    policy: localPolicy,
  };
  return { deps, clock };
}

/** Factory: a worker's keys and a registration request for `models`, its evidence bound to `nonce`. */
function newWorker() {
  const signing = generateSigningKey();
  const kem = generateKemKey();
  return {
    id: signing.id,
    devDoc: (nonce: string, now: number): AttestationDoc =>
      createDevAttestation({ hpkePublicKey: kem.publicKey, signingPublicKey: signing.publicKey, nonce: b64u.decode(nonce), now }),
    tdxDoc: (nonce: string, now: number, quote: Uint8Array, collateral?: unknown): AttestationDoc => ({
      tier: "tdx",
      hpkePublicKey: b64u.encode(kem.publicKey),
      signingPublicKey: signing.id,
      nonce,
      quote: b64u.encode(quote),
      ...(collateral ? { collateral } : {}),
      issuedAt: now,
    }),
  };
}
const models = (names: string[]) => names.map((model) => ({ model, priceBps: 10_000 }));
const modelNames = (n: number, prefix = "m") => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

async function registerDev(deps: CoreDeps, w: ReturnType<typeof newWorker>, names = ["m-0"]) {
  const { nonce } = await issueRegistrationNonce(deps, w.id);
  return registerWorker(deps, w.id, { attestation: w.devDoc(nonce, deps.clock.now()), models: models(names), capacity: 1 });
}

describe("issue 9 #5: registration cannot exhaust the coordinator's memory", () => {
  it("issue 9 #5: a registration whose quote carries hundreds of bogus certificates is refused with a 4xx code before any is parsed", async () => {
    // Prepare
    const { deps } = makeDeps();
    const w = newWorker();
    const { nonce } = await issueRegistrationNonce(deps, w.id);
    const parses = vi.spyOn(X509, "parse");
    const started = performance.now();
    // Act
    const err = await registerWorker(deps, w.id, {
      attestation: w.tdxDoc(nonce, T0, quoteWithBogusCerts(340)),
      models: models(["m-0"]),
      capacity: 1,
    }).catch((e) => e);
    const ms = performance.now() - started;
    // Assess
    expect(err).toMatchObject({ status: 403, code: "attestation_malformed", message: expect.stringContaining("quote") });
    expect(parses.mock.calls.length).toBe(0);
    console.info(`340-certificate registration refused in ${ms.toFixed(1)} ms`);
  });

  it("issue 9 #5: the request schema refuses an oversized quote with 400 before the handler runs", () => {
    const w = newWorker();
    const r = RegisterWorkerRequest.safeParse({ attestation: w.tdxDoc("AAAA", T0, quoteWithBogusCerts(340)), models: models(["m-0"]) });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(["attestation", "quote"]);
  });

  it("issue 9 #5: the verdict cache stays bounded after many distinct registrations (failures are not cached)", async () => {
    // Prepare: the shared (process-wide) cache, warmed by the genuine sample's chains
    const { deps } = makeDeps();
    const warmup = newWorker();
    const n0 = (await issueRegistrationNonce(deps, warmup.id)).nonce;
    const warm = await registerWorker(deps, warmup.id, {
      attestation: warmup.tdxDoc(n0, T0, SAMPLE_QUOTE, sampleCollateral()),
      models: models(["m-0"]),
      capacity: 1,
    }).catch((e) => e);
    const before = sharedTdxCacheSizes();
    // Act: 100 registrations, each from a fresh key with distinct made-up evidence
    const codes = new Set<string>();
    for (let i = 1; i <= 100; i++) {
      const w = newWorker();
      const { nonce } = await issueRegistrationNonce(deps, w.id);
      const doc = i % 2 ? w.tdxDoc(nonce, T0, quoteWithBogusLeaf(i)) : w.tdxDoc(nonce, T0, SAMPLE_QUOTE, bogusCollateral(i));
      const e = await registerWorker(deps, w.id, { attestation: doc, models: models(["m-0"]), capacity: 1 }).catch((x) => x);
      codes.add(`${e.status} ${e.code}`);
    }
    // Assess
    expect(warm).toMatchObject({ status: 403, code: "attestation_report_data_mismatch" }); // genuine, but bound to other keys
    expect([...codes].sort()).toEqual(["403 attestation_pck_chain_invalid", "403 attestation_tcb_info_signature_invalid"]);
    expect(sharedTdxCacheSizes()).toEqual(before);
    for (const size of Object.values(sharedTdxCacheSizes())) expect(size).toBeLessThanOrEqual(TDX_CACHE_MAX_ENTRIES);
  });
});

describe("issue 9 #5: registration and challenges are rate-limited per key", () => {
  const tight: RateLimit = { burst: 3, perMinute: 6 }; // one more every 10 s

  it("issue 9 #5: the N+1-th registration in a window gets 429 rate_limited; it passes again after the refill", async () => {
    // Prepare
    const { deps, clock } = makeDeps({ registration: tight, registration_nonce: { burst: 100, perMinute: 100 } });
    const w = newWorker();
    for (let i = 0; i < tight.burst; i++) await registerDev(deps, w);
    // Act
    const refused = await registerDev(deps, w).catch((e) => e);
    const otherKey = await registerDev(deps, newWorker());
    clock.t += 10_000;
    const afterRefill = await registerDev(deps, w);
    // Assess
    expect(refused).toMatchObject({ status: 429, code: "rate_limited", details: { action: "registration", retryAfterSeconds: 10 } });
    expect(otherKey).toMatchObject({ tier: "dev" });
    expect(afterRefill).toMatchObject({ tier: "dev" });
  });

  it("issue 9 #5: a refused attempt still costs a token (failed registrations are limited too)", async () => {
    const { deps } = makeDeps({ registration: tight, registration_nonce: { burst: 100, perMinute: 100 } });
    const w = newWorker();
    const { nonce } = await issueRegistrationNonce(deps, w.id);
    const bad = { attestation: w.devDoc(b64u.encode(new Uint8Array(32)), T0), models: models(["m-0"]), capacity: 1 };
    const statuses: number[] = [];
    for (let i = 0; i <= tight.burst; i++) statuses.push((await registerWorker(deps, w.id, bad).catch((e) => e)).status);
    const good = await registerWorker(deps, w.id, { ...bad, attestation: w.devDoc(nonce, T0) }).catch((e) => e);
    expect(statuses).toEqual([401, 401, 401, 429]);
    expect(good).toMatchObject({ status: 429, code: "rate_limited" });
  });

  it("issue 9 #5: the N+1-th registration nonce in a window gets 429 rate_limited", async () => {
    const { deps } = makeDeps({ registration_nonce: tight });
    const w = newWorker();
    for (let i = 0; i < tight.burst; i++) await issueRegistrationNonce(deps, w.id);
    await expect(issueRegistrationNonce(deps, w.id)).rejects.toMatchObject({
      status: 429,
      code: "rate_limited",
      details: { action: "registration_nonce" },
    });
  });

  it("issue 9 #5: the N+1-th requester challenge in a window gets 429 rate_limited", async () => {
    // Prepare: a live worker to challenge
    const { deps } = makeDeps({ challenge: tight });
    const w = newWorker();
    await registerDev(deps, w);
    const requester = generateSigningKey().id;
    const ask = () => createChallenge(deps, requester, { workerId: w.id, nonce: b64u.encode(new Uint8Array(32).fill(1)) });
    for (let i = 0; i < tight.burst; i++) await ask();
    // Act
    const refused = await ask().catch((e) => e);
    const otherRequester = await createChallenge(deps, generateSigningKey().id, { workerId: w.id, nonce: b64u.encode(new Uint8Array(32)) });
    // Assess
    expect(refused).toMatchObject({ status: 429, code: "rate_limited", details: { action: "challenge" } });
    expect(otherRequester).toMatchObject({ workerId: w.id });
  });
});

describe("issue 9 #11: bad model lists are a 4xx naming the problem, and registration fits the store's transaction limit", () => {
  it("issue 9 #11: a repeated model is refused by the schema and by the core with 400 duplicate_model (not a store error)", async () => {
    // Prepare
    const { deps } = makeDeps();
    const w = newWorker();
    const { nonce } = await issueRegistrationNonce(deps, w.id);
    const req = { attestation: w.devDoc(nonce, T0), models: models(["m-0", "m-1", "m-0"]), capacity: 1 };
    // Act
    const schema = RegisterWorkerRequest.safeParse(req);
    const core = await registerWorker(deps, w.id, req).catch((e) => e);
    // Assess
    expect(schema.error?.issues[0]).toMatchObject({
      path: ["models", 2, "model"],
      message: expect.stringContaining('"m-0" is listed twice'),
    });
    expect(core).toMatchObject({ status: 400, code: "duplicate_model", message: expect.stringContaining("m-0") });
  });

  it("issue 9 #11: 64 models are refused with a 400 naming the cap (the store transaction would hold over 100 operations)", async () => {
    const { deps } = makeDeps();
    const w = newWorker();
    const { nonce } = await issueRegistrationNonce(deps, w.id);
    const req = { attestation: w.devDoc(nonce, T0), models: models(modelNames(64)), capacity: 1 };
    const schema = RegisterWorkerRequest.safeParse(req);
    const core = await registerWorker(deps, w.id, req).catch((e) => e);
    expect(schema.error?.issues[0]).toMatchObject({ path: ["models"], message: `at most ${MAX_WORKER_MODELS} models per worker` });
    expect(core).toMatchObject({ status: 400, code: "too_many_models", message: expect.stringContaining(String(MAX_WORKER_MODELS)) });
  });

  it("issue 9 #11: the most models allowed register in one go", async () => {
    const { deps } = makeDeps();
    const w = newWorker();
    const r = await registerDev(deps, w, modelNames(MAX_WORKER_MODELS));
    expect(r.models).toHaveLength(MAX_WORKER_MODELS);
  });

  it("issue 9 #11: re-registering a worker that offered many models (before the cap) with as many others stays within the transaction limit", async () => {
    // Prepare: a worker item and offers as an older coordinator could have stored them (49 models: 2 + 2 × 49 = 100 operations)
    const { deps } = makeDeps();
    const w = newWorker();
    await registerDev(deps, w, ["old-0"]);
    const old = modelNames(80, "old");
    const prev = (await deps.store.get<WorkerItem>("workers", { pk: w.id, sk: "worker" }))!;
    await deps.store.transact([{ op: "put", table: "workers", item: { ...prev, models: old } }]);
    for (const model of old)
      await deps.store.transact([{ op: "put", table: "offers", item: { ...offerKey(model, w.id), workerId: w.id, model } }]);
    // Act: 32 new models, so 80 stale offers to delete: 2 + 32 + 80 = 114 operations, more than
    // one transaction holds (the model listing's puts go outside it)
    const r = await registerDev(deps, w, modelNames(MAX_WORKER_MODELS, "new"));
    // Assess
    expect(r.models).toHaveLength(MAX_WORKER_MODELS);
    for (const model of old) expect(await deps.store.get<OfferItem>("offers", offerKey(model, w.id))).toBeUndefined();
    for (const model of r.models)
      expect(await deps.store.get<OfferItem>("offers", offerKey(model, w.id))).toMatchObject({ workerId: w.id });
  });
});
