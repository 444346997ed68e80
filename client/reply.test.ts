import { describe, expect, expectTypeOf, it } from "vitest";
import type { ChunkPlaintext, EnvelopeHeader } from "../events/envelope";
import type { RelayChunk } from "../events/relay";
import { b64u } from "../core/crypto/encoding";
import { generateKemKey, type KemKeyPair } from "../core/crypto/keys";
import { ReplyStreamSealer } from "../core/crypto/reply-stream";
import { makeHeader, makeWorker } from "../core/crypto/testing";
import { openAnswer, openChunked, StreamVerifier, type ReplyBinding } from "./reply";
import { streamCheckCode, unboundBinding } from "./reply-testing";

/** A worker's honest stream of `texts`, as relay chunks and as the stored reply. */
function stream(texts: string[]) {
  const worker = makeWorker();
  const replyKey = generateKemKey();
  const header = makeHeader({ replyKey: b64u.encode(replyKey.publicKey) });
  const sealer = new ReplyStreamSealer(header, worker.workerId, worker.signing);
  const chunks: RelayChunk[] = texts.map((text, seq) => {
    const final = seq === texts.length - 1;
    const p: ChunkPlaintext = final
      ? { text, end: { usage: { promptTokens: 3, completionTokens: texts.length }, engine: "test", choices: [{ finishReason: "stop" }] } }
      : { text };
    const { data } = sealer.seal(new TextEncoder().encode(JSON.stringify(p)), final);
    return {
      jobId: header.jobId,
      attempt: 0,
      seq,
      final,
      data,
      ...(seq === 0 ? { opener: { workerId: worker.workerId, ...sealer.opener } } : {}),
    };
  });
  const verifier = () => new StreamVerifier(header.jobId, header, replyKey, new Set([worker.workerId]), unboundBinding());
  return { worker, replyKey, header, chunks, reply: sealer.reply(), verifier };
}

describe("the stored reply against the relayed stream", () => {
  it("an honest stream and its stored reply settle with nothing recovered", () => {
    // Prepare
    const s = stream(["a", "b", "c"]);
    const v = s.verifier();
    // Act
    const shown = v.accept(s.chunks);
    const settled = v.settle(s.reply, 0, s.worker.workerId);
    // Assess
    expect(shown.map((p) => (p.kind === "text" ? p.text : "")).join("")).toBe("abc");
    expect(settled.pieces).toEqual([]);
    expect(settled.answer.choices[0]!.text).toBe("abc");
    expect(v.recovered).toBe(0);
  });

  it("a stored reply cut short (its last chunk dropped, consistently on the relay too) is stream_truncated", () => {
    // Prepare
    const s = stream(["a", "b", "c"]);
    const v = s.verifier();
    v.accept(s.chunks.slice(0, 2));
    const cut = { ...s.reply, chunks: s.reply.chunks.slice(0, 2) };
    // Act / Assess
    expect(streamCheckCode(() => v.settle(cut, 0, s.worker.workerId))).toBe("stream_truncated");
    expect(streamCheckCode(() => openChunked(cut, s.header, s.worker.workerId, s.replyKey, unboundBinding()))).toBe("stream_truncated");
  });

  it("a stored reply that is not what the relay delivered is stream_mismatch", () => {
    // Prepare: the relay showed another stream's chunks than the one stored
    const s = stream(["a", "b", "c"]);
    const other = stream(["x", "y", "z"]);
    const v = s.verifier();
    v.accept(s.chunks.slice(0, 2));
    // Act / Assess: a different reply, and the same reply with a different middle chunk
    expect(streamCheckCode(() => v.settle({ ...other.reply }, 0, s.worker.workerId))).toBe("stream_mismatch");
    expect(
      streamCheckCode(() =>
        v.settle({ ...s.reply, chunks: [s.reply.chunks[0]!, s.reply.chunks[2]!, s.reply.chunks[2]!] }, 0, s.worker.workerId),
      ),
    ).toBe("stream_mismatch");
  });

  it("a stream opened by a worker we did not encrypt to is refused", () => {
    const s = stream(["a", "b"]);
    const v = new StreamVerifier(s.header.jobId, s.header, s.replyKey, new Set([makeWorker().workerId]), unboundBinding());
    expect(streamCheckCode(() => v.accept(s.chunks))).toBe("stream_tampered");
  });

  it("a chunk after the final one is stream_too_long; a stream that starts past 0 is stream_gap", () => {
    const s = stream(["a", "b"]);
    expect(streamCheckCode(() => s.verifier().accept([...s.chunks, { ...s.chunks[1]!, seq: 2 }]))).toBe("stream_too_long");
    expect(streamCheckCode(() => s.verifier().accept(s.chunks.slice(1)))).toBe("stream_gap");
  });

  it("a failover: the next attempt's stream after shown text gives a restart, then its own text", () => {
    // Prepare: attempt 0 streamed a chunk, attempt 1 (another worker) streams the whole answer
    const first = stream(["old", "never"]);
    const second = stream(["n", "ew"]);
    const v = new StreamVerifier(first.header.jobId, first.header, first.replyKey, new Set([first.worker.workerId]), unboundBinding());
    // the second worker's stream re-sealed for the same header and reply key
    const sealer = new ReplyStreamSealer(first.header, second.worker.workerId, second.worker.signing);
    const again: RelayChunk[] = ["n", "ew"].map((text, seq) => {
      const final = seq === 1;
      const p: ChunkPlaintext = final
        ? { text, end: { usage: { promptTokens: 1, completionTokens: 2 }, engine: "t", choices: [{ finishReason: "stop" }] } }
        : { text };
      return {
        jobId: first.header.jobId,
        attempt: 1,
        seq,
        final,
        data: sealer.seal(new TextEncoder().encode(JSON.stringify(p)), final).data,
        ...(seq === 0 ? { opener: { workerId: second.worker.workerId, ...sealer.opener } } : {}),
      };
    });
    const both = new StreamVerifier(
      first.header.jobId,
      first.header,
      first.replyKey,
      new Set([first.worker.workerId, second.worker.workerId]),
      unboundBinding(),
    );
    // Act
    const shown = [...both.accept(first.chunks.slice(0, 1)), ...both.accept(again)];
    // Assess
    expect(shown.map((p) => (p.kind === "text" ? p.text : p.kind))).toEqual(["old", "restart", "n", "ew"]);
    expect(streamCheckCode(() => v.accept([first.chunks[0]!, { ...again[0]! }]))).toBe("stream_tampered"); // second worker not encrypted to
  });
});

describe("session 40: the reply binding is required", () => {
  // Type-level (tsc checks it; at run time it is a no-op): a caller that leaves the binding out no
  // longer compiles, and the verifier takes the request hash once, inside the binding.
  it("openAnswer, openChunked and StreamVerifier take a ReplyBinding, not an optional one", () => {
    expectTypeOf<Parameters<typeof openAnswer>[4]>().toEqualTypeOf<ReplyBinding>();
    expectTypeOf<Parameters<typeof openChunked>[4]>().toEqualTypeOf<ReplyBinding>();
    expectTypeOf<ConstructorParameters<typeof StreamVerifier>>().toEqualTypeOf<
      [jobId: string, header: EnvelopeHeader, replyKey: KemKeyPair, workers: ReadonlySet<string>, binding: ReplyBinding]
    >();
  });
});
