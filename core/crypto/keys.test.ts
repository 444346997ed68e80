import { describe, expect, it } from "vitest";
import { createPublicKey, verify as nodeVerify } from "node:crypto";
import { ed25519 } from "@noble/curves/ed25519.js";
import { b64u, randomBytes, sha512 } from "./encoding";
import { CryptoInputError } from "./errors";
import {
  generateKemKey,
  ed25519PublicKeyProblem,
  ed25519SignatureProblem,
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
    expect(() => signingKeyFromSeed(new Uint8Array(31))).toThrow(
      expect.objectContaining({ name: "CryptoInputError", code: "invalid_length" }),
    );
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

// ---------------------------------------------------------------------------------------
// issue 9 #9: small-order and non-canonical keys and signatures
// ---------------------------------------------------------------------------------------

/**
 * The 8 points of small order on edwards25519 (the 8-torsion subgroup), canonical encodings,
 * as listed in Chalkias, Garillot, Nikolaenko, "Taming the many EdDSAs" (SSR 2020), and
 * its test suite (github.com/novifinancial/ed25519-speccheck, EIGHT_TORSION).
 */
const SMALL_ORDER_POINTS = [
  "0100000000000000000000000000000000000000000000000000000000000000", // identity (order 1)
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // (0, -1), order 2
  "0000000000000000000000000000000000000000000000000000000000000080", // order 4
  "0000000000000000000000000000000000000000000000000000000000000000", // order 4
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8
];

/**
 * Non-canonical encodings of small-order points (same paper, §3 and Table 6): y >= p
 * (y = p for y = 0, y = p + 1 for the identity), each with either sign bit, and the x = 0
 * points with the sign bit set (RFC 8032 §5.1.3 step 4 refuses those).
 */
const NON_CANONICAL_POINTS = [
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p      (≡ 0)
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // y = p, sign bit
  "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p + 1  (≡ identity)
  "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // y = p + 1, sign bit
  "0100000000000000000000000000000000000000000000000000000000000080", // identity with x sign bit
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // (0, -1) with x sign bit
];

/** L = 2^252 + 27742317777372353535851937790883648493 (RFC 8032 §5.1), little-endian. */
const L_LE = hex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");

const le = (b: Uint8Array) => BigInt("0x" + Buffer.from(b).reverse().toString("hex"));
const toLe32 = (n: bigint) => new Uint8Array(Buffer.from(n.toString(16).padStart(64, "0"), "hex").reverse());
const mod = (a: bigint, m: bigint) => ((a % m) + m) % m;
const L = le(L_LE);
const concat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

/** What plain node:crypto (OpenSSL, the code before the fix) says about a signature. */
function opensslVerifies(pub: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  try {
    const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: b64u.encode(pub) }, format: "jwk" });
    return nodeVerify(null, msg, key, sig);
  } catch {
    return false;
  }
}

/** A hand-made Ed25519 signature by scalar `a` for the key encoding `pub` (which need not be aB). */
function signAs(a: bigint, pub: Uint8Array, msg: Uint8Array): Uint8Array {
  const r = mod(le(randomBytes(64)), L);
  const R = ed25519.Point.BASE.multiply(r === 0n ? 1n : r).toBytes();
  const k = mod(le(sha512(concat(R, pub, msg))), L);
  return concat(R, toLe32(mod((r === 0n ? 1n : r) + k * a, L)));
}

/** Tries messages until `forge` gives a signature that plain OpenSSL accepts (the old behaviour). */
function findForgery(pub: Uint8Array, forge: (msg: Uint8Array) => Uint8Array) {
  for (let i = 0; i < 512; i++) {
    const msg = new TextEncoder().encode(`GET /v1/account #${i}`);
    const sig = forge(msg);
    if (opensslVerifies(pub, msg, sig)) return { msg, sig };
  }
  throw new Error("no forgery found in 512 tries (the test is broken, not the code)");
}

describe("issue 9 #9: small-order and non-canonical Ed25519 keys and signatures", () => {
  it("issue 9 #9: the identity key with R = identity, S = 0 (which OpenSSL accepts for any message) verifies nothing", () => {
    // Prepare
    const identity = hex(SMALL_ORDER_POINTS[0]!);
    const sig = concat(identity, new Uint8Array(32));
    const msgs = ["GET\n/v1/account", "anything", ""].map((m) => new TextEncoder().encode(m));
    // Act
    const plain = msgs.map((m) => opensslVerifies(identity, m, sig));
    const ours = msgs.map((m) => verifySignature(identity, m, sig));
    // Assess
    expect(b64u.encode(identity)).toBe("AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    expect(plain).toEqual([true, true, true]);
    expect(ours).toEqual([false, false, false]);
  });

  it.each(SMALL_ORDER_POINTS.map((h, i) => [i, h]))(
    "issue 9 #9: small-order key #%i (%s) is refused with a signature OpenSSL accepts",
    (_i, pointHex) => {
      // Prepare: R = rB, S = r verifies under a small-order key A whenever k·A = 0 (1 message in ord(A))
      const pub = hex(pointHex as string);
      const { msg, sig } = findForgery(pub, (m) => signAs(0n, pub, m));
      // Act / Assess
      expect(verifySignature(pub, msg, sig)).toBe(false);
      expect(ed25519PublicKeyProblem(pub)).toMatch(/small-order/);
    },
  );

  it("issue 9 #9: a key with a small-order component (aB + T) is refused though OpenSSL accepts its holder's signature", () => {
    // Prepare
    const seed = randomBytes(32);
    const { scalar } = ed25519.utils.getExtendedPublicKey(seed);
    const mixed = ed25519.Point.BASE.multiply(scalar).add(ed25519.Point.fromHex(SMALL_ORDER_POINTS[4]!)).toBytes();
    const { msg, sig } = findForgery(mixed, (m) => signAs(scalar, mixed, m));
    // Act / Assess
    expect(verifySignature(mixed, msg, sig)).toBe(false);
    expect(ed25519PublicKeyProblem(mixed)).toMatch(/prime-order subgroup/);
  });

  it.each(NON_CANONICAL_POINTS)("issue 9 #9: non-canonical key encoding %s is refused with a signature OpenSSL accepts", (pointHex) => {
    // Prepare: OpenSSL reduces y mod p and ignores a sign bit on x = 0, so these act as small-order keys
    const pub = hex(pointHex);
    const { msg, sig } = findForgery(pub, (m) => signAs(0n, pub, m));
    // Act / Assess
    expect(verifySignature(pub, msg, sig)).toBe(false);
    expect(ed25519PublicKeyProblem(pub)).toMatch(/encoding|small-order/);
  });

  it("issue 9 #9: S >= L (a malleated copy of a valid signature) is refused", () => {
    // Prepare
    const kp = generateSigningKey();
    const sig = sign(kp, "m");
    const malleated = concat(sig.subarray(0, 32), toLe32(le(sig.subarray(32)) + L));
    // Act / Assess
    expect(verifySignature(kp.publicKey, "m", sig)).toBe(true);
    expect(ed25519SignatureProblem(malleated)).toMatch(/S is not below/);
    expect(verifySignature(kp.publicKey, "m", malleated)).toBe(false);
  });

  it.each([...SMALL_ORDER_POINTS, ...NON_CANONICAL_POINTS])("issue 9 #9: R = %s (small order or non-canonical) is refused", (pointHex) => {
    // Act
    const problem = ed25519SignatureProblem(concat(hex(pointHex), new Uint8Array(32)));
    // Assess
    expect(problem).toMatch(/^R /);
  });

  it("issue 9 #9: a small-order R with a real key (the holder's odd signature S = k·a) is refused", () => {
    // Prepare: R = identity, S = k·a verifies under A = aB (OpenSSL accepts it)
    const seed = randomBytes(32);
    const kp = signingKeyFromSeed(seed);
    const { scalar } = ed25519.utils.getExtendedPublicKey(seed);
    const R = hex(SMALL_ORDER_POINTS[0]!);
    const msg = new TextEncoder().encode("m");
    const k = mod(le(sha512(concat(R, kp.publicKey, msg))), L);
    const sig = concat(R, toLe32(mod(k * scalar, L)));
    // Act / Assess
    expect(opensslVerifies(kp.publicKey, msg, sig)).toBe(true);
    expect(verifySignature(kp.publicKey, msg, sig)).toBe(false);
  });

  it("the byte-level R check agrees with @noble/curves' decoding on random and real R values", () => {
    // Prepare: the fast rule must equal "decodes canonically (RFC 8032) and is not small order"
    const reference = (r: Uint8Array) => {
      try {
        const p = ed25519.Point.fromBytes(r, false);
        return Buffer.from(p.toBytes()).equals(Buffer.from(r)) && !p.isSmallOrder();
      } catch {
        return false;
      }
    };
    const samples = [
      ...Array.from({ length: 200 }, () => randomBytes(32)),
      ...Array.from({ length: 50 }, () => sign(generateSigningKey(), "x").subarray(0, 32)),
      ...[...SMALL_ORDER_POINTS, ...NON_CANONICAL_POINTS].map(hex),
    ];
    // Act / Assess: wherever the point decodes, the verdicts agree (off-curve R is OpenSSL's to refuse)
    for (const r of samples) {
      let onCurve = true;
      try {
        ed25519.Point.fromBytes(r, true);
      } catch {
        onCurve = false;
      }
      if (onCurve) expect(ed25519SignatureProblem(concat(r, new Uint8Array(32))) === undefined).toBe(reference(r));
    }
  });

  it("honest keys still verify, twice (the second time from the cache of checked keys)", () => {
    // Prepare
    const kp = generateSigningKey();
    const sig = sign(kp, "m");
    // Act
    const verdicts = [
      verifySignature(kp.publicKey, "m", sig),
      verifySignature(kp.publicKey, "m", sig),
      verifySignature(kp.publicKey, "n", sig),
    ];
    // Assess
    expect(verdicts).toEqual([true, true, false]);
    expect(ed25519PublicKeyProblem(kp.publicKey)).toBeUndefined();
    expect(ed25519SignatureProblem(sig)).toBeUndefined();
  });
});
