import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { randomBytes } from "node:crypto";
import { b64u } from "../core/crypto/encoding";
import { signingKeyFromSeed, type SigningKeyPair } from "../core/crypto/keys";

/** An Ed25519 identity kept as a base64url seed in a 0600 file; created on first use. */
export function loadOrCreateKey(path: string): SigningKeyPair {
  if (existsSync(path)) {
    const seed = b64u.decode(readFileSync(path, "utf8").trim());
    if (seed.length !== 32) throw new Error(`${path} does not hold a 32-byte base64url key seed`);
    return signingKeyFromSeed(seed);
  }
  mkdirSync(dirname(path), { recursive: true });
  const seed = randomBytes(32);
  writeFileSync(path, b64u.encode(seed) + "\n", { mode: 0o600 });
  chmodSync(path, 0o600);
  return signingKeyFromSeed(seed);
}
