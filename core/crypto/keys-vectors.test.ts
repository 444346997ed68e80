/**
 * keys.ts against published vectors (test/fixtures/ed25519/README.md names each file's source,
 * commit and licence). verifySignature is the one Ed25519 check the coordinator, the SDK and the
 * agent use, so every vector goes through it, not through node:crypto or @noble/curves directly.
 *
 * - ed25519-speccheck ("Taming the many EdDSAs"): 12 edge cases, each with the verdict our strict
 *   policy gives and the rule that gives it (SPECCHECK_POLICY, the table docs/security.md quotes);
 * - Wycheproof ed25519_test.json: 151 cases, "valid" must verify and "invalid" must not;
 * - ZIP-215: 196 signatures over small-order keys that ZIP-215 accepts and we refuse, on purpose;
 * - RFC 8032 §7.1: seed -> public key -> signature, through the JWK import and the PKCS#8 fallback;
 * - RFC 7748 §6.1: X25519 private key -> public key -> shared secret, through both imports too.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createPrivateKey, createPublicKey, verify as nodeVerify } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  ed25519PublicKeyProblem,
  ed25519SignatureProblem,
  kemKeyFromPrivate,
  kemPrivateRaw,
  sign,
  signingKeyFromSeed,
  signingSeed,
  verifySignature,
  x25519,
  x25519PublicKeyObjectOnce,
} from "./keys";

// node:crypto passed through unchanged, so one describe can refuse JWK private keys and drive
// keys.ts onto its PKCS#8 fallback (the hand-written prefixes).
vi.mock("node:crypto", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:crypto")>();
  return { ...actual, createPrivateKey: vi.fn(actual.createPrivateKey) };
});

afterEach(() => {
  vi.mocked(createPrivateKey).mockRestore();
});

const FIXTURES = join(__dirname, "../../test/fixtures/ed25519");
const fixture = <T>(name: string): T => JSON.parse(readFileSync(join(FIXTURES, name), "utf8")) as T;
const hex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** Which of our rules refuses a (key, signature), read from the two functions verifySignature applies. */
type Rule = "S not below L" | "R small order" | "R non-canonical" | "A small order" | "A not torsion-free" | "A bad encoding";
function refusingRules(pk: Uint8Array, sig: Uint8Array): Rule[] {
  const rules: Rule[] = [];
  const s = ed25519SignatureProblem(sig);
  if (s?.startsWith("S is not below")) rules.push("S not below L");
  else if (s?.startsWith("R is a small-order")) rules.push("R small order");
  else if (s !== undefined) rules.push("R non-canonical");
  const a = ed25519PublicKeyProblem(pk);
  if (a?.startsWith("a small-order point")) rules.push("A small order");
  else if (a?.startsWith("not in the prime-order subgroup")) rules.push("A not torsion-free");
  else if (a !== undefined) rules.push("A bad encoding");
  return rules;
}

/** node:crypto's own verdict (OpenSSL 3, RFC 8032 cofactorless), without our checks. */
function opensslAlone(pk: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  try {
    const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(pk).toString("base64url") }, format: "jwk" });
    return nodeVerify(null, msg, key, sig);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// ed25519-speccheck
// ---------------------------------------------------------------------------------------------

interface SpeccheckCase {
  message: string;
  pub_key: string;
  signature: string;
}

/**
 * Our answer to each speccheck case, and why. "OpenSSL" and "Zebra" are the rows of the
 * speccheck README's results table (V = accepts): OpenSSL is what node:crypto does alone (RFC
 * 8032, cofactorless), Zebra is ZIP-215 (cofactored, lenient encodings). We refuse all 12: a key
 * must be the canonical encoding of a point of prime order, R canonical and not of small order, S < L.
 */
const SPECCHECK_POLICY: { what: string; openssl: boolean; zebra: boolean; rules: Rule[] }[] = [
  { what: "S = 0, small-order A and R", openssl: true, zebra: true, rules: ["R small order", "A small order"] },
  { what: "small-order A, mixed-order R", openssl: true, zebra: true, rules: ["A small order"] },
  { what: "mixed-order A, small-order R", openssl: true, zebra: true, rules: ["R small order", "A not torsion-free"] },
  { what: "mixed-order A and R, both equations hold", openssl: true, zebra: true, rules: ["A not torsion-free"] },
  { what: "mixed-order A and R, cofactored equation only", openssl: false, zebra: true, rules: ["A not torsion-free"] },
  { what: "mixed-order A, cofactored only unless 8h is pre-reduced", openssl: false, zebra: true, rules: ["A not torsion-free"] },
  { what: "S > L", openssl: false, zebra: false, rules: ["S not below L"] },
  { what: "S >> L (high bit set)", openssl: false, zebra: false, rules: ["S not below L"] },
  // R = y=-1 with the x sign bit set: (0,-1) has x = 0, so the bit makes the encoding invalid
  { what: "non-canonical R, reduced for the hash", openssl: false, zebra: false, rules: ["R small order", "A not torsion-free"] },
  { what: "non-canonical R, not reduced for the hash", openssl: false, zebra: true, rules: ["R small order", "A not torsion-free"] },
  // A = the same invalid encoding of (0,-1)
  { what: "non-canonical A, reduced for the hash", openssl: false, zebra: true, rules: ["A bad encoding"] },
  { what: "non-canonical A, not reduced for the hash", openssl: true, zebra: true, rules: ["A bad encoding"] },
];

describe("ed25519-speccheck (novifinancial/ed25519-speccheck cases.json)", () => {
  const cases = fixture<SpeccheckCase[]>("speccheck-cases.json");

  it("has the 12 published cases", () => {
    expect(cases).toHaveLength(12);
    expect(SPECCHECK_POLICY).toHaveLength(cases.length);
  });

  it.each(cases.map((c, i) => [i, SPECCHECK_POLICY[i]!.what, c] as const))("case %i (%s): refused", (i, _what, c) => {
    // Prepare
    const pk = hex(c.pub_key);
    const msg = hex(c.message);
    const sig = hex(c.signature);
    // Act
    const verdict = verifySignature(pk, msg, sig);
    // Assess
    expect(verdict).toBe(false);
    expect(refusingRules(pk, sig)).toEqual(SPECCHECK_POLICY[i]!.rules);
  });

  it("node:crypto alone accepts cases 0-3 and 11, as the speccheck README reports for OpenSSL 3: our checks are what refuse them", () => {
    // Act
    const alone = cases.map((c) => opensslAlone(hex(c.pub_key), hex(c.message), hex(c.signature)));
    // Assess
    expect(alone).toEqual(SPECCHECK_POLICY.map((p) => p.openssl));
  });
});

// ---------------------------------------------------------------------------------------------
// Wycheproof
// ---------------------------------------------------------------------------------------------

interface WycheproofFile {
  algorithm: string;
  numberOfTests: number;
  testGroups: { type: string; publicKey: { curve: string; pk: string }; tests: WycheproofTest[] }[];
}
interface WycheproofTest {
  tcId: number;
  comment: string;
  flags: string[];
  msg: string;
  sig: string;
  result: "valid" | "invalid" | "acceptable";
}

describe("Wycheproof (C2SP/wycheproof testvectors_v1/ed25519_test.json)", () => {
  const file = fixture<WycheproofFile>("wycheproof-ed25519_test.json");
  const tests = file.testGroups.flatMap((g) => g.tests.map((t) => ({ pk: g.publicKey.pk, ...t })));

  it("is the EdDSA edwards25519 file with all its tests, and none is 'acceptable'", () => {
    expect(file.algorithm).toBe("EDDSA");
    expect(new Set(file.testGroups.map((g) => `${g.type} ${g.publicKey.curve}`))).toEqual(new Set(["EddsaVerify edwards25519"]));
    expect(tests).toHaveLength(file.numberOfTests);
    expect(tests.filter((t) => t.result === "acceptable")).toEqual([]);
  });

  it.each(tests.map((t) => [t.tcId, t.result, t.comment || t.flags.join(","), t] as const))(
    "tcId %i: %s (%s)",
    (_id, result, _comment, t) => {
      // Act
      const verdict = verifySignature(hex(t.pk), hex(t.msg), hex(t.sig));
      // Assess
      expect(verdict).toBe(result === "valid");
    },
  );

  it("tcIds 63-66 (s + kL) and 85 (S just above L) are refused by our S < L rule, not only by the equation", () => {
    for (const id of [63, 64, 65, 66, 85]) {
      const t = tests.find((x) => x.tcId === id)!;
      expect(refusingRules(hex(t.pk), hex(t.sig)), `tcId ${id}`).toEqual(["S not below L"]);
    }
  });

  it("tcId 151 (R = y 1 with the x sign bit) and tcId 60 (R = 0) are refused by our R rules", () => {
    const r = (id: number) => tests.find((x) => x.tcId === id)!;
    expect(refusingRules(hex(r(151).pk), hex(r(151).sig))).toEqual(["R small order"]);
    expect(refusingRules(hex(r(60).pk), hex(r(60).sig))).toEqual(["R small order"]);
  });
});

// ---------------------------------------------------------------------------------------------
// ZIP-215
// ---------------------------------------------------------------------------------------------

interface Zip215Case {
  vk_bytes: string;
  sig_bytes: string;
  valid_legacy: boolean;
  valid_zip215: boolean;
}

describe("ZIP-215 (hdevalence's vectors, as paulmillr/noble-curves ships them)", () => {
  const cases = fixture<Zip215Case[]>("zip215.json");
  const msg = new TextEncoder().encode("Zcash");

  it("has 196 cases, all of which ZIP-215 accepts", () => {
    expect(cases).toHaveLength(196);
    expect(cases.every((c) => c.valid_zip215)).toBe(true);
  });

  it("refuses every one", () => {
    // Act
    const accepted = cases.filter((c) => verifySignature(hex(c.vk_bytes), msg, hex(c.sig_bytes)));
    // Assess
    expect(accepted).toEqual([]);
  });

  it("refuses every A and every R on its own: each encodes a small-order point, canonically or not", () => {
    // Act
    const rules = cases.map((c) => refusingRules(hex(c.vk_bytes), hex(c.sig_bytes)));
    // Assess: both halves refused, so neither rule leans on the other (nor on OpenSSL's equation)
    expect(rules.filter((r) => !r.some((x) => x.startsWith("R")))).toEqual([]);
    expect(rules.filter((r) => !r.some((x) => x.startsWith("A")))).toEqual([]);
    // R is refused both ways: a small-order encoding (canonical, or x = 0 with the sign bit), and y >= p
    const reasons = new Set(cases.map((c) => ed25519SignatureProblem(hex(c.sig_bytes))));
    expect(reasons).toEqual(new Set(["R is a small-order point", "R is a non-canonical point encoding (y >= p)"]));
  });
});

// ---------------------------------------------------------------------------------------------
// RFC 8032 §7.1 and RFC 7748 §6.1: keys from raw bytes, through JWK and through PKCS#8
// ---------------------------------------------------------------------------------------------

interface Rfc8032Vector {
  name: string;
  secretKey: string;
  publicKey: string;
  message: string;
  signature: string;
}

/** Makes node:crypto refuse every JWK private key, as keys.ts's fallback expects a future Node might. */
function refuseJwkPrivateKeys(): void {
  const actual = vi.mocked(createPrivateKey).getMockImplementation()!;
  vi.mocked(createPrivateKey).mockImplementation((key) => {
    if (typeof key === "object" && "format" in key && key.format === "jwk") throw new TypeError("JWK refused (test)");
    return actual(key);
  });
}

/** When JWK is refused, the keys must have come through the PKCS#8 (DER) import: the path under test. */
function expectImportedAs(setUp: () => void): void {
  const der = vi.mocked(createPrivateKey).mock.calls.filter(([k]) => Buffer.isBuffer((k as { key?: unknown }).key));
  if (setUp === refuseJwkPrivateKeys) expect(der.length).toBeGreaterThan(0);
  else expect(der).toEqual([]);
}

const IMPORTS = [
  ["JWK import", () => {}],
  ["PKCS#8 fallback", refuseJwkPrivateKeys],
] as const;

describe.each(IMPORTS)("RFC 8032 §7.1 Ed25519 (paulmillr/acvp-vectors rfc/8032-eddsa/ed25519.json), %s", (_path, setUp) => {
  const vectors = fixture<Rfc8032Vector[]>("rfc8032-ed25519.json");

  it("has TEST 1, 2, 3, 1024 and SHA(abc)", () => {
    expect(vectors.map((v) => v.name)).toEqual(["1", "2", "3", "1024", "SHA(abc)"]);
  });

  it.each(vectors.map((v) => [v.name, v] as const))("TEST %s: seed -> public key -> signature -> verifies", (_name, v) => {
    // Prepare
    setUp();
    // Act
    const kp = signingKeyFromSeed(hex(v.secretKey));
    const sig = sign(kp, hex(v.message));
    // Assess
    expect(toHex(kp.publicKey)).toBe(v.publicKey);
    expect(toHex(sig)).toBe(v.signature);
    expect(toHex(signingSeed(kp))).toBe(v.secretKey);
    expect(verifySignature(hex(v.publicKey), hex(v.message), hex(v.signature))).toBe(true);
    expectImportedAs(setUp);
  });
});

/**
 * RFC 7748 §6.1 (Alice and Bob). Each value is also in a second source: Wycheproof
 * x25519_test.json tcId 102 (Alice's private key, Bob's public key, the shared secret) and
 * php-src ext/sodium/tests/crypto_scalarmult.phpt (Bob's private key, Alice's public key, the
 * shared secret).
 */
const RFC7748_6_1 = {
  alicePrivate: "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
  alicePublic: "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
  bobPrivate: "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
  bobPublic: "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
  shared: "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742",
};

describe.each(IMPORTS)("RFC 7748 §6.1 X25519, %s", (_path, setUp) => {
  it("private keys -> public keys -> the same shared secret both ways", () => {
    // Prepare
    setUp();
    const v = RFC7748_6_1;
    // Act
    const alice = kemKeyFromPrivate(hex(v.alicePrivate));
    const bob = kemKeyFromPrivate(hex(v.bobPrivate));
    // Assess
    expect(toHex(alice.publicKey)).toBe(v.alicePublic);
    expect(toHex(bob.publicKey)).toBe(v.bobPublic);
    expect(toHex(kemPrivateRaw(alice))).toBe(v.alicePrivate);
    expect(x25519(alice.privateKey, x25519PublicKeyObjectOnce(hex(v.bobPublic))).toString("hex")).toBe(v.shared);
    expect(x25519(bob.privateKey, x25519PublicKeyObjectOnce(hex(v.alicePublic))).toString("hex")).toBe(v.shared);
    expectImportedAs(setUp);
  });
});
