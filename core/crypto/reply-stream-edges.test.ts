/**
 * Edges of the reply stream (core/crypto/reply-stream.ts) that a round trip cannot see.
 *
 * Sealer and opener share chunkNonce and chunkAad, so a wrong derivation on both sides still
 * round-trips: a nonce that repeats from chunk 256 on (a keystream reused, a confidentiality
 * break) passes every round-trip test. Here the sealer's chunks are checked byte for byte
 * against the construction rebuilt from its description alone: the stream key and base nonce
 * exported from an HPKE context of @hpke/core (not our hpke.ts), chunk i sealed with
 * node:crypto's ChaCha20-Poly1305 under RFC 9180 §5.2's ComputeNonce (base_nonce XOR
 * I2OSP(i, Nn), computed on a 96-bit BigInt) with AAD "cocoon/v1/reply-chunk\n" + jobId + "\n" +
 * i + "\n" + final flag. Then the refusals, each by its code and message.
 */
import { createCipheriv } from "node:crypto";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { Chacha20Poly1305 } from "@hpke/chacha20poly1305";
import { CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import type { EnvelopeHeader } from "../../events/envelope";
import vectors from "./fixtures/reply-stream-v1.json";
import { b64u, canonicalJson } from "./encoding";
import { CryptoInputError, EnvelopeError } from "./errors";
import type * as Hpke from "./hpke";
import { deriveKeyPair, setupBaseR } from "./hpke";
import { generateKemKey, sign, signingKeyFromSeed, type KemKeyPair } from "./keys";
import { chunkNonce, MAX_CHUNK_PLAINTEXT, openChunkedReply, openerMessage, ReplyStreamOpener, ReplyStreamSealer } from "./reply-stream";
import { makeHeader, makeWorker, thrown } from "./testing";

// setupBaseR is watched (it still runs): which suite the opener asks for, and what it does
// with an error that is not an HpkeOpenError.
vi.mock("./hpke", async (importOriginal) => {
  const actual = await importOriginal<typeof Hpke>();
  return { ...actual, setupBaseR: vi.fn(actual.setupBaseR) };
});

const hex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));
const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

function cryptoInputError(f: () => unknown): CryptoInputError {
  const e = thrown(f);
  if (e instanceof CryptoInputError) return e;
  throw e;
}

function envelopeError(f: () => unknown): EnvelopeError {
  const e = thrown(f);
  if (e instanceof EnvelopeError) return e;
  throw e;
}

// ---------------------------------------------------------------------------------------
// The construction, rebuilt without reply-stream.ts
// ---------------------------------------------------------------------------------------

interface StreamKeys {
  key: Uint8Array;
  baseNonce: Uint8Array;
}

/** RFC 9180 §5.2 ComputeNonce: base_nonce XOR I2OSP(seq, 12), on 96-bit integers. */
function refNonce(baseNonce: Uint8Array, seq: number): Buffer {
  const n = BigInt(`0x${Buffer.from(baseNonce).toString("hex")}`) ^ BigInt(seq);
  return Buffer.from(n.toString(16).padStart(24, "0"), "hex");
}

function refAad(jobId: string, seq: number, final: boolean): Buffer {
  return Buffer.from(`cocoon/v1/reply-chunk\n${jobId}\n${seq}\n${final ? "1" : "0"}`, "utf8");
}

/** Chunk `seq` as base64url: ChaCha20-Poly1305(key, base XOR seq, pt, aad) = ct || tag. */
function refChunk(keys: StreamKeys, jobId: string, seq: number, final: boolean, pt: Uint8Array): string {
  const c = createCipheriv("chacha20-poly1305", keys.key, refNonce(keys.baseNonce, seq), { authTagLength: 16 });
  c.setAAD(refAad(jobId, seq, final), { plaintextLength: pt.length });
  return Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]).toString("base64url");
}

/** The stream key and base nonce, exported from a recipient context of @hpke/core. */
async function refStreamKeys(ikmR: Uint8Array, enc: string, header: EnvelopeHeader, workerId: string): Promise<StreamKeys> {
  const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Chacha20Poly1305() });
  const recipient = await suite.kem.deriveKeyPair(ikmR);
  const ctx = await suite.createRecipientContext({
    recipientKey: recipient.privateKey,
    enc: b64u.decode(enc),
    info: text(`cocoon/v1/reply-stream\n${canonicalJson(header)}\n${workerId}`),
  });
  return {
    key: new Uint8Array(await ctx.export(text("cocoon/v1/reply-stream/key"), 32)),
    baseNonce: new Uint8Array(await ctx.export(text("cocoon/v1/reply-stream/nonce"), 12)),
  };
}

/** The fixture's inputs (core/crypto/fixtures/reply-stream-v1.json): header, worker, reply key, ephemeral key. */
function makeVectorInputs(over: Partial<EnvelopeHeader> = {}) {
  const ikmR = hex(vectors.inputs.ikmR);
  const worker = signingKeyFromSeed(hex(vectors.inputs.workerSeed));
  const header = { ...(vectors.inputs.header as EnvelopeHeader), ...over };
  const replyKey = deriveKeyPair(ikmR);
  const sealer = new ReplyStreamSealer(header, worker.id, worker, { ikmE: hex(vectors.inputs.ikmE) });
  return { ikmR, worker, header, replyKey, sealer };
}

/** A random stream of `n` chunks ("chunk i"), the last one final. */
function makeStream(n = 3) {
  const worker = makeWorker();
  const replyKey = generateKemKey();
  const header = makeHeader({ replyKey: b64u.encode(replyKey.publicKey) });
  const sealer = new ReplyStreamSealer(header, worker.workerId, worker.signing);
  const sealed = Array.from({ length: n }, (_, i) => sealer.seal(text(`chunk ${i}`), i === n - 1));
  const openWith = (opener = sealer.opener, key: KemKeyPair = replyKey) => new ReplyStreamOpener(header, worker.workerId, opener, key);
  return { worker, replyKey, header, sealer, sealed, openWith };
}

/** An opener for `enc` that the worker did sign: it passes the signature check, whatever enc holds. */
function signedOpener(s: ReturnType<typeof makeStream>, enc: Uint8Array) {
  const encS = b64u.encode(enc);
  return { enc: encS, sig: b64u.encode(sign(s.worker.signing, openerMessage(s.header, s.worker.workerId, encS))) };
}

// ---------------------------------------------------------------------------------------
// Nonces: known answers far past the fixture's three chunks
// ---------------------------------------------------------------------------------------

describe("reply stream edges: every chunk is ChaCha20-Poly1305 under base nonce XOR seq (RFC 9180 §5.2), byte for byte", () => {
  // One stream of 65 537 chunks, all with the same plaintext: equal ciphertext bodies would
  // mean an equal keystream, i.e. a reused nonce.
  const COUNT = 65_537;
  const PT = text("the same plaintext in every chunk: a reused nonce shows as a repeated body");
  let v: ReturnType<typeof makeVectorInputs>;
  let keys: StreamKeys;
  let sealed: Array<{ seq: number; data: string }>;

  beforeAll(async () => {
    v = makeVectorInputs();
    sealed = Array.from({ length: COUNT }, (_, i) => v.sealer.seal(PT, i === COUNT - 1));
    keys = await refStreamKeys(v.ikmR, v.sealer.opener.enc, v.header, v.worker.id);
  });

  it("the independently derived stream key and base nonce are the fixture's", () => {
    // Assess
    expect(Buffer.from(keys.key).toString("hex")).toBe(vectors.derived.key);
    expect(Buffer.from(keys.baseNonce).toString("hex")).toBe(vectors.derived.baseNonce);
  });

  it.each([0, 1, 2, 255, 256, 257, 65_535, 65_536])("the sealer's chunk %d equals the independent computation", (seq) => {
    // Prepare
    const expected = refChunk(keys, v.header.jobId, seq, seq === COUNT - 1, PT);
    // Act
    const chunk = sealed[seq]!;
    // Assess
    expect(chunk.seq).toBe(seq);
    expect(chunk.data).toBe(expected);
  });

  it("no two of the 65 537 chunks share a keystream (no nonce reuse across the byte boundaries)", () => {
    // Act
    const bodies = new Set(sealed.map((c) => Buffer.from(b64u.decode(c.data)).subarray(0, PT.length).toString("hex")));
    // Assess
    expect(bodies.size).toBe(COUNT);
    expect(v.sealer.seq).toBe(COUNT);
  });

  it.each([1, 256, 65_536, 16_777_216, 2 ** 32 + 5, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER])(
    "the opener opens a chunk sealed independently at seq %d, and there only",
    (seq) => {
      // Prepare
      const plaintext = text(`chunk at ${seq}`);
      const data = refChunk(keys, v.header.jobId, seq, false, plaintext);
      const final = refChunk(keys, v.header.jobId, seq, true, plaintext);
      const o = new ReplyStreamOpener(v.header, v.worker.id, v.sealer.opener, v.replyKey);
      // Act
      const opened = str(o.open(seq, false, data));
      const openedFinal = str(o.open(seq, true, final));
      // Assess
      expect(opened).toBe(`chunk at ${seq}`);
      expect(openedFinal).toBe(`chunk at ${seq}`);
      expect(envelopeError(() => o.open(seq - 1, false, data)).code).toBe("reply_auth_failed");
      expect(envelopeError(() => o.open(seq, true, data)).code).toBe("reply_auth_failed");
    },
  );

  it("chunkNonce gives seqs 1, 256, 65 536 and 2^40+3 distinct nonces, each base XOR seq", () => {
    // Prepare
    const seqs = [0, 1, 256, 65_536, 2 ** 40 + 3];
    // Act
    const nonces = seqs.map((seq) => chunkNonce(keys.baseNonce, seq).toString("hex"));
    // Assess
    expect(nonces).toEqual(seqs.map((seq) => refNonce(keys.baseNonce, seq).toString("hex")));
    expect(new Set(nonces).size).toBe(seqs.length);
  });

  it("a header and job id beyond ASCII: the HPKE info and the chunk AAD are their UTF-8 bytes", async () => {
    // Prepare
    const u = makeVectorInputs({ jobId: "job_ünïcødé_日本", model: "modèle/ß-€" });
    const u0 = u.sealer.seal(text("premier"), false);
    const u1 = u.sealer.seal(text("dernier"), true);
    // Act
    const k = await refStreamKeys(u.ikmR, u.sealer.opener.enc, u.header, u.worker.id);
    // Assess
    expect(u0.data).toBe(refChunk(k, u.header.jobId, 0, false, text("premier")));
    expect(u1.data).toBe(refChunk(k, u.header.jobId, 1, true, text("dernier")));
  });
});

// ---------------------------------------------------------------------------------------
// Sequence numbers that are not positions
// ---------------------------------------------------------------------------------------

describe("reply stream edges: a sequence number must be a non-negative safe integer", () => {
  const BAD = [-1, 1.5, Number.NaN, 2 ** 53, Number.POSITIVE_INFINITY];

  it.each(BAD)("chunkNonce refuses seq %d with invalid_length", (seq) => {
    // Prepare
    const base = new Uint8Array(12).fill(7);
    // Act
    const e = cryptoInputError(() => chunkNonce(base, seq));
    // Assess
    expect(e.code).toBe("invalid_length");
    expect(e.message).toBe(`chunk sequence number must be a non-negative integer, got ${seq}`);
  });

  it.each(BAD)("the opener refuses seq %d with invalid_length before trying the chunk", (seq) => {
    // Prepare
    const s = makeStream(1);
    const o = s.openWith();
    // Act
    const e = cryptoInputError(() => o.open(seq, true, s.sealed[0]!.data));
    // Assess
    expect(e.code).toBe("invalid_length");
    expect(e.message).toContain(`got ${seq}`);
  });
});

// ---------------------------------------------------------------------------------------
// The sealer's refusals
// ---------------------------------------------------------------------------------------

describe("reply stream edges: what the sealer refuses", () => {
  it("a header.replyKey that is not base64url: invalid_key", () => {
    // Prepare
    const w = makeWorker();
    const header = makeHeader({ replyKey: "not+base64url/" });
    // Act
    const e = cryptoInputError(() => new ReplyStreamSealer(header, w.workerId, w.signing));
    // Assess
    expect(e.code).toBe("invalid_key");
    expect(e.message).toMatch(/^header\.replyKey is not base64url: /);
  });

  it("a signing key that is not the worker's (its id differs from workerId): invalid_key", () => {
    // Prepare
    const w = makeWorker();
    const other = makeWorker();
    // Act
    const e = cryptoInputError(() => new ReplyStreamSealer(makeHeader(), other.workerId, w.signing));
    // Assess
    expect(e.code).toBe("invalid_key");
    expect(e.message).toBe("the signing key is not this worker's (its id differs from workerId)");
  });

  it("seq is the next chunk's sequence number", () => {
    // Prepare
    const w = makeWorker();
    const sealer = new ReplyStreamSealer(makeHeader(), w.workerId, w.signing);
    // Act
    const before = sealer.seq;
    sealer.seal(text("a"), false);
    const afterOne = sealer.seq;
    sealer.seal(text("b"), true);
    // Assess
    expect([before, afterOne, sealer.seq]).toEqual([0, 1, 2]);
  });

  it("a chunk of MAX_CHUNK_PLAINTEXT bytes is sealed; one byte more is invalid_length and takes no position", () => {
    // Prepare
    const s = makeStream(0);
    const largest = new Uint8Array(MAX_CHUNK_PLAINTEXT).fill(0x61);
    // Act
    const e = cryptoInputError(() => s.sealer.seal(new Uint8Array(MAX_CHUNK_PLAINTEXT + 1), false));
    const seqAfterRefusal = s.sealer.seq;
    const ok = s.sealer.seal(largest, true);
    // Assess
    expect(e.code).toBe("invalid_length");
    expect(e.message).toBe(`a chunk holds at most ${MAX_CHUNK_PLAINTEXT} bytes, got ${MAX_CHUNK_PLAINTEXT + 1}`);
    expect(seqAfterRefusal).toBe(0);
    expect(ok.seq).toBe(0);
    expect(Buffer.from(s.openWith().open(0, true, ok.data)).equals(largest)).toBe(true);
  });

  it("a chunk after the final one, and a reply without a final chunk: sequence_overflow", () => {
    // Prepare
    const done = makeStream(1);
    const w = makeWorker();
    const unfinished = new ReplyStreamSealer(makeHeader(), w.workerId, w.signing);
    unfinished.seal(text("x"), false);
    // Act
    const late = cryptoInputError(() => done.sealer.seal(text("late"), false));
    const early = cryptoInputError(() => unfinished.reply());
    // Assess
    expect(late.code).toBe("sequence_overflow");
    expect(late.message).toBe("the stream already has its final chunk");
    expect(early.code).toBe("sequence_overflow");
    expect(early.message).toBe("the stream has no final chunk yet");
  });
});

// ---------------------------------------------------------------------------------------
// The opener's refusals
// ---------------------------------------------------------------------------------------

describe("reply stream edges: what the opener refuses", () => {
  it.each(["enc", "sig", "workerId"] as const)("an opener whose %s is not base64url: reply_auth_failed", (field) => {
    // Prepare
    const s = makeStream(1);
    const bad = "not+base64url/";
    const opener = { ...s.sealer.opener, ...(field === "workerId" ? {} : { [field]: bad }) };
    const workerId = field === "workerId" ? bad : s.worker.workerId;
    // Act
    const e = envelopeError(() => new ReplyStreamOpener(s.header, workerId, opener, s.replyKey));
    // Assess
    expect(e.code).toBe("reply_auth_failed");
    expect(e.message).toMatch(/^the stream opener is not valid base64url: /);
  });

  it("an opener not signed by the worker names the worker by its id's first 8 characters", () => {
    // Prepare
    const s = makeStream(1);
    const forger = makeWorker();
    const forged = new ReplyStreamSealer(s.header, forger.workerId, forger.signing);
    // Act
    const e = envelopeError(() => s.openWith(forged.opener));
    // Assess
    expect(e.code).toBe("reply_auth_failed");
    expect(e.message).toBe(
      `the stream opener is not signed by worker ${s.worker.workerId.slice(0, 8)} for this job: someone else started this stream`,
    );
  });

  it.each([
    ["31 bytes", new Uint8Array(31).fill(9)],
    ["a low-order point (all zero)", new Uint8Array(32)],
  ])("an encapsulation the worker signed that does not open (%s): reply_auth_failed", (_, enc) => {
    // Prepare
    const s = makeStream(1);
    // Act
    const e = envelopeError(() => s.openWith(signedOpener(s, enc)));
    // Assess
    expect(e.code).toBe("reply_auth_failed");
    expect(e.message).toMatch(/^the stream's encapsulation does not open: (HPKE enc|X25519)/);
  });

  it("an error of the HPKE setup that is not an HpkeOpenError goes through as it is", () => {
    // Prepare
    const s = makeStream(1);
    const boom = new Error("not an HPKE open failure");
    vi.mocked(setupBaseR).mockImplementationOnce(() => {
      throw boom;
    });
    // Act
    const e = thrown(() => s.openWith());
    // Assess
    expect(e).toBe(boom);
  });

  it("a reply key that is not a key pair (31 raw bytes) is a CryptoInputError, not a failed open", () => {
    // Prepare
    const s = makeStream(1);
    // Act
    const e = cryptoInputError(() => s.openWith(s.sealer.opener, new Uint8Array(31) as unknown as KemKeyPair));
    // Assess
    expect(e.code).toBe("invalid_length");
  });

  it("the opener asks HPKE for ChaCha20-Poly1305 itself (it does not lean on hpke.ts's default AEAD)", () => {
    // Prepare
    const s = makeStream(1);
    vi.mocked(setupBaseR).mockClear();
    // Act
    s.openWith();
    // Assess
    expect(setupBaseR).toHaveBeenCalledTimes(1);
    expect(vi.mocked(setupBaseR).mock.calls[0]![3]).toEqual({ aead: "chacha20-poly1305" });
  });

  it("a whole reply with its opener but no chunk (no final chunk, not parsed by its schema): reply_auth_failed", () => {
    // Prepare
    const s = makeStream(2);
    const reply = { ...s.sealer.reply(), chunks: [] };
    // Act
    const e = envelopeError(() => openChunkedReply(reply, s.header, s.worker.workerId, s.replyKey));
    // Assess
    expect(e.code).toBe("reply_auth_failed");
    expect(e.message).toMatch(/no final chunk/);
    expect(openChunkedReply(s.sealer.reply(), s.header, s.worker.workerId, s.replyKey).map(str)).toEqual(["chunk 0", "chunk 1"]);
  });

  it("a chunk that is not base64url: reply_auth_failed, naming its position", () => {
    // Prepare
    const s = makeStream(3);
    const o = s.openWith();
    // Act
    const e = envelopeError(() => o.open(1, false, `${s.sealed[1]!.data}+`));
    // Assess
    expect(e.code).toBe("reply_auth_failed");
    expect(e.message).toMatch(/^chunk 1 is not valid base64url: /);
  });

  it("a chunk that does not open names its position, and says (final) when claimed final", () => {
    // Prepare
    const s = makeStream(3);
    const o = s.openWith();
    // Act
    const middle = envelopeError(() => o.open(1, false, s.sealed[0]!.data));
    const final = envelopeError(() => o.open(2, true, s.sealed[1]!.data));
    // Assess
    expect(middle.code).toBe("reply_auth_failed");
    expect(middle.message).toMatch(
      /^chunk 1 does not open: it was changed, moved, copied, relabelled or belongs to another job or stream$/,
    );
    expect(final.code).toBe("reply_auth_failed");
    expect(final.message).toMatch(/^chunk 2 \(final\) does not open: it was changed, moved, copied/);
  });
});
