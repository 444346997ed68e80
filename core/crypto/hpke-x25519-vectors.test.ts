/**
 * DHKEM(X25519)'s DH against Wycheproof's X25519 vectors (C2SP/wycheproof
 * testvectors_v1/x25519_test.json; test/fixtures/x25519/README.md names the commit, licence and
 * SHA-256). hpke.test.ts checks the HPKE composition against RFC 9180's vectors, whose keys are
 * all honest; these 518 cases are the hostile ones: public keys of low order (on the curve and on
 * its twist), points on the twist, non-canonical encodings (u >= p, bit 255 set), and public keys
 * built to hit edge cases inside the ladder. Every vector goes through our own code paths:
 *
 *  - dh, the DH encap, decap and recipientKeyProblem share, with the public key imported both ways
 *    HPKE imports one (cached for a recipient key, uncached for an enc);
 *  - decapsulate (the recipient side end to end), against RFC 9180's ExtractAndExpand computed
 *    here with node's HKDF over the vector's expected DH output;
 *  - setupBaseS (the sender side) and recipientKeyProblem (a worker's key at registration).
 *
 * The rule checked: a vector whose expected shared secret is all zeros (a low-order public key) is
 * refused everywhere (RFC 9180 §7.1.4, RFC 7748 §6.1); every other vector, "valid" or
 * "acceptable", gives exactly the expected secret and is accepted. Non-canonical public keys are
 * accepted as RFC 7748 §5 and §7 ask: node:crypto (OpenSSL 3) masks bit 255 and reduces u mod p.
 */
import { createHash, hkdfSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { CryptoInputError, HpkeOpenError } from "./errors";
import { decapsulate, dh, recipientKeyProblem, setupBaseS } from "./hpke";
import { kemKeyFromPrivate, x25519PublicKeyObject, x25519PublicKeyObjectOnce } from "./keys";
import { SMALL_ORDER_X25519, thrown } from "./testing";

const FIXTURE = join(__dirname, "../../test/fixtures/x25519/wycheproof-x25519_test.json");
/** The SHA-256 test/fixtures/x25519/README.md gives for the byte-for-byte copy. */
const FIXTURE_SHA256 = "35c3f5231cf25cc640b524d403461deee9e49441d5d915a3a25b2c8ff5adbe7d";

const FLAGS = [
  "EdgeCaseMultiplication",
  "EdgeCasePrivateKey",
  "EdgeCaseShared",
  "Ktv",
  "LowOrderPublic",
  "NonCanonicalPublic",
  "Normal",
  "SmallPublicKey",
  "SpecialPublicKey",
  "Twist",
  "ZeroSharedSecret",
] as const;
type Flag = (typeof FLAGS)[number];

const hex32 = z.string().regex(/^[0-9a-f]{64}$/);
const VectorSchema = z.object({
  tcId: z.number().int(),
  comment: z.string(),
  flags: z.array(z.enum(FLAGS)),
  public: hex32,
  private: hex32,
  shared: hex32,
  result: z.enum(["valid", "acceptable", "invalid"]),
});
const FileSchema = z.object({
  algorithm: z.literal("XDH"),
  schema: z.literal("xdh_comp_schema_v1.json"),
  numberOfTests: z.number().int(),
  testGroups: z.array(z.object({ type: z.literal("XdhComp"), curve: z.literal("curve25519"), tests: z.array(VectorSchema) })),
});
type Vector = z.infer<typeof VectorSchema>;

const raw = readFileSync(FIXTURE);
const file = FileSchema.parse(JSON.parse(raw.toString("utf8")));
const VECTORS: Vector[] = file.testGroups.flatMap((g) => g.tests);

const hex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));
const toHex = (b: Uint8Array | ArrayBuffer) => Buffer.from(b instanceof ArrayBuffer ? new Uint8Array(b) : b).toString("hex");
const ZERO = "00".repeat(32);
const isZero = (v: Vector) => v.shared === ZERO;
const label = (v: Vector) => `tcId ${v.tcId} (${v.result}; ${v.flags.join(", ") || "no flags"}; ${v.comment})`;

/** RFC 9180 §4.1 ExtractAndExpand for DHKEM(X25519, HKDF-SHA256), with node's HKDF: an independent reference. */
function kemSharedSecret(dhOut: Uint8Array, enc: Uint8Array, pkRm: Uint8Array): string {
  const suiteId = Buffer.concat([Buffer.from("KEM"), Buffer.of(0x00, 0x20)]);
  const v1 = Buffer.from("HPKE-v1");
  const labeledIkm = Buffer.concat([v1, suiteId, Buffer.from("eae_prk"), dhOut]);
  const labeledInfo = Buffer.concat([Buffer.of(0, 32), v1, suiteId, Buffer.from("shared_secret"), enc, pkRm]);
  return toHex(hkdfSync("sha256", labeledIkm, Buffer.alloc(0), labeledInfo, 32));
}

/** RFC 7748 §5 decodeUCoordinate, re-encoded: bit 255 masked, u reduced mod p = 2^255 - 19. */
function canonicalU(pub: Uint8Array): Uint8Array {
  const p = 2n ** 255n - 19n;
  let u = 0n;
  for (let i = 31; i >= 0; i--) u = (u << 8n) | BigInt(i === 31 ? pub[i]! & 0x7f : pub[i]!);
  u %= p;
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++, u >>= 8n) out[i] = Number(u & 0xffn);
  return out;
}

/** What our code does with one vector: the secret it computes, or "refused". */
function ourDh(v: Vector): string {
  try {
    return toHex(dh(kemKeyFromPrivate(hex(v.private)).privateKey, x25519PublicKeyObjectOnce(hex(v.public))));
  } catch (e) {
    if (e instanceof HpkeOpenError && e.code === "invalid_enc") return "refused";
    throw e;
  }
}

describe("Wycheproof X25519 fixture", () => {
  it("is the byte-for-byte copy the README names, with all 518 vectors, each flag known", () => {
    // Assess
    expect(createHash("sha256").update(raw).digest("hex")).toBe(FIXTURE_SHA256);
    expect(readFileSync(join(FIXTURE, "../README.md"), "utf8")).toContain(FIXTURE_SHA256);
    expect(VECTORS).toHaveLength(file.numberOfTests);
    expect(VECTORS).toHaveLength(518);
    expect(new Set(VECTORS.map((v) => v.tcId)).size).toBe(518);
  });

  it("holds 'valid' and 'acceptable' vectors only (an 'invalid' one would need a rule of its own here)", () => {
    // Act
    const results = VECTORS.reduce<Record<string, number>>((n, v) => ({ ...n, [v.result]: (n[v.result] ?? 0) + 1 }), {});
    // Assess
    expect(results).toEqual({ valid: 264, acceptable: 254 });
  });

  it("gives an all-zero secret for exactly the 14 low-order encodings core/crypto/testing.ts lists", () => {
    // Act
    const zeroPublics = new Set(VECTORS.filter(isZero).map((v) => v.public));
    // Assess: 31 vectors, 14 distinct public keys: u in {0, 1, p-1, the two of order 8, p, p+1}, bit 255 clear or set
    expect(VECTORS.filter(isZero)).toHaveLength(31);
    expect([...zeroPublics].sort()).toEqual([...SMALL_ORDER_X25519].sort());
    // and every one of them carries the flags that say so
    for (const v of VECTORS.filter(isZero))
      expect(v.flags, label(v)).toEqual(expect.arrayContaining(["LowOrderPublic", "ZeroSharedSecret"]));
  });
});

describe("dh (DHKEM(X25519)'s DH) on every Wycheproof vector", () => {
  const computed = VECTORS.filter((v) => !isZero(v));
  const refused = VECTORS.filter(isZero);

  it.each(computed.map((v) => [label(v), v] as const))("%s: the expected secret, through both public-key imports", (_, v) => {
    // Prepare
    const sk = kemKeyFromPrivate(hex(v.private)).privateKey;
    // Act
    const viaCached = dh(sk, x25519PublicKeyObject(hex(v.public))); // encap's import (a recipient key)
    const viaOnce = dh(sk, x25519PublicKeyObjectOnce(hex(v.public))); // decap's import (an enc)
    // Assess
    expect(toHex(viaCached)).toBe(v.shared);
    expect(toHex(viaOnce)).toBe(v.shared);
  });

  it.each(refused.map((v) => [label(v), v] as const))("%s: all-zero secret, refused with invalid_enc through both imports", (_, v) => {
    // Prepare
    const sk = kemKeyFromPrivate(hex(v.private)).privateKey;
    // Act
    const errors = [
      thrown(() => dh(sk, x25519PublicKeyObject(hex(v.public)))),
      thrown(() => dh(sk, x25519PublicKeyObjectOnce(hex(v.public)))),
    ];
    // Assess
    for (const e of errors) {
      expect(e).toBeInstanceOf(HpkeOpenError);
      expect(e).toMatchObject({ code: "invalid_enc", message: expect.stringMatching(/low-order point/) });
    }
  });

  it("per flag: which vectors we compute and which we refuse (the table docs/security.md quotes)", () => {
    // Act
    const table: Partial<Record<Flag, { computed: number; refused: number }>> = {};
    for (const v of VECTORS) {
      const outcome = ourDh(v) === "refused" ? "refused" : "computed";
      for (const f of v.flags) (table[f] ??= { computed: 0, refused: 0 })[outcome]++;
    }
    // Assess
    expect(table).toEqual({
      EdgeCaseMultiplication: { computed: 389, refused: 5 },
      EdgeCasePrivateKey: { computed: 7, refused: 0 },
      EdgeCaseShared: { computed: 14, refused: 0 },
      Ktv: { computed: 3, refused: 0 },
      LowOrderPublic: { computed: 0, refused: 31 },
      NonCanonicalPublic: { computed: 13, refused: 6 },
      Normal: { computed: 1, refused: 0 },
      SmallPublicKey: { computed: 0, refused: 8 },
      SpecialPublicKey: { computed: 67, refused: 12 },
      Twist: { computed: 216, refused: 5 },
      ZeroSharedSecret: { computed: 0, refused: 31 },
    });
  });

  it("non-canonical public keys: node:crypto masks bit 255 and reduces u mod p (RFC 7748 §5), as if given the canonical key", () => {
    // Prepare
    const nonCanonical = VECTORS.filter((v) => v.flags.includes("NonCanonicalPublic"));
    expect(nonCanonical).toHaveLength(19);
    for (const v of nonCanonical) {
      const canonical = canonicalU(hex(v.public));
      expect(toHex(canonical), label(v)).not.toBe(v.public);
      // Act
      const sk = kemKeyFromPrivate(hex(v.private)).privateKey;
      const got = ourDh(v);
      const asCanonical = ourDh({ ...v, public: toHex(canonical) });
      // Assess: the same answer (secret or refusal) as the canonical encoding, and the vector's
      expect(got, label(v)).toBe(asCanonical);
      expect(got, label(v)).toBe(isZero(v) ? "refused" : v.shared);
      if (!isZero(v)) expect(toHex(dh(sk, x25519PublicKeyObjectOnce(canonical))), label(v)).toBe(v.shared);
    }
  });
});

describe("HPKE's two sides on every Wycheproof vector", () => {
  it.each(VECTORS.map((v) => [label(v), v] as const))("%s: decapsulate with the vector's keys", (_, v) => {
    // Prepare: the vector's public key is the enc, its private key the recipient's
    const skR = kemKeyFromPrivate(hex(v.private));
    // Act
    const act = () => decapsulate(hex(v.public), skR);
    // Assess
    if (isZero(v)) expect(thrown(act)).toMatchObject({ name: "HpkeOpenError", code: "invalid_enc" });
    else expect(toHex(act())).toBe(kemSharedSecret(hex(v.shared), hex(v.public), skR.publicKey));
  });

  it.each(VECTORS.map((v) => [label(v), v] as const))("%s: the vector's public key as a recipient key", (_, v) => {
    // Act
    const act = () => setupBaseS(hex(v.public), "cocoon wycheproof");
    // Assess
    if (isZero(v)) {
      const e = thrown(act);
      expect(e).toBeInstanceOf(CryptoInputError);
      expect(e).toMatchObject({ code: "invalid_key", message: expect.stringContaining("low-order") });
    } else expect(act().enc).toHaveLength(32);
  });
});

describe("recipientKeyProblem (a worker's HPKE key at registration) on every Wycheproof public key", () => {
  it("refuses exactly the public keys whose shared secret is all zeros, and accepts every other", () => {
    // Act
    const refusedKeys = new Set<string>();
    const acceptedKeys = new Set<string>();
    for (const v of VECTORS) {
      const problem = recipientKeyProblem(hex(v.public));
      if (problem === undefined) acceptedKeys.add(v.public);
      else {
        expect(problem, label(v)).toBe("a small-order X25519 point (no shared secret)");
        refusedKeys.add(v.public);
      }
    }
    // Assess: refused = low order, whatever private key the vector pairs it with (its fixed probe
    // key stands for all: a clamped scalar is 8k with k below both prime orders)
    const zeroKeys = new Set(VECTORS.filter(isZero).map((v) => v.public));
    expect([...refusedKeys].sort()).toEqual([...zeroKeys].sort());
    expect([...acceptedKeys].filter((k) => zeroKeys.has(k))).toEqual([]);
    expect(refusedKeys.size + acceptedKeys.size).toBe(new Set(VECTORS.map((v) => v.public)).size);
  });
});
