/**
 * a requester's sealed `extra` reached an OpenAI-compatible engine minus RESERVED keys (since
 * review41 an allow-list: a name not on it fails the job before the engine runs).
 * llama.cpp's server reads `n_predict` before `max_tokens` (params_from_json:
 * n_predict = json_value(data, "n_predict", json_value(data, "max_tokens", …))), so `extra.n_predict`
 * lifts the job's completion limit. On a streamed job the deltas are sealed and published as they
 * come; the usage check only fails the job at the end (nothing billed): the requester reads the
 * whole over-limit answer for free, on every candidate in turn.
 */
import { describe, expect, it } from "vitest";
import { API, type ApiClient } from "../api-client/api";
import type { ApiRoute } from "../api-client/routes";
import { sealRequest } from "../core/crypto/envelope";
import { b64u } from "../core/crypto/encoding";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import type { AgentJob, ResultRequest } from "../events/api";
import type { RelayChunk } from "../events/relay";
import { createOpenAiEngine } from "../agent/engines/openai-http";
import { executeJob } from "../agent/execute";
import { executeContext, freshStats } from "../agent/job-testing";
import { MODEL } from "./helpers";

const enc = new TextEncoder();

/** A fetch that behaves as llama-server does for the completion limit: n_predict first, then max_tokens. */
function llamaServerLike() {
  const bodies: Record<string, unknown>[] = [];
  const fetchImpl = (async (_url: string | URL | Request, init?: RequestInit) => {
    const body = JSON.parse(String(init?.body)) as Record<string, unknown>;
    bodies.push(body);
    const limit = Number(body.n_predict ?? body.max_tokens);
    const events = [];
    for (let i = 0; i < limit; i++) events.push({ choices: [{ index: 0, delta: { content: `t${i} ` }, finish_reason: null }] });
    events.push({ choices: [{ index: 0, delta: {}, finish_reason: "length" }] });
    events.push({ choices: [], usage: { prompt_tokens: 3, completion_tokens: limit } });
    const sse = [...events.map((e) => JSON.stringify(e)), "[DONE]"].map((d) => `data: ${d}\n\n`).join("");
    return new Response(enc.encode(sse), { status: 200, headers: { "content-type": "text/event-stream" } });
  }) as typeof fetch;
  return { fetchImpl, bodies };
}

describe("extra cannot lift the job's completion limit on llama.cpp's server", () => {
  it("extra.n_predict is not passed to the engine; the streamed job stays within maxTokens and is billed", async () => {
    const { fetchImpl, bodies } = llamaServerLike();
    const engine = createOpenAiEngine({ baseUrl: "http://127.0.0.1:9/v1", fetchImpl });
    const signingKey = generateSigningKey();
    const kemKey = generateKemKey();
    const header = {
      v: 1 as const,
      jobId: `job_${"9".repeat(26)}`,
      requester: generateSigningKey().id,
      model: MODEL,
      maxTokens: 4,
      maxPromptTokens: 256,
      maxCost: "1000000",
      replyKey: b64u.encode(generateKemKey().publicKey),
    };
    const plain = { kind: "chat", messages: [{ role: "user", content: "write a novel" }], stream: true, extra: { n_predict: 64 } };
    const envelope = sealRequest({
      header,
      plaintext: enc.encode(JSON.stringify(plain)),
      recipients: [{ workerId: signingKey.id, hpkePublicKey: kemKey.publicKey }],
    });
    const job: AgentJob = { jobId: header.jobId, attempt: 0, envelope, deadline: Date.now() + 60_000, relay: { transport: "http" } };
    const published: RelayChunk[] = [];
    const results: ResultRequest[] = [];
    const api = {
      async request(route: ApiRoute, opts: { body?: unknown } = {}) {
        if (route === API.publishChunks) {
          published.push(...(opts.body as { chunks: RelayChunk[] }).chunks);
          return {};
        }
        if (route === API.postResult) {
          results.push(opts.body as ResultRequest);
          return { status: "completed", duplicate: false, cost: "1" };
        }
        throw new Error(`unexpected route ${route.path}`);
      },
      localTime: (t: number) => t,
    } as unknown as ApiClient;
    const stats = freshStats();

    await executeJob(executeContext({ signingKey, kemKey }, api, engine, { stats, chunking: { intervalMs: 0, maxTokens: 1 } }), job);

    // review41: `extra` is an allow-list (events/engine-extra.ts): n_predict is refused before the
    // engine runs (bad_request, refunded at the last candidate), so nothing is generated or read.
    // Until then it was dropped by the adapter (the job completed within maxTokens); on the code
    // before that: 64 tokens streamed to the requester, then engine_bad_response and nothing billed
    expect(bodies).toHaveLength(0);
    expect(published).toHaveLength(0);
    expect(results.map((r) => (r.kind === "failed" ? r.code : r.kind))).toEqual(["bad_request"]);
    expect(stats.completionTokens).toBe(0);
  }, 15_000);
});
