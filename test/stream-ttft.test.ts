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
import { sealRequestBound } from "../core/crypto/envelope";
import { ReplyStreamOpener } from "../core/crypto/reply-stream";
import { API, ApiError, type ApiClient } from "../api-client/api";
import type { ExternalRelayPublisher } from "../agent/relay";
import type { ApiRoute } from "../api-client/routes";
import { executeJob } from "../agent/execute";
import { executeContext, freshStats } from "../agent/job-testing";
import { BUILTIN_DEFAULT_MODEL, createBuiltinEngine } from "../agent/engines/builtin";
import type { Engine, EngineRequest, EngineStreamEvent } from "../agent/engines/engine";
import { openAnswer } from "../client/reply";
import { bindingOf } from "../client/reply-testing";
import { requestPlaintextOf } from "../client/sdk";

/**
 * The coordinator's side as the agent sees it: an HTTP relay (or with `pubsub`, a pub/sub one
 * whose publishes land in `published` too), results taken (or refused with `refuse`). `log`
 * lists what happened in order: each publish and each result post.
 */
function fakeApi(o: { pubsub?: boolean; refuse?: ApiError } = {}) {
  const published: RelayChunk[] = [];
  const results: ResultRequest[] = [];
  const log: string[] = [];
  const api = {
    async request(route: ApiRoute, opts: { body?: unknown } = {}) {
      if (route === API.agentRelaySession)
        return o.pubsub
          ? {
              transport: "iot-mqtt",
              endpoint: "iot.test",
              region: "us-east-1",
              topic: "t",
              clientId: "c",
              credentials: { accessKeyId: "a", secretAccessKey: "s", sessionToken: "t", expiration: Date.now() + 600_000 },
            }
          : { transport: "http" };
      if (route === API.publishChunks) {
        const chunks = (opts.body as { chunks: RelayChunk[] }).chunks;
        published.push(...chunks);
        log.push(...chunks.map((c) => `publish ${c.seq}${c.final ? " final" : ""}`));
        return { ok: true, buffered: chunks.length };
      }
      if (route === API.postResult) {
        log.push("result");
        if (o.refuse) throw o.refuse;
        results.push(opts.body as ResultRequest);
        return { status: "completed", duplicate: false, cost: "1" };
      }
      throw new Error(`unexpected route ${route.path}`);
    },
    localTime: (serverMs: number) => serverMs, // the coordinator's clock is ours
  };
  const external: ExternalRelayPublisher = async (_session, chunks) => {
    published.push(...chunks);
    log.push(...chunks.map((c) => `publish ${c.seq}${c.final ? " final" : ""}`));
  };
  return { api: api as unknown as ApiClient, published, results, log, external };
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
  const sealed = sealRequestBound({
    header,
    plaintext: new TextEncoder().encode(JSON.stringify(plaintext)),
    recipients: [{ workerId, hpkePublicKey }],
  });
  const job: AgentJob = { jobId: header.jobId, attempt: 0, envelope: sealed.envelope, deadline: Date.now() + 60_000 };
  return { job, header, replyKey, binding: bindingOf(sealed) };
}

describe("issue 11: the agent's share of the time to first token", () => {
  it("asks the engine before it sets up the reply stream (key exchange, signed opener); the stream opens as before", async () => {
    // Prepare
    const order: string[] = [];
    const signingKey = generateSigningKey();
    const kemKey = generateKemKey();
    const { api, published, results } = fakeApi();
    const { job, header, replyKey, binding } = streamedJob(signingKey.id, kemKey.publicKey);
    const stats = freshStats();
    // Act
    await executeJob(
      executeContext({ signingKey, kemKey }, api, notedEngine(order), { signingKey: watchedKey(signingKey, order), stats }),
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
    const answer = openAnswer(result.reply, header, signingKey.id, replyKey, binding);
    expect(answer.choices[0]!.text.length).toBeGreaterThan(0);
    expect(published.at(-1)!.final).toBe(true);
  });
});

describe("issue 12: on a pub/sub relay the final chunk goes out only once the coordinator took the result", () => {
  const run = async (o: { pubsub: boolean; refuse?: ApiError }) => {
    const signingKey = generateSigningKey();
    const kemKey = generateKemKey();
    const fake = fakeApi(o);
    const { job } = streamedJob(signingKey.id, kemKey.publicKey);
    const stats = freshStats();
    await executeJob(
      executeContext({ signingKey, kemKey }, fake.api, createBuiltinEngine({ delayMsPerToken: 1 }), {
        stats,
        ...(o.pubsub ? { relayPublisher: fake.external } : {}),
      }),
      job,
    );
    return { ...fake, stats };
  };

  it("pub/sub: the result first, then the final chunk with the receipt and the coordinator's bill", async () => {
    // Act
    const { log, published } = await run({ pubsub: true });
    // Assess
    expect(log.indexOf("result")).toBeGreaterThanOrEqual(0);
    expect(log.slice(log.indexOf("result") + 1).some((x) => x.endsWith(" final"))).toBe(true);
    expect(log.slice(0, log.indexOf("result")).some((x) => x.endsWith(" final"))).toBe(false);
    expect(published.at(-1)).toMatchObject({ final: true, billed: "1" });
    expect(published.at(-1)!.receipt).toBeDefined();
  });

  it("pub/sub, a result the coordinator refuses (stale attempt): no final chunk ever goes out, so no requester takes it as settled", async () => {
    // Act
    const { log, published, stats } = await run({
      pubsub: true,
      refuse: new ApiError(409, "stale_attempt", "another attempt runs the job"),
    });
    // Assess
    expect(log).toContain("result");
    expect(published.some((c) => c.final)).toBe(false);
    expect(stats.jobs).toBe(0);
  });

  it("the HTTP relay keeps its order: the final chunk before the result, without a bill", async () => {
    // Act
    const { log, published } = await run({ pubsub: false });
    // Assess
    const final = log.findIndex((x) => x.endsWith(" final"));
    expect(final).toBeGreaterThanOrEqual(0);
    expect(final).toBeLessThan(log.indexOf("result"));
    expect(published.at(-1)!.billed).toBeUndefined();
  });
});
