/**
 * What a worker's hot requests read (issue 12): results, polls and heartbeats read the worker's
 * small summary item, not the worker item with its attestation document (a TDX quote with its
 * collateral: several DynamoDB read units). Units are counted by the cost bench's metering store
 * (bench/cost.ts), which bills reads by DynamoDB's rules for the item read.
 */
import { describe, expect, it } from "vitest";
import { CostMeter, meteredStore } from "../../bench/cost";
import { dynamoItemBytes } from "../../bench/store";
import { SAMPLE_COLLATERAL_TEXT } from "../../test/fixtures/attestation/helpers";
import { attestationDigest } from "../attestation/digest";
import { createDevAttestation } from "../attestation/dev";
import { b64u } from "../crypto/encoding";
import { generateKemKey, generateSigningKey } from "../crypto/keys";
import { heartbeat, issueRegistrationNonce, registerWorker, workerSummaryKey, type WorkerItem } from "../workers";
import { pollJobs } from "./poll";
import { postResult } from "./results";
import { submitJob } from "./submit";
import { MODEL, makeJobWorld, type JobWorld, type TestWorker } from "./testing";

/** A worker whose stored document is as large as a TDX worker's that sends Intel's collateral with its quote (the fixture's). */
async function tdxSizedWorker(w: JobWorld): Promise<TestWorker> {
  const signing = generateSigningKey();
  const kem = generateKemKey();
  const { nonce } = await issueRegistrationNonce(w.deps, signing.id);
  const attestation = {
    ...createDevAttestation({
      hpkePublicKey: kem.publicKey,
      signingPublicKey: signing.publicKey,
      nonce: b64u.decode(nonce),
      now: w.clock.now(),
    }),
    collateral: JSON.parse(SAMPLE_COLLATERAL_TEXT) as unknown,
  };
  const out = await registerWorker(w.deps, signing.id, { attestation, models: [{ model: MODEL, priceBps: 10_000 }], capacity: 4 });
  return { id: signing.id, signing, kem, measurement: out.measurement };
}

/** w with its store metered, and a job submitted to one TDX-sized worker. */
async function meteredJob() {
  const w = makeJobWorld();
  const meter = new CostMeter();
  w.deps.store = meteredStore(w.store, meter, w.clock.now);
  const worker = await tdxSizedWorker(w);
  const r = await w.requester();
  const { envelope, quote } = await w.sealedJob(r);
  await submitJob(w.deps, r.id, envelope, "key-00000001", quote);
  /** Read units of `act`, as the route `route` would be billed for them: in all, and for reads of the workers table. */
  const units = async (route: string, act: () => Promise<unknown>) => {
    await meter.als.run({ route, waitMs: 0 }, act);
    const rows = [...meter.items].filter(([k]) => k.startsWith(`${route} | get workers `));
    return { all: meter.routes.get(route)!.rru, worker: rows.reduce((n, [, r]) => n + r.rru, 0) };
  };
  const workerItemUnits = Math.ceil(
    dynamoItemBytes("workers", await w.store.get<WorkerItem>("workers", { pk: worker.id, sk: "worker" })) / 4096,
  );
  return { w, worker, envelope, units, workerItemUnits };
}

describe("a TDX-sized worker's hot requests read its summary, not its attestation document", () => {
  it("POST /v1/agent/results reads 2 units (the job, the summary) where the worker item alone is 5", async () => {
    // Prepare
    const { w, worker, envelope, units, workerItemUnits } = await meteredJob();
    // Act
    const rru = await units("results", () => postResult(w.deps, worker.id, w.completed(worker, envelope)));
    // Assess
    expect(workerItemUnits).toBe(5);
    expect(rru).toEqual({ all: 2, worker: 1 });
  });

  it("a poll (that takes the job) and a heartbeat read 1 unit each for the worker", async () => {
    // Prepare
    const { w, worker, units } = await meteredJob();
    // Act
    const poll = await units("poll", () => pollJobs(w.deps, worker.id, 0));
    const beat = await units("heartbeat", () => heartbeat(w.deps, worker.id, 0));
    // Assess
    expect({ poll: poll.worker, beat: beat.worker }).toEqual({ poll: 1, beat: 1 });
    expect(beat.all).toBe(1);
  });

  it("the summary is the registration's verdict: the same measurement, models, capacity, expiry, HPKE key and document digest as the worker item", async () => {
    // Prepare
    const { w, worker } = await meteredJob();
    // Act
    const summary = await w.store.get("workers", workerSummaryKey(worker.id));
    const item = await w.store.get<WorkerItem>("workers", { pk: worker.id, sk: "worker" });
    // Assess
    expect(summary).toEqual({
      ...workerSummaryKey(worker.id),
      workerId: worker.id,
      tier: item!.tier,
      measurement: worker.measurement,
      models: item!.models,
      capacity: item!.capacity,
      attestationExpiresAt: item!.attestationExpiresAt,
      // what a prepare answers a candidate whose document the requester holds (PrepareRequest.held)
      hpkePublicKey: item!.hpkePublicKey,
      attestationDigest: attestationDigest(item!.attestation),
    });
  });
});

describe("a worker registered before summaries were written", () => {
  it("still posts results and polls: the worker item answers, and its measurement is checked", async () => {
    // Prepare: a registration of before (no summary item)
    const { w, worker, envelope } = await meteredJob();
    await w.store.transact([{ op: "delete", table: "workers", key: workerSummaryKey(worker.id) }]);
    // Act
    const wrong = await postResult(w.deps, worker.id, w.completed(worker, envelope, { body: { measurement: "a".repeat(96) } })).catch(
      (e: unknown) => e,
    );
    const out = await postResult(w.deps, worker.id, w.completed(worker, envelope));
    const polled = await pollJobs(w.deps, worker.id, 0);
    // Assess
    expect(wrong).toMatchObject({ status: 400, details: { fields: ["measurement"] } });
    expect(out).toMatchObject({ status: "completed", duplicate: false });
    expect(polled.jobs).toEqual([]);
  });

  it("a key with neither summary nor worker item is refused: 403 not_a_worker", async () => {
    // Prepare
    const w = makeJobWorld();
    // Act
    const err = await pollJobs(w.deps, generateSigningKey().id, 0).catch((e: unknown) => e);
    // Assess
    expect(err).toMatchObject({ status: 403, code: "not_a_worker" });
  });
});
