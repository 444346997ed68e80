/**
 * coord42: a requester's challenge (POST /v1/attestations, core/challenges.ts createChallenge)
 * needs the worker's models, tier and HPKE key, which its summary holds, yet read the worker item
 * with its attestation document (a TDX quote with its collateral: several DynamoDB read units),
 * for any key holding none of the worker's trust. Units are counted by the cost bench's metering
 * store (bench/cost.ts), which bills reads by DynamoDB's rules for the item read.
 */
import { describe, expect, it } from "vitest";
import { CostMeter, meteredStore } from "../bench/cost";
import { dynamoItemBytes } from "../bench/store";
import { SAMPLE_COLLATERAL_TEXT } from "../test/fixtures/attestation/helpers";
import { createDevAttestation } from "./attestation/dev";
import { createChallenge } from "./challenges";
import { b64u } from "./crypto/encoding";
import { generateKemKey, generateSigningKey } from "./crypto/keys";
import { MODEL, makeJobWorld, type JobWorld } from "./jobs/testing";
import { issueRegistrationNonce, registerWorker, workerSummaryKey, type WorkerItem, type WorkerSummary } from "./workers";

/** A worker whose stored document is as large as a TDX worker's that sends Intel's collateral with its quote (the fixture's). */
async function tdxSizedWorker(w: JobWorld) {
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
  await registerWorker(w.deps, signing.id, { attestation, models: [{ model: MODEL, priceBps: 10_000 }], capacity: 4 });
  return { id: signing.id, kem };
}

/** w with its store metered, a TDX-sized worker, and a way to count what one challenge reads of the workers table. */
async function meteredWorld() {
  const w = makeJobWorld();
  const meter = new CostMeter();
  w.deps.store = meteredStore(w.store, meter, w.clock.now);
  const worker = await tdxSizedWorker(w);
  const requester = generateSigningKey().id;
  const challenge = async () => {
    const route = `challenge-${meter.routes.size}`;
    const out = await meter.als.run({ route, waitMs: 0 }, () =>
      createChallenge(w.deps, requester, { workerId: worker.id, nonce: b64u.encode(new Uint8Array(32)) }),
    );
    const rows = [...meter.items].filter(([k]) => k.startsWith(`${route} | get workers `));
    return { out, workerUnits: rows.reduce((n, [, r]) => n + r.rru, 0) };
  };
  const workerItemUnits = Math.ceil(
    dynamoItemBytes("workers", await w.store.get<WorkerItem>("workers", { pk: worker.id, sk: "worker" })) / 4096,
  );
  return { w, worker, challenge, workerItemUnits };
}

describe("a challenge reads the worker's summary, not its attestation document (coord42)", () => {
  it("1 read unit for the worker where the worker item alone is 5, and the answer names the worker's tier and HPKE key", async () => {
    // Prepare
    const { worker, challenge, workerItemUnits } = await meteredWorld();
    // Act
    const { out, workerUnits } = await challenge();
    // Assess
    expect(workerItemUnits).toBe(5);
    expect(workerUnits).toBe(1);
    expect(out).toMatchObject({ workerId: worker.id, tier: "dev", hpkePublicKey: b64u.encode(worker.kem.publicKey) });
  });

  it("a summary from before HPKE keys were in it: the worker item answers, with the same key", async () => {
    // Prepare: the summary as written before it carried the HPKE key and the document's digest
    const { w, worker, challenge } = await meteredWorld();
    const summary = (await w.store.get<WorkerSummary>("workers", workerSummaryKey(worker.id)))!;
    const { hpkePublicKey: _k, attestationDigest: _d, ...old } = summary;
    await w.store.transact([{ op: "put", table: "workers", item: old }]);
    // Act
    const { out, workerUnits } = await challenge();
    // Assess
    expect(workerUnits).toBe(1 + 5);
    expect(out).toMatchObject({ workerId: worker.id, tier: "dev", hpkePublicKey: b64u.encode(worker.kem.publicKey) });
  });

  it("a worker registered before summaries: the worker item answers; no worker at all is 404 unknown_worker", async () => {
    // Prepare
    const { w, worker, challenge } = await meteredWorld();
    await w.store.transact([{ op: "delete", table: "workers", key: workerSummaryKey(worker.id) }]);
    // Act
    const { out } = await challenge();
    const unknown = await createChallenge(w.deps, generateSigningKey().id, {
      workerId: generateSigningKey().id,
      nonce: b64u.encode(new Uint8Array(32)),
    }).catch((e: unknown) => e);
    // Assess
    expect(out).toMatchObject({ workerId: worker.id, hpkePublicKey: b64u.encode(worker.kem.publicKey) });
    expect(unknown).toMatchObject({ status: 404, code: "unknown_worker" });
  });
});
