import { beforeEach, describe, expect, it, vi } from "vitest";
import fc from "fast-check";
import { createHmac, createPrivateKey, createPublicKey, createSecretKey, verify as nodeVerify } from "node:crypto";
import { ED25519_TORSION_SUBGROUP, ed25519 } from "@noble/curves/ed25519.js";
import { b64u } from "./encoding";
import {
  ed25519PublicKeyProblem,
  ed25519SignatureProblem,
  hmacKey,
  kemKeyFromPrivate,
  kemPrivateRaw,
  rawPublicKey,
  sign,
  signingKeyFromSeed,
  signingSeed,
  tokenMac,
  tokenMacMatches,
  verifySignature,
  x25519PublicKeyObject,
  x25519PublicKeyObjectOnce,
  type KemKeyPair,
  type SigningKeyPair,
} from "./keys";

// node:crypto, passed through unchanged but observed: which imports and verifications the caches save.
vi.mock("node:crypto", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:crypto")>();
  return {
    ...actual,
    createPrivateKey: vi.fn(actual.createPrivateKey),
    createPublicKey: vi.fn(actual.createPublicKey),
    verify: vi.fn(actual.verify),
  };
});

const spies = {
  createPrivateKey: vi.mocked(createPrivateKey),
  createPublicKey: vi.mocked(createPublicKey),
  verify: vi.mocked(nodeVerify),
};

beforeEach(() => {
  vi.clearAllMocks();
});

// ---------------------------------------------------------------------------------------
// factories
// ---------------------------------------------------------------------------------------

const hex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const utf8 = (s: string) => new TextEncoder().encode(s);
const concat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));
const le = (b: Uint8Array) => BigInt("0x" + (Buffer.from(b).reverse().toString("hex") || "0"));
const toLe32 = (n: bigint) => new Uint8Array(Buffer.from(n.toString(16).padStart(64, "0"), "hex").reverse());

/** L = 2^252 + 27742317777372353535851937790883648493 (RFC 8032 §5.1). */
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
/** p = 2^255 - 19 (RFC 8032 §5.1). */
const P = 2n ** 255n - 19n;

/** RFC 8032 §7.1 TEST 1, 2 and 3 (Ed25519). */
const RFC8032 = [
  {
    name: "TEST 1",
    secret: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    public: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    message: "",
    signature:
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
  },
  {
    name: "TEST 2",
    secret: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    public: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    message: "72",
    signature:
      "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
  },
  {
    name: "TEST 3",
    secret: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
    public: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
    message: "af82",
    signature:
      "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
  },
] as const;

type Vector = (typeof RFC8032)[number];
const vector = (v: Vector) => ({ pub: hex(v.public), msg: hex(v.message), sig: hex(v.signature) });

/** The base point B, encoded (RFC 8032 §5.1: y = 4/5, x even). */
const BASE = hex("5866666666666666666666666666666666666666666666666666666666666666");
/** R = B, S = 1: [S]B = R + [k]A holds for every message when A is the identity (k·O = O). */
const IDENTITY_FORGERY = concat(BASE, toLe32(1n));

/** y (little-endian, 255 bits) with the x sign bit. */
const encodePoint = (y: bigint, signBit: 0 | 1) => {
  const b = toLe32(y);
  b[31]! |= signBit << 7;
  return b;
};

/** What plain node:crypto (OpenSSL, RFC 8032 cofactorless) says about a signature. */
function nodeVerifies(pub: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  try {
    const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: b64u.encode(pub) }, format: "jwk" });
    return nodeVerify(null, msg, key, sig);
  } catch {
    return false;
  }
}

/** Distinct raw X25519 public keys: `tag` tells the tests apart, `i` the keys within one. */
const x25519Raw = (tag: number, i: number) => {
  const b = new Uint8Array(32);
  new DataView(b.buffer).setUint32(0, i, true);
  b[30] = tag;
  return b;
};

/** Fills the 1024-entry X25519 cache with keys of its own, so a test knows what it holds. */
const flushX25519Cache = (tag: number) => {
  for (let i = 0; i < 1024; i++) x25519PublicKeyObject(x25519Raw(tag, i));
};

/** A non-Uint8Array view that claims a `length` (what a duck-typed caller might pass). */
const lookalike = (bytes: Uint8Array, length: number) =>
  Object.assign(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), { length }) as unknown as Uint8Array;

const lengthError = (message: string) => expect.objectContaining({ name: "CryptoInputError", code: "invalid_length", message });
const keyError = (message: string) => expect.objectContaining({ name: "CryptoInputError", code: "invalid_key", message });

// ---------------------------------------------------------------------------------------

describe("HMAC key cache (first hmacKey use in this file)", () => {
  it("reuses a secret's key and drops all of them when a 17th secret comes", () => {
    // Prepare
    const secrets = Array.from({ length: 17 }, (_, i) => `edges secret ${i}`);
    const first = hmacKey(secrets[0]!);
    for (const s of secrets.slice(1, 16)) hmacKey(s);
    // Act
    const whileFull = hmacKey(secrets[0]!);
    hmacKey(secrets[16]!);
    const afterClear = hmacKey(secrets[0]!);
    // Assess
    expect(whileFull).toBe(first);
    expect(afterClear).not.toBe(first);
    expect(afterClear.export().equals(first.export())).toBe(true);
  });
});

describe("RFC 8032 §7.1 known answers", () => {
  it.each(RFC8032)("$name: seed → public key, signature, and both verifiers accept", (v) => {
    // Prepare
    const { pub, msg, sig } = vector(v);
    // Act
    const kp = signingKeyFromSeed(hex(v.secret));
    const mine = sign(kp, msg);
    // Assess
    expect(toHex(kp.publicKey)).toBe(v.public);
    expect(toHex(signingSeed(kp))).toBe(v.secret);
    expect(toHex(mine)).toBe(v.signature);
    expect(nodeVerifies(pub, msg, sig)).toBe(true);
    expect(verifySignature(pub, msg, sig)).toBe(true);
  });
});

describe("S canonical (s < L)", () => {
  it.each(RFC8032)("$name: S + L (a malleated copy) is refused, by node:crypto too", (v) => {
    // Prepare
    const { pub, msg, sig } = vector(v);
    const s = le(sig.subarray(32));
    const malleated = concat(sig.subarray(0, 32), toLe32(s + L));
    // Act
    const problem = ed25519SignatureProblem(malleated);
    // Assess
    expect(s + L < 2n ** 256n).toBe(true);
    expect(problem).toBe("S is not below the group order (non-canonical signature)");
    expect(verifySignature(pub, msg, malleated)).toBe(false);
    expect(nodeVerifies(pub, msg, malleated)).toBe(false);
  });

  it("S = L exactly is refused and S = L - 1 is not (the boundary of s < L)", () => {
    // Prepare
    const { sig } = vector(RFC8032[0]);
    const R = sig.subarray(0, 32);
    // Act
    const atL = ed25519SignatureProblem(concat(R, toLe32(L)));
    const belowL = ed25519SignatureProblem(concat(R, toLe32(L - 1n)));
    // Assess
    expect(atL).toBe("S is not below the group order (non-canonical signature)");
    expect(belowL).toBeUndefined();
  });
});

describe("the small-order R list", () => {
  it("refuses R on every encoding of a small-order point with y < p: the 8 canonical ones and the x = 0 ones with the sign bit", () => {
    // Prepare: the list derived by decoding each torsion point (as keys.ts once did at load)
    const encodings = ED25519_TORSION_SUBGROUP.flatMap((h) => {
      if (ed25519.Point.fromHex(h).x !== 0n) return [h];
      const signed = Buffer.from(h, "hex");
      signed[31]! |= 0x80;
      return [h, signed.toString("hex")];
    });
    // Act
    const problems = encodings.map((h) => ed25519SignatureProblem(concat(hex(h), toLe32(0n))));
    // Assess
    expect(encodings).toHaveLength(10);
    expect(problems).toEqual(encodings.map(() => "R is a small-order point"));
  });
});

describe("the byte-wise bounds of S and R are the numeric ones", () => {
  // S and R near L, p and 2^256 (each byte of the bound ±1 around it), and anywhere
  const near = (bound: bigint) =>
    fc
      .tuple(fc.integer({ min: 0, max: 31 }), fc.integer({ min: -1, max: 1 }), fc.bigInt({ min: -300n, max: 300n }))
      .map(([byte, step, off]) => bound + BigInt(step) * 256n ** BigInt(byte) + off)
      .filter((n) => n >= 0n && n < 2n ** 256n);
  const scalar = fc.oneof(near(L), near(P), near(2n ** 255n + P), fc.bigInt({ min: 0n, max: 2n ** 256n - 1n }));

  it("S is refused exactly when S >= L, and a non-small-order R exactly when its y (the sign bit cleared) >= p", () => {
    fc.assert(
      fc.property(scalar, scalar, (s, r) => {
        // Prepare: R off the small-order list (its low byte 0x55 is on none of its encodings), S canonical when R is judged
        const rBytes = toLe32(r);
        rBytes[0] = 0x55;
        const y = le(rBytes) & (2n ** 255n - 1n);
        // Act
        const onS = ed25519SignatureProblem(concat(rBytes, toLe32(s)));
        const onR = ed25519SignatureProblem(concat(rBytes, toLe32(0n)));
        // Assess
        if (s >= L) expect(onS).toBe("S is not below the group order (non-canonical signature)");
        else expect(onS).toBe(onR);
        expect(onR).toBe(y >= P ? "R is a non-canonical point encoding (y >= p)" : undefined);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("signature shape", () => {
  const sigShape = "an Ed25519 signature is 64 bytes";

  it.each([
    ["empty", new Uint8Array(0)],
    ["63 bytes", new Uint8Array(63)],
    ["65 bytes", new Uint8Array(65)],
    ["a number[] of 64", Array.from({ length: 64 }, () => 0)],
    ["a 64-char string", "A".repeat(64)],
    ["undefined", undefined],
  ])("ed25519SignatureProblem(%s) says it is not a 64-byte signature", (_name, sig) => {
    // Act / Assess
    expect(ed25519SignatureProblem(sig as unknown as Uint8Array)).toBe(sigShape);
  });

  it("verifySignature refuses a valid signature cut, extended or not a Uint8Array", () => {
    // Prepare
    const { pub, msg, sig } = vector(RFC8032[1]);
    // Act
    const verdicts = [
      verifySignature(pub, msg, sig.subarray(0, 63)),
      verifySignature(pub, msg, concat(sig, new Uint8Array(1))),
      verifySignature(pub, msg, Array.from(sig) as unknown as Uint8Array),
      verifySignature(pub, msg, lookalike(sig, 64)),
    ];
    // Assess
    expect(verdicts).toEqual([false, false, false, false]);
    expect(verifySignature(pub, msg, sig)).toBe(true);
  });
});

describe("public key shape and encoding", () => {
  const keyShape = "an Ed25519 public key is 32 bytes";

  it.each([
    ["empty", new Uint8Array(0)],
    ["31 bytes", new Uint8Array(31)],
    ["33 bytes", new Uint8Array(33)],
    ["a number[] of 32", Array.from(hex(RFC8032[0].public))],
    ["a 32-char string", "A".repeat(32)],
    ["null", null],
  ])("ed25519PublicKeyProblem(%s) says it is not a 32-byte key", (_name, raw) => {
    // Act / Assess
    expect(ed25519PublicKeyProblem(raw as unknown as Uint8Array)).toBe(keyShape);
  });

  it("an RFC 8032 key has no problem", () => {
    // Act / Assess
    expect(ed25519PublicKeyProblem(hex(RFC8032[2].public))).toBeUndefined();
  });

  it.each([0, 1] as const)("y = p + 3 (sign bit %i) does not decode, though y = 3 is a point (with a small-order part)", (signBit) => {
    // Prepare: no prime-order point has y < 19, so y = 3 (on the curve, not torsion-free) stands in for one
    const canonical = encodePoint(3n, signBit);
    const nonCanonical = encodePoint(P + 3n, signBit);
    // Act
    const problems = [ed25519PublicKeyProblem(canonical), ed25519PublicKeyProblem(nonCanonical)];
    // Assess
    expect(problems).toEqual(["not in the prime-order subgroup (has a small-order component)", "not a valid point encoding"]);
  });

  it.each([
    ["y = p + 1 (≡ identity)", encodePoint(P + 1n, 0)],
    ["y = p + 1, sign bit", encodePoint(P + 1n, 1)],
    ["identity with the sign bit", encodePoint(1n, 1)],
    ["y = p (≡ 0)", encodePoint(P, 0)],
    ["(0, -1) with the sign bit", encodePoint(P - 1n, 1)],
  ])("non-canonical small-order encoding %s is not a valid point encoding", (_name, raw) => {
    // Act / Assess
    expect(ed25519PublicKeyProblem(raw)).toBe("not a valid point encoding");
  });

  it.each([
    ["identity", encodePoint(1n, 0)],
    ["(0, -1)", encodePoint(P - 1n, 0)],
    ["y = 0", encodePoint(0n, 0)],
    ["y = 0, sign bit", encodePoint(0n, 1)],
    ["order 8", hex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")],
    ["order 8, sign bit", hex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa")],
    ["order 8'", hex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")],
    ["order 8', sign bit", hex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85")],
  ])("small-order key %s is refused as small-order", (_name, raw) => {
    // Act / Assess
    expect(ed25519PublicKeyProblem(raw)).toBe("a small-order point (such a key verifies forged signatures)");
  });

  it.each([
    ["identity", encodePoint(1n, 0)],
    ["identity with the sign bit", encodePoint(1n, 1)],
    ["y = p + 1", encodePoint(P + 1n, 0)],
  ])("%s: R = B, S = 1 verifies under node:crypto for any message, never here", (_name, pub) => {
    // Prepare
    const msgs = [utf8(""), utf8("POST /v1/receipts"), hex("af82")];
    // Act
    const plain = msgs.map((m) => nodeVerifies(pub, m, IDENTITY_FORGERY));
    const ours = msgs.map((m) => verifySignature(pub, m, IDENTITY_FORGERY));
    // Assess
    expect(ed25519SignatureProblem(IDENTITY_FORGERY)).toBeUndefined();
    expect(plain).toEqual([true, true, true]);
    expect(ours).toEqual([false, false, false]);
  });
});

describe("verifySignature input types", () => {
  it("a message is a string (UTF-8) or a Uint8Array, nothing else, even a view of the same bytes", () => {
    // Prepare
    const kp = signingKeyFromSeed(hex(RFC8032[2].secret));
    const sig = sign(kp, "héllo");
    const bytes = utf8("héllo");
    verifySignature(kp.publicKey, bytes, sig); // the key is now known (cached)
    // Act
    const verdicts = [
      verifySignature(kp.publicKey, "héllo", sig),
      verifySignature(kp.publicKey, bytes, sig),
      verifySignature(kp.publicKey, new DataView(bytes.buffer) as unknown as Uint8Array, sig),
      verifySignature(kp.publicKey, bytes.buffer as unknown as Uint8Array, sig),
      verifySignature(kp.publicKey, Array.from(bytes) as unknown as Uint8Array, sig),
    ];
    // Assess
    expect(verdicts).toEqual([true, true, false, false, false]);
  });

  it("a known key passed as a non-Uint8Array view (even one with length 32) is refused", () => {
    // Prepare
    const { pub, msg, sig } = vector(RFC8032[2]);
    expect(verifySignature(pub, msg, sig)).toBe(true); // known now
    // Act
    const verdicts = [
      verifySignature(lookalike(pub, 32), msg, sig),
      verifySignature(new DataView(pub.buffer) as unknown as Uint8Array, msg, sig),
      verifySignature(Array.from(pub) as unknown as Uint8Array, msg, sig),
      verifySignature(pub.subarray(0, 31), msg, sig),
      verifySignature(concat(pub, new Uint8Array(1)), msg, sig),
    ];
    // Assess
    expect(verdicts).toEqual([false, false, false, false, false]);
  });

  it("never throws: a key that passes the type checks but breaks inside gives false", () => {
    // Prepare: Uint8Array.prototype with a length of 32, but no backing buffer
    const { msg, sig } = vector(RFC8032[0]);
    const broken = Object.create(Uint8Array.prototype, { length: { value: 32 } }) as Uint8Array;
    // Act
    const verdict = verifySignature(broken, msg, sig);
    // Assess
    expect(broken instanceof Uint8Array).toBe(true);
    expect(verdict).toBe(false);
  });
});

describe("Ed25519 key caches (seen through node:crypto's calls)", () => {
  it("a verified key's import is reused: the second verification imports nothing", () => {
    // Prepare
    const kp = signingKeyFromSeed(new Uint8Array(32).fill(0x42));
    const sig = sign(kp, "m");
    vi.clearAllMocks();
    // Act
    const first = verifySignature(kp.publicKey, "m", sig);
    const importsFirst = spies.createPublicKey.mock.calls.length;
    const second = verifySignature(kp.publicKey, "m", sig);
    const third = verifySignature(kp.publicKey, "n", sig);
    // Assess
    expect([first, second, third]).toEqual([true, true, false]);
    expect(importsFirst).toBe(1);
    expect(spies.createPublicKey).toHaveBeenCalledTimes(1);
    expect(spies.verify).toHaveBeenCalledTimes(3);
  });

  it("a key refused once stays refused: no import nor verification the second time", () => {
    // Prepare: y = p + 1 with the sign bit, used by no other test of this cache
    const pub = encodePoint(P + 1n, 1);
    const msg = utf8("GET /v1/account");
    // Act
    const first = verifySignature(pub, msg, IDENTITY_FORGERY);
    const callsFirst = [spies.createPublicKey.mock.calls.length, spies.verify.mock.calls.length];
    vi.clearAllMocks();
    const second = verifySignature(pub, msg, IDENTITY_FORGERY);
    // Assess
    expect([first, second]).toEqual([false, false]);
    expect(callsFirst).toEqual([1, 1]);
    expect(spies.createPublicKey).not.toHaveBeenCalled();
    expect(spies.verify).not.toHaveBeenCalled();
  });
});

describe("raw key import", () => {
  it.each([
    ["an Ed25519 seed of 31 bytes", () => signingKeyFromSeed(new Uint8Array(31)), "Ed25519 private key must be 32 bytes, got 31"],
    ["an X25519 private key of 33 bytes", () => kemKeyFromPrivate(new Uint8Array(33)), "X25519 private key must be 32 bytes, got 33"],
    ["an X25519 public key of 31 bytes", () => x25519PublicKeyObjectOnce(new Uint8Array(31)), "X25519 public key must be 32 bytes, got 31"],
    [
      "an X25519 public key of 33 bytes (cached)",
      () => x25519PublicKeyObject(new Uint8Array(33)),
      "X25519 public key must be 32 bytes, got 33",
    ],
  ])("%s is refused with invalid_length", (_name, act, message) => {
    // Act / Assess
    expect(act).toThrow(lengthError(message));
  });

  it("a private key is imported through JWK in one call", () => {
    // Act
    const kp = signingKeyFromSeed(hex(RFC8032[0].secret));
    // Assess
    expect(toHex(kp.publicKey)).toBe(RFC8032[0].public);
    expect(spies.createPrivateKey).toHaveBeenCalledTimes(1);
    expect(spies.createPrivateKey.mock.calls[0]![0]).toMatchObject({ format: "jwk", key: { kty: "OKP", crv: "Ed25519" } });
  });

  it("falls back to PKCS#8 when node:crypto refuses the JWK (Ed25519, RFC 8032 TEST 1)", () => {
    // Prepare
    spies.createPrivateKey.mockImplementationOnce(() => {
      throw new Error("JWK refused");
    });
    // Act
    const kp = signingKeyFromSeed(hex(RFC8032[0].secret));
    // Assess
    expect(toHex(kp.publicKey)).toBe(RFC8032[0].public);
    expect(toHex(sign(kp, new Uint8Array(0)))).toBe(RFC8032[0].signature);
    expect(spies.createPrivateKey).toHaveBeenCalledTimes(2);
    expect(spies.createPrivateKey.mock.calls[1]![0]).toMatchObject({ format: "der", type: "pkcs8" });
  });

  it("falls back to PKCS#8 when node:crypto refuses the JWK (X25519, RFC 7748 §6.1 Alice)", () => {
    // Prepare
    spies.createPrivateKey.mockImplementationOnce(() => {
      throw new Error("JWK refused");
    });
    // Act
    const kp = kemKeyFromPrivate(hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
    // Assess
    expect(toHex(kp.publicKey)).toBe("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    expect(toHex(kemPrivateRaw(kp))).toBe("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  });

  it("rawPublicKey reads a public KeyObject as it is", () => {
    // Prepare
    const raw = hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"); // RFC 7748 §6.1 Bob
    // Act / Assess
    expect(toHex(rawPublicKey(x25519PublicKeyObjectOnce(raw)))).toBe(toHex(raw));
  });

  it("rawPublicKey refuses a key that is not OKP", () => {
    // Act / Assess
    expect(() => rawPublicKey(createSecretKey(Buffer.alloc(32)))).toThrow(keyError("key is not an OKP (X25519/Ed25519) key"));
  });

  it.each([
    ["a public key", () => x25519PublicKeyObjectOnce(new Uint8Array(32).fill(9))],
    ["a secret key", () => createSecretKey(Buffer.alloc(32))],
  ])("signingSeed and kemPrivateRaw refuse %s", (_name, makeKey) => {
    // Prepare
    const privateKey = makeKey();
    const signing = { id: "x", publicKey: new Uint8Array(32), privateKey } as SigningKeyPair;
    const kem = { publicKey: new Uint8Array(32), privateKey } as KemKeyPair;
    // Act / Assess
    expect(() => signingSeed(signing)).toThrow(keyError("key is not an OKP private key"));
    expect(() => kemPrivateRaw(kem)).toThrow(keyError("key is not an OKP private key"));
  });
});

describe("X25519 public key cache (LRU of 1024)", () => {
  it("returns the same KeyObject for the same raw key", () => {
    // Prepare
    const raw = x25519Raw(1, 0);
    // Act
    const a = x25519PublicKeyObject(raw);
    const b = x25519PublicKeyObject(new Uint8Array(raw));
    // Assess
    expect(b).toBe(a);
    expect(x25519PublicKeyObjectOnce(raw)).not.toBe(a);
  });

  it("keeps an entry while 1023 newer ones come", () => {
    // Prepare
    flushX25519Cache(2);
    const first = x25519PublicKeyObject(x25519Raw(3, 0));
    for (let i = 1; i <= 1023; i++) x25519PublicKeyObject(x25519Raw(3, i));
    // Act
    const again = x25519PublicKeyObject(x25519Raw(3, 0));
    // Assess
    expect(again).toBe(first);
  });

  it("evicts the oldest entry when the 1024th newer one comes", () => {
    // Prepare
    flushX25519Cache(4);
    const first = x25519PublicKeyObject(x25519Raw(5, 0));
    for (let i = 1; i <= 1024; i++) x25519PublicKeyObject(x25519Raw(5, i));
    // Act
    const again = x25519PublicKeyObject(x25519Raw(5, 0));
    // Assess
    expect(again).not.toBe(first);
    expect(toHex(rawPublicKey(again))).toBe(toHex(x25519Raw(5, 0)));
  });

  it("a hit makes an entry the most recent: eviction takes the least recently used", () => {
    // Prepare
    flushX25519Cache(6);
    const a = x25519PublicKeyObject(x25519Raw(7, 0));
    const b = x25519PublicKeyObject(x25519Raw(7, 1));
    for (let i = 2; i < 1024; i++) x25519PublicKeyObject(x25519Raw(7, i)); // full: a, b, 1022 others
    const touched = x25519PublicKeyObject(x25519Raw(7, 0));
    // Act
    x25519PublicKeyObject(x25519Raw(7, 1024));
    const bAgain = x25519PublicKeyObject(x25519Raw(7, 1));
    const aAgain = x25519PublicKeyObject(x25519Raw(7, 0));
    // Assess
    expect(touched).toBe(a);
    expect(bAgain).not.toBe(b);
    expect(aAgain).toBe(a);
  });
});

describe("token MACs", () => {
  const body = { quote: "q1", amount: "1000000000", n: 3 };
  const expected = (key: Buffer, domain: string, json: string) =>
    createHmac("sha256", key).update(domain).update(json).digest().toString("hex");
  const json = '{"amount":"1000000000","n":3,"quote":"q1"}';
  const hex64 = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

  it.each([
    ["64 hex chars: their 32 bytes", hex64, Buffer.from(hex64, "hex")],
    ["64 upper-case hex chars: their 32 bytes", hex64.toUpperCase(), Buffer.from(hex64, "hex")],
    ["65 chars ending in 64 hex: UTF-8", "x" + hex64, Buffer.from("x" + hex64, "utf8")],
    ["65 chars starting with 64 hex: UTF-8", hex64 + "x", Buffer.from(hex64 + "x", "utf8")],
    ["a passphrase: UTF-8", "correct horse ✓", Buffer.from("correct horse ✓", "utf8")],
  ])("the secret as %s", (_name, secret, key) => {
    // Act
    const mac = tokenMac(secret, "cocoon quote v1\n", body);
    // Assess
    expect(mac.toString("hex")).toBe(expected(key, "cocoon quote v1\n", json));
  });

  it("tokenMacMatches accepts the MAC and refuses a changed one, a changed body, another domain and bad base64url", () => {
    // Prepare
    const mac = b64u.encode(tokenMac("s3cret", "cocoon tab v1\n", body));
    const flipped = b64u.decode(mac);
    flipped[0]! ^= 1;
    // Act
    const verdicts = [
      tokenMacMatches("s3cret", "cocoon tab v1\n", body, mac),
      tokenMacMatches("s3cret", "cocoon tab v1\n", body, b64u.encode(flipped)),
      tokenMacMatches("s3cret", "cocoon tab v1\n", { ...body, n: 4 }, mac),
      tokenMacMatches("s3cret", "cocoon quote v1\n", body, mac),
      tokenMacMatches("s3cret", "cocoon tab v1\n", body, mac.slice(0, -2)),
      tokenMacMatches("s3cret", "cocoon tab v1\n", body, "not base64url!"),
      tokenMacMatches("s3cret", "cocoon tab v1\n", body, mac + "="),
    ];
    // Assess
    expect(verdicts).toEqual([true, false, false, false, false, false, false]);
  });
});
