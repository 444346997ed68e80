import { describe, expect, it } from "vitest";
import type { JobView } from "../events/api";
import type { ReceiptBody } from "../events/envelope";
import { b64u } from "../core/crypto/encoding";
import { replyHash, requestHash, sealReply, sealRequest } from "../core/crypto/envelope";
import { generateKemKey } from "../core/crypto/keys";
import { signReceipt } from "../core/crypto/receipt";
import { makeHeader, makeReceiptBody, makeWorker, type TestWorker } from "../core/crypto/testing";
import { DEFAULT_PRICING, jobCost } from "../core/pricing";
import { checkCompletedJob, VerificationError, type VerifiedCandidate } from "./sdk";

const MEASUREMENT = "9f".repeat(48);
const PRICE = 100n;
const USAGE = { promptTokens: 12, completionTokens: 34 };

/** A completed job as an honest coordinator returns it, plus what the SDK kept when it submitted. */
function completedJob(o: { usageInReply?: typeof USAGE; receipt?: Partial<ReceiptBody>; cost?: (honest: bigint) => bigint } = {}) {
  const worker: TestWorker = makeWorker();
  const replyKey = generateKemKey();
  const header = makeHeader({ replyKey: b64u.encode(replyKey.publicKey), maxCost: "100000" });
  const envelope = sealRequest({
    header,
    plaintext: new TextEncoder().encode(JSON.stringify({ messages: [{ role: "user", content: "hi" }] })),
    recipients: [{ workerId: worker.workerId, hpkePublicKey: worker.kem.publicKey }],
  });
  const answer = { text: "hello", usage: o.usageInReply ?? USAGE, engine: "test", finishReason: "stop" as const };
  const reply = sealReply(header, worker.workerId, new TextEncoder().encode(JSON.stringify(answer)));
  const body = makeReceiptBody(worker, {
    jobId: header.jobId,
    model: header.model,
    requestHash: requestHash(envelope),
    replyHash: replyHash(reply),
    usage: USAGE,
    measurement: MEASUREMENT,
    ...o.receipt,
  });
  const receipt = signReceipt(body, worker.signing); // the worker's own signature: only the coordinator's bill can be wrong
  const honest = jobCost(DEFAULT_PRICING, PRICE, body.usage);
  const job: JobView = {
    jobId: header.jobId,
    status: "completed",
    model: header.model,
    workerId: worker.workerId,
    tier: "tdx",
    attempt: 0,
    maxCost: header.maxCost,
    cost: String(o.cost ? o.cost(honest) : honest),
    reply,
    receipt,
    createdAt: 1,
    updatedAt: 2,
  } as JobView;
  const candidate = {
    workerId: worker.workerId,
    hpkePublicKey: b64u.encode(worker.kem.publicKey),
    pricePerToken: String(PRICE),
    tier: "tdx",
    measurement: MEASUREMENT,
  } as VerifiedCandidate;
  const check = () =>
    checkCompletedJob({ job, jobId: header.jobId, envelope, header, replyKey, encryptedTo: [candidate], maxCost: header.maxCost });
  return { check, honest };
}

function verificationCode(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof VerificationError) return e.code;
    throw e;
  }
  return "accepted";
}

describe("issue 9 #12: the SDK checks the receipt's measurement and recomputes the bill", () => {
  it("an honest completed job passes and yields the sealed answer", () => {
    // Prepare
    const { check, honest } = completedJob();
    // Act
    const answer = check();
    // Assess
    expect(answer).toMatchObject({ text: "hello", usage: USAGE });
    expect(honest).toBe(3_700n); // ceil(100 × (12 × 2500 + 34 × 10000) / 10000)
  });

  it("issue 9 #12: a receipt naming another measurement than the one the worker attested is refused", () => {
    // Prepare: the worker signs a receipt for another image; the coordinator passes it on
    const { check } = completedJob({ receipt: { measurement: "00".repeat(48) } });
    // Act / Assess
    expect(verificationCode(check)).toBe("measurement_mismatch");
  });

  it("issue 9 #12: a bill above the cost of the receipt's usage at the quoted price is refused, even inside the hold", () => {
    // Prepare
    const { check } = completedJob({ cost: (honest) => honest + 1n });
    // Act / Assess
    expect(verificationCode(check)).toBe("overcharged");
  });

  it("a bill above the hold is refused (as before)", () => {
    // Prepare
    const { check } = completedJob({ cost: () => 100_001n });
    // Act / Assess
    expect(verificationCode(check)).toBe("overcharged");
  });

  it("issue 9 #12: a bill that does not follow the receipt (usage/cost mismatch) is refused", () => {
    // Prepare
    const { check } = completedJob({ cost: (honest) => honest - 1n });
    // Act / Assess
    expect(verificationCode(check)).toBe("cost_mismatch");
  });

  it("a receipt billing other usage than the sealed reply reports is refused", () => {
    // Prepare
    const { check } = completedJob({ usageInReply: { promptTokens: 12, completionTokens: 3 } });
    // Act / Assess
    expect(verificationCode(check)).toBe("usage_mismatch");
  });
});
