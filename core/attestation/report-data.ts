import { createHash } from "node:crypto";

/**
 * TDX REPORTDATA a worker puts in its quote: SHA-512(hpkePublicKey || signingPublicKey || nonce),
 * 64 bytes. Binds the worker's X25519 (HPKE) and Ed25519 keys to the coordinator's (or
 * requester's) nonce, so a quote cannot be replayed for other keys or another challenge.
 * Keys are fixed-size (32 bytes each), so the concatenation is unambiguous.
 */
export function reportData(hpkePublicKey: Uint8Array, signingPublicKey: Uint8Array, nonce: Uint8Array): Uint8Array {
  if (hpkePublicKey.length !== 32 || signingPublicKey.length !== 32) {
    throw new RangeError("reportData: hpkePublicKey and signingPublicKey must be 32 bytes each");
  }
  return new Uint8Array(createHash("sha512").update(hpkePublicKey).update(signingPublicKey).update(nonce).digest());
}
