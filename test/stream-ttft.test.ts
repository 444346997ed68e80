/**
 * issue 11 (time to first token): the agent asks the engine first and sets up the reply
 * stream (an X25519 exchange and the opener's Ed25519 signature) while the engine works
 * towards its first token, not before asking it. The stream itself must stay as it was: the
 * first relayed chunk carries the signed opener and the stored reply opens.
 */
import { describe, expect, it } from "vitest";
import type { EnvelopeHeader } from "../events/envelope";
import type { AgentJob, ResultRequest } from "../events/api";
import type { RelayChunk } from "../events/relay";
import { b64u } from "../core/crypto/encoding";
import { generateKemKey, generateSigningKey, type SigningKeyPair } from "../core/crypto/keys";
import { sealRequest } from "../core/crypto/envelope";
import { ReplyStreamOpener } from "../core/crypto/reply-stream";
import { API, type ApiClient } from "../api-client/api";
import type { ApiRoute } from "../api-client/routes";
import { executeJob, type AgentStats } from "../agent/execute";
import { BUILTIN_DEFAULT_MODEL, createBuiltinEngine } from "../agent/engines/builtin";
import type { Engine, EngineRequest, EngineStreamEvent } from "../agent/engines/engine";
import { openAnswer } from "../client/reply";
import { requestPlaintextOf } from "../client/sdk";

/** The coordinator's side as the agent sees it: an HTTP relay, results taken. */
function fakeApi() {
  const published: RelayChunk[] = [];
  const results: ResultRequest[] = [];
  const api = {
    async request(route: ApiRoute, o: { body?: unknown } = {}) {
      if (route === API.agentRelaySession) return { transport: "http" };
      if (route === API.publishChunks) {
        const chunks = (o.body as { chunks: RelayChunk[] }).chunks;
        published.push(...chunks);
        return { ok: true, buffered: chunks.length };
      }
      if (route === API.postResult) {
        results.push(o.body as ResultRequest);
        return { ok: true, duplicate: false, cost: "1" };
      }
      throw new Error(`unexpected route ${route.path}`);
    },
  };
  return { api: api as unknown as ApiClient, published, results };
}

/** A signing key that notes each use of its private half (the opener's signature is the first). */
function watchedKey(key: SigningKeyPair, order: string[]): SigningKeyPair {
  return {
    id: key.id,
    publicKey: key.publicKey,
    get privateKey() {
      order.push("signature");
      return key.privateKey;
    },
  };
}

/** The built-in engine, paced, noting when it was asked. */
function notedEngine(order: string[]): Engine {
  const inner = createBuiltinEngine({ delayMsPerToken: 5 });
  return {
    name: inner.name,
    models: () => inner.models(),
    generate: (req) => inner.generate(req),
    async *stream(req: EngineRequest): AsyncGenerator<EngineStreamEvent> {
      order.push("engine asked");
      yield* inner.stream!(req);
    },
  };
}

function streamedJob(workerId: string, hpkePublicKey: Uint8Array) {
  const replyKey = generateKemKey();
  const header: EnvelopeHeader = {
    v: 1,
    jobId: "job_01m8ttftttttttttttttttttt0",
    requester: generateSigningKey().id,
    model: BUILTIN_DEFAULT_MODEL,
    maxTokens: 16,
    maxPromptTokens: 256,
    maxCost: "1000000",
    replyKey: b64u.encode(replyKey.publicKey),
  };
  const plaintext = requestPlaintextOf(
    { model: BUILTIN_DEFAULT_MODEL, messages: [{ role: "user", content: "a short streamed answer" }] },
    true,
  );
  const envelope = sealRequest({
    header,
    plaintext: new TextEncoder().encode(JSON.stringify(plaintext)),
    recipients: [{ workerId, hpkePublicKey }],
  });
  const job: AgentJob = { jobId: header.jobId, attempt: 0, envelope, deadline: Date.now() + 60_000 };
  return { job, header, replyKey };
}

describe("issue 11: the agent's share of the time to first token", () => {
  it("asks the engine before it sets up the reply stream (key exchange, signed opener); the stream opens as before", async () => {
    // Prepare
    const order: string[] = [];
    const signingKey = generateSigningKey();
    const kemKey = generateKemKey();
    const { api, published, results } = fakeApi();
    const { job, header, replyKey } = streamedJob(signingKey.id, kemKey.publicKey);
    const stats: AgentStats = { jobs: 0, failed: 0, promptTokens: 0, completionTokens: 0, challenges: 0 };
    // Act
    await executeJob(
      {
        api,
        workerId: signingKey.id,
        signingKey: watchedKey(signingKey, order),
        kemKey,
        engine: notedEngine(order),
        measurement: () => "m".repeat(64),
        now: Date.now,
        log: { info() {}, warn() {} },
        stats,
      },
      job,
    );
    // Assess
    expect(order[0]).toBe("engine asked");
    expect(order).toContain("signature");
    expect(stats).toMatchObject({ jobs: 1, failed: 0 });
    const first = published[0]!;
    expect(first).toMatchObject({ jobId: job.jobId, seq: 0, final: false });
    const opener = new ReplyStreamOpener(header, signingKey.id, first.opener!, replyKey);
    expect(JSON.parse(new TextDecoder().decode(opener.open(0, false, first.data))).text).toBeTruthy();
    const result = results[0]!;
    if (result.kind !== "completed") throw new Error(`the job failed: ${result.code}`);
    const answer = openAnswer(result.reply, header, signingKey.id, replyKey);
    expect(answer.choices[0]!.text.length).toBeGreaterThan(0);
    expect(published.at(-1)!.final).toBe(true);
  });
});
