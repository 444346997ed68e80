/** Test factories shared by the ton-chain suites: one clock and seeds by label. */
import { keyPairFromSeed } from "@ton/crypto";

export const NOW = 1_750_000_000;

/** A 32-byte seed naming its key: `label`'s bytes, zero-padded. */
export const seed = (label: string) => {
  const b = Buffer.alloc(32);
  Buffer.from(label).copy(b);
  return b;
};

/** The account id (base64url Ed25519 public key) of the key seeded by `label`. */
export const accountOf = (label: string) => keyPairFromSeed(seed(label)).publicKey.toString("base64url");
