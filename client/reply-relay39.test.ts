/**
 * Session 39's review of the answer relay (client/reply.ts): what a worker we encrypted to can
 * make the SDK hold. Real sealed chunks (ReplyStreamSealer), as a malicious agent would seal them.
 */
import { describe, expect, it } from "vitest";
import { MAX_REPLY_BYTES } from "../events/envelope";
import type { RelayChunk } from "../events/relay";
import { b64u, canonicalJson } from "../core/crypto/encoding";
import { generateKemKey } from "../core/crypto/keys";
import { MAX_CHUNK_PLAINTEXT, ReplyStreamSealer } from "../core/crypto/reply-stream";
import { makeHeader, makeWorker } from "../core/crypto/testing";
import { StreamCheckFailure, StreamVerifier } from "./reply";
import { streamCheckCode, unboundBinding } from "./reply-testing";

/** A job encrypted to one worker, and that worker's sealer. */
function job() {
  const replyKey = generateKemKey();
  const header = makeHeader({ replyKey: b64u.encode(replyKey.publicKey) });
  const w = makeWorker();
  const verifier = new StreamVerifier(header.jobId, header, replyKey, new Set([w.workerId]), unboundBinding());
  const sealer = new ReplyStreamSealer(header, w.workerId, w.signing);
  const chunk = (plaintext: Uint8Array, final = false): RelayChunk => {
    const { seq, data } = sealer.seal(plaintext, final);
    return {
      jobId: header.jobId,
      attempt: 0,
      seq,
      final,
      data,
      ...(seq === 0 ? { opener: { workerId: w.workerId, ...sealer.opener } } : {}),
    };
  };
  return { verifier, sealer, chunk };
}

/** A text chunk's plaintext of exactly `size` bytes (`{"text":"xxx…"}`, the final one with its end). */
const textOf = (size: number, final = false) => {
  const tail = final ? ',"end":{"usage":{"promptTokens":1,"completionTokens":1},"engine":"e","choices":[{"finishReason":"stop"}]}}' : "}";
  return new TextEncoder().encode(`{"text":"${"x".repeat(size - '{"text":""'.length - tail.length)}"${tail}`);
};
/** A non-final chunk of the largest plaintext a sealer takes. */
const bigText = () => textOf(MAX_CHUNK_PLAINTEXT);
/** base64url's length (unpadded) of a sealed plaintext of `n` bytes (its 16-byte tag included). */
const sealedLength = (n: number) => Math.ceil(((n + 16) * 4) / 3);

describe("a relayed stream larger than the network stores (relay39 #1)", () => {
  it("is refused as stream_too_long at the chunk that passes MAX_REPLY_BYTES, before it is shown", () => {
    const j = job();
    // The reply's canonical JSON as the coordinator measures it (core/jobs/results.ts), chunk by chunk.
    let bytes = Buffer.byteLength(canonicalJson({ v: 2, enc: j.sealer.opener.enc, sig: j.sealer.opener.sig, chunks: [] }));
    let shown = 0;
    let refused: StreamCheckFailure | undefined;
    for (let i = 0; i < 64 && !refused; i++) {
      const c = j.chunk(bigText());
      const over = bytes + c.data.length + 2 + (c.seq > 0 ? 1 : 0) > MAX_REPLY_BYTES;
      try {
        shown += j.verifier.accept([c]).length;
        expect(over).toBe(false); // everything up to the cap is an honest worker's
        bytes += c.data.length + 2 + (c.seq > 0 ? 1 : 0);
      } catch (e) {
        if (!(e instanceof StreamCheckFailure)) throw e;
        expect(over).toBe(true);
        refused = e;
      }
    }
    expect(refused?.code).toBe("stream_too_long");
    expect(refused?.message).toMatch(/4194304/);
    expect(shown).toBe(j.verifier.relayed);
    expect(j.verifier.relayed).toBe(31);
  });

  it("takes a stream of exactly MAX_REPLY_BYTES, as the coordinator stores it, and refuses one byte more", () => {
    for (const over of [0, 1]) {
      const j = exactStream(over);
      const last = j.chunk(textOf(j.n, true), true);
      if (over === 0) {
        j.verifier.accept([last]);
        expect(Buffer.byteLength(canonicalJson(j.verifier.relayedReply()!.reply))).toBe(MAX_REPLY_BYTES);
      } else expect(streamCheckCode(() => j.verifier.accept([last]))).toBe("stream_too_long");
    }
  });
});

/**
 * 31 chunks of the largest size accepted, and the size `n` of a final plaintext that ends the
 * reply `over` bytes past the cap (the first chunk a byte or two shorter where base64url cannot
 * land on it otherwise).
 */
function exactStream(over: number) {
  for (let shorter = 0; shorter < 3; shorter++) {
    const j = job();
    const shell = Buffer.byteLength(canonicalJson({ v: 2, enc: j.sealer.opener.enc, sig: j.sealer.opener.sig, chunks: [] }));
    const sizes = Array.from({ length: 31 }, (_, i) => MAX_CHUNK_PLAINTEXT - (i === 0 ? shorter : 0));
    const used = shell + sizes.reduce((n, size, i) => n + sealedLength(size) + 2 + (i > 0 ? 1 : 0), 0);
    const want = MAX_REPLY_BYTES + over - used - 3; // the final chunk's data
    const n = Math.ceil((want * 3) / 4) - 16;
    if (sealedLength(n) !== want) continue;
    for (const size of sizes) j.verifier.accept([j.chunk(textOf(size))]);
    return { ...j, n };
  }
  throw new Error("no chunk sizes land there");
}
