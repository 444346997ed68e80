import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import { Chacha20Poly1305 } from "@hpke/chacha20poly1305";
import { describe, expect, it } from "vitest";
import vectors from "./fixtures/rfc9180-base-x25519.json";
import { CryptoInputError, HpkeOpenError } from "./errors";
import { createCipheriv } from "node:crypto";
import {
  aeadFromId,
  aeadOpen,
  aeadSeal,
  decapsulate,
  deriveKeyPair,
  hpkeOpen,
  hpkeSeal,
  keySchedule,
  setupBaseR,
  setupBaseS,
  type HpkeAead,
  type HpkeContext,
} from "./hpke";
import { generateKemKey, kemKeyFromPrivate, kemPrivateRaw } from "./keys";
import { randomBytes } from "./encoding";

interface Vector {
  mode: number;
  kem_id: number;
  kdf_id: number;
  aead_id: number;
  info: string;
  ikmE: string;
  pkEm: string;
  skEm: string;
  ikmR: string;
  pkRm: string;
  skRm: string;
  enc: string;
  shared_secret: string;
  key_schedule_context: string;
  secret: string;
  key: string;
  base_nonce: string;
  exporter_secret: string;
  encryptions: Array<{ sequence_number: string; pt: string; aad: string; nonce: string; ct: string }>;
}

const VECTORS = vectors as Vector[];
const hex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));
const toHex = (b: Uint8Array | ArrayBuffer) => Buffer.from(b instanceof ArrayBuffer ? new Uint8Array(b) : b).toString("hex");

/** Advance a sender/recipient pair in lockstep to sequence number `seq` (dummy messages). */
function advance(s: HpkeContext, r: HpkeContext, seq: number) {
  while (s.seq < seq) r.open("", s.seal("", new Uint8Array(0)));
}

describe("hpke: RFC 9180 Appendix A vectors (Base, DHKEM(X25519), HKDF-SHA256)", () => {
  it("prepare: the fixture holds both AEAD suites in Base mode", () => {
    // Assess
    expect(VECTORS.map((v) => [v.mode, v.kem_id, v.kdf_id, v.aead_id])).toEqual([
      [0, 32, 1, 1],
      [0, 32, 1, 3],
    ]);
  });

  for (const v of VECTORS) {
    const aead: HpkeAead = aeadFromId(v.aead_id);
    describe(`aead ${aead}`, () => {
      it("derives skEm/pkEm and skRm/pkRm from ikmE/ikmR", () => {
        // Act
        const e = deriveKeyPair(hex(v.ikmE));
        const r = deriveKeyPair(hex(v.ikmR));
        // Assess
        expect(toHex(kemPrivateRaw(e))).toBe(v.skEm);
        expect(toHex(e.publicKey)).toBe(v.pkEm);
        expect(toHex(kemPrivateRaw(r))).toBe(v.skRm);
        expect(toHex(r.publicKey)).toBe(v.pkRm);
      });

      it("encapsulates to enc, decapsulates the shared secret, and reproduces the key schedule", () => {
        // Prepare
        const skR = kemKeyFromPrivate(hex(v.skRm));
        // Act
        const { enc } = setupBaseS(hex(v.pkRm), hex(v.info), { aead, ikmE: hex(v.ikmE) });
        const shared = decapsulate(enc, skR);
        const ks = keySchedule(aead, shared, hex(v.info));
        // Assess
        expect(toHex(enc)).toBe(v.enc);
        expect(toHex(shared)).toBe(v.shared_secret);
        expect(toHex(ks.keyScheduleContext)).toBe(v.key_schedule_context);
        expect(toHex(ks.secret)).toBe(v.secret);
        expect(toHex(ks.key)).toBe(v.key);
        expect(toHex(ks.baseNonce)).toBe(v.base_nonce);
        expect(toHex(ks.exporterSecret)).toBe(v.exporter_secret);
      });

      it(`seals and opens all ${v.encryptions.length} encryptions at their sequence numbers`, () => {
        // Prepare
        const { enc, context: sender } = setupBaseS(hex(v.pkRm), hex(v.info), { aead, ikmE: hex(v.ikmE) });
        const recipient = setupBaseR(hex(v.skRm), enc, hex(v.info), { aead });
        const seqs: number[] = [];
        for (const e of v.encryptions) {
          const seq = Number(e.sequence_number);
          advance(sender, recipient, seq);
          // Act
          const ct = sender.seal(hex(e.aad), hex(e.pt));
          const pt = recipient.open(hex(e.aad), hex(e.ct));
          // Assess
          expect(toHex(ct)).toBe(e.ct);
          expect(toHex(pt)).toBe(e.pt);
          seqs.push(seq);
        }
        expect(seqs).toEqual([0, 1, 2, 4, 255, 256]);
        expect(sender.seq).toBe(257);
        expect(recipient.seq).toBe(257);
      });

      it("a failed open leaves the sequence number where it was", () => {
        // Prepare
        const e0 = v.encryptions[0]!;
        const recipient = setupBaseR(kemKeyFromPrivate(hex(v.skRm)), hex(v.enc), hex(v.info), { aead });
        const bad = hex(e0.ct);
        bad[0]! ^= 1;
        // Act
        const err = (() => {
          try {
            recipient.open(hex(e0.aad), bad);
          } catch (e) {
            return e;
          }
        })();
        // Assess
        expect(err).toBeInstanceOf(HpkeOpenError);
        expect((err as HpkeOpenError).code).toBe("open_failed");
        expect(recipient.seq).toBe(0);
        expect(toHex(recipient.open(hex(e0.aad), hex(e0.ct)))).toBe(e0.pt);
      });
    });
  }

  it("exports the RFC 9180 A.1.1 values (AES-128-GCM suite)", () => {
    // Prepare
    const v = VECTORS[0]!;
    const { enc, context } = setupBaseS(hex(v.pkRm), hex(v.info), { aead: "aes-128-gcm", ikmE: hex(v.ikmE) });
    const recipient = setupBaseR(hex(v.skRm), enc, hex(v.info), { aead: "aes-128-gcm" });
    // Act
    const got = ["", "00", "54657374436f6e74657874"].map((c) => toHex(context.export(hex(c), 32)));
    // Assess
    expect(got).toEqual([
      "3853fe2b4035195a573ffc53856e77058e15d9ea064de3e59f4961d0095250ee",
      "2e8f0b54673c7029649d4eb9d5e33bf1872cf76d623ff164ac185da9e88c21a5",
      "e9e43065102c3836401bed8c3c3c75ae46be1639869391d62c61f1ec7af54931",
    ]);
    expect(toHex(recipient.export(hex("00"), 32))).toBe(got[1]);
  });
});

// ---------------------------------------------------------------------------------------
// Differential: @hpke/core (WebCrypto X25519 + its own HKDF/AEADs)
// ---------------------------------------------------------------------------------------

function theirSuite(aead: HpkeAead) {
  return new CipherSuite({
    kem: new DhkemX25519HkdfSha256(),
    kdf: new HkdfSha256(),
    aead: aead === "aes-128-gcm" ? new Aes128Gcm() : new Chacha20Poly1305(),
  });
}

describe("hpke: differential against @hpke/core", () => {
  for (const aead of ["chacha20-poly1305", "aes-128-gcm"] as const) {
    for (const size of [0, 1, 1024, 70_000]) {
      it(`${aead}, ${size}-byte plaintext: ours opens theirs and theirs opens ours`, async () => {
        // Prepare
        const suite = theirSuite(aead);
        const ikm = randomBytes(32);
        const theirs = await suite.kem.deriveKeyPair(ikm);
        const ours = deriveKeyPair(ikm);
        const info = randomBytes(20);
        const aad = randomBytes(13);
        const pt = randomBytes(size);
        expect(toHex(await suite.kem.serializePublicKey(theirs.publicKey))).toBe(toHex(ours.publicKey));
        // Act
        const fromThem = await suite.seal({ recipientPublicKey: theirs.publicKey, info }, pt, aad);
        const openedByUs = hpkeOpen(ours, new Uint8Array(fromThem.enc), info, aad, new Uint8Array(fromThem.ct), { aead });
        const fromUs = hpkeSeal(ours.publicKey, info, aad, pt, { aead });
        const openedByThem = await suite.open({ recipientKey: theirs.privateKey, enc: fromUs.enc, info }, fromUs.ct, aad);
        // Assess
        expect(toHex(openedByUs)).toBe(toHex(pt));
        expect(toHex(openedByThem)).toBe(toHex(pt));
      });
    }

    it(`${aead}: multi-message contexts and exports agree both ways`, async () => {
      // Prepare
      const suite = theirSuite(aead);
      const ikm = randomBytes(32);
      const theirs = await suite.kem.deriveKeyPair(ikm);
      const ours = deriveKeyPair(ikm);
      const info = new TextEncoder().encode("cocoon/v1/test");
      const sender = await suite.createSenderContext({ recipientPublicKey: theirs.publicKey, info });
      const recipient = setupBaseR(ours, new Uint8Array(sender.enc), info, { aead });
      const ourSender = setupBaseS(ours.publicKey, info, { aead });
      const theirRecipient = await suite.createRecipientContext({ recipientKey: theirs.privateKey, enc: ourSender.enc, info });
      // Act / Assess
      for (let i = 0; i < 5; i++) {
        const pt = randomBytes(100 + i);
        const aad = new TextEncoder().encode(`msg-${i}`);
        expect(toHex(recipient.open(aad, new Uint8Array(await sender.seal(pt, aad))))).toBe(toHex(pt));
        expect(toHex(await theirRecipient.open(ourSender.context.seal(aad, pt), aad))).toBe(toHex(pt));
      }
      const ctx = new TextEncoder().encode("exporter");
      expect(toHex(recipient.export(ctx, 32))).toBe(toHex(await sender.export(ctx, 32)));
      expect(toHex(ourSender.context.export(ctx, 100))).toBe(toHex(await theirRecipient.export(ctx, 100)));
    });
  }
});

// ---------------------------------------------------------------------------------------
// Failure paths
// ---------------------------------------------------------------------------------------

function openError(f: () => unknown): HpkeOpenError {
  try {
    f();
  } catch (e) {
    if (e instanceof HpkeOpenError) return e;
    throw e;
  }
  throw new Error("expected HpkeOpenError, nothing was thrown");
}

describe("hpke: tampering and bad input", () => {
  const info = new TextEncoder().encode("cocoon/v1/request-key");
  const aad = new TextEncoder().encode("header");
  const pt = randomBytes(32);
  const recipient = generateKemKey();
  const sealed = hpkeSeal(recipient.publicKey, info, aad, pt);
  const flip = (b: Uint8Array, i = 0) => {
    const c = new Uint8Array(b);
    c[i]! ^= 0x01;
    return c;
  };

  it("round trips with the default AEAD (ChaCha20-Poly1305) and a raw private key", () => {
    // Act
    const out = hpkeOpen(kemPrivateRaw(recipient), sealed.enc, info, aad, sealed.ct);
    // Assess
    expect(toHex(out)).toBe(toHex(pt));
    expect(sealed.enc.length).toBe(32);
    expect(sealed.ct.length).toBe(32 + 16);
  });

  it.each([
    ["enc", () => hpkeOpen(recipient, flip(sealed.enc, 5), info, aad, sealed.ct)],
    ["ct", () => hpkeOpen(recipient, sealed.enc, info, aad, flip(sealed.ct, 3))],
    ["tag", () => hpkeOpen(recipient, sealed.enc, info, aad, flip(sealed.ct, sealed.ct.length - 1))],
    ["aad", () => hpkeOpen(recipient, sealed.enc, info, flip(aad), sealed.ct)],
    ["info", () => hpkeOpen(recipient, sealed.enc, flip(info), aad, sealed.ct)],
    ["recipient key", () => hpkeOpen(generateKemKey(), sealed.enc, info, aad, sealed.ct)],
    ["aead", () => hpkeOpen(recipient, sealed.enc, info, aad, sealed.ct, { aead: "aes-128-gcm" })],
    ["truncated ct", () => hpkeOpen(recipient, sealed.enc, info, aad, sealed.ct.subarray(0, 10))],
  ])("a changed %s gives HpkeOpenError open_failed", (_what, f) => {
    // Act
    const err = openError(f);
    // Assess
    expect(err.code).toBe("open_failed");
  });

  it("an enc of the wrong length gives invalid_enc", () => {
    // Act
    const err = openError(() => hpkeOpen(recipient, sealed.enc.subarray(0, 31), info, aad, sealed.ct));
    // Assess
    expect(err.code).toBe("invalid_enc");
  });

  it("a low-order enc (all zeros) gives invalid_enc", () => {
    // Act
    const err = openError(() => hpkeOpen(recipient, new Uint8Array(32), info, aad, sealed.ct));
    // Assess
    expect(err.code).toBe("invalid_enc");
  });

  it("sealing to a bad recipient key is a CryptoInputError, not a silent success", () => {
    // Act / Assess
    expect(() => hpkeSeal(new Uint8Array(31), info, aad, pt)).toThrow(
      expect.objectContaining({ name: "CryptoInputError", code: "invalid_length" }),
    );
    expect(() => hpkeSeal(new Uint8Array(32), info, aad, pt)).toThrow(
      expect.objectContaining({ name: "CryptoInputError", code: "invalid_key" }),
    );
  });

  it("an unknown AEAD id is refused", () => {
    // Act / Assess
    expect(() => aeadFromId(2)).toThrow(CryptoInputError);
  });
});

describe("aeadSeal / aeadOpen (the envelope payload's AEAD, sealed in 64 KiB chunks)", () => {
  /** One update over the whole plaintext: what aeadSeal must equal byte for byte. */
  function oneShot(cipher: HpkeAead, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array): Buffer {
    const c = createCipheriv(cipher as "aes-128-gcm", key, nonce, { authTagLength: 16 });
    c.setAAD(aad, { plaintextLength: pt.length });
    const body = c.update(pt);
    c.final();
    return Buffer.concat([body, c.getAuthTag()]);
  }
  const sizes = [0, 1, 65_535, 65_536, 65_537, 3 * 65_536 + 5];

  for (const cipher of ["chacha20-poly1305", "aes-128-gcm"] as const) {
    it.each(sizes)(`${cipher}, %i bytes: equals a one-shot seal, into a new buffer or a larger given one, and opens`, (size) => {
      // Prepare
      const key = randomBytes(cipher === "aes-128-gcm" ? 16 : 32);
      const nonce = randomBytes(12);
      const aad = randomBytes(40);
      const pt = randomBytes(size);
      const out = Buffer.alloc(size + 100, 0xee);
      // Act
      const fresh = aeadSeal(cipher, key, nonce, aad, pt);
      const given = aeadSeal(cipher, key, nonce, aad, pt, out);
      // Assess
      const expected = oneShot(cipher, key, nonce, aad, pt);
      expect(Buffer.from(fresh).equals(expected)).toBe(true);
      expect(Buffer.from(given).equals(expected)).toBe(true);
      expect(given.buffer).toBe(out.buffer);
      expect(out[size + 16]).toBe(0xee);
      expect(Buffer.from(aeadOpen(cipher, key, nonce, aad, given)!).equals(pt)).toBe(true);
    });
  }

  it("an output buffer too small for ct || tag is refused, not overrun", () => {
    // Act / Assess
    expect(() =>
      aeadSeal("chacha20-poly1305", randomBytes(32), randomBytes(12), new Uint8Array(0), randomBytes(10), Buffer.alloc(25)),
    ).toThrow(expect.objectContaining({ name: "CryptoInputError", code: "invalid_length" }));
  });
});
