import type { Receipt, ReceiptBody } from "../../events/envelope";
import { b64u, canonicalJson } from "./encoding";
import { sign, verifySignature, type SigningKeyPair } from "./keys";

export const RECEIPT_PREFIX = "cocoon/v1/receipt\n";

function receiptMessage(body: ReceiptBody): string {
  return RECEIPT_PREFIX + canonicalJson(body);
}

/** Worker signs utf8("cocoon/v1/receipt\n" + canonicalJson(body)) with its Ed25519 key. */
export function signReceipt(body: ReceiptBody, kp: SigningKeyPair): Receipt {
  return { body, signature: b64u.encode(sign(kp, receiptMessage(body))) };
}

/**
 * True when the signature verifies with workerPublicKey AND body.workerId is that key's id
 * (worker ids are their Ed25519 public keys). Never throws.
 */
export function verifyReceipt(receipt: Receipt, workerPublicKey: Uint8Array): boolean {
  try {
    if (!(workerPublicKey instanceof Uint8Array) || workerPublicKey.length !== 32) return false;
    if (receipt.body.workerId !== b64u.encode(workerPublicKey)) return false;
    const sig = b64u.decode(receipt.signature);
    return verifySignature(workerPublicKey, receiptMessage(receipt.body), sig);
  } catch {
    return false;
  }
}
