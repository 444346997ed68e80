/**
 * The edges of client/reply.ts a mutation run left open: the exact StreamCheckFailure code (and
 * message) for each way a relay or a stored reply can be wrong, what AnswerBuilder carries into
 * the answer, which pieces the StreamVerifier gives (restarts included), and what settle
 * recovers from the stored reply. Real sealed chunks throughout (ReplyStreamSealer).
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import type { ChunkedReply, ChunkPlaintext, TokenLogprob, ToolCall } from "../events/envelope";
import type { RelayChunk } from "../events/relay";
import { b64u } from "../core/crypto/encoding";
import { sealReply } from "../core/crypto/envelope";
import { generateKemKey, type KemKeyPair } from "../core/crypto/keys";
import { ReplyStreamOpener, ReplyStreamSealer } from "../core/crypto/reply-stream";
import { makeHeader, makeWorker, type TestWorker } from "../core/crypto/testing";
import { AnswerBuilder, decodeVector, openAnswer, openChunked, StreamCheckFailure, StreamVerifier, type StreamPiece } from "./reply";
import { unboundBinding } from "./reply-testing";

type ChoiceEnd = NonNullable<ChunkPlaintext["end"]>["choices"][number];

const USAGE = { promptTokens: 2, completionTokens: 3 };
const end = (choices: ChoiceEnd[] = [{ finishReason: "stop" }]) => ({ usage: USAGE, engine: "edge-test", choices });
const lp = (token: string, logprob = -0.5): TokenLogprob => ({ token, logprob });
const TOOL: ToolCall = { id: "call_1", type: "function", function: { name: "lookup", arguments: '{"q":"x"}' } };
const utf8 = (s: string) => new TextEncoder().encode(s);
/** Little-endian float32 values as a sealed vector travels. */
const vector = (...xs: number[]) => b64u.encode(new Uint8Array(new Float32Array(xs).buffer));

/** The StreamCheckFailure `f` throws; any other error propagates, and no error fails the test. */
function failure(f: () => unknown): StreamCheckFailure {
  try {
    f();
  } catch (e) {
    if (e instanceof StreamCheckFailure) return e;
    throw e;
  }
  throw new Error("expected a StreamCheckFailure, but it was accepted");
}

/** A job: its header, the requester's reply key, two workers it was encrypted to. */
function job() {
  const replyKey = generateKemKey();
  const header = makeHeader({ replyKey: b64u.encode(replyKey.publicKey) });
  const a = makeWorker();
  const b = makeWorker();
  const verifier = (workers: TestWorker[] = [a, b], key: KemKeyPair = replyKey) =>
    new StreamVerifier(header.jobId, header, key, new Set(workers.map((w) => w.workerId)), unboundBinding());
  return { header, replyKey, a, b, verifier };
}
type Job = ReturnType<typeof job>;

/**
 * One worker's stream at `attempt`: each piece sealed in order (a Uint8Array is sealed as is,
 * bytes that are no chunk), the last one final unless `lastFinal` is false; as relay chunks
 * and as the stored reply.
 */
function streamOf(
  j: Job,
  worker: TestWorker,
  pieces: Array<ChunkPlaintext | Uint8Array>,
  o: { attempt?: number; lastFinal?: boolean } = {},
) {
  const sealer = new ReplyStreamSealer(j.header, worker.workerId, worker.signing);
  const chunks: RelayChunk[] = pieces.map((p, seq) => {
    const final = seq === pieces.length - 1 && (o.lastFinal ?? true);
    const pt = p instanceof Uint8Array ? p : utf8(JSON.stringify(p));
    return {
      jobId: j.header.jobId,
      attempt: o.attempt ?? 0,
      seq,
      final,
      data: sealer.seal(pt, final).data,
      ...(seq === 0 ? { opener: { workerId: worker.workerId, ...sealer.opener } } : {}),
    };
  });
  const stored: ChunkedReply = { v: 2, enc: sealer.opener.enc, sig: sealer.opener.sig, chunks: chunks.map((c) => c.data) };
  return { chunks, stored };
}

/** Text chunks, the last one carrying the end. */
const texts = (...t: string[]): ChunkPlaintext[] => t.map((text, i) => (i === t.length - 1 ? { text, end: end() } : { text }));

/** A reply from an agent before streaming (one SealedReply). */
const sealedReply = (j: Job, worker: TestWorker, text: string) =>
  sealReply(j.header, worker.workerId, utf8(JSON.stringify({ text, usage: USAGE, engine: "old-agent", finishReason: "stop" })));

const textPiece = (text: string, index = 0): StreamPiece => ({ kind: "text", index, text });

afterEach(() => {
  vi.restoreAllMocks();
});

describe("decodeVector", () => {
  it("gives back the little-endian float32 values a vector carries", () => {
    // Prepare
    const v = vector(1.5, -2, 0.25);
    // Act
    const out = decodeVector(v);
    // Assess
    expect(out).toEqual([1.5, -2, 0.25]);
    expect(decodeVector(vector(7))).toEqual([7]);
  });

  it("a vector whose byte length is not a multiple of 4 is stream_tampered", () => {
    // Prepare
    const five = b64u.encode(new Uint8Array([0, 0, 128, 63, 9]));
    // Act
    const f = failure(() => decodeVector(five));
    // Assess
    expect(f.code).toBe("stream_tampered");
    expect(f.message).toMatch(/not a whole number of float32 values/);
  });
});

describe("AnswerBuilder", () => {
  it("a chunk after the final one is stream_too_long", () => {
    // Prepare
    const b = new AnswerBuilder();
    b.add({ text: "a", end: end() }, true);
    // Act
    const f = failure(() => b.add({ text: "b" }, false));
    // Assess
    expect(f.code).toBe("stream_too_long");
    expect(f.message).toMatch(/came after the final one/);
  });

  it("a final chunk without an end, or a chunk before the last with one, is stream_tampered", () => {
    // Prepare
    const noEnd = new AnswerBuilder();
    const earlyEnd = new AnswerBuilder();
    // Act
    const f1 = failure(() => noEnd.add({ text: "a" }, true));
    const f2 = failure(() => earlyEnd.add({ text: "a", end: end() }, false));
    // Assess
    expect(f1.code).toBe("stream_tampered");
    expect(f1.message).toMatch(/the final chunk carries no end/);
    expect(f2.code).toBe("stream_tampered");
    expect(f2.message).toMatch(/a chunk before the last carries an end/);
    expect(noEnd.done).toBe(false);
    expect(earlyEnd.done).toBe(false);
  });

  it("an answer without a final chunk is stream_truncated", () => {
    // Prepare
    const b = new AnswerBuilder();
    b.add({ text: "a" }, false);
    // Act
    const f = failure(() => b.answer());
    // Assess
    expect(f.code).toBe("stream_truncated");
    expect(f.message).toMatch(/no final chunk/);
  });

  it("accumulates text and logprobs per choice and carries each choice's tool calls; nothing more", () => {
    // Prepare: three choices; choice 2 has no text, choice 1 no logprobs
    const b = new AnswerBuilder();
    b.add({ text: "a", logprobs: [lp("a")] }, false);
    b.add({ i: 1, text: "x" }, false);
    b.add({ i: 0, text: "b", logprobs: [lp("b", -1)] }, false);
    b.add({ i: 1, text: "y", logprobs: [] }, false);
    // Act
    b.add({ end: end([{ finishReason: "stop" }, { finishReason: "stop", toolCalls: [TOOL] }, { finishReason: "length" }]) }, true);
    const answer = b.answer();
    // Assess
    expect(b.done).toBe(true);
    expect(answer).toEqual({
      choices: [
        { index: 0, text: "ab", finishReason: "stop", logprobs: [lp("a"), lp("b", -1)] },
        { index: 1, text: "xy", finishReason: "stop", toolCalls: [TOOL] },
        { index: 2, text: "", finishReason: "length" },
      ],
      usage: USAGE,
      engine: "edge-test",
    });
    expect(answer.choices[1]).not.toHaveProperty("logprobs");
    expect(answer.choices[0]).not.toHaveProperty("toolCalls");
    expect(answer).not.toHaveProperty("embeddings");
  });

  it("text or logprobs for the choice just past those the end lists is stream_tampered", () => {
    // Prepare: one choice listed (index 0); something for index 1 == choices.length
    const text = new AnswerBuilder();
    text.add({ i: 1, text: "stray" }, false);
    text.add({ text: "ok", end: end() }, true);
    const logprobs = new AnswerBuilder();
    logprobs.add({ i: 1, logprobs: [lp("stray")] }, false);
    logprobs.add({ text: "ok", end: end() }, true);
    // Act
    const f1 = failure(() => text.answer());
    const f2 = failure(() => logprobs.answer());
    // Assess
    expect(f1.code).toBe("stream_tampered");
    expect(f1.message).toMatch(/a choice the end does not list/);
    expect(f2.code).toBe("stream_tampered");
    expect(f2.message).toMatch(/a choice the end does not list/);
  });

  it("text and logprobs for the last listed choice are fine", () => {
    // Prepare: two choices, both with text and logprobs (lengths equal to choices.length)
    const b = new AnswerBuilder();
    b.add({ i: 1, text: "B", logprobs: [lp("B")] }, false);
    b.add({ i: 0, text: "A", logprobs: [lp("A")], end: end([{ finishReason: "stop" }, { finishReason: "stop" }]) }, true);
    // Act
    const answer = b.answer();
    // Assess
    expect(answer.choices).toEqual([
      { index: 0, text: "A", finishReason: "stop", logprobs: [lp("A")] },
      { index: 1, text: "B", finishReason: "stop", logprobs: [lp("B")] },
    ]);
  });

  it("embeddings accumulate across chunks, decoded as float32 vectors", () => {
    // Prepare
    const b = new AnswerBuilder();
    b.add({ embeddings: [vector(1, 2)] }, false);
    b.add({ embeddings: [vector(3), vector(-0.5, 4)], end: end() }, true);
    // Act
    const answer = b.answer();
    // Assess
    expect(answer).toEqual({
      choices: [{ index: 0, text: "", finishReason: "stop" }],
      usage: USAGE,
      engine: "edge-test",
      embeddings: [[1, 2], [3], [-0.5, 4]],
    });
  });

  it("an embedding that is not whole float32 values makes the answer stream_tampered", () => {
    // Prepare
    const b = new AnswerBuilder();
    b.add({ embeddings: [b64u.encode(new Uint8Array(6))], end: end() }, true);
    // Act
    const f = failure(() => b.answer());
    // Assess
    expect(f.code).toBe("stream_tampered");
  });
});

describe("opening a stored reply", () => {
  it("a chunk that opens but holds no chunk is stream_tampered, wherever it stands", () => {
    // Prepare: bytes that are no JSON as the last chunk; JSON that is no ChunkPlaintext before it
    const j = job();
    const last = streamOf(j, j.a, [{ text: "a" }, utf8("not json")]);
    const middle = streamOf(j, j.a, [{ text: 5 } as unknown as ChunkPlaintext, { text: "b", end: end() }]);
    // Act
    const f1 = failure(() => openChunked(last.stored, j.header, j.a.workerId, j.replyKey, unboundBinding()));
    const f2 = failure(() => openChunked(middle.stored, j.header, j.a.workerId, j.replyKey, unboundBinding()));
    const f3 = failure(() => j.verifier().accept(middle.chunks));
    // Assess
    expect([f1.code, f2.code, f3.code]).toEqual(["stream_tampered", "stream_tampered", "stream_tampered"]);
    expect(f1.message).toMatch(/chunk 1 opened but holds no chunk/);
    expect(f2.message).toMatch(/chunk 0 opened but holds no chunk/);
    expect(f3.message).toMatch(/chunk 0 opened but holds no chunk/);
  });

  it("a stored reply whose last chunk opens only as a non-final one is stream_truncated", () => {
    // Prepare: the worker's stream went on past chunk 1; the stored reply stops there
    const j = job();
    const s = streamOf(j, j.a, [{ text: "a" }, { text: "b" }], { lastFinal: false });
    // Act
    const f = failure(() => openChunked(s.stored, j.header, j.a.workerId, j.replyKey, unboundBinding()));
    // Assess
    expect(f.code).toBe("stream_truncated");
    expect(f.message).toMatch(/ends at chunk 1, .*cut short/);
  });

  it("a stored reply whose last chunk opens neither as final nor as non-final is stream_tampered", () => {
    // Prepare: the last chunk replaced by garbage, or by another stream's final chunk
    const j = job();
    const s = streamOf(j, j.a, texts("a", "b"));
    const other = streamOf(j, j.a, texts("x", "y"));
    const garbage = { ...s.stored, chunks: [s.stored.chunks[0]!, b64u.encode(new Uint8Array(40).fill(7))] };
    const spliced = { ...s.stored, chunks: [s.stored.chunks[0]!, other.stored.chunks[1]!] };
    // Act
    const f1 = failure(() => openChunked(garbage, j.header, j.a.workerId, j.replyKey, unboundBinding()));
    const f2 = failure(() => openChunked(spliced, j.header, j.a.workerId, j.replyKey, unboundBinding()));
    // Assess
    expect(f1.code).toBe("stream_tampered");
    expect(f1.message).toMatch(/chunk 1 of the stored reply does not open/);
    expect(f2.code).toBe("stream_tampered");
  });

  it("an EnvelopeError (forged opener, altered chunk) becomes stream_tampered", () => {
    // Prepare
    const j = job();
    const s = streamOf(j, j.a, texts("a", "b", "c"));
    const other = streamOf(j, j.a, texts("x", "y", "z"));
    // Act
    const forged = failure(() => openChunked({ ...s.stored, sig: other.stored.sig }, j.header, j.a.workerId, j.replyKey, unboundBinding()));
    const altered = failure(() =>
      openChunked(
        { ...s.stored, chunks: [s.stored.chunks[0]!, other.stored.chunks[1]!, s.stored.chunks[2]!] },
        j.header,
        j.a.workerId,
        j.replyKey,
        unboundBinding(),
      ),
    );
    // Assess
    expect(forged.code).toBe("stream_tampered");
    expect(forged.message).toMatch(/not signed by worker/);
    expect(altered.code).toBe("stream_tampered");
    expect(altered.message).toMatch(/chunk 1 does not open/);
  });

  it("an error that is no EnvelopeError while setting up the stream propagates as is (not blamed on the stream)", () => {
    // Prepare: our own reply key is broken (a bug on our side, not the relay's)
    const j = job();
    const s = streamOf(j, j.a, texts("a"));
    const broken = { ...j.replyKey, publicKey: undefined as unknown as Uint8Array };
    // Act / Assess
    expect(() => openChunked(s.stored, j.header, j.a.workerId, broken, unboundBinding())).toThrow(TypeError);
    expect(() => j.verifier([j.a], broken).accept(s.chunks)).toThrow(TypeError);
  });

  it("an error that is no EnvelopeError while opening a chunk propagates as is", () => {
    // Prepare
    const j = job();
    const s = streamOf(j, j.a, texts("a", "b"));
    vi.spyOn(ReplyStreamOpener.prototype, "open").mockImplementation(() => {
      throw new RangeError("out of memory");
    });
    // Act / Assess
    expect(() => j.verifier().accept(s.chunks)).toThrow(RangeError);
    expect(() => openChunked(s.stored, j.header, j.a.workerId, j.replyKey, unboundBinding())).toThrow(RangeError);
  });

  it("openAnswer opens both stored forms", () => {
    // Prepare
    const j = job();
    const s = streamOf(j, j.a, texts("a", "b"));
    // Act
    const chunked = openAnswer(s.stored, j.header, j.a.workerId, j.replyKey, unboundBinding());
    const sealed = openAnswer(sealedReply(j, j.a, "old"), j.header, j.a.workerId, j.replyKey, unboundBinding());
    // Assess
    expect(chunked.choices).toEqual([{ index: 0, text: "ab", finishReason: "stop" }]);
    expect(sealed).toEqual({ choices: [{ index: 0, text: "old", finishReason: "stop" }], usage: USAGE, engine: "old-agent" });
  });
});

describe("StreamVerifier.accept", () => {
  it("a chunk of another job is stream_cross_job", () => {
    // Prepare
    const j = job();
    const s = streamOf(j, j.a, texts("a", "b"));
    const otherJob = makeHeader().jobId;
    const v = j.verifier();
    v.accept(s.chunks.slice(0, 1));
    // Act
    const f = failure(() => v.accept([{ ...s.chunks[1]!, jobId: otherJob }]));
    // Assess
    expect(f.code).toBe("stream_cross_job");
    expect(f.message).toContain(`a chunk of job ${otherJob} in the stream of ${j.header.jobId}`);
  });

  it("a chunk of an earlier attempt after a later attempt's stream began is stream_reordered, even a whole valid start", () => {
    // Prepare
    const j = job();
    const first = streamOf(j, j.a, texts("a", "b"), { attempt: 0 });
    const second = streamOf(j, j.b, texts("c", "d"), { attempt: 1 });
    const v = j.verifier();
    v.accept(second.chunks.slice(0, 1));
    // Act
    const f = failure(() => v.accept(first.chunks.slice(0, 1)));
    // Assess
    expect(f.code).toBe("stream_reordered");
    expect(f.message).toMatch(/a chunk of attempt 0 came after attempt 1's stream began/);
  });

  it("an attempt's stream that starts at a chunk other than 0, or at a chunk 0 without opener, is stream_gap", () => {
    // Prepare
    const j = job();
    const s = streamOf(j, j.a, texts("a", "b"));
    const { opener, ...noOpener } = s.chunks[0]!;
    expect(opener).toBeDefined();
    // chunk 1 carrying the opener, chunk 0 later in the same batch
    const early = [{ ...s.chunks[1]!, opener }, s.chunks[0]!];
    // Act
    const f1 = failure(() => j.verifier().accept([noOpener]));
    const f2 = failure(() => j.verifier().accept(early));
    // Assess
    expect(f1.code).toBe("stream_gap");
    expect(f1.message).toMatch(/attempt 0's stream starts at chunk 0: its start is missing/);
    expect(f2.code).toBe("stream_gap");
    expect(f2.message).toMatch(/attempt 0's stream starts at chunk 1: its start is missing/);
  });

  it("a stream opened by a worker we did not encrypt to is stream_tampered, naming the worker by its first 8 characters", () => {
    // Prepare
    const j = job();
    const stranger = makeWorker();
    const s = streamOf(j, stranger, texts("a"));
    // Act
    const f = failure(() => j.verifier().accept(s.chunks));
    // Assess
    expect(f.code).toBe("stream_tampered");
    expect(f.message).toBe(`a stream opened by worker ${stranger.workerId.slice(0, 8)}, which we did not encrypt to`);
  });

  it("a chunk repeated with the same data is stream_duplicate; other data at a taken position is stream_reordered", () => {
    // Prepare
    const j = job();
    const s = streamOf(j, j.a, texts("a", "b", "c"));
    const v = j.verifier();
    v.accept(s.chunks.slice(0, 2));
    // Act
    const dup = failure(() => v.accept([s.chunks[0]!]));
    const moved = failure(() => v.accept([{ ...s.chunks[0]!, data: s.chunks[1]!.data }]));
    // Assess
    expect(dup.code).toBe("stream_duplicate");
    expect(dup.message).toBe("chunk 0 came twice");
    expect(moved.code).toBe("stream_reordered");
    expect(moved.message).toBe("chunk 0 came after chunk 1");
    expect(v.accept(s.chunks.slice(2))).toEqual([textPiece("c")]); // the state is unharmed
  });

  it("a chunk ahead of its place is stream_reordered when the missing one follows in the same batch (same job and attempt)", () => {
    // Prepare: chunk 0 accepted; then 2, 1, 3 — the missing chunk 1 is not the batch's last
    const j = job();
    const s = streamOf(j, j.a, texts("a", "b", "c", "d"));
    const v = j.verifier();
    v.accept(s.chunks.slice(0, 1));
    // Act
    const f = failure(() => v.accept([s.chunks[2]!, s.chunks[1]!, s.chunks[3]!]));
    // Assess
    expect(f.code).toBe("stream_reordered");
    expect(f.message).toBe("chunk 2 came before chunk 1");
  });

  it("a chunk ahead of its place is stream_gap when what follows is not the missing chunk of the same job and attempt", () => {
    // Prepare: chunk 0 accepted; chunk 2 then something that is not (job, attempt 0, chunk 1)
    const j = job();
    const s = streamOf(j, j.a, texts("a", "b", "c", "d"));
    const after = (...rest: RelayChunk[]) => {
      const v = j.verifier();
      v.accept(s.chunks.slice(0, 1));
      return failure(() => v.accept([s.chunks[2]!, ...rest]));
    };
    // Act
    const otherSeq = after(s.chunks[3]!);
    const otherAttempt = after({ ...s.chunks[1]!, attempt: 1 });
    const otherJob = after({ ...s.chunks[1]!, jobId: makeHeader().jobId });
    const nothing = after();
    // Assess
    for (const f of [otherSeq, otherAttempt, otherJob, nothing]) {
      expect(f.code).toBe("stream_gap");
      expect(f.message).toBe("chunk 1 is missing: the relay went on with chunk 2");
    }
  });

  it("a chunk after the final one is stream_too_long", () => {
    // Prepare
    const j = job();
    const s = streamOf(j, j.a, texts("a", "b"));
    const v = j.verifier();
    v.accept(s.chunks);
    // Act
    const f = failure(() => v.accept([{ ...s.chunks[1]!, seq: 2, final: false }]));
    // Assess
    expect(f.code).toBe("stream_too_long");
    expect(f.message).toBe("chunk 2 came after the final chunk");
  });

  it("the first attempt's stream gives no restart; a second one after shown text does; more of the same attempt does not", () => {
    // Prepare
    const j = job();
    const first = streamOf(j, j.a, texts("a", "b"), { attempt: 0 });
    const second = streamOf(j, j.b, texts("c", "d"), { attempt: 1 });
    const v = j.verifier();
    // Act
    const p1 = v.accept(first.chunks.slice(0, 1));
    const p2 = v.accept(second.chunks.slice(0, 1));
    const p3 = v.accept(second.chunks.slice(1));
    // Assess
    expect(p1).toEqual([textPiece("a")]);
    expect(p2).toEqual([{ kind: "restart", attempt: 1, workerId: j.b.workerId }, textPiece("c")]);
    expect(p3).toEqual([textPiece("d")]);
    expect(v.relayed).toBe(3);
  });

  it("a second attempt after a first that showed nothing gives no restart", () => {
    // Prepare: attempt 0's chunk 0 is empty (nothing to show)
    const j = job();
    const first = streamOf(j, j.a, [{ text: "" }, { text: "late", end: end() }], { attempt: 0 });
    const second = streamOf(j, j.b, texts("c"), { attempt: 1 });
    const v = j.verifier();
    // Act
    const p1 = v.accept(first.chunks.slice(0, 1));
    const p2 = v.accept(second.chunks);
    // Assess
    expect(p1).toEqual([]);
    expect(p2).toEqual([textPiece("c")]);
  });

  it("pieces: text with its choice index, logprobs alone, tool calls from the end, nothing for an empty chunk", () => {
    // Prepare
    const j = job();
    const s = streamOf(j, j.a, [
      { text: "a" },
      { i: 1, text: "b", logprobs: [lp("b")] },
      { logprobs: [lp("c")] },
      {},
      { end: end([{ finishReason: "stop" }, { finishReason: "stop", toolCalls: [TOOL] }]) },
    ]);
    // Act
    const pieces = j.verifier().accept(s.chunks);
    // Assess
    expect(pieces).toEqual([
      { kind: "text", index: 0, text: "a" },
      { kind: "text", index: 1, text: "b", logprobs: [lp("b")] },
      { kind: "text", index: 0, text: "", logprobs: [lp("c")] },
      { kind: "tools", index: 1, toolCalls: [TOOL] },
    ]);
    expect(pieces[0]).not.toHaveProperty("logprobs");
  });

  it("relayedReply is the whole relayed attempt as the worker posts it, and only once its final chunk came", () => {
    // Prepare
    const j = job();
    const s = streamOf(j, j.a, texts("a", "b"), { attempt: 2 });
    const v = j.verifier();
    // Act
    const before = v.relayedReply();
    v.accept(s.chunks.slice(0, 1));
    const midway = v.relayedReply();
    v.accept(s.chunks.slice(1));
    const whole = v.relayedReply();
    // Assess
    expect(before).toBeUndefined();
    expect(midway).toBeUndefined();
    expect(whole).toEqual({ reply: s.stored, attempt: 2, workerId: j.a.workerId });
  });
});

describe("StreamVerifier.settle", () => {
  it("a stored SealedReply for the attempt whose chunks were relayed is stream_mismatch", () => {
    // Prepare
    const j = job();
    const s = streamOf(j, j.a, texts("a", "b"));
    const v = j.verifier();
    v.accept(s.chunks.slice(0, 1));
    // Act
    const f = failure(() => v.settle(sealedReply(j, j.a, "ab"), 0, j.a.workerId));
    // Assess
    expect(f.code).toBe("stream_mismatch");
    expect(f.message).toBe("the stored reply is not the stream that was relayed");
  });

  it("a stored SealedReply for another attempt is the answer, after a restart since text was shown", () => {
    // Prepare
    const j = job();
    const s = streamOf(j, j.a, texts("a", "b"), { attempt: 0 });
    const v = j.verifier();
    v.accept(s.chunks.slice(0, 1));
    // Act
    const settled = v.settle(sealedReply(j, j.b, "old"), 1, j.b.workerId);
    // Assess
    expect(settled).toEqual({
      pieces: [{ kind: "restart", attempt: 1, workerId: j.b.workerId }, textPiece("old")],
      answer: { choices: [{ index: 0, text: "old", finishReason: "stop" }], usage: USAGE, engine: "old-agent" },
    });
    expect(v.recovered).toBe(1);
  });

  it("a stored SealedReply with nothing relayed is the answer, with no restart", () => {
    // Prepare
    const j = job();
    const v = j.verifier();
    // Act
    const settled = v.settle(sealedReply(j, j.a, "old"), 0, j.a.workerId);
    // Assess
    expect(settled.pieces).toEqual([textPiece("old")]);
    expect(settled.answer.choices[0]!.text).toBe("old");
    expect(v.recovered).toBe(1);
  });

  it("a stored SealedReply for an attempt whose stream opened but delivered no chunk is no mismatch", () => {
    // Prepare: attempt 0's opener checks out, its chunk 0 does not open (refused, nothing kept)
    const j = job();
    const s = streamOf(j, j.a, texts("a"));
    const other = streamOf(j, j.a, texts("x"));
    const v = j.verifier();
    expect(failure(() => v.accept([{ ...s.chunks[0]!, data: other.chunks[0]!.data }])).code).toBe("stream_tampered");
    // Act
    const settled = v.settle(sealedReply(j, j.a, "old"), 0, j.a.workerId);
    // Assess
    expect(settled.pieces).toEqual([textPiece("old")]);
  });

  it("a stored chunked reply from another worker, with another enc, or with another sig than the relayed stream is stream_mismatch", () => {
    // Prepare
    const j = job();
    const s = streamOf(j, j.a, texts("a", "b"));
    const other = streamOf(j, j.a, texts("a", "b"));
    const relayed = () => {
      const v = j.verifier();
      v.accept(s.chunks.slice(0, 1));
      return v;
    };
    // Act
    const worker = failure(() => relayed().settle(s.stored, 0, j.b.workerId));
    const enc = failure(() => relayed().settle({ ...s.stored, enc: other.stored.enc }, 0, j.a.workerId));
    const sig = failure(() => relayed().settle({ ...s.stored, sig: other.stored.sig }, 0, j.a.workerId));
    // Assess
    for (const f of [worker, enc, sig]) {
      expect(f.code).toBe("stream_mismatch");
      expect(f.message).toBe("the stored reply was not sealed by the stream that was relayed");
    }
  });

  it("a stored chunked reply shorter than what was relayed, or differing in a relayed chunk, is stream_mismatch", () => {
    // Prepare
    const j = job();
    const s = streamOf(j, j.a, texts("a", "b", "c"));
    const v = j.verifier();
    v.accept(s.chunks.slice(0, 2));
    const shorter = { ...s.stored, chunks: s.stored.chunks.slice(0, 1) };
    const differing = { ...s.stored, chunks: [s.stored.chunks[0]!, s.stored.chunks[2]!, s.stored.chunks[2]!] };
    // Act
    const f1 = failure(() => v.settle(shorter, 0, j.a.workerId));
    const f2 = failure(() => v.settle(differing, 0, j.a.workerId));
    // Assess
    for (const f of [f1, f2]) {
      expect(f.code).toBe("stream_mismatch");
      expect(f.message).toBe("the stored reply differs from the chunks the relay delivered");
    }
  });

  it("settle gives exactly the pieces the relay did not deliver, and counts them", () => {
    // Prepare: 2 of 4 chunks relayed; the end carries a tool call
    const j = job();
    const s = streamOf(j, j.a, [
      { text: "a" },
      { text: "b" },
      { text: "c" },
      { text: "d", end: end([{ finishReason: "stop", toolCalls: [TOOL] }]) },
    ]);
    const v = j.verifier();
    const shown = v.accept(s.chunks.slice(0, 2));
    // Act
    const settled = v.settle(s.stored, 0, j.a.workerId);
    // Assess
    expect(shown).toEqual([textPiece("a"), textPiece("b")]);
    expect(settled.pieces).toEqual([textPiece("c"), textPiece("d"), { kind: "tools", index: 0, toolCalls: [TOOL] }]);
    expect(settled.answer.choices).toEqual([{ index: 0, text: "abcd", finishReason: "stop", toolCalls: [TOOL] }]);
    expect(v.relayed).toBe(2);
    expect(v.recovered).toBe(2);
  });

  it("a stored chunked reply of another attempt than relayed gives all its pieces, after a restart since text was shown", () => {
    // Prepare
    const j = job();
    const first = streamOf(j, j.a, texts("a", "b"), { attempt: 0 });
    const second = streamOf(j, j.b, texts("x", "y"), { attempt: 1 });
    const v = j.verifier();
    v.accept(first.chunks.slice(0, 1));
    // Act
    const settled = v.settle(second.stored, 1, j.b.workerId);
    // Assess
    expect(settled.pieces).toEqual([{ kind: "restart", attempt: 1, workerId: j.b.workerId }, textPiece("x"), textPiece("y")]);
    expect(settled.answer.choices[0]!.text).toBe("xy");
    expect(v.recovered).toBe(2);
  });

  it("a stored chunked reply with nothing shown before gives all its pieces and no restart", () => {
    // Prepare: one verifier saw nothing; another saw attempt 0 show nothing
    const j = job();
    const empty = streamOf(j, j.a, [{ text: "" }, { text: "z", end: end() }], { attempt: 0 });
    const second = streamOf(j, j.b, texts("x", "y"), { attempt: 1 });
    const fresh = j.verifier();
    const quiet = j.verifier();
    expect(quiet.accept(empty.chunks.slice(0, 1))).toEqual([]);
    // Act
    const s1 = fresh.settle(second.stored, 1, j.b.workerId);
    const s2 = quiet.settle(second.stored, 1, j.b.workerId);
    // Assess
    expect(s1.pieces).toEqual([textPiece("x"), textPiece("y")]);
    expect(s2.pieces).toEqual([textPiece("x"), textPiece("y")]);
    expect(fresh.recovered).toBe(2);
  });
});
