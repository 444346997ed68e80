/**
 * The receipt signature to the byte (issue 14, mutation-checked): what the worker signs is
 * utf8("cocoon/v1/receipt\n" + canonical JSON of the body with sorted keys), checked against
 * node:crypto directly, so signer and verifier cannot agree on another string. The sorted-key
 * JSON is written out by hand here. receipt.test.ts covers tampering.
 */
import { createPrivateKey, sign as nodeSign } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { ReceiptBody } from "../../events/envelope";
import { b64u } from "./encoding";
import { signingKeyFromSeed, signingSeed } from "./keys";
import { RECEIPT_PREFIX, signReceipt, verifyReceipt } from "./receipt";

const worker = signingKeyFromSeed(new Uint8Array(32).fill(9));
const body: ReceiptBody = {
  v: 1,
  jobId: "job_0123456789abcdefghjkmnpqrs",
  workerId: worker.id,
  model: "test/model-1",
  requestHash: "a".repeat(64),
  replyHash: "b".repeat(64),
  usage: { promptTokens: 5, completionTokens: 7 },
  measurement: "dev:abc",
  finishedAt: 1_700_000_000_000,
};
const signedText =
  "cocoon/v1/receipt\n" +
  `{"finishedAt":1700000000000,"jobId":"job_0123456789abcdefghjkmnpqrs","measurement":"dev:abc","model":"test/model-1","replyHash":"${"b".repeat(64)}","requestHash":"${"a".repeat(64)}","usage":{"completionTokens":7,"promptTokens":5},"v":1,"workerId":"${worker.id}"}`;

function referenceSig(text: string): string {
  const pkcs8 = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), Buffer.from(signingSeed(worker))]);
  return b64u.encode(nodeSign(null, Buffer.from(text, "utf8"), createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" })));
}

describe("receipt known-answer vector", () => {
  it("the prefix is the documented one", () => {
    expect(RECEIPT_PREFIX).toBe("cocoon/v1/receipt\n");
  });

  it("signReceipt signs exactly prefix + sorted-key JSON", () => {
    expect(signReceipt(body, worker)).toEqual({ body, signature: referenceSig(signedText) });
  });

  it("verifyReceipt accepts that signature and refuses one over the JSON without the prefix", () => {
    expect(verifyReceipt({ body, signature: referenceSig(signedText) }, worker.publicKey)).toBe(true);
    expect(verifyReceipt({ body, signature: referenceSig(signedText.slice(RECEIPT_PREFIX.length)) }, worker.publicKey)).toBe(false);
  });

  it("a key that is not 32 bytes of Uint8Array never verifies, and never throws", () => {
    const r = signReceipt(body, worker);
    expect(verifyReceipt(r, Array.from(worker.publicKey) as unknown as Uint8Array)).toBe(false);
    expect(verifyReceipt(r, worker.publicKey.subarray(0, 31))).toBe(false);
    expect(verifyReceipt(r, undefined as unknown as Uint8Array)).toBe(false);
  });
});
