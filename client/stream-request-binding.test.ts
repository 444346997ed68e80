/**
 * Session 31 crypto review #1: a stream must answer OUR request. The opener's signature binds a
 * stream to the job header and the worker, not to the payload; and Base-mode HPKE lets anyone
 * who read the header (the coordinator) wrap a data key of its own to the worker under it, with
 * a prompt of its own. The worker cannot tell; its answer streams to our reply key under a
 * genuine opener. Chunk 0 now names the envelope the worker opened (ChunkPlaintext.req, sealed,
 * so only the worker writes it), and the SDK refuses a stream naming another before showing it.
 */
import { describe, expect, it } from "vitest";
import { sealRequestBound } from "../core/crypto/envelope";
import { b64u } from "../core/crypto/encoding";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import { ReplyStreamOpener } from "../core/crypto/reply-stream";
import type { AgentJob } from "../events/api";
import type { ChunkedReply, EnvelopeHeader, RequestEnvelope } from "../events/envelope";
import type { RelayChunk } from "../events/relay";
import type { Engine } from "../agent/engines/engine";
import { executeJob } from "../agent/execute";
import { executeContext, freshStats, recordingApi } from "../agent/job-testing";
import { StreamVerifier } from "./reply";
import { bindingOf, streamCheckCode } from "./reply-testing";

const MODEL = "test-model";

/** Factory: an engine that answers every prompt by repeating it (so an answer shows which request it is to). */
const echoEngine: Engine = {
  name: "echo",
  models: async () => [MODEL],
  capabilities: async () => ({ chat: true, completions: false, embeddings: false, streaming: false, tools: false, jsonSchema: false }),
  generate: async (req) => ({
    text: `you asked: ${JSON.stringify(req.messages?.at(-1)?.content ?? "")}`,
    usage: { promptTokens: 1, completionTokens: 1 },
    finishReason: "stop",
    engine: "echo",
  }),
};

/** Factory: a worker, a requester's header and the envelope the requester sealed to that worker. */
function prepared() {
  const signingKey = generateSigningKey();
  const kemKey = generateKemKey();
  const replyKey = generateKemKey();
  const header: EnvelopeHeader = {
    v: 1,
    jobId: "job_01m8bind1ngreqqqqqqqqqqqq0",
    requester: generateSigningKey().id,
    model: MODEL,
    maxTokens: 16,
    maxPromptTokens: 256,
    maxCost: "1000000",
    replyKey: b64u.encode(replyKey.publicKey),
  };
  const sealBound = (content: string) =>
    sealRequestBound({
      header,
      plaintext: new TextEncoder().encode(JSON.stringify({ model: MODEL, messages: [{ role: "user", content }] })),
      recipients: [{ workerId: signingKey.id, hpkePublicKey: kemKey.publicKey }],
    });
  const seal = (content: string): RequestEnvelope => sealBound(content).envelope;
  const ours = sealBound("the requester's question");
  return { signingKey, kemKey, replyKey, header, seal, ours: ours.envelope, binding: bindingOf(ours) };
}

/** The worker's reply to `envelope`, as executeJob posts it. */
async function answer(w: ReturnType<typeof prepared>, envelope: RequestEnvelope): Promise<ChunkedReply> {
  const { api, results } = recordingApi();
  const stats = freshStats();
  const job: AgentJob = { jobId: w.header.jobId, attempt: 0, envelope, deadline: Date.now() + 60_000 };
  await executeJob(executeContext(w, api, echoEngine, { stats }), job);
  const r = results[0];
  if (r?.kind !== "completed" || !("chunks" in r.reply)) throw new Error("the worker did not answer with a chunked reply");
  return r.reply;
}

/** A reply's chunks as a relay delivers them. */
const relayed = (w: ReturnType<typeof prepared>, reply: ChunkedReply): RelayChunk[] =>
  reply.chunks.map((data, seq) => ({
    jobId: w.header.jobId,
    attempt: 0,
    seq,
    final: seq === reply.chunks.length - 1,
    data,
    ...(seq === 0 ? { opener: { workerId: w.signingKey.id, enc: reply.enc, sig: reply.sig } } : {}),
  }));

describe("session 31 #1: a streamed answer is bound to the request the SDK sealed", () => {
  it("the honest worker's stream of our own envelope is shown (positive control)", async () => {
    // Prepare
    const w = prepared();
    const reply = await answer(w, w.ours);
    const verifier = new StreamVerifier(w.header.jobId, w.header, w.replyKey, new Set([w.signingKey.id]), w.binding);
    // Act
    const shown = verifier.accept(relayed(w, reply));
    // Assess
    expect(shown.map((p) => (p.kind === "text" ? p.text : p.kind)).join("")).toContain("the requester's question");
  });

  it("a coordinator that wraps its own data key and prompt to our worker under our header: the genuine stream is refused before any text (stream_tampered)", async () => {
    // Prepare: everything the coordinator needs is public to it (the header, the worker's HPKE key)
    const w = prepared();
    const substituted = w.seal("the coordinator's question");
    const reply = await answer(w, substituted);
    const chunks = relayed(w, reply);
    // the opener is the worker's own: its signature check alone lets this stream through
    expect(() => new ReplyStreamOpener(w.header, w.signingKey.id, chunks[0]!.opener!, w.replyKey)).not.toThrow();
    const verifier = new StreamVerifier(w.header.jobId, w.header, w.replyKey, new Set([w.signingKey.id]), w.binding);
    let shown: ReturnType<StreamVerifier["accept"]> = [];
    // Act
    const code = streamCheckCode(() => {
      shown = verifier.accept(chunks);
    });
    // Assess
    expect(code).toBe("stream_tampered");
    expect(shown).toEqual([]);
  });
});
