/**
 * `cocoon receipts verify` binds the anchored receipt to the job's own (review, session 22): it
 * passed an anchored receipt for the asked job signed by a key that never served it (a dishonest
 * coordinator's sybil worker key) billing other usage than the receipt the requester was given
 * and billed by. Now the anchored receipt must be the one the caller kept, or the one the job
 * answers its requester with, or, for the job's worker, carry the worker's own signature.
 */
import { describe, expect, it } from "vitest";
import { ApiError, type ApiClient } from "../../api-client/api";
import { API } from "../../api-client/routes";
import { signReceipt } from "../../core/crypto/receipt";
import { makeReceiptBody, makeWorker } from "../../core/crypto/testing";
import { fakeAnchorContract, soleReceiptProof } from "../../core/receipts/testing";
import { verifyReceipt } from "./receipts";

const JOB = `job_${"a".repeat(26)}`;

/** Factory: worker W served JOB (`real`, the receipt the requester was billed by); the coordinator anchored `anchored` for it. */
async function world(anchoredBy: "served" | "sybil") {
  const w = makeWorker();
  const real = signReceipt(makeReceiptBody(w, { jobId: JOB, usage: { promptTokens: 10, completionTokens: 10 } }), w.signing);
  const z = makeWorker();
  const fake = signReceipt(makeReceiptBody(z, { jobId: JOB, usage: { promptTokens: 9000, completionTokens: 9000 } }), z.signing);
  const anchored = anchoredBy === "served" ? real : fake;
  const { batch, bundle } = soleReceiptProof(anchored, JOB);
  const chain = fakeAnchorContract();
  await chain.post([batch.anchor]);
  /** the API as `caller` sees it: the proof route answers the anchored receipt's proof; GET /v1/jobs/{id} the job as it was served (its requester only) */
  const apiAs = (caller: "requester" | "worker") =>
    ({
      key: caller === "worker" ? w.signing : makeWorker().signing,
      request: async (route: unknown) => {
        if (route === API.receiptProof) return bundle;
        if (caller === "worker") throw new ApiError(403, "not_your_job", "this job belongs to another account");
        return { jobId: JOB, status: "completed", workerId: w.workerId, receipt: real, cost: "1" };
      },
    }) as unknown as ApiClient;
  return { chain, apiAs, real, fake };
}

describe("receipts verify binds the anchored receipt to the job's own receipt", () => {
  it("the requester: a receipt for the job signed by a key that never served it (other usage) is not VERIFIED", async () => {
    // Prepare
    const { chain, apiAs } = await world("sybil");
    // Act
    const outcome = await verifyReceipt(apiAs("requester"), chain, JOB);
    // Assess: the old code said VERIFIED
    expect(outcome.verdict).toMatchObject({ ok: false, code: "receipt_differs" });
  });

  it("the requester: the receipt the job was served with is VERIFIED", async () => {
    const { chain, apiAs } = await world("served");
    expect((await verifyReceipt(apiAs("requester"), chain, JOB)).verdict.ok).toBe(true);
  });

  it("the job's worker (GET /v1/jobs/{id} is not its to read): its own signed receipt is VERIFIED, a sybil's is not", async () => {
    const served = await world("served");
    const sybil = await world("sybil");
    expect((await verifyReceipt(served.apiAs("worker"), served.chain, JOB)).verdict.ok).toBe(true);
    expect((await verifyReceipt(sybil.apiAs("worker"), sybil.chain, JOB)).verdict).toMatchObject({ ok: false, code: "receipt_differs" });
  });

  it("a receipt the caller kept (--receipt) is the one compared: the served one passes, another does not", async () => {
    const { chain, apiAs, real, fake } = await world("served");
    expect((await verifyReceipt(apiAs("requester"), chain, JOB, { expected: real })).verdict.ok).toBe(true);
    expect((await verifyReceipt(apiAs("requester"), chain, JOB, { expected: fake })).verdict).toMatchObject({
      ok: false,
      code: "receipt_differs",
    });
  });
});
