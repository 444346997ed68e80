/**
 * The StreamVerifier and AnswerBuilder edges its mutation run left open (session 14): which
 * code each kind of relay misbehaviour gets, when a restart is shown, and how settle tells a
 * stored reply that is not the relayed stream apart. reply.test.ts has the main paths.
 */
import { describe, expect, it } from "vitest";
import type { ChunkPlaintext } from "../events/envelope";
import type { RelayChunk } from "../events/relay";
import { b64u } from "../core/crypto/encoding";
import { generateKemKey, type KemKeyPair } from "../core/crypto/keys";
import { ReplyStreamSealer } from "../core/crypto/reply-stream";
import { makeHeader, makeWorker } from "../core/crypto/testing";
import type { EnvelopeHeader } from "../events/envelope";
import { AnswerBuilder, StreamVerifier } from "./reply";
import { streamCheckCode, unboundBinding } from "./reply-testing";

const END = { usage: { promptTokens: 1, completionTokens: 2 }, engine: "t", choices: [{ finishReason: "stop" as const }] };

/** A job: its header, the requester's reply key, two workers it was encrypted to. */
function job() {
  const replyKey = generateKemKey();
  const header = makeHeader({ replyKey: b64u.encode(replyKey.publicKey) });
  const workers = [makeWorker(), makeWorker()];
  return {
    header,
    replyKey,
    workers,
    verifier: () => new StreamVerifier(header.jobId, header, replyKey, new Set(workers.map((w) => w.workerId)), unboundBinding()),
  };
}

/** One worker's stream of `pieces` (the last one final) at `attempt`, as relay chunks and as its stored reply. */
function streamOf(
  j: { header: EnvelopeHeader; replyKey: KemKeyPair },
  worker: ReturnType<typeof makeWorker>,
  pieces: ChunkPlaintext[],
  attempt = 0,
) {
  const sealer = new ReplyStreamSealer(j.header, worker.workerId, worker.signing);
  const chunks: RelayChunk[] = pieces.map((p, seq) => {
    const final = seq === pieces.length - 1;
    return {
      jobId: j.header.jobId,
      attempt,
      seq,
      final,
      data: sealer.seal(new TextEncoder().encode(JSON.stringify(p)), final).data,
      ...(seq === 0 ? { opener: { workerId: worker.workerId, ...sealer.opener } } : {}),
    };
  });
  return { chunks, reply: sealer.reply() };
}

const texts = (...t: string[]): ChunkPlaintext[] => t.map((text, i) => (i === t.length - 1 ? { text, end: END } : { text }));

describe("StreamVerifier.accept: what each misbehaviour of the relay is called", () => {
  it("a chunk of an earlier attempt after a later attempt's stream began is stream_reordered", () => {
    // Prepare
    const j = job();
    const first = streamOf(j, j.workers[0]!, texts("a", "b"), 0);
    const second = streamOf(j, j.workers[1]!, texts("c", "d"), 1);
    const v = j.verifier();
    v.accept([second.chunks[0]!]);
    // Act / Assess
    expect(streamCheckCode(() => v.accept([first.chunks[0]!]))).toBe("stream_reordered");
  });

  it("an attempt's stream whose chunk 0 carries no opener is stream_gap", () => {
    // Prepare
    const j = job();
    const s = streamOf(j, j.workers[0]!, texts("a", "b"));
    const { opener: _opener, ...bare } = s.chunks[0]!;
    // Act / Assess
    expect(streamCheckCode(() => j.verifier().accept([bare]))).toBe("stream_gap");
  });

  it("a chunk repeated with the same data is stream_duplicate; one at a taken position with other data is stream_reordered", () => {
    // Prepare
    const j = job();
    const s = streamOf(j, j.workers[0]!, texts("a", "b", "c"));
    const v1 = j.verifier();
    const v2 = j.verifier();
    v1.accept(s.chunks.slice(0, 2));
    v2.accept(s.chunks.slice(0, 2));
    // Act / Assess
    expect(streamCheckCode(() => v1.accept([s.chunks[1]!]))).toBe("stream_duplicate");
    expect(streamCheckCode(() => v2.accept([{ ...s.chunks[1]!, data: s.chunks[2]!.data }]))).toBe("stream_reordered");
  });

  it("a chunk ahead of its place is stream_reordered only when the missing one comes later in the same batch, for the same job and attempt", () => {
    // Prepare: chunk 1 is missing when chunk 2 arrives
    const j = job();
    const s = streamOf(j, j.workers[0]!, texts("a", "b", "c"));
    const [c0, c1, c2] = s.chunks as [RelayChunk, RelayChunk, RelayChunk];
    // Act / Assess
    expect(streamCheckCode(() => j.verifier().accept([c0, c2, c1]))).toBe("stream_reordered");
    expect(streamCheckCode(() => j.verifier().accept([c0, c2]))).toBe("stream_gap");
    expect(streamCheckCode(() => j.verifier().accept([c0, c2, { ...c1, jobId: "job_other" }]))).toBe("stream_gap");
    expect(streamCheckCode(() => j.verifier().accept([c0, c2, { ...c1, attempt: 1 }]))).toBe("stream_gap");
    expect(streamCheckCode(() => j.verifier().accept([c0, c2, { ...c2, seq: 3 }]))).toBe("stream_gap");
  });

  it("a restart is shown only once text was shown: not for a first attempt that showed nothing", () => {
    // Prepare: attempt 0 relayed only its opener chunk with no text; attempt 1 then streams
    const j = job();
    const silent = streamOf(j, j.workers[0]!, [{}, { text: "x", end: END }], 0);
    const next = streamOf(j, j.workers[1]!, texts("n", "ew"), 1);
    const v = j.verifier();
    // Act
    const first = v.accept([silent.chunks[0]!]);
    const then = v.accept(next.chunks);
    // Assess
    expect(first).toEqual([]);
    expect(then.map((p) => p.kind)).toEqual(["text", "text"]);
  });

  it("pieces: text with its choice index, logprobs alone, tool calls from the end", () => {
    // Prepare
    const j = job();
    const toolCalls = [{ id: "call_1", type: "function" as const, function: { name: "f", arguments: "{}" } }];
    const logprobs = [{ token: "a", logprob: -0.5, topLogprobs: [] }];
    const s = streamOf(j, j.workers[0]!, [
      { text: "a" },
      { i: 1, text: "b" },
      { logprobs },
      { end: { ...END, choices: [{ finishReason: "stop" }, { finishReason: "stop", toolCalls }] } },
    ]);
    // Act
    const shown = j.verifier().accept(s.chunks);
    // Assess
    expect(shown).toEqual([
      { kind: "text", index: 0, text: "a" },
      { kind: "text", index: 1, text: "b" },
      { kind: "text", index: 0, text: "", logprobs },
      { kind: "tools", index: 1, toolCalls },
    ]);
  });
});

describe("StreamVerifier.settle: a stored reply that is not the relayed stream", () => {
  it("the relayed stream's chunks under another worker's name, or with another enc or sig, are stream_mismatch", () => {
    // Prepare: the relay delivered the start of worker 0's stream
    const j = job();
    const s = streamOf(j, j.workers[0]!, texts("a", "b"));
    const other = streamOf(j, j.workers[0]!, texts("a", "b"));
    const settleAs = (reply: typeof s.reply, workerId = j.workers[0]!.workerId) => {
      const v = j.verifier();
      v.accept(s.chunks.slice(0, 1));
      return streamCheckCode(() => v.settle(reply, 0, workerId));
    };
    // Act / Assess: each field alone differs from what was relayed
    expect(settleAs(s.reply)).toBe("accepted");
    expect(settleAs(s.reply, j.workers[1]!.workerId)).toBe("stream_mismatch");
    expect(settleAs({ ...s.reply, enc: other.reply.enc })).toBe("stream_mismatch");
    expect(settleAs({ ...s.reply, sig: other.reply.sig })).toBe("stream_mismatch");
  });

  it("a stored reply from before streaming (no chunks) for an attempt whose chunks were relayed is stream_mismatch", () => {
    // Prepare
    const j = job();
    const s = streamOf(j, j.workers[0]!, texts("a", "b"));
    const v = j.verifier();
    v.accept(s.chunks.slice(0, 1));
    const sealed = { v: 1 as const, enc: s.reply.enc, ct: s.reply.chunks[0]! };
    // Act / Assess
    expect(streamCheckCode(() => v.settle(sealed, 0, j.workers[0]!.workerId))).toBe("stream_mismatch");
  });

  it("settle gives exactly what the relay did not deliver, and counts it", () => {
    // Prepare
    const j = job();
    const s = streamOf(j, j.workers[0]!, texts("a", "b", "c"));
    const v = j.verifier();
    v.accept(s.chunks.slice(0, 1));
    // Act
    const { pieces, answer } = v.settle(s.reply, 0, j.workers[0]!.workerId);
    // Assess
    expect(pieces).toEqual([
      { kind: "text", index: 0, text: "b" },
      { kind: "text", index: 0, text: "c" },
    ]);
    expect(answer.choices[0]!.text).toBe("abc");
    expect([v.relayed, v.recovered]).toEqual([1, 2]);
  });
});

describe("AnswerBuilder", () => {
  it("refuses a chunk after the final one, an end on a chunk before the last, a final chunk without one", () => {
    // Prepare
    const done = new AnswerBuilder();
    done.add({ text: "a", end: END }, true);
    // Act / Assess
    expect(streamCheckCode(() => done.add({ text: "b" }, false))).toBe("stream_too_long");
    expect(streamCheckCode(() => new AnswerBuilder().add({ text: "a", end: END }, false))).toBe("stream_tampered");
    expect(streamCheckCode(() => new AnswerBuilder().add({ text: "a" }, true))).toBe("stream_tampered");
    expect(streamCheckCode(() => new AnswerBuilder().answer())).toBe("stream_truncated");
  });

  it("text or logprobs for a choice the end does not list is stream_tampered; the last listed choice is fine", () => {
    // Prepare: the end lists one choice (index 0)
    const withText = (i: number) => {
      const b = new AnswerBuilder();
      b.add({ i, text: "x" }, false);
      b.add({ end: END }, true);
      return b;
    };
    const withLogprobs = (i: number) => {
      const b = new AnswerBuilder();
      b.add({ i, logprobs: [{ token: "x", logprob: -1, topLogprobs: [] }] }, false);
      b.add({ end: END }, true);
      return b;
    };
    // Act / Assess
    expect(streamCheckCode(() => withText(0).answer())).toBe("accepted");
    expect(streamCheckCode(() => withText(1).answer())).toBe("stream_tampered");
    expect(streamCheckCode(() => withLogprobs(0).answer())).toBe("accepted");
    expect(streamCheckCode(() => withLogprobs(1).answer())).toBe("stream_tampered");
    expect(withLogprobs(0).answer().choices[0]!.logprobs).toHaveLength(1);
  });

  it("embeddings accumulate across chunks as float32 vectors", () => {
    // Prepare
    const vec = (xs: number[]) => b64u.encode(new Uint8Array(Float32Array.from(xs).buffer));
    const b = new AnswerBuilder();
    // Act
    b.add({ embeddings: [vec([1, 2])] }, false);
    b.add({ embeddings: [vec([0.5])], end: END }, true);
    // Assess
    expect(b.answer().embeddings).toEqual([[1, 2], [0.5]]);
  });
});
