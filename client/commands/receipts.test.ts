/**
 * `cocoon receipts verify` (./receipts.ts): what the CLI checks is the job the user asked
 * about, whatever the coordinator's answer says.
 */
import { describe, expect, it } from "vitest";
import type { ApiClient } from "../../api-client/api";
import { makeWorker } from "../../core/crypto/testing";
import type { ReceiptProofBundle } from "../../core/receipts/proof";
import { fakeAnchorContract, signedReceipt, soleReceiptProof } from "../../core/receipts/testing";
import { toncenterAnchorReader, verifyReceipt } from "./receipts";

const JOB_A = `job_${"a".repeat(26)}`;
const JOB_B = `job_${"b".repeat(26)}`;

/** Job A's receipt, anchored on a fake contract, and its genuine proof bundle. */
async function anchoredProofOfA() {
  const { batch, bundle } = soleReceiptProof(signedReceipt(makeWorker(), JOB_A));
  const chain = fakeAnchorContract();
  await chain.post([batch.anchor]);
  return { chain, bundle };
}

/** An API that answers every proof request with `bundle`, noting which job was asked. */
function answering(bundle: ReceiptProofBundle) {
  const asked: string[] = [];
  const api = {
    // the proof route (params.jobId) is noted; GET /v1/jobs/{id} answers the job with the bundle's receipt
    request: async (_route: unknown, o: { params: { jobId?: string } }) => (o.params.jobId && asked.push(o.params.jobId), bundle),
  } as unknown as ApiClient;
  return { api, asked };
}

describe("cocoon receipts verify", () => {
  it("verifies a job's own anchored receipt", async () => {
    // Prepare
    const { chain, bundle } = await anchoredProofOfA();
    const { api, asked } = answering(bundle);
    // Act
    const outcome = await verifyReceipt(api, chain, JOB_A);
    // Assess
    expect(asked).toEqual([JOB_A]);
    expect(outcome.verdict.ok).toBe(true);
  });

  it("refuses another job's genuine anchored proof passed off as the one asked about (receipt_mismatch)", async () => {
    // Prepare: asked about job B, the coordinator answers job A's proof, its jobId field A too
    const { chain, bundle } = await anchoredProofOfA();
    const { api } = answering(bundle);
    // Act
    const outcome = await verifyReceipt(api, chain, JOB_B);
    // Assess
    expect(outcome.jobId).toBe(JOB_B);
    expect(outcome.verdict).toMatchObject({ ok: false, code: "receipt_mismatch" });
    expect(outcome.proof?.jobId).toBe(JOB_B);
  });
});

describe("cocoon receipts verify --ton-endpoint", () => {
  // The anchor read through toncenter is what a receipt is checked against: over plain http
  // whoever is on the path could answer with the root of a forged batch.
  it("refuses a plain-http endpoint beyond loopback before reading anything", async () => {
    // Act
    const refused = await toncenterAnchorReader({
      tonEndpoint: "http://toncenter.com/api/v2/jsonRPC",
      anchor: "0:" + "ab".repeat(32),
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    // Assess
    expect(refused).toMatchObject({ code: "invalid_ton_endpoint" });
    expect((refused as Error).message).toMatch(/must be an https:\/\/ URL/);
  });

  it("takes an https endpoint, or http on loopback", async () => {
    // Act
    const readers = await Promise.all(
      ["https://toncenter.com/api/v2/jsonRPC", "http://127.0.0.1:8081/jsonRPC"].map((tonEndpoint) =>
        toncenterAnchorReader({ tonEndpoint, anchor: "0:" + "ab".repeat(32) }),
      ),
    );
    // Assess
    expect(readers).toHaveLength(2);
  });
});
