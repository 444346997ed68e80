/**
 * Session 39 attestation review: a tdx worker's Ed25519 key is on its host's disk (TDX has no
 * sealing), its HPKE key only in its TD. A process outside the TD that polls with the stolen
 * signing key cannot read the prompt, but it can seal any text to the header's public reply key
 * under an opener it signs, and sign a receipt at the maximum usage with the registered
 * measurement. The SDK now requires of tdx workers the reply proof (ChunkPlaintext.proof), which
 * needs the HPKE key: such a reply is refused, streamed and whole, before any of it is shown.
 */
import { describe, expect, it } from "vitest";
import { replyHash, replyProof, requestHash, requestTag, sealRequestBound, openRequestBound } from "../core/crypto/envelope";
import { b64u } from "../core/crypto/encoding";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import { signReceipt } from "../core/crypto/receipt";
import { ReplyStreamSealer } from "../core/crypto/reply-stream";
import { DEFAULT_PRICING, jobCost } from "../core/pricing";
import type { AgentJob, JobView } from "../events/api";
import type { ChunkedReply, ChunkPlaintext, EnvelopeHeader, Receipt, RequestEnvelope } from "../events/envelope";
import type { RelayChunk } from "../events/relay";
import type { Engine } from "../agent/engines/engine";
import { executeJob } from "../agent/execute";
import { executeContext, freshStats, recordingApi } from "../agent/job-testing";
import type { StreamPiece } from "./reply";
import { streamCheckCode } from "./reply-testing";
import { checkCompletedJob, streamVerifierOf, VerificationError, type VerifiedCandidate } from "./sdk";
import { completedJob, refusal } from "./sdk-testing";

const MODEL = "test-model";
const MEASUREMENT = "m".repeat(64); // what executeContext's worker signs, and what it attested
const PRICE = 10n;

const engine: Engine = {
  name: "fixed",
  models: async () => [MODEL],
  capabilities: async () => ({ chat: true, completions: false, embeddings: false, streaming: false, tools: false, jsonSchema: false }),
  generate: async () => ({
    text: "the TD's answer",
    usage: { promptTokens: 3, completionTokens: 4 },
    finishReason: "stop",
    engine: "fixed",
  }),
};

/** Factory: a worker of `tier`, a requester's header, and a request sealed to the worker with its proof keys (as the SDK keeps them). */
function requester(tier: "tdx" | "dev" = "tdx") {
  const signingKey = generateSigningKey();
  const kemKey = generateKemKey();
  const replyKey = generateKemKey();
  const header = (jobId: string): EnvelopeHeader => ({
    v: 1,
    jobId,
    requester: generateSigningKey().id,
    model: MODEL,
    maxTokens: 1000,
    maxPromptTokens: 256,
    maxCost: "1000000",
    replyKey: b64u.encode(replyKey.publicKey),
  });
  const seal = (h: EnvelopeHeader) =>
    sealRequestBound({
      header: h,
      plaintext: new TextEncoder().encode(JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "a secret question" }] })),
      recipients: [{ workerId: signingKey.id, hpkePublicKey: kemKey.publicKey }],
    });
  const ours = header("job_01m8pr00fqqqqqqqqqqqqqqqq0");
  const { envelope, proofKeys } = seal(ours);
  const candidate: VerifiedCandidate = {
    workerId: signingKey.id,
    hpkePublicKey: b64u.encode(kemKey.publicKey),
    pricePerToken: String(PRICE),
    tier,
    measurement: MEASUREMENT,
  } as VerifiedCandidate;
  return { signingKey, kemKey, replyKey, header: ours, envelope, proofKeys, candidate, seal, headerOf: header };
}
type Requester = ReturnType<typeof requester>;

/** The genuine agent's reply and receipt to `envelope` (executeJob, inside the TD). */
async function genuine(r: Requester, envelope: RequestEnvelope): Promise<{ reply: ChunkedReply; receipt: Receipt }> {
  const { api, results } = recordingApi();
  const job: AgentJob = { jobId: envelope.header.jobId, attempt: 0, envelope, deadline: Date.now() + 60_000 };
  await executeJob(executeContext(r, api, engine, { stats: freshStats() }), job);
  const res = results[0];
  if (res?.kind !== "completed" || !("chunks" in res.reply)) throw new Error("the worker did not answer with a chunked reply");
  return { reply: res.reply, receipt: res.receipt };
}

/**
 * What a process on the host makes with the worker's signing key and the public envelope only: a
 * reply to the header's reply key under an opener it signs, chunk 0 naming our request (its hash is
 * public) and carrying `proof` if given, and a receipt at the maximum usage with the registered
 * measurement.
 */
function forged(r: Requester, proof?: string): { reply: ChunkedReply; receipt: Receipt } {
  const sealer = new ReplyStreamSealer(r.header, r.signingKey.id, r.signingKey);
  const usage = { promptTokens: r.header.maxPromptTokens, completionTokens: r.header.maxTokens };
  const chunk: ChunkPlaintext = {
    req: requestTag(requestHash(r.envelope)),
    ...(proof ? { proof } : {}),
    text: "the host's answer",
    end: { usage, engine: "fixed", choices: [{ finishReason: "stop" }] },
  };
  sealer.seal(new TextEncoder().encode(JSON.stringify(chunk)), true);
  const reply = sealer.reply();
  const receipt = signReceipt(
    {
      v: 1,
      jobId: r.header.jobId,
      workerId: r.signingKey.id,
      model: MODEL,
      requestHash: requestHash(r.envelope),
      replyHash: replyHash(reply),
      usage,
      measurement: MEASUREMENT,
      finishedAt: Date.now(),
    },
    r.signingKey,
  );
  return { reply, receipt };
}

/** The SDK's check of the job completed with `reply` (ask(), embed(), and askStream's end). */
function checkWhole(r: Requester, done: { reply: ChunkedReply; receipt: Receipt }) {
  const cost = jobCost(DEFAULT_PRICING, PRICE, done.receipt.body.usage);
  const job = { workerId: r.signingKey.id, reply: done.reply, receipt: done.receipt, cost: String(cost) } as JobView;
  return checkCompletedJob({
    job,
    jobId: r.header.jobId,
    envelope: r.envelope,
    header: r.header,
    replyKey: r.replyKey,
    encryptedTo: [r.candidate],
    proofKeys: r.proofKeys,
    maxCost: r.header.maxCost,
  });
}

/** askStream's check of the relayed chunks (client/sdk.ts streamVerifierOf). */
function checkStream(r: Requester, reply: ChunkedReply): { code: string; shown: StreamPiece[] } {
  const verifier = streamVerifierOf({
    jobId: r.header.jobId,
    header: r.header,
    replyKey: r.replyKey,
    verified: [r.candidate],
    envelope: r.envelope,
    proofKeys: r.proofKeys,
  });
  const chunks: RelayChunk[] = reply.chunks.map((data, seq) => ({
    jobId: r.header.jobId,
    attempt: 0,
    seq,
    final: seq === reply.chunks.length - 1,
    data,
    ...(seq === 0 ? { opener: { workerId: r.signingKey.id, enc: reply.enc, sig: reply.sig } } : {}),
  }));
  let shown: StreamPiece[] = [];
  const code = streamCheckCode(() => {
    shown = verifier.accept(chunks);
  });
  return { code, shown };
}

const shownText = (p: StreamPiece[]) => p.map((x) => (x.kind === "text" ? x.text : "")).join("");

describe("session 39: a tdx worker's reply must prove it unwrapped our request", () => {
  it("the genuine agent's reply passes, streamed and whole (positive control)", async () => {
    // Prepare
    const r = requester();
    const done = await genuine(r, r.envelope);
    // Act
    const stream = checkStream(r, done.reply);
    const whole = checkWhole(r, done);
    // Assess
    expect(stream.code).toBe("accepted");
    expect(shownText(stream.shown)).toBe("the TD's answer");
    expect(whole.text).toBe("the TD's answer");
  });

  it("a reply made outside the TD with the worker's signing key, valid opener and receipt, no proof: refused before any text (reply_unbound)", () => {
    // Prepare
    const r = requester();
    const done = forged(r);
    // Act
    const stream = checkStream(r, done.reply);
    const whole = refusal(() => checkWhole(r, done));
    // Assess
    expect(stream).toEqual({ code: "reply_unbound", shown: [] });
    expect(whole.code).toBe("reply_unbound");
  });

  it("a forged reply carrying a proof from another job's request (the host's owner asked its own worker): refused", async () => {
    // Prepare: the owner, as a requester, sends its own worker a job, and so knows that job's proof
    const r = requester();
    const theirs = r.seal(r.headerOf("job_01m8pr00fzzzzzzzzzzzzzzzz0"));
    const theirProof = replyProof(theirs.proofKeys.get(r.signingKey.id)!, requestHash(theirs.envelope));
    // the worker (the TD) computes the same proof for that job: it is a genuine proof, of the wrong request
    expect(
      replyProof(openRequestBound(theirs.envelope, { workerId: r.signingKey.id, kem: r.kemKey }).proofKey, requestHash(theirs.envelope)),
    ).toBe(theirProof);
    const done = forged(r, theirProof);
    // Act
    const stream = checkStream(r, done.reply);
    const whole = refusal(() => checkWhole(r, done));
    // Assess
    expect(stream).toEqual({ code: "reply_unbound", shown: [] });
    expect(whole.code).toBe("reply_unbound");
  });

  it("the genuine reply to another request, relayed as ours: refused whole, even with a receipt re-signed to our request", async () => {
    // Prepare
    const r = requester();
    const other = r.seal(r.header);
    const done = await genuine(r, other.envelope);
    const receipt = signReceipt({ ...done.receipt.body, requestHash: requestHash(r.envelope) }, r.signingKey);
    // Act
    const whole = refusal(() => checkWhole(r, { reply: done.reply, receipt }));
    // Assess: chunk 0 names the other request too (session 31), but it is the proof that pins it here
    expect(whole.code).toBe("reply_unbound");
  });

  it("a dev worker may answer without a proof (older agents), but a wrong one is refused", () => {
    // Prepare
    const r = requester("dev");
    // Act
    const none = checkStream(r, forged(r).reply);
    const wrong = checkStream(r, forged(r, replyProof(Buffer.alloc(32, 9), requestHash(r.envelope))).reply);
    // Assess
    expect(none.code).toBe("accepted");
    expect(wrong).toEqual({ code: "reply_unbound", shown: [] });
  });

  it("a tdx worker's whole SealedReply (the form before streaming: it has no place for a proof) is refused; a dev worker's is read", () => {
    // Act
    const tdx = refusal(completedJob({ tier: "tdx" }).check);
    const dev = refusal(completedJob({ tier: "dev" }).check);
    // Assess
    expect(tdx.code).toBe("reply_unbound");
    expect(dev.code).toBe("accepted");
  });

  it("the SDK's check of a stored chunked reply: an honest proof passes, none or another's is refused", () => {
    // Act
    const honest = refusal(completedJob({ chunked: true }).check);
    const none = refusal(completedJob({ chunked: true, proof: () => undefined }).check);
    const wrong = refusal(completedJob({ chunked: true, proof: (p) => (p.startsWith("A") ? "B" : "A") + p.slice(1) }).check);
    // Assess
    expect([honest.code, none.code, wrong.code]).toEqual(["accepted", "reply_unbound", "reply_unbound"]);
  });

  it("reply_unbound is a StreamIntegrityError, a VerificationError", () => {
    // Prepare
    const r = requester();
    // Act
    let caught: unknown;
    try {
      checkWhole(r, forged(r));
    } catch (e) {
      caught = e;
    }
    // Assess
    expect(caught).toBeInstanceOf(VerificationError);
    expect((caught as Error).name).toBe("StreamIntegrityError");
  });
});
