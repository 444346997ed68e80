/**
 * ton-wallet-v5.ts keyFromSeed (a hand-written PKCS#8 prefix around the seed) against RFC 8032
 * §7.1: seed -> public key -> signature, on the published vectors (test/fixtures/ed25519/README.md
 * names the file's source). The other tests compare with @ton/crypto, which could share a mistake.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import { anchorWalletFromSeed, keyFromSeed } from "./ton-wallet-v5";

interface Rfc8032Vector {
  name: string;
  secretKey: string;
  publicKey: string;
  message: string;
  signature: string;
}

const vectors = JSON.parse(readFileSync(join(__dirname, "../../test/fixtures/ed25519/rfc8032-ed25519.json"), "utf8")) as Rfc8032Vector[];
const hex = (s: string) => Buffer.from(s, "hex");

describe("keyFromSeed on RFC 8032 §7.1 (paulmillr/acvp-vectors rfc/8032-eddsa/ed25519.json)", () => {
  it("has TEST 1, 2, 3, 1024 and SHA(abc)", () => {
    expect(vectors.map((v) => v.name)).toEqual(["1", "2", "3", "1024", "SHA(abc)"]);
  });

  it.each(vectors.map((v) => [v.name, v] as const))("TEST %s: seed -> public key -> signature", (_name, v) => {
    // Act
    const key = keyFromSeed(hex(v.secretKey));
    const sig = sign(null, hex(v.message), key.privateKey);
    // Assess
    expect(key.publicKey.toString("hex")).toBe(v.publicKey);
    expect(sig.toString("hex")).toBe(v.signature);
  });

  it("the anchor wallet's key is the same key (its public key goes into the wallet's data)", () => {
    // Prepare
    const v = vectors[0]!;
    // Act
    const { wallet, key } = anchorWalletFromSeed(hex(v.secretKey));
    // Assess
    expect(key.publicKey.toString("hex")).toBe(v.publicKey);
    expect(wallet.publicKey.toString("hex")).toBe(v.publicKey);
  });
});
