/**
 * Edges of core/crypto/hpke.ts that hpke.test.ts leaves open: the AEAD ids and names it refuses;
 * DHKEM's refusal of X25519 low-order points and of an all-zero shared secret (RFC 9180 §7.1.4);
 * the enc and recipient-key length checks; infos longer than the info-hash cache takes and the
 * cache's bound; sequence numbers past 2^32 and the sequence limit (RFC 9180 §5.2); export
 * lengths (RFC 9180 §5.3, HKDF's 255·Nh limit); aeadSeal's output accounting and aeadOpen's
 * wiping of unauthenticated plaintext; the heap the info-hash cache may hold. Expected values
 * come from the RFC 9180 Appendix A vectors, from @hpke/core (an independent implementation),
 * from @noble/curves (which points are low-order) and @noble/hashes (HKDF-Expand, for exports of
 * 256 bytes and more, where @hpke/core 1.9.0 is wrong) and, for a nonce, from node:crypto.
 *
 * X25519 (./keys) and node:crypto's ciphers are passed through unchanged but observed, so a few
 * tests can inject what the platform never produces today: an all-zero X25519 output, an enc
 * the key import refuses, a cipher that buffers ciphertext until final().
 */
import { createCipheriv, createDecipheriv, type Cipher, type Decipher } from "node:crypto";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Chacha20Poly1305 } from "@hpke/chacha20poly1305";
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import { x25519 as nobleX25519 } from "@noble/curves/ed25519.js";
import { expand as hkdfExpand } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { afterEach, describe, expect, it, vi } from "vitest";
import vectors from "./fixtures/rfc9180-base-x25519.json";
import { randomBytes } from "./encoding";
import { CryptoInputError, HpkeOpenError } from "./errors";
import {
  AEAD_IDS,
  aeadFromId,
  aeadOpen,
  aeadSeal,
  deriveKeyPair,
  hpkeOpen,
  hpkeSeal,
  keySchedule,
  setupBaseR,
  setupBaseS,
  type HpkeAead,
  type HpkeContext,
} from "./hpke";
import { generateKemKey, x25519, x25519PublicKeyObjectOnce } from "./keys";
import { SMALL_ORDER_X25519, thrown } from "./testing";

// X25519 and the enc import, passed through unchanged: a test may replace one call.
vi.mock("./keys", async (importOriginal) => {
  const actual = await importOriginal<typeof import("./keys")>();
  return { ...actual, x25519: vi.fn(actual.x25519), x25519PublicKeyObjectOnce: vi.fn(actual.x25519PublicKeyObjectOnce) };
});

// node:crypto's AEAD constructors, passed through unchanged: a test may wrap one cipher.
vi.mock("node:crypto", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:crypto")>();
  return { ...actual, createCipheriv: vi.fn(actual.createCipheriv), createDecipheriv: vi.fn(actual.createDecipheriv) };
});

const spies = {
  x25519: vi.mocked(x25519),
  x25519PublicKeyObjectOnce: vi.mocked(x25519PublicKeyObjectOnce),
  createCipheriv: vi.mocked(createCipheriv),
  createDecipheriv: vi.mocked(createDecipheriv),
};

afterEach(() => {
  vi.clearAllMocks();
});

// ---------------------------------------------------------------------------------------
// factories
// ---------------------------------------------------------------------------------------

interface Vector {
  aead_id: number;
  info: string;
  ikmE: string;
  pkRm: string;
  skRm: string;
  shared_secret: string;
  base_nonce: string;
  key: string;
  exporter_secret: string;
  encryptions: Array<{ sequence_number: string; pt: string; aad: string; nonce: string; ct: string }>;
}
const VECTORS = vectors as Vector[];

const hex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));
const toHex = (b: Uint8Array | ArrayBuffer) => Buffer.from(b instanceof ArrayBuffer ? new Uint8Array(b) : b).toString("hex");
const text = (s: string) => new TextEncoder().encode(s);
const isZero = (b: Uint8Array) => b.every((x) => x === 0);

const AEADS = ["chacha20-poly1305", "aes-128-gcm"] as const;
const INFO = text("cocoon/v1/test-edges");
const MAX_SEQ = Number.MAX_SAFE_INTEGER;

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection, the promise resolved");
}

/** @hpke/core's suite for an AEAD: the independent implementation. */
function theirSuite(aead: HpkeAead) {
  return new CipherSuite({
    kem: new DhkemX25519HkdfSha256(),
    kdf: new HkdfSha256(),
    aead: aead === "aes-128-gcm" ? new Aes128Gcm() : new Chacha20Poly1305(),
  });
}

/** A recipient key pair known to both implementations. */
async function makeRecipient(aead: HpkeAead) {
  const suite = theirSuite(aead);
  const ikm = randomBytes(32);
  return { suite, ours: deriveKeyPair(ikm), theirs: await suite.kem.deriveKeyPair(ikm) };
}

/** Our context moved to sequence number `seq` (the field is writable; sealing 2^40 messages is not an option). */
function atSeq<C extends HpkeContext>(c: C, seq: number): C {
  (c as { seq: number }).seq = seq;
  return c;
}

/** An @hpke/core context moved to sequence number `seq` (its private _ctx.seq). */
function theirsAtSeq<C>(c: C, seq: number): C {
  (c as unknown as { _ctx: { seq: number } })._ctx.seq = seq;
  return c;
}

/** RFC 9180 §5.2 ComputeNonce: base_nonce XOR I2OSP(seq, Nn), for seq < 2^64. */
function expectedNonce(baseNonce: Uint8Array, seq: number): Buffer {
  const seqBytes = Buffer.alloc(12);
  seqBytes.writeBigUInt64BE(BigInt(seq), 4);
  return Buffer.from(baseNonce.map((b, i) => b ^ seqBytes[i]!));
}

/** ct || tag for one message, straight from node:crypto. */
function expectedCt(aead: HpkeAead, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array): string {
  const c = createCipheriv(aead as "aes-128-gcm", key, nonce, { authTagLength: 16 });
  c.setAAD(aad, { plaintextLength: pt.length });
  return toHex(Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]));
}

/** RFC 9180 §4 LabeledExpand(exporter_secret, "sec", exporter_context, L) (§5.3), with @noble/hashes' HKDF-Expand. */
function expectedExport(aeadId: number, exporterSecret: Uint8Array, exporterContext: Uint8Array, n: number): Uint8Array {
  const suiteId = Buffer.concat([Buffer.from("HPKE"), Buffer.of(0, 0x20, 0, 0x01, 0, aeadId)]);
  const labeledInfo = Buffer.concat([Buffer.of(n >> 8, n & 0xff), Buffer.from("HPKE-v1"), suiteId, Buffer.from("sec"), exporterContext]);
  return hkdfExpand(sha256, exporterSecret, labeledInfo, n);
}

/**
 * Heap growth in bytes after each of `rounds` calls of `act`, against the heap before the first, each
 * measured after a full collection (V8's gc, exposed at run time).
 */
function heapGrowths(rounds: number, act: (round: number) => void): number[] {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  gc();
  const before = process.memoryUsage().heapUsed;
  return Array.from({ length: rounds }, (_, round) => {
    act(round);
    gc();
    return process.memoryUsage().heapUsed - before;
  });
}

/** `info` with its first 4 bytes set to `i` (in place): a distinct info per i, no new buffer. */
function numbered(info: Uint8Array, i: number): Uint8Array {
  new DataView(info.buffer, info.byteOffset).setUint32(0, i);
  return info;
}

// ---------------------------------------------------------------------------------------
// AEAD ids and names
// ---------------------------------------------------------------------------------------

describe("AEAD_IDS and aeadFromId", () => {
  it("AEAD_IDS holds the RFC 9180 §7.3 id of each AEAD, and aeadFromId maps each id back", () => {
    // Act
    const back = Object.entries(AEAD_IDS).map(([name, id]) => [aeadFromId(id), name]);
    // Assess
    expect(AEAD_IDS).toEqual({ "aes-128-gcm": 0x0001, "chacha20-poly1305": 0x0003 });
    expect(back).toEqual([
      ["aes-128-gcm", "aes-128-gcm"],
      ["chacha20-poly1305", "chacha20-poly1305"],
    ]);
  });

  it.each([0, 2, 4, 0xffff])("an AEAD id of %i is refused with unsupported_aead, naming the id", (id) => {
    // Act
    const e = thrown(() => aeadFromId(id));
    // Assess
    expect(e).toBeInstanceOf(CryptoInputError);
    expect(e).toMatchObject({ code: "unsupported_aead", message: expect.stringContaining(`AEAD id ${id} is not supported`) });
  });
});

describe("setupBaseS / setupBaseR / keySchedule: the AEAD option", () => {
  const unknown = "aes-256-gcm" as HpkeAead;
  const recipient = generateKemKey();
  const { enc } = setupBaseS(recipient.publicKey, INFO);

  it.each([
    ["setupBaseS", () => setupBaseS(recipient.publicKey, INFO, { aead: unknown })],
    ["setupBaseR", () => setupBaseR(recipient, enc, INFO, { aead: unknown })],
    ["hpkeSeal", () => hpkeSeal(recipient.publicKey, INFO, "", text("x"), { aead: unknown })],
    ["keySchedule", () => keySchedule(unknown, randomBytes(32), INFO)],
  ])("%s refuses an AEAD name outside the two suites with unsupported_aead, naming it", (_fn, f) => {
    // Act
    const e = thrown(f);
    // Assess
    expect(e).toBeInstanceOf(CryptoInputError);
    expect(e).toMatchObject({ code: "unsupported_aead", message: expect.stringContaining("AEAD aes-256-gcm is not supported") });
  });
});

// ---------------------------------------------------------------------------------------
// DHKEM(X25519): low-order points and lengths
// ---------------------------------------------------------------------------------------

describe("DHKEM(X25519): low-order points (RFC 9180 §7.1.4)", () => {
  const recipient = generateKemKey();

  it.each(SMALL_ORDER_X25519)("an enc of %s is refused with invalid_enc, as a low-order point", (point) => {
    // Prepare: an independent X25519 (@noble/curves) agrees the point gives the all-zero secret
    expect(() => nobleX25519.scalarMult(randomBytes(32), hex(point))).toThrow();
    // Act
    const e = thrown(() => setupBaseR(recipient, hex(point), INFO));
    // Assess
    expect(e).toBeInstanceOf(HpkeOpenError);
    expect(e).toMatchObject({ code: "invalid_enc", message: expect.stringContaining("low-order point") });
  });

  it.each(SMALL_ORDER_X25519)("a recipient key of %s is refused with CryptoInputError invalid_key, never sealed to", (point) => {
    // Act
    const e = thrown(() => hpkeSeal(hex(point), INFO, "", text("secret")));
    // Assess
    expect(e).toBeInstanceOf(CryptoInputError);
    expect(e).toMatchObject({ code: "invalid_key", message: expect.stringContaining("low-order") });
  });

  it("an all-zero X25519 output is refused even where X25519 itself returns it: invalid_enc for the recipient", () => {
    // Prepare
    const { enc } = setupBaseS(recipient.publicKey, INFO);
    spies.x25519.mockReturnValueOnce(Buffer.alloc(32));
    // Act
    const e = thrown(() => setupBaseR(recipient, enc, INFO));
    // Assess
    expect(e).toBeInstanceOf(HpkeOpenError);
    expect(e).toMatchObject({ code: "invalid_enc", message: expect.stringContaining("all-zero secret") });
  });

  it("an all-zero X25519 output is refused even where X25519 itself returns it: invalid_key for the sender", () => {
    // Prepare
    spies.x25519.mockReturnValueOnce(Buffer.alloc(32));
    // Act
    const e = thrown(() => setupBaseS(recipient.publicKey, INFO));
    // Assess
    expect(e).toBeInstanceOf(CryptoInputError);
    expect(e).toMatchObject({ code: "invalid_key" });
  });

  it("an X25519 output with a single non-zero byte is a secret like any other, not refused", () => {
    // Prepare
    const { enc } = setupBaseS(recipient.publicKey, INFO);
    const almostZero = Buffer.alloc(32);
    almostZero[31] = 1;
    spies.x25519.mockReturnValueOnce(almostZero);
    // Act
    const context = setupBaseR(recipient, enc, INFO);
    // Assess
    expect(spies.x25519).toHaveBeenCalledTimes(2);
    expect(context.seq).toBe(0);
  });
});

describe("DHKEM(X25519): enc and recipient key lengths", () => {
  const recipient = generateKemKey();

  it.each([0, 31, 33, 64])("an enc of %i bytes is refused with invalid_enc, saying it must be 32 bytes", (n) => {
    // Act
    const e = thrown(() => setupBaseR(recipient, randomBytes(n), INFO));
    // Assess
    expect(e).toBeInstanceOf(HpkeOpenError);
    expect(e).toMatchObject({ code: "invalid_enc", message: expect.stringContaining(`enc must be 32 bytes, got ${n}`) });
  });

  it("an enc the X25519 key import refuses is invalid_enc, and no X25519 is computed with it", () => {
    // Prepare
    const { enc } = setupBaseS(recipient.publicKey, INFO);
    spies.x25519.mockClear();
    spies.x25519PublicKeyObjectOnce.mockImplementationOnce(() => {
      throw new CryptoInputError("invalid_key", "refused by this platform");
    });
    // Act
    const e = thrown(() => setupBaseR(recipient, enc, INFO));
    // Assess
    expect(e).toBeInstanceOf(HpkeOpenError);
    expect(e).toMatchObject({ code: "invalid_enc", message: expect.stringContaining("enc is not a valid X25519 public key") });
    expect(spies.x25519).not.toHaveBeenCalled();
  });

  it.each([0, 31, 33, 64])("a recipient public key of %i bytes is refused with invalid_length, naming the recipient key", (n) => {
    // Act
    const e = thrown(() => setupBaseS(randomBytes(n), INFO));
    // Assess
    expect(e).toBeInstanceOf(CryptoInputError);
    expect(e).toMatchObject({
      code: "invalid_length",
      message: expect.stringContaining(`HPKE recipient public key must be 32 bytes, got ${n}`),
    });
  });
});

// ---------------------------------------------------------------------------------------
// Key schedule: info
// ---------------------------------------------------------------------------------------

describe("key schedule: info of any length (the info-hash cache takes up to 128 bytes)", () => {
  for (const aead of AEADS) {
    it.each([0, 1, 127, 128, 129, 200, 1024])(`${aead}, a %i-byte info: sealed here opens with @hpke/core, and back`, async (n) => {
      // Prepare
      const { suite, ours, theirs } = await makeRecipient(aead);
      const info = randomBytes(n);
      const pt = randomBytes(33);
      const aad = text("aad");
      // Act
      const fromUs = hpkeSeal(ours.publicKey, info, aad, pt, { aead });
      const fromThem = await suite.seal({ recipientPublicKey: theirs.publicKey, info }, pt, aad);
      // Assess
      expect(toHex(await suite.open({ recipientKey: theirs.privateKey, enc: fromUs.enc, info }, fromUs.ct, aad))).toBe(toHex(pt));
      expect(toHex(hpkeOpen(ours, new Uint8Array(fromThem.enc), info, aad, new Uint8Array(fromThem.ct), { aead }))).toBe(toHex(pt));
    });
  }

  it("an info seen before gives the same key schedule after 100 other infos have come and gone", () => {
    // Prepare
    const secret = randomBytes(32);
    const first = keySchedule("aes-128-gcm", secret, INFO);
    // Act
    for (let i = 0; i < 100; i++) keySchedule("aes-128-gcm", secret, text(`other info ${i}`));
    const again = keySchedule("aes-128-gcm", secret, INFO);
    // Assess
    expect(toHex(again.keyScheduleContext)).toBe(toHex(first.keyScheduleContext));
    expect(toHex(again.key)).toBe(toHex(first.key));
  });

  it("the info-hash cache is bounded: 30 000 distinct 128-byte infos grow the heap by less than 4 MB", () => {
    // Prepare
    const secret = randomBytes(32);
    const info = randomBytes(128);
    for (let i = 0; i < 1000; i++) keySchedule("chacha20-poly1305", secret, numbered(info, i));
    // Act
    const [grown] = heapGrowths(1, () => {
      for (let i = 1000; i < 31_000; i++) keySchedule("chacha20-poly1305", secret, numbered(info, i));
    });
    // Assess: an unbounded cache would hold 30 000 keys of 130 characters and their hashes (about 12 MB)
    expect(grown).toBeLessThan(4 * 2 ** 20);
  });

  it("infos over 128 bytes are hashed, never cached: 60 distinct 512 KiB infos grow the heap by less than 4 MB", () => {
    // Prepare
    const secret = randomBytes(32);
    const info = randomBytes(512 * 1024);
    keySchedule("chacha20-poly1305", secret, numbered(info, 0));
    // Act: growth after 40 and after 60 infos
    const grown = heapGrowths(2, (round) => {
      for (let i = 1; i <= (round === 0 ? 40 : 20); i++) keySchedule("chacha20-poly1305", secret, numbered(info, round * 100 + i));
    });
    // Assess: a cache of 64 that took them, whatever it held before, would keep 21 or more (over 10 MB) at one of the two
    expect(Math.max(...grown)).toBeLessThan(4 * 2 ** 20);
  });
});

// ---------------------------------------------------------------------------------------
// Contexts: sequence numbers
// ---------------------------------------------------------------------------------------

describe("context: nonces at large sequence numbers (RFC 9180 §5.2)", () => {
  it("prepare: the nonce this file expects matches every RFC 9180 Appendix A nonce", () => {
    // Act
    const got = VECTORS.flatMap((v) => v.encryptions.map((e) => toHex(expectedNonce(hex(v.base_nonce), Number(e.sequence_number)))));
    // Assess
    expect(got).toEqual(VECTORS.flatMap((v) => v.encryptions.map((e) => e.nonce)));
  });

  const seqs = [2 ** 32 - 1, 2 ** 32, 2 ** 40 + 0x01_0203, 2 ** 48 + 2 ** 47 + 5, MAX_SEQ - 1];

  for (const v of VECTORS) {
    const aead = aeadFromId(v.aead_id);
    const e0 = v.encryptions[0]!;

    it.each(seqs)(`${aead}, the RFC A.1/A.2 keys at sequence number %i: ct is AEAD under base_nonce XOR seq, and opens`, (seq) => {
      // Prepare
      const { enc, context: sender } = setupBaseS(hex(v.pkRm), hex(v.info), { aead, ikmE: hex(v.ikmE) });
      const recipient = atSeq(setupBaseR(hex(v.skRm), enc, hex(v.info), { aead }), seq);
      atSeq(sender, seq);
      // Act
      const ct = sender.seal(hex(e0.aad), hex(e0.pt));
      const pt = recipient.open(hex(e0.aad), ct);
      // Assess
      expect(toHex(ct)).toBe(expectedCt(aead, hex(v.key), expectedNonce(hex(v.base_nonce), seq), hex(e0.aad), hex(e0.pt)));
      expect(toHex(pt)).toBe(e0.pt);
      expect([sender.seq, recipient.seq]).toEqual([seq + 1, seq + 1]);
    });
  }

  for (const aead of AEADS) {
    it(`${aead}: at sequence numbers past 2^32, @hpke/core opens ours and we open theirs`, async () => {
      // Prepare
      const { suite, ours, theirs } = await makeRecipient(aead);
      const theirSender = await suite.createSenderContext({ recipientPublicKey: theirs.publicKey, info: INFO });
      const ourRecipient = setupBaseR(ours, new Uint8Array(theirSender.enc), INFO, { aead });
      const ourSender = setupBaseS(ours.publicKey, INFO, { aead });
      const theirRecipient = await suite.createRecipientContext({ recipientKey: theirs.privateKey, enc: ourSender.enc, info: INFO });
      for (const seq of seqs) {
        const pt = text(`message ${seq}`);
        const aad = text(`aad ${seq}`);
        theirsAtSeq(theirSender, seq);
        theirsAtSeq(theirRecipient, seq);
        atSeq(ourRecipient, seq);
        atSeq(ourSender.context, seq);
        // Act
        const openedByUs = ourRecipient.open(aad, new Uint8Array(await theirSender.seal(pt, aad)));
        const openedByThem = await theirRecipient.open(ourSender.context.seal(aad, pt), aad);
        // Assess
        expect(toHex(openedByUs)).toBe(toHex(pt));
        expect(toHex(openedByThem)).toBe(toHex(pt));
      }
    });
  }
});

describe("context: the sequence limit (RFC 9180 §5.2 IncrementSeq, here 2^53 - 1)", () => {
  for (const aead of AEADS) {
    it(`${aead}: seal works at 2^53 - 2, then refuses with sequence_overflow at 2^53 - 1 and stays there`, async () => {
      // Prepare
      const { suite, ours, theirs } = await makeRecipient(aead);
      const { enc, context: sender } = setupBaseS(ours.publicKey, INFO, { aead });
      const theirRecipient = theirsAtSeq(
        await suite.createRecipientContext({ recipientKey: theirs.privateKey, enc, info: INFO }),
        MAX_SEQ - 1,
      );
      atSeq(sender, MAX_SEQ - 1);
      // Act
      const last = sender.seal("", text("last"));
      const e = thrown(() => sender.seal("", text("one too many")));
      // Assess
      expect(toHex(await theirRecipient.open(last, new Uint8Array(0)))).toBe(toHex(text("last")));
      expect(e).toBeInstanceOf(CryptoInputError);
      expect(e).toMatchObject({ code: "sequence_overflow", message: expect.stringContaining("sequence number exhausted") });
      expect(sender.seq).toBe(MAX_SEQ);
      expect(thrown(() => sender.seal("", text("still too many")))).toMatchObject({ code: "sequence_overflow" });
      expect(sender.seq).toBe(MAX_SEQ);
    });

    it(`${aead}: open at 2^53 - 1 authenticates @hpke/core's message but refuses it with sequence_overflow`, async () => {
      // Prepare
      const { suite, ours, theirs } = await makeRecipient(aead);
      const theirSender = theirsAtSeq(await suite.createSenderContext({ recipientPublicKey: theirs.publicKey, info: INFO }), MAX_SEQ - 1);
      const recipient = atSeq(setupBaseR(ours, new Uint8Array(theirSender.enc), INFO, { aead }), MAX_SEQ - 1);
      const last = new Uint8Array(await theirSender.seal(text("last"), new Uint8Array(0)));
      const beyond = new Uint8Array(await theirSender.seal(text("beyond"), new Uint8Array(0)));
      // Act
      const opened = recipient.open("", last);
      const e = thrown(() => recipient.open("", beyond));
      // Assess
      expect(toHex(opened)).toBe(toHex(text("last")));
      expect(e).toMatchObject({ name: "CryptoInputError", code: "sequence_overflow" });
      expect(recipient.seq).toBe(MAX_SEQ);
    });
  }

  it("a ciphertext that does not authenticate is open_failed, with a message naming what may be wrong", () => {
    // Prepare
    const recipient = generateKemKey();
    const { enc, context } = setupBaseS(recipient.publicKey, INFO);
    const ct = context.seal("aad", text("hello"));
    // Act
    const e = thrown(() => setupBaseR(recipient, enc, INFO).open("other aad", ct));
    // Assess
    expect(e).toBeInstanceOf(HpkeOpenError);
    expect(e).toMatchObject({ code: "open_failed", message: expect.stringContaining("did not authenticate") });
  });
});

// ---------------------------------------------------------------------------------------
// Contexts: export (RFC 9180 §5.3)
// ---------------------------------------------------------------------------------------

describe("context.export: lengths", () => {
  for (const aead of AEADS) {
    it(`${aead}: lengths up to 255 equal @hpke/core's export`, async () => {
      // Prepare
      const { suite, ours, theirs } = await makeRecipient(aead);
      const { enc, context } = setupBaseS(ours.publicKey, INFO, { aead });
      const theirRecipient = await suite.createRecipientContext({ recipientKey: theirs.privateKey, enc, info: INFO });
      const exporterContext = text("exporter context");
      for (const n of [1, 31, 32, 33, 64, 65, 255]) {
        // Act
        const exported = context.export(exporterContext, n);
        // Assess
        expect(toHex(exported)).toBe(toHex(await theirRecipient.export(exporterContext, n)));
      }
    });
  }

  it("prepare: the export this file expects matches RFC 9180 A.1.1's exported values", () => {
    // Prepare
    const v = VECTORS[0]!;
    // Act
    const got = ["", "00", "54657374436f6e74657874"].map((c) => toHex(expectedExport(v.aead_id, hex(v.exporter_secret), hex(c), 32)));
    // Assess
    expect(got).toEqual([
      "3853fe2b4035195a573ffc53856e77058e15d9ea064de3e59f4961d0095250ee",
      "2e8f0b54673c7029649d4eb9d5e33bf1872cf76d623ff164ac185da9e88c21a5",
      "e9e43065102c3836401bed8c3c3c75ae46be1639869391d62c61f1ec7af54931",
    ]);
  });

  // @hpke/core 1.9.0 is no oracle from L = 256 on: its buildLabeledInfo writes I2OSP(L, 2) as [0, L & 0xff].
  for (const v of VECTORS) {
    const aead = aeadFromId(v.aead_id);
    it(`${aead}: lengths from 256 up to 255·32 = 8160 (HKDF-SHA256's limit) equal @noble/hashes' HKDF-Expand of the RFC exporter_secret`, () => {
      // Prepare
      const { context } = setupBaseS(hex(v.pkRm), hex(v.info), { aead, ikmE: hex(v.ikmE) });
      const exporterContext = text("exporter context");
      for (const n of [256, 1000, 8159, 8160]) {
        // Act
        const exported = context.export(exporterContext, n);
        // Assess
        expect(toHex(exported)).toBe(toHex(expectedExport(v.aead_id, hex(v.exporter_secret), exporterContext, n)));
      }
    });
  }

  it("a length of 0 exports nothing, without error", () => {
    // Prepare
    const { context } = setupBaseS(generateKemKey().publicKey, INFO);
    // Act
    const out = context.export("ctx", 0);
    // Assess
    expect(out.length).toBe(0);
  });

  it("a length of 8161 (over 255·32) is refused with invalid_length, naming the limit, as @hpke/core refuses it", async () => {
    // Prepare
    const { suite, ours, theirs } = await makeRecipient("chacha20-poly1305");
    const { enc, context } = setupBaseS(ours.publicKey, INFO);
    const theirRecipient = await suite.createRecipientContext({ recipientKey: theirs.privateKey, enc, info: INFO });
    // Act
    const e = thrown(() => context.export("ctx", 8161));
    // Assess
    expect(e).toBeInstanceOf(CryptoInputError);
    expect(e).toMatchObject({ code: "invalid_length", message: expect.stringContaining("8161 exceeds 8160") });
    expect(await rejection(theirRecipient.export(text("ctx"), 8161))).toBeInstanceOf(Error);
  });

  it.each([-1, -0.5, 1.5, Number.NaN, Number.POSITIVE_INFINITY])("a length of %d is refused with invalid_length, naming it", (n) => {
    // Prepare
    const { context } = setupBaseS(generateKemKey().publicKey, INFO);
    // Act
    const e = thrown(() => context.export("ctx", n));
    // Assess
    expect(e).toBeInstanceOf(CryptoInputError);
    expect(e).toMatchObject({
      code: "invalid_length",
      message: expect.stringContaining(`export length must be a non-negative integer, got ${n}`),
    });
  });
});

// ---------------------------------------------------------------------------------------
// aeadSeal / aeadOpen
// ---------------------------------------------------------------------------------------

/** `c` made to hold back the last byte of each update; final() emits it when `emitAtFinal`, else drops it. */
function holdingBack(c: Cipher, emitAtFinal: boolean): Cipher {
  const update = c.update.bind(c) as (data: Buffer) => Buffer;
  const final = c.final.bind(c) as () => Buffer;
  let held = Buffer.alloc(0);
  return Object.assign(c, {
    update: (data: Buffer) => {
      const out = Buffer.concat([held, update(data)]);
      held = out.subarray(out.length - 1);
      return out.subarray(0, out.length - 1);
    },
    final: () => Buffer.concat([emitAtFinal ? held : Buffer.alloc(0), final()]),
  });
}

describe("aeadSeal: output accounting", () => {
  const key = randomBytes(32);
  const nonce = randomBytes(12);
  const aad = text("aad");
  const pt = randomBytes(100);

  it("an output buffer one byte short of ct || tag is refused, saying what it holds and needs", () => {
    // Act
    const e = thrown(() => aeadSeal("chacha20-poly1305", key, nonce, aad, randomBytes(10), Buffer.alloc(25)));
    // Assess
    expect(e).toBeInstanceOf(CryptoInputError);
    expect(e).toMatchObject({ code: "invalid_length", message: expect.stringContaining("holds 25 bytes, needs 26") });
  });

  it("an output buffer of exactly pt + 16 bytes is filled with ct || tag", () => {
    // Prepare
    const out = Buffer.alloc(pt.length + 16);
    // Act
    const sealed = aeadSeal("chacha20-poly1305", key, nonce, aad, pt, out);
    // Assess
    expect(toHex(sealed)).toBe(expectedCt("chacha20-poly1305", key, nonce, aad, pt));
    expect(toHex(out)).toBe(toHex(sealed));
  });

  it("ciphertext a cipher emits only at final() is counted: the tag still follows the whole ciphertext", async () => {
    // Prepare
    const actual = await vi.importActual<typeof import("node:crypto")>("node:crypto");
    spies.createCipheriv.mockImplementationOnce(((...args: Parameters<typeof actual.createCipheriv>) =>
      holdingBack(actual.createCipheriv(...args), true)) as typeof createCipheriv);
    // Act
    const sealed = aeadSeal("chacha20-poly1305", key, nonce, aad, pt);
    // Assess
    expect(toHex(sealed)).toBe(expectedCt("chacha20-poly1305", key, nonce, aad, pt));
  });

  it("a cipher that yields fewer ciphertext bytes than plaintext is an error, not a misplaced tag", async () => {
    // Prepare
    const actual = await vi.importActual<typeof import("node:crypto")>("node:crypto");
    spies.createCipheriv.mockImplementationOnce(((...args: Parameters<typeof actual.createCipheriv>) =>
      holdingBack(actual.createCipheriv(...args), false)) as typeof createCipheriv);
    // Act
    const e = thrown(() => aeadSeal("chacha20-poly1305", key, nonce, aad, pt));
    // Assess
    expect(e).toBeInstanceOf(Error);
    expect((e as Error).message).toContain("produced 99 bytes of ciphertext for 100 of plaintext");
  });
});

describe("aeadOpen: unauthenticated plaintext", () => {
  /** Wraps the next decipher so that the plaintext buffers its update() returns are kept. */
  async function keepPlaintexts(): Promise<Buffer[]> {
    const actual = await vi.importActual<typeof import("node:crypto")>("node:crypto");
    const kept: Buffer[] = [];
    spies.createDecipheriv.mockImplementationOnce(((...args: Parameters<typeof actual.createDecipheriv>) => {
      const d = actual.createDecipheriv(...args);
      const update = d.update.bind(d) as (data: Buffer) => Buffer;
      return Object.assign(d, { update: (data: Buffer) => kept[kept.push(update(data)) - 1]! }) as Decipher;
    }) as typeof createDecipheriv);
    return kept;
  }

  for (const cipher of AEADS) {
    const key = randomBytes(cipher === "aes-128-gcm" ? 16 : 32);
    const nonce = randomBytes(12);
    const pt = text("the requester's prompt key, 32 b");

    it(`${cipher}: the plaintext decrypted before the tag failed is zeroed, and null returned`, async () => {
      // Prepare
      const ct = aeadSeal(cipher, key, nonce, text("aad"), pt);
      const kept = await keepPlaintexts();
      // Act
      const out = aeadOpen(cipher, key, nonce, text("other aad"), ct);
      // Assess
      expect(out).toBeNull();
      expect(kept.map((b) => [b.length, isZero(b)])).toEqual([[pt.length, true]]);
    });

    it(`${cipher}: an authentic ciphertext's plaintext is returned as decrypted (the wrapped buffer is the result)`, async () => {
      // Prepare
      const ct = aeadSeal(cipher, key, nonce, text("aad"), pt);
      const kept = await keepPlaintexts();
      // Act
      const out = aeadOpen(cipher, key, nonce, text("aad"), ct);
      // Assess
      expect(out).toBe(kept[0]);
      expect(toHex(out!)).toBe(toHex(pt));
    });
  }
});
