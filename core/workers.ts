import type { AttestationDoc, AttestationTier } from "../events/attestation";
import {
  MAX_WORKER_MODELS,
  type AgentWake,
  type AttestationBounds,
  type Candidate,
  type HeldCandidate,
  type ModelCapabilities,
  type RegisterWorkerRequest,
} from "../events/api";
import { attestationDigest } from "./attestation/digest";
import { enforceRateLimit } from "./attestation/rate-limit";
import { verifyAttestation } from "./attestation/verify";
import { b64u } from "./crypto/encoding";
import type { CoreDeps } from "./deps";
import { ForbiddenError, NotAWorkerError, RegistrationRefusedError, UnauthenticatedError } from "./errors";
import { toBig, workerAccount } from "./ledger";
import { payoutTotals } from "./payouts";
import {
  imageAllowed,
  imageDigestOf,
  ImageNotAllowedError,
  ModelNotAllowedError,
  offerAllowed,
  refusedModel,
  registryPricePerToken,
  type PolicyReading,
} from "./policy-registry";
import { pricePerToken } from "./pricing";
import { ConditionFailedError, type Item, type Key, type Random, type Store, type WriteOp } from "./ports";
import { randomInt, systemRandom } from "./ids";
import { MAX_TRANSACT_OPS } from "./store-rules";

/** One per (model, worker): what the matcher reads, kept small. */
export interface OfferItem extends Item {
  workerId: string;
  model: string;
  priceBps: number;
  pricePerToken: bigint;
  tier: AttestationTier;
  hpkePublicKey: string;
  capacity: number;
  load: number;
  lastHeartbeat: number;
  attestationExpiresAt: number;
  /** What the worker's engine can do with this model, as advertised at registration (absent from older agents). */
  capabilities?: ModelCapabilities;
  /** The image's name on the policy registry (core/policy-registry.ts imageDigestOf); absent for tier none and older registrations. */
  image?: string;
  /** The weight digest the worker attested for this model (the registry's model allow-list names it); absent when none was attested. */
  modelDigest?: string;
  /** When the worker first registered (ms): matching's fair share is earnings per capacity since then. Absent on older offers. */
  since?: number;
}

export interface WorkerItem extends Item {
  workerId: string;
  tier: AttestationTier;
  measurement: string;
  attestation: AttestationDoc;
  models: string[];
  capacity: number;
  hpkePublicKey: string;
  lastHeartbeat: number;
  attestationExpiresAt: number;
  registeredAt: number;
}

/**
 * What a registered worker's every request needs, apart from its evidence (issue 12): pk=workerId
 * sk="summary", written with the worker item in registration's one transaction and, like it,
 * only ever replaced whole, so the two always agree. The worker item carries the attestation
 * document (a TDX quote with its collateral: tens of KB, several DynamoDB read units and a
 * large decode); results, polls, heartbeats, leases and challenge answers read this one item of
 * a few hundred bytes instead. The measurement here is the verdict on that very document.
 */
export type WorkerSummary = Item &
  Pick<WorkerItem, "workerId" | "tier" | "measurement" | "models" | "capacity" | "attestationExpiresAt"> & {
    /**
     * The document's HPKE key and its name (attestationDigest): a prepare whose requester holds
     * that document (PrepareRequest.held) names the candidate from here, without reading or
     * sending the document. Absent on summaries written before; the worker item is read then.
     */
    hpkePublicKey?: string;
    attestationDigest?: string;
  };

export const workerSummaryKey = (workerId: string): Key => ({ pk: workerId, sk: "summary" });

const summaryOf = (w: WorkerItem): WorkerSummary => ({
  ...workerSummaryKey(w.workerId),
  workerId: w.workerId,
  tier: w.tier,
  measurement: w.measurement,
  models: w.models,
  capacity: w.capacity,
  attestationExpiresAt: w.attestationExpiresAt,
  hpkePublicKey: w.hpkePublicKey,
  attestationDigest: attestationDigest(w.attestation),
});

/**
 * Job and token counters: on the worker's balance item (`accounts` wrk:<id>), bumped in the
 * settlement's own update; before issue 12 a separate item, pk=workerId sk="stats" (still read).
 */
export interface WorkerStatsItem extends Item {
  jobs?: number;
  promptTokens?: number;
  completionTokens?: number;
}

const MODELS_PK = "*"; // offers: pk="*", sk=model lists every model ever offered

// ---------------------------------------------------------------- offer layout (issue 16)
/**
 * Offers are write-sharded: the offer of (model, worker) lives under pk `<model>#<shard>`,
 * the shard a hash of the worker id, so one popular model's heartbeats, load reports and
 * suspect marks spread over OFFER_SHARDS partitions (DynamoDB takes about 1,000 writes/s per
 * partition key; bench/sim measured a popular model's single key past it at 100k agents) and
 * a worker's own writes always land on its own shard. Matching reads a random sample of them
 * (sampleOffers), never the whole model. The `*` listing of model names is unchanged.
 */
export const OFFER_SHARDS = 16;

/** FNV-1a of the worker id, modulo OFFER_SHARDS: stable, and spread evenly by the key's own randomness. */
export function offerShard(workerId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < workerId.length; i++) h = Math.imul(h ^ workerId.charCodeAt(i), 0x01000193);
  return (h >>> 0) % OFFER_SHARDS;
}

/** The partition key of one shard of a model's offers (a model name ending in "#<digits>" cannot collide: the shard is always the last part). */
export const offerPk = (model: string, shard: number) => `${model}#${shard}`;

/** Where the offer of (model, worker) is stored. */
export const offerKey = (model: string, workerId: string): Key => ({ pk: offerPk(model, offerShard(workerId)), sk: workerId });
/** The one registration nonce a worker holds at a time (table "nonces"), issued by issueRegistrationNonce and spent by registerWorker. */
const nonceKey = (workerId: string): Key => ({ pk: `reg#${workerId}`, sk: "n" });

/** Every offer of a model, shard by shard (GET /v1/models; tests). Matching never does this. */
export async function allOffers(deps: Pick<CoreDeps, "store">, model: string): Promise<OfferItem[]> {
  const shards = await Promise.all(
    Array.from({ length: OFFER_SHARDS }, (_, s) => deps.store.query<OfferItem>("offers", offerPk(model, s), { eventual: true })),
  );
  return shards.flat();
}

export async function issueRegistrationNonce(deps: CoreDeps, workerId: string) {
  // Each nonce is a store write anyone with a key can cause (issue 9 #5).
  enforceRateLimit(deps.store, deps.config.rateLimits, "registration_nonce", workerId, deps.clock.now());
  const nonce = b64u.encode((deps.random ?? systemRandom).bytes(32));
  const expiresAt = deps.clock.now() + 5 * 60_000;
  await deps.store.transact([{ op: "put", table: "nonces", item: { ...nonceKey(workerId), nonce, ttl: Math.ceil(expiresAt / 1000) } }]);
  // The bound the registration will be judged by (registerWorker verifies against deps.policy):
  // told now, before the agent makes its evidence, so its collateral is fetched against it.
  const { version, maxCollateralAgeSeconds } = deps.policy;
  const attestationPolicy: AttestationBounds = {
    policyVersion: version,
    ...(maxCollateralAgeSeconds !== undefined ? { maxCollateralAgeSeconds } : {}),
  };
  return { nonce, expiresAt, attestationPolicy };
}

/**
 * Registration (and re-attestation): the attestation must bind this worker's signing key
 * (its id) and HPKE key to the nonce we issued, and pass the policy.
 */
export async function registerWorker(deps: CoreDeps, workerId: string, req: RegisterWorkerRequest) {
  // Before anything is read or verified: verification costs CPU for anyone holding a key (issue 9 #5).
  enforceRateLimit(deps.store, deps.config.rateLimits, "registration", workerId, deps.clock.now());
  checkModels(req.models);
  const doc = req.attestation;
  if (doc.signingPublicKey !== workerId) {
    throw new ForbiddenError("key_mismatch", "attestation.signingPublicKey must be the key that signs this request");
  }
  const stored = await deps.store.get("nonces", nonceKey(workerId));
  const badNonce = () =>
    new UnauthenticatedError(
      "bad_registration_nonce",
      "attestation.nonce must be a fresh registration nonce (valid 5 minutes, single use)",
    );
  if (!stored || stored.nonce !== doc.nonce) throw badNonce();
  const now = deps.clock.now();
  const verdict = await verifyAttestation(doc, {
    policy: deps.policy,
    now,
    expectedNonce: b64u.decode(doc.nonce),
    allowDev: deps.config.allowDevAttestation,
    allowNone: true, // accepted, labelled "not confidential", chosen only by requesters who ask for it
    allowTestImages: deps.config.allowTestImages,
  });
  if (!verdict.ok) throw new ForbiddenError(`attestation_${verdict.code}`, `attestation refused: ${verdict.reason}`);
  const image = imageDigestOf(verdict);
  const digests = verdict.modelDigests;
  const digestOf = (model: string) => (digests && Object.hasOwn(digests, model) ? digests[model] : undefined);
  let reading: PolicyReading | undefined;
  if (deps.policyRegistry) {
    // issue 15: the on-chain allow-lists too (a stale reading refuses with 503 policy_stale):
    // the image, and each offered model's attested weight digest
    reading = await deps.policyRegistry.current();
    if (!imageAllowed(reading, verdict.tier, image)) throw new ImageNotAllowedError(image, reading.version);
    const refused = refusedModel(
      reading,
      req.models.map((m) => m.model),
      digests,
    );
    if (refused) throw new ModelNotAllowedError(refused.model, refused.digest, reading.version);
  }

  const prev = await deps.store.get<WorkerItem>("workers", { pk: workerId, sk: "worker" });
  const models = req.models.map((m) => m.model);
  const worker: WorkerItem = {
    pk: workerId,
    sk: "worker",
    workerId,
    tier: verdict.tier,
    measurement: verdict.measurement,
    attestation: doc,
    models,
    capacity: req.capacity,
    hpkePublicKey: doc.hpkePublicKey,
    lastHeartbeat: now,
    attestationExpiresAt: verdict.expiresAt,
    registeredAt: prev?.registeredAt ?? now,
  };
  const offers: OfferItem[] = req.models.map((m) => ({
    ...offerKey(m.model, workerId),
    workerId,
    model: m.model,
    priceBps: m.priceBps,
    // issue 15: with a registry, the base price is the registry's (by the weights' digest), not the configured one
    pricePerToken: reading
      ? registryPricePerToken(reading, digestOf(m.model), m.priceBps)
      : pricePerToken(deps.config.pricing, m.model, m.priceBps),
    tier: verdict.tier,
    hpkePublicKey: doc.hpkePublicKey,
    capacity: req.capacity,
    load: 0,
    lastHeartbeat: now,
    attestationExpiresAt: verdict.expiresAt,
    ...(m.capabilities ? { capabilities: m.capabilities } : {}),
    ...(image ? { image } : {}),
    ...(digestOf(m.model) !== undefined ? { modelDigest: digestOf(m.model) } : {}),
    since: worker.registeredAt,
  }));
  const dropped = (prev?.models ?? []).filter((m) => !models.includes(m));
  // The listing of model names (`*`), before and outside the transaction: every registration of
  // a model writes the same item, and on DynamoDB transactions that touch one item at once cancel
  // each other (a wave of agents registering after an outage). A name without offers yet lists
  // as a model with no live worker, which it is.
  await Promise.all(offers.map((o) => deps.store.transact([{ op: "put", table: "offers", item: { pk: MODELS_PK, sk: o.model } }])));
  const main: WriteOp[] = [
    // used up only if still there: of two registrations racing on one nonce, one commits
    {
      op: "delete",
      table: "nonces",
      key: nonceKey(workerId),
      when: { kind: "cmp", attr: "nonce", op: "=", value: doc.nonce },
    },
    { op: "put", table: "workers", item: worker },
    { op: "put", table: "workers", item: summaryOf(worker) },
    ...offers.map((item) => ({ op: "put" as const, table: "offers" as const, item })),
  ];
  const drops: WriteOp[] = dropped.map((model) => ({ op: "delete" as const, table: "offers" as const, key: offerKey(model, workerId) }));
  // Never over the store's limit (issue 9 #11): the nonce, the worker and its offers go in one
  // transaction (MAX_WORKER_MODELS keeps that under it); stale offers of models no longer served
  // that do not fit (a worker registered before the cap) follow in further ones. Deleting a
  // stale offer is idempotent, and until it happens the offer only points at this worker.
  const room = MAX_TRANSACT_OPS - main.length;
  try {
    await deps.store.transact([...main, ...drops.slice(0, room)]);
  } catch (e) {
    if (e instanceof ConditionFailedError) throw badNonce(); // the nonce's is this transaction's only condition
    throw e;
  }
  for (let i = room; i < drops.length; i += MAX_TRANSACT_OPS) await deps.store.transact(drops.slice(i, i + MAX_TRANSACT_OPS));
  offersChanged(deps.store);
  forgetEmptyShards(deps.store, models);
  await deps.queues.ensure(`worker-${workerId}`);
  return {
    workerId,
    tier: verdict.tier,
    measurement: verdict.measurement,
    attestationExpiresAt: verdict.expiresAt,
    models,
    heartbeatSeconds: deps.config.heartbeatSeconds,
  };
}

/**
 * How many times this process wrote offers through each store (registrations, heartbeats, a
 * worker marked suspect or gone): a cached GET /v1/models listing read before the last write
 * is read again (functions/http/list-models.ts), so the local network's listing stays exact
 * while a flood of calls between writes shares one read.
 */
const offerWrites = new WeakMap<object, number>();
export const offersVersion = (store: object) => offerWrites.get(store) ?? 0;
const offersChanged = (store: object) => void offerWrites.set(store, offersVersion(store) + 1);

/** What the request schema checks, again here for callers that skip it: a 4xx, never a store error. */
function checkModels(models: RegisterWorkerRequest["models"]) {
  if (models.length > MAX_WORKER_MODELS) {
    throw new RegistrationRefusedError(
      "too_many_models",
      `a worker may offer at most ${MAX_WORKER_MODELS} models, this registration lists ${models.length}`,
    );
  }
  const seen = new Set<string>();
  for (const m of models) {
    if (seen.has(m.model))
      throw new RegistrationRefusedError("duplicate_model", `model "${m.model}" is listed twice: list each model once`);
    seen.add(m.model);
  }
}

export async function requireWorker(deps: CoreDeps, workerId: string): Promise<WorkerItem> {
  const w = await deps.store.get<WorkerItem>("workers", { pk: workerId, sk: "worker" });
  if (!w) throw new NotAWorkerError(workerId);
  return w;
}

/**
 * requireWorker for the hot paths: the worker's summary (one small read), else, for a worker
 * registered before summaries were written, its worker item (read once more, until it registers
 * again: its attestation's expiry makes it).
 */
export async function requireWorkerSummary(deps: CoreDeps, workerId: string): Promise<WorkerSummary> {
  const s = await deps.store.get<WorkerSummary>("workers", workerSummaryKey(workerId));
  return s ?? summaryOf(await requireWorker(deps, workerId));
}

/**
 * Liveness lives on the small offer items only, one plain write each (no transaction): on
 * DynamoDB an idle agent's heartbeats are most of what it costs.
 */
export async function heartbeat(deps: CoreDeps, workerId: string, load: number, offline = false, draining = false) {
  // Before any read: a heartbeat is up to MAX_WORKER_MODELS writes, for anyone who registered a key.
  enforceRateLimit(deps.store, deps.config.rateLimits, "heartbeat", workerId, deps.clock.now());
  const w = await requireWorkerSummary(deps, workerId);
  const now = deps.clock.now();
  for (const model of w.models) {
    if (offline || draining) await markSuspect(deps, model, workerId);
    else
      await deps.store.transact([
        { op: "update", table: "offers", key: offerKey(model, workerId), set: { lastHeartbeat: now, load }, when: { kind: "exists" } },
      ]);
  }
  offersChanged(deps.store);
  // A draining worker waits for its long-poll to answer (up to 20 s, for nothing once it is off
  // the lists): a wake on its queue ends the poll now, nothing aborted, so nothing handed out in
  // an answer is lost. After the marks above: a job dispatched before them is queued ahead.
  // Best effort: without it the poll ends at its wait, as before.
  if (draining) {
    const wake: AgentWake = { kind: "wake" };
    await deps.queues.send(`worker-${workerId}`, wake).catch((e: unknown) => {
      deps.log.warn("could not wake a draining worker's poll; it ends at its wait", { workerId, error: String(e) });
    });
  }
  return { ok: true, attestationExpiresAt: w.attestationExpiresAt, heartbeatSeconds: deps.config.heartbeatSeconds };
}

/** A worker that let a lease run out leaves the candidate lists until its next heartbeat. */
export async function markSuspect(deps: CoreDeps, model: string, workerId: string) {
  try {
    await deps.store.transact([
      { op: "update", table: "offers", key: offerKey(model, workerId), set: { lastHeartbeat: 0 }, when: { kind: "exists" } },
    ]);
    offersChanged(deps.store);
  } catch {
    // gone already: nothing to mark
  }
}

export function isLive(o: Pick<OfferItem, "lastHeartbeat" | "attestationExpiresAt">, now: number, livenessMs: number) {
  return now - o.lastHeartbeat <= livenessMs && o.attestationExpiresAt > now;
}

export interface MatchRequest {
  model: string;
  tiers: AttestationTier[];
  maxPricePerToken?: bigint;
  k: number;
}

/** Offers read per query: a shard (or a slice of one) with more than this is sliced finer. */
const PAGE = 64;
/** Eligible offers matching wants to see before it chooses: enough for k two-way contests. */
const SAMPLE_MIN = 12;
/**
 * Equal offers compared by fair share for the job's first candidate: one small read each.
 * bench/sim/fairness.ts (40k offers of one model, ~4.4 jobs per worker, settlements landing
 * ~2,000 decisions after the pick as in the simulation): earnings Gini among equal workers 0.091
 * with 6, 0.087 with 8, 0.090 with 12, 0.097 with 16. More contenders balance better only while
 * earnings are current: a worker just picked still looks poor until its settlement lands, and
 * the more contests it enters meanwhile, the more it wins again.
 */
const FAIR_CHOICES = 8;
/**
 * Independent slices (or shards) a decision reads at least. The contenders of one slice form a
 * closed group: the slice wins its 1/(number of slices) of the model's jobs whatever its size,
 * so a worker in a slice of 25 got about twice what one in a slice of 50 got (slice sizes vary
 * like Poisson counts: ~39 ± 6 per slice at 100k agents). With contenders from two slices, the
 * fair-share contest moves work across them. bench/sim/fairness.ts: Gini 0.174 with one slice,
 * 0.086 with two, 0.079 with four (5 contenders, earnings current); the simulation at 100k
 * agents had measured 0.178 with one.
 */
const MIN_SLICES = 2;
/** Queries one decision may make; a model whose offers almost all fail the filter gets a smaller sample (or none), never a full scan. */
const MAX_READS = 24;
/** Queries sent at once (in parallel, so a decision waits for about one round trip per round). */
const MAX_PARALLEL = 8;
/** Slices are sk prefixes; worker ids are base64url of a random-looking key, so each character splits a shard 64 ways. */
const ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const MAX_DEPTH = 3;
/**
 * Per store and model: how finely matching slices the shards (prefix length) and how many
 * offers a slice held lately. A hint that sizes the next decision's reads, never a
 * correctness input (a wrong one costs a read more, or a smaller sample). Per process, like a
 * Lambda container's memory.
 */
const sliceHints = new WeakMap<Store, Map<string, { depth: number; perSlice: number }>>();

/**
 * How long a shard matching found empty is not read again (per process, store and model). With
 * a small fleet most of a model's OFFER_SHARDS shards are empty, and a model too small to fill
 * its sample is read whole: 13 of a decision's 16 queries came back empty for 4 workers (each
 * still half a read unit). A worker that registers meanwhile on a shard known empty stays out
 * of this process's samples for at most this long (a registration through this process forgets
 * its models' empty shards at once, forgetEmptyShards; on AWS registrations and prepares are
 * other functions, so there it is the bound). Only who is in a sample, for that long: a decision
 * that admits nothing from the shards it read reads the skipped ones too before it answers that
 * there is no worker, or that it found every live one (allLive: matchCandidates). At scale no
 * shard is empty and nothing is skipped.
 */
export const EMPTY_SHARD_MS = 15_000;
/** Per store and model: shard → when (ms) matching last read it and found no offer. */
const emptyShards = new WeakMap<Store, Map<string, Map<number, number>>>();
const forgetEmptyShards = (store: Store, models: string[]) => {
  for (const m of models) emptyShards.get(store)?.delete(m);
};

const randomPrefix = (random: Random, depth: number) => {
  let p = "";
  for (let i = 0; i < depth; i++) p += ID_ALPHABET[randomInt(random, ID_ALPHABET.length)];
  return p;
};

function shuffled<T>(random: Random, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = randomInt(random, i + 1);
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

/**
 * A random sample of a model's offers that pass `pass`: whole shards in random order while
 * they are small, else random slices (a shard's offers whose worker id starts with a random
 * prefix) small enough to come back in one page, several at once, at least MIN_SLICES of
 * them (so one slice's size never decides its workers' share), until `want` passed. A full
 * page would be the lowest ids of its slice, not a random sample, so it is dropped and the
 * slices made finer. Reads every shard only for a model too small to fill the sample.
 */
async function sampleOffers(
  deps: CoreDeps,
  model: string,
  want: number,
  admit: (o: OfferItem) => OfferItem | undefined,
): Promise<{ sample: OfferItem[]; seen: number; skipped: number }> {
  let hints = sliceHints.get(deps.store);
  if (!hints) sliceHints.set(deps.store, (hints = new Map()));
  const hint = hints.get(model) ?? { depth: 0, perSlice: PAGE };
  let depth = hint.depth;
  const sample: OfferItem[] = [];
  const random = deps.random ?? systemRandom;
  let empties = emptyShards.get(deps.store);
  if (!empties) emptyShards.set(deps.store, (empties = new Map()));
  let empty = empties.get(model);
  if (!empty) empties.set(model, (empty = new Map()));
  const now = deps.clock.now();
  const knownEmpty = (shard: number) => {
    const at = empty.get(shard);
    return at !== undefined && now - at < EMPTY_SHARD_MS && at <= now;
  };
  const shards = shuffled(
    random,
    Array.from({ length: OFFER_SHARDS }, (_, i) => i).filter((i) => !knownEmpty(i)),
  );
  const skipped = OFFER_SHARDS - shards.length;
  let next = 0; // depth 0: the next shard to read
  const asked = new Set<string>();
  let seen = 0;
  let reads = 0;
  let kept = 0;
  let slicesRead = 0;
  while (sample.length < want && reads < MAX_READS) {
    // How many slices this round: what is missing, over what a slice yields lately (offers per slice × the share that passes).
    const passRate = seen > 0 ? Math.max(0.05, kept / seen) : 1;
    const perSlice = Math.max(0.5, hint.perSlice * passRate);
    const floor = reads === 0 ? MIN_SLICES : 1;
    let n = Math.min(MAX_PARALLEL, MAX_READS - reads, Math.max(floor, Math.ceil((want - sample.length) / perSlice)));
    const slices: Array<{ shard: number; prefix: string }> = [];
    if (depth === 0) {
      n = Math.min(n, shards.length - next);
      for (let i = 0; i < n; i++) slices.push({ shard: shards[next++]!, prefix: "" });
    } else {
      for (let tries = 0; slices.length < n && tries < 4 * n; tries++) {
        const slice = { shard: randomInt(random, OFFER_SHARDS), prefix: randomPrefix(random, depth) };
        const id = `${slice.shard}/${slice.prefix}`;
        if (asked.has(id)) continue;
        asked.add(id);
        slices.push(slice);
      }
    }
    if (slices.length === 0) break; // every shard read
    const pages = await Promise.all(
      slices.map((x) =>
        // eventual (half the read units): an offer's liveness moves by the heartbeat, not by the second
        deps.store.query<OfferItem>(
          "offers",
          offerPk(model, x.shard),
          x.prefix ? { skPrefix: x.prefix, limit: PAGE, eventual: true } : { limit: PAGE, eventual: true },
        ),
      ),
    );
    reads += slices.length;
    let full = false;
    pages.forEach((page, i) => {
      // only whole shards (depth 0): an empty slice says nothing of the rest of its shard
      if (slices[i]!.prefix === "") {
        if (page.length === 0) empty.set(slices[i]!.shard, now);
        else empty.delete(slices[i]!.shard);
      }
    });
    for (const page of pages) {
      if (page.length >= PAGE && depth < MAX_DEPTH) {
        full = true; // biased to the lowest ids: not used
        continue;
      }
      seen += page.length;
      slicesRead++;
      for (const o of page) {
        const admitted = admit(o);
        if (!admitted) continue;
        kept++;
        sample.push(admitted);
      }
    }
    if (full) {
      depth++;
      asked.clear();
      hint.perSlice = PAGE / ID_ALPHABET.length;
    } else if (slicesRead > 0) hint.perSlice = seen / slicesRead;
  }
  // Shards that have become small again are read whole next time.
  if (depth > 0 && slicesRead > 0 && (seen / slicesRead) * ID_ALPHABET.length < PAGE / 2) {
    depth--;
    hint.perSlice = (seen / slicesRead) * ID_ALPHABET.length;
  }
  hints.set(model, { depth, perSlice: hint.perSlice });
  if (seen === 0 && skipped === 0) {
    // a name nobody offers (or not yet): no hints kept for it, so random names asked for do not grow them
    hints.delete(model);
    empties.delete(model);
  }
  return { sample, seen, skipped };
}

/**
 * One request's reads of workers' earnings (their balance items), by worker id. A submit that
 * renews its kept quote orders its own candidates (byFairShare) and runs the renewal's contest
 * (matchCandidates) over mostly the same workers, at the same moment: both take their reads from
 * one of these, one read per worker (bench/cost.ts: 7 → 4 with four workers). Made per request and
 * dropped with it, never kept longer: a kept reading makes earnings look older than they are, and
 * a worker just picked keeps looking poor and wins again (bench/sim/fairness.ts).
 */
export type EarningsReads = Map<string, Promise<Item | undefined>>;

/**
 * A worker's fair-share score: what it earned (prompt and completion tokens, weighted as
 * they are priced) per unit of capacity per ms since it first registered. Read from the job
 * counters on its balance item (core/jobs/results.ts bumps them in the settlement), so it
 * costs one small point read per contestant (per request: `reads`) and no write.
 */
async function fairShare(deps: CoreDeps, o: OfferItem, now: number, reads: EarningsReads): Promise<number> {
  let read = reads.get(o.workerId);
  // eventual: a share a second old orders the contest as well (it reads counters, moves no money)
  if (!read)
    reads.set(o.workerId, (read = deps.store.get("accounts", { pk: workerAccount(o.workerId), sk: "balance" }, { eventual: true })));
  const b = await read;
  const p = deps.config.pricing;
  const weighted = Number(b?.promptTokens ?? 0) * p.promptBps + Number(b?.completionTokens ?? 0) * p.completionBps;
  const since = typeof o.since === "number" ? o.since : now - 86_400_000; // an older offer: as if registered a day ago
  return weighted / Math.max(1, o.capacity) / Math.max(60_000, now - since);
}

/**
 * Items in the order a job should try their offers when the requester already chose the set
 * (a kept quote, core/jobs/submit.ts): the offer furthest below its fair share first, as
 * matching picks a job's first candidate; ties keep their order. One small read per offer (none
 * for one already in `reads`), none for a single one.
 */
export async function byFairShare<T>(
  deps: CoreDeps,
  items: T[],
  offerOf: (item: T) => OfferItem,
  reads: EarningsReads = new Map(),
): Promise<T[]> {
  if (items.length < 2) return items; // no contest: nothing to read
  const now = deps.clock.now();
  const scores = await Promise.all(items.map((x) => fairShare(deps, offerOf(x), now, reads)));
  return items
    .map((x, i) => ({ x, s: scores[i]!, i }))
    .sort((a, b) => a.s - b.s || a.i - b.i)
    .map((e) => e.x);
}

const loadRatio = (o: OfferItem) => o.load / Math.max(1, o.capacity);
/** The matcher's order: least loaded (as last reported), then cheapest. */
const byLoadThenPrice = (a: OfferItem, b: OfferItem) =>
  loadRatio(a) - loadRatio(b) || Number(toBig(a.pricePerToken) - toBig(b.pricePerToken));

/**
 * Matching: live offers for the model, in an accepted tier, under the price cap, with spare
 * capacity (as last reported); at most k, the first the one the job goes to.
 *
 * At scale it never reads the whole model (issue 16): a random sample of its sharded offers
 * (sampleOffers, ~SAMPLE_MIN eligible), then k picks by power of two choices: two random
 * offers of the sample, the less loaded, then the cheaper wins (so cheaper workers get more,
 * not all). For the first candidate, the one that does the job, up to FAIR_CHOICES of the
 * sample's offers at the winner's load and price are compared and the one furthest below its
 * fair share (fairShare) is chosen, which keeps equal workers' earnings equal. When the whole
 * eligible set is no larger than k it is returned in the matcher's order (least loaded,
 * cheapest, worker id), as before.
 */
/**
 * `allLive`: the offers are every live one that fits the request (no more than k were found), so
 * another pick now would name the same workers: the SDK renews no quote made of them.
 * `reading`: with a registry, the reading the offers were admitted and priced by (each offer's
 * pricePerToken is then the registry's of that reading): prepare quotes by the same one.
 * `reads`: the request's reads of earnings, shared with its submit's byFairShare (EarningsReads).
 * `cheapestAboveCap`: with no offer, when the price cap alone refused them: the lowest price per
 * token among the live, listed, tier-matching offers this decision read (from its sample, no read
 * of its own; at scale a cheaper one may sit in a slice it did not read), so that a requester can
 * tell "raise your cap" from "no worker is up" (prepare's 409 price_above_cap).
 */
export async function matchCandidates(
  deps: CoreDeps,
  req: MatchRequest,
  reads: EarningsReads = new Map(),
): Promise<{ offers: OfferItem[]; why?: string; allLive?: boolean; reading?: PolicyReading; cheapestAboveCap?: bigint }> {
  const now = deps.clock.now();
  // issue 15: a worker whose image left the registry's allow-list leaves the lists at the next policy refresh
  const reading = deps.policyRegistry ? await deps.policyRegistry.current() : undefined;
  const cap = req.maxPricePerToken;
  // issue 15: with a registry an offer costs the registry's base of the moment (for its weights' digest) times the
  // worker's coefficient, as prepare quotes it, not the price it kept from its registration: the cap and the
  // cheaper-first order read that (a cap held to a registered price above a lowered one refused workers within it)
  const priced = (o: OfferItem): OfferItem =>
    reading ? { ...o, pricePerToken: registryPricePerToken(reading, o.modelDigest, o.priceBps) } : o;
  let n = { live: 0, listed: 0, tiered: 0 };
  /** the lowest price the cap refused, of the offers this draw read */
  let cheapestAboveCap: bigint | undefined;
  // each offer priced once, as it is admitted: the sample carries the price the cap was checked against
  const draw = () =>
    sampleOffers(deps, req.model, Math.max(SAMPLE_MIN, 4 * req.k), (o) => {
      if (!isLive(o, now, deps.config.livenessMs)) return undefined;
      n.live++;
      if (reading && !offerAllowed(reading, o)) return undefined;
      n.listed++;
      if (!req.tiers.includes(o.tier)) return undefined;
      n.tiered++;
      const p = priced(o);
      const price = toBig(p.pricePerToken);
      if (cap === undefined || price <= cap) return p;
      if (cheapestAboveCap === undefined || price < cheapestAboveCap) cheapestAboveCap = price;
      return undefined;
    });
  let drawn = await draw();
  if (drawn.skipped > 0 && drawn.sample.length <= req.k) {
    // Nothing admitted from the shards read, or few enough to be every live worker (allLive,
    // after which the SDK renews no quote made of them): the skipped shards, empty a moment ago,
    // may hold a worker registered through another process since (the model's first, or one live
    // while the known ones went quiet). Read them before saying there is none (404, 409) or that
    // these are all. Rare by construction: such answers stop the renewals that ask again.
    forgetEmptyShards(deps.store, [req.model]);
    n = { live: 0, listed: 0, tiered: 0 };
    cheapestAboveCap = undefined;
    drawn = await draw();
  }
  const { sample, seen } = drawn;
  if (sample.length === 0) {
    if (seen === 0) return { offers: [], why: "unknown_model" };
    if (n.live === 0) return { offers: [], why: "no live worker (all missed heartbeats or attestation expired)" };
    if (n.listed === 0)
      return {
        offers: [],
        why: `no live worker runs an image and model on the policy registry's allow-lists (policy v${reading?.version})`,
      };
    if (n.tiered === 0) return { offers: [], why: `no live worker in tiers [${req.tiers.join(", ")}]` };
    return {
      offers: [],
      // here the cap alone refused every tier-matching offer read (so the cheapest of them is known)
      ...(cheapestAboveCap !== undefined ? { cheapestAboveCap } : {}),
      why: reading
        ? `none at or below ${cap} nanoTON per token under the policy registry's fees (v${reading.version})`
        : `no live worker at or below ${cap} nanoTON per token`,
    };
  }
  const free = sample.filter((o) => o.load < o.capacity);
  const pool = free.length > 0 ? free : sample; // all busy: queue behind the least loaded
  if (pool.length <= req.k)
    return {
      offers: pool.sort((a, b) => byLoadThenPrice(a, b) || (a.workerId < b.workerId ? -1 : 1)),
      // every shard was read for such a sample (above): these are every live one that fits
      ...(sample.length <= req.k ? { allLive: true } : {}),
      ...(reading ? { reading } : {}),
    };

  const random = deps.random ?? systemRandom;
  const two = (xs: OfferItem[]): [OfferItem, OfferItem] => {
    const i = randomInt(random, xs.length);
    let j = randomInt(random, xs.length - 1);
    if (j >= i) j++;
    return [xs[i]!, xs[j]!];
  };
  const chosen: OfferItem[] = [];
  const left = [...pool];
  while (chosen.length < req.k && left.length > 0) {
    let pick: OfferItem;
    if (left.length === 1) pick = left[0]!;
    else {
      const [a, b] = two(left);
      pick = byLoadThenPrice(a, b) <= 0 ? a : b;
      // The first candidate does the job (the others are its failover): it is the one among up
      // to FAIR_CHOICES offers of the same load and price furthest below its fair share.
      const peers = chosen.length === 0 ? left.filter((o) => byLoadThenPrice(o, pick) === 0) : [];
      if (peers.length > 1) {
        const contenders = shuffled(random, peers).slice(0, FAIR_CHOICES);
        const scores = await Promise.all(contenders.map((o) => fairShare(deps, o, now, reads)));
        pick = contenders[scores.indexOf(Math.min(...scores))]!;
      }
    }
    chosen.push(pick);
    left.splice(left.indexOf(pick), 1);
  }
  return { offers: chosen, ...(reading ? { reading } : {}) };
}

/**
 * The candidates of these offers as a prepare names them, in their order: each worker's keys and
 * evidence from its registration (a worker whose registration is gone is left out). `held`: the
 * documents the requester holds (PrepareRequest.held); a worker whose current document is the
 * one named is read from its summary (a few hundred bytes) and named by that digest, not from
 * its worker item (the document: ~1 KB dev, tens of KB TDX) and sent whole again.
 */
export async function candidatesFor(
  deps: CoreDeps,
  offers: OfferItem[],
  held: ReadonlyArray<{ workerId: string; attestationDigest: string }> = [],
): Promise<Array<Candidate | HeldCandidate>> {
  const heldBy = new Map(held.map((h) => [h.workerId, h.attestationDigest]));
  // eventual (half the read units: a prepare, and the quote renewal with a submit, read three):
  // a worker's keys and evidence change only when it registers again, and the SDK checks the
  // evidence itself; a read a moment stale at worst names keys the worker just replaced, and its
  // job then fails over to the next candidate
  const registered = await Promise.all(
    offers.map(async (o) => {
      const digest = heldBy.get(o.workerId);
      if (digest !== undefined) {
        const s = await deps.store.get<WorkerSummary>("workers", workerSummaryKey(o.workerId), { eventual: true });
        // the summary and the worker item are written (and replaced) together: the same registration
        if (s?.attestationDigest === digest && s.hpkePublicKey !== undefined)
          return { tier: s.tier, hpkePublicKey: s.hpkePublicKey, attestationDigest: digest };
        // registered again since, a summary from before digests, or none (gone, or from before summaries): the worker item
      }
      const w = await deps.store.get<WorkerItem>("workers", { pk: o.workerId, sk: "worker" }, { eventual: true });
      return w && { tier: w.tier, hpkePublicKey: w.hpkePublicKey, attestation: w.attestation };
    }),
  );
  return offers.flatMap((o, i) => {
    const r = registered[i];
    if (!r) return [];
    return [
      {
        workerId: o.workerId,
        ...r,
        pricePerToken: toBig(o.pricePerToken).toString(),
        capacity: Math.max(1, o.capacity),
        // the kind of job is sealed: the SDK picks the candidates that can do it (a plain completion)
        ...(o.capabilities ? { capabilities: o.capabilities } : {}),
      },
    ];
  });
}

/**
 * GET /v1/models: per model, the workers matching could choose now (live, and with a registry
 * on its allow-lists, by the same offerAllowed as matchCandidates: a delisted image or model is
 * not counted), their tiers, prices and common capabilities. With a registry whose newest
 * reading is too old it refuses (503 policy_stale) as matching does: nothing would be matched.
 */
export async function listModels(deps: CoreDeps) {
  const now = deps.clock.now();
  const reading = deps.policyRegistry ? await deps.policyRegistry.current() : undefined;
  const names = (await deps.store.query("offers", MODELS_PK)).map((i) => i.sk);
  const models = [];
  for (const model of names) {
    const live = (await allOffers(deps, model)).filter(
      (o) => isLive(o, now, deps.config.livenessMs) && (!reading || offerAllowed(reading, o)),
    );
    // With a registry, the prices prepare would quote (its fees of the moment), not those the offers kept from registration.
    const prices = live
      .map((o) => (reading ? registryPricePerToken(reading, o.modelDigest, o.priceBps) : toBig(o.pricePerToken)))
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const tiers: Record<string, number> = {};
    for (const o of live) tiers[o.tier] = (tiers[o.tier] ?? 0) + 1;
    const median = prices.length
      ? prices.length % 2
        ? prices[(prices.length - 1) / 2]!
        : (prices[prices.length / 2 - 1]! + prices[prices.length / 2]!) / 2n
      : 0n;
    const capabilities = commonCapabilities(live);
    models.push({
      model,
      workers: live.length,
      tiers,
      price: { min: (prices[0] ?? 0n).toString(), median: median.toString(), max: (prices.at(-1) ?? 0n).toString() },
      ...(capabilities ? { capabilities } : {}),
    });
  }
  return { models };
}

/**
 * What every one of these offers can do: a flag is true only when all have it, the context
 * length is the smallest known. The requester's proxy refuses what the listing says a model
 * cannot do, and any live candidate may get the job, so the listing must hold for each of
 * them. An offer without capabilities (an older agent) counts as unknown and is left out;
 * undefined when no offer advertised any.
 */
export function commonCapabilities(offers: Array<Pick<OfferItem, "capabilities">>): ModelCapabilities | undefined {
  const known = offers.flatMap((o) => (o.capabilities ? [o.capabilities] : []));
  if (known.length === 0) return undefined;
  const all = (k: "chat" | "completions" | "embeddings" | "streaming" | "tools" | "jsonSchema") => known.every((c) => c[k] === true);
  const lengths = known.map((c) => c.contextLength);
  const contextLength = lengths.every((n): n is number => typeof n === "number") ? Math.min(...lengths) : undefined;
  return {
    chat: all("chat"),
    completions: all("completions"),
    embeddings: all("embeddings"),
    streaming: all("streaming"),
    tools: all("tools"),
    jsonSchema: all("jsonSchema"),
    ...(contextLength !== undefined ? { contextLength } : {}),
    // issue 11: listed only when every live worker of the model returns them
    ...(known.every((c) => c.logprobs === true) ? { logprobs: true } : {}),
    // Images: only when every live worker says so, an older agent's offer without capabilities
    // included (it would fail an image job: its sealed schema has no content parts).
    ...(offers.every((o) => o.capabilities?.vision === true) ? { vision: true } : {}),
  };
}

export async function workerStatus(deps: CoreDeps, workerId: string) {
  // Before any read: a status is up to MAX_WORKER_MODELS + 4 reads, for anyone who registered a key.
  enforceRateLimit(deps.store, deps.config.rateLimits, "worker_status", workerId, deps.clock.now());
  const w = await requireWorker(deps, workerId);
  // Counts ride on the worker's balance item since issue 12 (core/jobs/results.ts); the stats
  // item holds what was counted before.
  const [legacy, counted, t, offers] = await Promise.all([
    deps.store.get<WorkerStatsItem>("workers", { pk: workerId, sk: "stats" }),
    deps.store.get<WorkerStatsItem>("accounts", { pk: workerAccount(workerId), sk: "balance" }),
    payoutTotals(deps.store, workerId),
    Promise.all(w.models.map((model) => deps.store.get<OfferItem>("offers", offerKey(model, workerId)))),
  ]);
  // Heartbeats write the offer items only; the worker item has the registration's.
  const lastHeartbeat = Math.max(w.lastHeartbeat, ...offers.map((o) => (typeof o?.lastHeartbeat === "number" ? o.lastHeartbeat : 0)));
  return {
    workerId,
    tier: w.tier,
    models: w.models,
    jobs: Number(legacy?.jobs ?? 0) + Number(counted?.jobs ?? 0),
    promptTokens: Number(legacy?.promptTokens ?? 0) + Number(counted?.promptTokens ?? 0),
    completionTokens: Number(legacy?.completionTokens ?? 0) + Number(counted?.completionTokens ?? 0),
    /** everything ever credited for jobs (core/payouts: not yet vouchered + vouchered) */
    earned: t.earned.toString(),
    /** paid out by the vault, as the chain watcher recorded it */
    redeemed: t.redeemed.toString(),
    lastHeartbeat,
    attestationExpiresAt: w.attestationExpiresAt,
  };
}
