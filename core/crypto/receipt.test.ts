import { describe, expect, it } from "vitest";
import { Receipt } from "../../events/envelope";
import { b64u } from "./encoding";
import { signReceipt, verifyReceipt } from "./receipt";
import { makeReceiptBody, makeWorker } from "./testing";

describe("receipts", () => {
  const worker = makeWorker();
  const body = makeReceiptBody(worker);
  const receipt = signReceipt(body, worker.signing);

  it("sign then verify with the worker's key; the receipt is schema-valid", () => {
    // Act
    const ok = verifyReceipt(receipt, worker.signing.publicKey);
    // Assess
    expect(ok).toBe(true);
    expect(Receipt.parse(receipt)).toEqual(receipt);
    expect(b64u.decode(receipt.signature).length).toBe(64);
  });

  it("is independent of the body's key order", () => {
    // Prepare
    const reordered = Object.fromEntries(Object.entries(body).reverse()) as typeof body;
    // Act / Assess
    expect(verifyReceipt({ body: reordered, signature: receipt.signature }, worker.signing.publicKey)).toBe(true);
  });

  const changes: Array<[string, Partial<typeof body>]> = [
    ["jobId", { jobId: "job_zzzzzzzzzzzzzzzzzzzzzzzzzz" }],
    ["model", { model: "other" }],
    ["requestHash", { requestHash: "c".repeat(64) }],
    ["replyHash", { replyHash: "d".repeat(64) }],
    ["usage.promptTokens", { usage: { promptTokens: 13, completionTokens: 34 } }],
    ["usage.completionTokens", { usage: { promptTokens: 12, completionTokens: 35 } }],
    ["measurement", { measurement: "none" }],
    ["finishedAt", { finishedAt: body.finishedAt + 1 }],
  ];
  it.each(changes)("a changed %s fails verification", (_field, change) => {
    // Prepare
    const tampered = { body: { ...body, ...change }, signature: receipt.signature };
    // Act / Assess
    expect(verifyReceipt(tampered, worker.signing.publicKey)).toBe(false);
  });

  it("fails with another worker's key, or when body.workerId is not the verifying key", () => {
    // Prepare
    const other = makeWorker();
    const relabelled = signReceipt({ ...body, workerId: other.workerId }, worker.signing);
    // Act / Assess
    expect(verifyReceipt(receipt, other.signing.publicKey)).toBe(false);
    expect(verifyReceipt(relabelled, worker.signing.publicKey)).toBe(false);
    expect(verifyReceipt(relabelled, other.signing.publicKey)).toBe(false);
  });

  it("never throws on a malformed signature or key", () => {
    // Act / Assess
    expect(verifyReceipt({ body, signature: "@@" }, worker.signing.publicKey)).toBe(false);
    expect(verifyReceipt({ body, signature: "" }, worker.signing.publicKey)).toBe(false);
    expect(verifyReceipt(receipt, new Uint8Array(5))).toBe(false);
  });

  it('issue 9 #9: a receipt "signed" by the identity point as worker key (R = identity, S = 0) does not verify', () => {
    // Prepare: OpenSSL alone accepts this for any body
    const identity = new Uint8Array(32);
    identity[0] = 1;
    const forged = {
      body: makeReceiptBody(worker, { workerId: b64u.encode(identity), usage: { promptTokens: 0, completionTokens: 999_999 } }),
      signature: b64u.encode(Buffer.concat([identity, Buffer.alloc(32)])),
    };
    // Act / Assess
    expect(verifyReceipt(forged, identity)).toBe(false);
  });
});
