/**
 * Session 39 attestation review: a reply's proof that its writer unwrapped our request
 * (core/crypto/envelope.ts, "Reply proof"). A tdx worker's Ed25519 key sits on its host's disk;
 * its HPKE key lives in the TD only. The proof key is an RFC 9180 export of the HPKE context that
 * wrapped our data key to that worker, so only the requester and the TD can compute the proof.
 */
import { describe, expect, it } from "vitest";
import { Chacha20Poly1305 } from "@hpke/chacha20poly1305";
import { CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import { RequestEnvelope } from "../../events/envelope";
import { openRequest, openRequestBound, replyProof, replyProofMatches, requestHash, sealRequestBound } from "./envelope";
import { b64u } from "./encoding";
import { deriveKeyPair } from "./hpke";
import { makeHeader, makeWorker } from "./testing";

const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const text = (s: string) => new TextEncoder().encode(s);

/**
 * Known answer: an envelope sealed once (random data key and ephemeral key) to the X25519 key
 * derived from 32 bytes of 7, and what its worker derives from it. Pins the label
 * ("cocoon/v1/reply-proof"), the export's length and the HMAC's message (the request hash's bytes).
 */
const KAT = {
  ikm: "07".repeat(32),
  envelope: {
    header: {
      jobId: "job_01m8pr00fkatqqqqqqqqqqqqq0",
      maxCost: "1",
      maxPromptTokens: 1,
      maxTokens: 1,
      model: "m",
      replyKey: "K".repeat(43),
      requester: "R".repeat(43),
      v: 1,
    },
    keys: [
      {
        ct: "JuYrUuqQuPsBGF1YZKzaNtdQn4gAAyb36PVeo0wAZkTmr7BsDYcT6e0jqJlnB6Mx",
        enc: "WcFYtNwft9i57nmY7HZTtwSDW-AooVhExRD4o3hKWUc",
        workerId: "W".repeat(43),
      },
    ],
    nonce: "X-m4j00-e9-1_gjz",
    payload: "WCw93ow-EG7c1HEsz17SDnfu",
  },
  requestHash: "e2ca41d4e3b2d1333f130dba48bda70cf251d20695c6fa156f603f3dafb8fb3b",
  proofKey: "5adc06492c05e5770a36457b5c17f2dc7b915576dc8c264abe00d0d7e1a2cd60",
  proof: "qexrH4zDgRNrwYPyrWgChcPCnGdnTKX6kOMcZnsn7AE",
};

describe("reply proof: the format, pinned", () => {
  it("a fixed envelope and worker key give a fixed proof key and proof", () => {
    // Prepare
    const env = RequestEnvelope.parse(KAT.envelope);
    const kem = deriveKeyPair(Buffer.from(KAT.ikm, "hex"));
    // Act
    const { plaintext, proofKey } = openRequestBound(env, { workerId: "W".repeat(43), kem });
    // Assess
    expect(new TextDecoder().decode(plaintext)).toBe("hi");
    expect(requestHash(env)).toBe(KAT.requestHash);
    expect(toHex(proofKey)).toBe(KAT.proofKey);
    expect(replyProof(proofKey, KAT.requestHash)).toBe(KAT.proof);
  });

  it("the proof key is the request-key context's RFC 9180 export, as an independent HPKE implementation computes it", async () => {
    // Prepare
    const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Chacha20Poly1305() });
    const theirs = await suite.kem.deriveKeyPair(Buffer.from(KAT.ikm, "hex"));
    // Act
    const ctx = await suite.createRecipientContext({
      recipientKey: theirs.privateKey,
      enc: b64u.decode(KAT.envelope.keys[0]!.enc),
      info: text("cocoon/v1/request-key"),
    });
    const exported = await ctx.export(text("cocoon/v1/reply-proof").buffer as ArrayBuffer, 32);
    // Assess
    expect(toHex(new Uint8Array(exported))).toBe(KAT.proofKey);
  });

  it("the proof is HMAC-SHA256(proofKey, request hash bytes), base64url: 43 characters", () => {
    // Assess: computed outside this code (Python's hmac) for a key of 32 ones and a hash of 32 zeros
    expect(replyProof(Buffer.alloc(32, 1), "00".repeat(32))).toBe("xQHZpXXYK7d1C0HGOOR2NSSFXO9XlBv26U-4Golydz8");
  });
});

describe("reply proof: who can compute it", () => {
  function sealedToTwo() {
    const a = makeWorker();
    const b = makeWorker();
    const sealed = sealRequestBound({
      header: makeHeader(),
      plaintext: text("question"),
      recipients: [a, b].map((w) => ({ workerId: w.workerId, hpkePublicKey: w.kem.publicKey })),
    });
    return { a, b, ...sealed, hash: requestHash(sealed.envelope) };
  }

  it("the requester's proof key of each worker is the one that worker derives by unwrapping", () => {
    // Prepare
    const { a, b, envelope, proofKeys } = sealedToTwo();
    // Act
    const fromA = openRequestBound(envelope, { workerId: a.workerId, kem: a.kem }).proofKey;
    const fromB = openRequestBound(envelope, { workerId: b.workerId, kem: b.kem }).proofKey;
    // Assess
    expect([toHex(fromA), toHex(fromB)]).toEqual([toHex(proofKeys.get(a.workerId)!), toHex(proofKeys.get(b.workerId)!)]);
    expect(new TextDecoder().decode(openRequest(envelope, { workerId: a.workerId, kem: a.kem }))).toBe("question");
  });

  it("per worker: a co-candidate that unwrapped the same data key cannot prove in another worker's name", () => {
    // Prepare
    const { a, b, envelope, proofKeys, hash } = sealedToTwo();
    const byB = replyProof(openRequestBound(envelope, { workerId: b.workerId, kem: b.kem }).proofKey, hash);
    // Act, Assess
    expect(replyProofMatches(proofKeys.get(b.workerId)!, hash, byB)).toBe(true);
    expect(replyProofMatches(proofKeys.get(a.workerId)!, hash, byB)).toBe(false);
  });

  it("per request: a proof made for another request does not match, nor does none or garbage", () => {
    // Prepare
    const one = sealedToTwo();
    const key = one.proofKeys.get(one.a.workerId)!;
    const other = "f".repeat(64);
    // Act, Assess
    expect(replyProofMatches(key, one.hash, replyProof(key, one.hash))).toBe(true);
    expect(replyProofMatches(key, one.hash, replyProof(key, other))).toBe(false);
    expect(replyProofMatches(key, one.hash, undefined)).toBe(false);
    expect(replyProofMatches(key, one.hash, "not base64url!")).toBe(false);
    expect(replyProofMatches(key, one.hash, replyProof(key, one.hash).slice(0, 42))).toBe(false);
  });
});
