import { createDecipheriv } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Chacha20Poly1305 } from "@hpke/chacha20poly1305";
import { CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import { ChunkedReply, type EnvelopeHeader } from "../../events/envelope";
import vectors from "./fixtures/reply-stream-v1.json";
import { b64u } from "./encoding";
import { EnvelopeError } from "./errors";
import { deriveKeyPair } from "./hpke";
import { generateKemKey, signingKeyFromSeed } from "./keys";
import { chunkAad, chunkNonce, openChunkedReply, ReplyStreamOpener, ReplyStreamSealer } from "./reply-stream";
import { makeHeader, makeWorker } from "./testing";

const hex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

function envelopeError(f: () => unknown): EnvelopeError {
  try {
    f();
  } catch (e) {
    if (e instanceof EnvelopeError) return e;
    throw e;
  }
  throw new Error("expected EnvelopeError, nothing was thrown");
}

/** A sealed stream of `n` chunks for a fresh header, worker and reply key. */
function makeStream(n = 3, header: EnvelopeHeader = makeHeader()) {
  const worker = makeWorker();
  const replyKey = generateKemKey();
  const h = { ...header, replyKey: b64u.encode(replyKey.publicKey) };
  const sealer = new ReplyStreamSealer(h, worker.workerId, worker.signing);
  const plain = Array.from({ length: n }, (_, i) => `chunk ${i} of ${h.jobId}`);
  const sealed = plain.map((p, i) => sealer.seal(text(p), i === n - 1));
  return { worker, replyKey, header: h, sealer, plain, sealed, reply: sealer.reply() };
}

describe("reply stream: test vectors (core/crypto/fixtures/reply-stream-v1.json)", () => {
  const v = vectors;
  const header = v.inputs.header as EnvelopeHeader;
  const worker = signingKeyFromSeed(hex(v.inputs.workerSeed));
  const recipient = deriveKeyPair(hex(v.inputs.ikmR));

  it("the same inputs give the same enc, signature and chunks, byte for byte", () => {
    // Act
    const sealer = new ReplyStreamSealer(header, worker.id, worker, { ikmE: hex(v.inputs.ikmE) });
    v.inputs.plaintexts.forEach((p, i) => sealer.seal(text(p), i === v.inputs.plaintexts.length - 1));
    // Assess
    expect(toHex(recipient.publicKey)).toBe(v.derived.pkR);
    expect(worker.id).toBe(v.derived.workerId);
    expect(sealer.reply()).toEqual(v.reply);
    expect(ChunkedReply.parse(v.reply)).toEqual(v.reply);
  });

  it("an independent HPKE (@hpke/core) derives the same stream key and nonce, and node:crypto opens each chunk with them", async () => {
    // Prepare
    const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Chacha20Poly1305() });
    const theirs = await suite.kem.deriveKeyPair(hex(v.inputs.ikmR));
    const ctx = await suite.createRecipientContext({
      recipientKey: theirs.privateKey,
      enc: b64u.decode(v.reply.enc),
      info: text(v.derived.info),
    });
    // Act
    const key = new Uint8Array(await ctx.export(text("cocoon/v1/reply-stream/key"), 32));
    const baseNonce = new Uint8Array(await ctx.export(text("cocoon/v1/reply-stream/nonce"), 12));
    const opened = v.reply.chunks.map((c, i) => {
      const ct = b64u.decode(c);
      const d = createDecipheriv("chacha20-poly1305", key, hex(v.derived.nonces[i]!), { authTagLength: 16 });
      d.setAAD(text(v.derived.aads[i]!), { plaintextLength: ct.length - 16 });
      d.setAuthTag(ct.subarray(ct.length - 16));
      return Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]).toString("utf8");
    });
    // Assess
    expect(toHex(key)).toBe(v.derived.key);
    expect(toHex(baseNonce)).toBe(v.derived.baseNonce);
    expect(v.derived.nonces.map((_, i) => toHex(chunkNonce(baseNonce, i)))).toEqual(v.derived.nonces);
    expect(v.derived.aads.map((_, i) => chunkAad(header.jobId, i, i === 2).toString("utf8"))).toEqual(v.derived.aads);
    expect(opened).toEqual(v.inputs.plaintexts);
  });

  it("the requester opens the vector reply with its key and the worker's id", () => {
    // Act
    const opened = openChunkedReply(v.reply as ChunkedReply, header, worker.id, recipient).map(str);
    // Assess
    expect(opened).toEqual(v.inputs.plaintexts);
  });
});

describe("reply stream: what does not open", () => {
  it("round trip: chunks open in place, the last one as final", () => {
    // Prepare
    const s = makeStream(4);
    // Act
    const o = new ReplyStreamOpener(s.header, s.worker.workerId, s.sealer.opener, s.replyKey);
    const opened = s.sealed.map((c, i) => str(o.open(c.seq, i === 3, c.data)));
    // Assess
    expect(opened).toEqual(s.plain);
    expect(s.sealed.map((c) => c.seq)).toEqual([0, 1, 2, 3]);
  });

  it("a chunk opened at another position fails (reorder)", () => {
    const s = makeStream(3);
    const o = new ReplyStreamOpener(s.header, s.worker.workerId, s.sealer.opener, s.replyKey);
    expect(envelopeError(() => o.open(0, false, s.sealed[1]!.data)).code).toBe("reply_auth_failed");
    expect(envelopeError(() => o.open(1, false, s.sealed[0]!.data)).code).toBe("reply_auth_failed");
  });

  it("a chunk claimed final that was not (truncation), or not final that was, fails", () => {
    const s = makeStream(3);
    const o = new ReplyStreamOpener(s.header, s.worker.workerId, s.sealer.opener, s.replyKey);
    expect(envelopeError(() => o.open(1, true, s.sealed[1]!.data)).code).toBe("reply_auth_failed");
    expect(envelopeError(() => o.open(2, false, s.sealed[2]!.data)).code).toBe("reply_auth_failed");
  });

  it("a flipped bit in a chunk fails", () => {
    const s = makeStream(2);
    const o = new ReplyStreamOpener(s.header, s.worker.workerId, s.sealer.opener, s.replyKey);
    const ct = b64u.decode(s.sealed[0]!.data);
    ct[3]! ^= 1;
    expect(envelopeError(() => o.open(0, false, b64u.encode(ct))).code).toBe("reply_auth_failed");
  });

  it("a chunk of another job, at the same position, fails (splice across jobs)", () => {
    // Prepare: two jobs of the same requester and worker key
    const a = makeStream(3);
    const b = makeStream(3);
    const o = new ReplyStreamOpener(a.header, a.worker.workerId, a.sealer.opener, a.replyKey);
    // Act / Assess
    expect(envelopeError(() => o.open(1, false, b.sealed[1]!.data)).code).toBe("reply_auth_failed");
  });

  it("an opener not signed by the worker is refused before any chunk (a coordinator cannot start a stream to our key)", () => {
    // Prepare: the forger knows the header (hence the reply key) and seals its own stream
    const s = makeStream(2);
    const forger = makeWorker();
    const forged = new ReplyStreamSealer(s.header, forger.workerId, forger.signing);
    // Act / Assess: its own stream under the real worker's id, and the real enc with a forged signature
    expect(envelopeError(() => new ReplyStreamOpener(s.header, s.worker.workerId, forged.opener, s.replyKey)).code).toBe(
      "reply_auth_failed",
    );
    expect(
      envelopeError(
        () => new ReplyStreamOpener(s.header, s.worker.workerId, { enc: forged.opener.enc, sig: s.sealer.opener.sig }, s.replyKey),
      ).code,
    ).toBe("reply_auth_failed");
  });

  it("an opener of another job is refused (the signature names the header)", () => {
    const a = makeStream(1);
    const b = makeStream(1);
    expect(envelopeError(() => new ReplyStreamOpener(a.header, b.worker.workerId, b.sealer.opener, a.replyKey)).code).toBe(
      "reply_auth_failed",
    );
  });

  it("the sealer refuses chunks after the final one, and a reply without one", () => {
    const s = makeStream(1);
    expect(() => s.sealer.seal(text("late"), true)).toThrow(/final chunk/);
    const open = new ReplyStreamSealer(makeHeader(), s.worker.workerId, s.worker.signing);
    open.seal(text("x"), false);
    expect(() => open.reply()).toThrow(/no final chunk/);
  });
});
