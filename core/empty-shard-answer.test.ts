/**
 * Review of the empty-shard hint (core/workers.ts EMPTY_SHARD_MS): the hint may keep a newcomer
 * out of a sample for 15 s, but it must never turn a model with a live worker into an answer
 * that says there is none. On AWS every Lambda container is a process of its own: a registration
 * clears the hint only in the container that served it, so a prepare served by another container
 * that found every shard of a model empty a moment before answered 404 unknown_model (or 409 "no
 * live worker") for up to 15 s while GET /v1/models listed the model with its live worker.
 */
import { describe, expect, it } from "vitest";
import type { CoreDeps } from "./deps";
import { prepareJob } from "./jobs/prepare";
import { makeJobWorld, registered, registration, setOffer, type JobWorld } from "./jobs/testing";
import { generateSigningKey } from "./crypto/keys";
import type { Store } from "./ports";
import { issueRegistrationNonce, listModels, matchCandidates, offerShard, registerWorker } from "./workers";

const NEW_MODEL = "test/model-new";

/** The same table data seen through another Store object: another process (its own per-store hints). */
const anotherProcess = (store: Store): Store => ({
  get: (t, k, o) => store.get(t, k, o),
  transact: (ops) => store.transact(ops),
  query: (t, pk, q) => store.query(t, pk, q),
});

const OFFERS = { models: [{ model: NEW_MODEL, priceBps: 10_000 }] };

/** A worker of NEW_MODEL registered through w's process, its key drawn so that its offer is on none of `shards`. */
async function registeredOff(w: JobWorld, shards: number[]) {
  let key = generateSigningKey();
  while (shards.includes(offerShard(key.id))) key = generateSigningKey();
  const { nonce } = await issueRegistrationNonce(w.deps, key.id);
  await registerWorker(w.deps, key.id, registration(w, key, nonce, OFFERS));
  return key.id;
}

const ask = (model: string) => ({ model, maxTokens: 10, maxPromptTokens: 100, tiers: ["dev" as const], candidates: 3 });

describe("the empty-shard hint never answers that a listed, live model has no worker", () => {
  it("a model whose first worker registered through another process is prepared at once, not refused unknown_model", async () => {
    // Prepare: process B is asked for the model before any worker offers it (every shard empty)
    const w = makeJobWorld();
    const b: CoreDeps = { ...w.deps, store: anotherProcess(w.store) };
    await expect(prepareJob(b, "requester", ask(NEW_MODEL))).rejects.toMatchObject({ status: 404 });

    // Act: its first worker registers through process A (w.deps), a moment later
    const first = await registered(w, OFFERS);
    w.clock.t += 1_000;
    const listed = await listModels(b);
    const matched = await matchCandidates(b, { model: NEW_MODEL, tiers: ["dev"], k: 3 });

    // Assess: GET /v1/models (through either process) lists it live; matching finds it too
    expect(listed.models.find((m) => m.model === NEW_MODEL)?.workers).toBe(1);
    expect(matched.why).toBeUndefined();
    expect(matched.offers.map((o) => o.workerId)).toEqual([first.key.id]);
    await expect(prepareJob(b, "requester", ask(NEW_MODEL))).resolves.toMatchObject({ model: NEW_MODEL });
  });

  it("a model whose only known worker went quiet is not refused 'no live worker' while a newcomer on a skipped shard is live", async () => {
    // Prepare: one worker of the model, matched by process B (the other 15 shards found empty), then it misses its heartbeats
    const w = makeJobWorld();
    const b: CoreDeps = { ...w.deps, store: anotherProcess(w.store) };
    const old = await registered(w, OFFERS);
    expect((await matchCandidates(b, { model: NEW_MODEL, tiers: ["dev"], k: 3 })).offers).toHaveLength(1);
    w.clock.t += 1_000; // within EMPTY_SHARD_MS
    await setOffer(w, NEW_MODEL, old.key.id, { lastHeartbeat: w.clock.t - w.deps.config.livenessMs - 1 });

    // Act: a newcomer registers through process A (on another shard than the quiet one), and B matches again
    const late = await registeredOff(w, [offerShard(old.key.id)]);
    const matched = await matchCandidates(b, { model: NEW_MODEL, tiers: ["dev"], k: 3 });

    // Assess: the live newcomer is named, not "no live worker"
    expect(matched.why).toBeUndefined();
    expect(matched.offers.map((o) => o.workerId)).toContain(late);
  });
});

describe("allLive under the empty-shard hint", () => {
  it("a decision whose sample would be every live worker reads the shards it skipped: the newcomer there is named, and allLive is true of all three", async () => {
    // Prepare: two workers of the model, matched by process B (k = 3: allLive, the other 14 shards found empty)
    const w = makeJobWorld();
    const b: CoreDeps = { ...w.deps, store: anotherProcess(w.store) };
    const known = [await registered(w, OFFERS), await registered(w, OFFERS)];
    const first = await matchCandidates(b, { model: NEW_MODEL, tiers: ["dev"], k: 3 });
    expect(first.allLive).toBe(true);

    // Act: a newcomer registers through process A on a shard neither known worker is on; B matches again 1 s later
    const late = await registeredOff(
      w,
      known.map((k) => offerShard(k.key.id)),
    );
    w.clock.t += 1_000;
    const again = await matchCandidates(b, { model: NEW_MODEL, tiers: ["dev"], k: 3 });

    // Assess: allLive (which stops the SDK renewing that kept quote) is said only of every live worker GET /v1/models counts
    const listed = (await listModels(b)).models.find((m) => m.model === NEW_MODEL)!;
    expect(again.offers.map((o) => o.workerId)).toContain(late);
    expect(again.allLive).toBe(true);
    expect(listed.workers).toBe(again.offers.length);
  });
});
