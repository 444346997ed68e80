import { describe, expect, it } from "vitest";
import { b64u } from "./encoding";
import { CryptoInputError } from "./errors";
import {
  generateKemKey,
  generateSigningKey,
  kemKeyFromPrivate,
  kemPrivateRaw,
  sign,
  signingKeyFromSeed,
  signingSeed,
  verifySignature,
} from "./keys";

const hex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("Ed25519 signing keys", () => {
  it("reproduces RFC 8032 §7.1 test 2 (public key and signature)", () => {
    // Prepare
    const kp = signingKeyFromSeed(hex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"));
    // Act
    const sig = sign(kp, hex("72"));
    // Assess
    expect(toHex(kp.publicKey)).toBe("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");
    expect(kp.id).toBe(b64u.encode(kp.publicKey));
    expect(toHex(sig)).toBe(
      "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    );
    expect(verifySignature(kp.publicKey, hex("72"), sig)).toBe(true);
  });

  it("seed round trips", () => {
    // Prepare
    const kp = generateSigningKey();
    // Act
    const again = signingKeyFromSeed(signingSeed(kp));
    // Assess
    expect(again.id).toBe(kp.id);
    expect(signingSeed(kp).length).toBe(32);
  });

  it("verifies strings as UTF-8 and refuses a changed message, key or signature", () => {
    // Prepare
    const kp = generateSigningKey();
    const sig = sign(kp, "héllo");
    const bad = new Uint8Array(sig);
    bad[10]! ^= 1;
    // Act / Assess
    expect(verifySignature(kp.publicKey, new TextEncoder().encode("héllo"), sig)).toBe(true);
    expect(verifySignature(kp.publicKey, "hello", sig)).toBe(false);
    expect(verifySignature(generateSigningKey().publicKey, "héllo", sig)).toBe(false);
    expect(verifySignature(kp.publicKey, "héllo", bad)).toBe(false);
  });

  it("never throws on garbage input", () => {
    // Prepare
    const kp = generateSigningKey();
    const sig = sign(kp, "m");
    // Act / Assess
    expect(verifySignature(new Uint8Array(31), "m", sig)).toBe(false);
    expect(verifySignature(kp.publicKey, "m", sig.subarray(0, 63))).toBe(false);
    expect(verifySignature(new Uint8Array(32).fill(0xff), "m", sig)).toBe(false);
    expect(verifySignature(undefined as unknown as Uint8Array, "m", sig)).toBe(false);
    expect(verifySignature(kp.publicKey, 42 as unknown as string, sig)).toBe(false);
  });

  it("refuses a seed of the wrong length", () => {
    // Act / Assess
    expect(() => signingKeyFromSeed(new Uint8Array(31))).toThrow(expect.objectContaining({ name: "CryptoInputError", code: "invalid_length" }));
  });
});

describe("X25519 KEM keys", () => {
  it("reproduces the RFC 7748 §6.1 Alice key pair", () => {
    // Act
    const kp = kemKeyFromPrivate(hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
    // Assess
    expect(toHex(kp.publicKey)).toBe("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    expect(toHex(kemPrivateRaw(kp))).toBe("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  });

  it("generated keys round trip through the raw private key", () => {
    // Prepare
    const kp = generateKemKey();
    // Act
    const again = kemKeyFromPrivate(kemPrivateRaw(kp));
    // Assess
    expect(toHex(again.publicKey)).toBe(toHex(kp.publicKey));
  });

  it("refuses a private key of the wrong length", () => {
    // Act / Assess
    expect(() => kemKeyFromPrivate(new Uint8Array(33))).toThrow(CryptoInputError);
  });
});
