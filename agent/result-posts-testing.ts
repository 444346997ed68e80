/**
 * The agent's result posts held in the test's hands (agent/runtime.ts AgentApi, issue 12): a
 * dev agent on the local network whose POST /v1/agent/results requests wait for the test's
 * answer (ApiClient.requestJson), so each request and answer can be seen. Shared by
 * agent/runtime-batch.test.ts and agent/runtime-batch-mutants.test.ts.
 */
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import type { ResultBatchRequest, ResultRequest } from "../events/api";
import { API, type ApiClient, ApiError } from "../api-client/api";
import { startNetwork } from "../local/network";
import { MODEL, pollUntil } from "../test/helpers";
import { makeAttester } from "./attest";
import { startAgent, type AgentOptions } from "./runtime";
import { sealedJob } from "./job-testing";

/** What each test started, stopped by the suite's afterEach (newest first). */
export const cleanup: Array<() => Promise<unknown>> = [];

/** A dev agent on the local network, its result retries quick (`o` overrides); its jobs come from nowhere (the tests post by hand). */
export async function agent(o: Partial<AgentOptions> = {}) {
  const net = await startNetwork({ chain: false });
  cleanup.push(() => net.stop());
  const k = { signingKey: generateSigningKey(), kemKey: generateKemKey() };
  const a = await startAgent({
    apiUrl: net.url,
    ...k,
    engine: { name: "none", models: async () => [MODEL], generate: () => Promise.reject(new Error("no jobs here")) },
    models: [{ model: MODEL, priceBps: 10_000 }],
    attest: makeAttester({ tier: "dev", ...k }),
    jobSource: { next: () => new Promise((r) => setTimeout(() => r({ jobs: [], challenges: [] }), 50)) },
    backoff: { baseMs: 10, capMs: 20 },
    resultRetryMs: 5_000,
    ...o,
  });
  cleanup.push(() => a.stop());
  const failed = (): ResultRequest => ({
    kind: "failed",
    jobId: sealedJob(k.signingKey.id, k.kemKey).jobId,
    attempt: 0,
    code: "engine_unavailable",
  });
  return { a, failed };
}

export type Answer = { json: unknown } | ApiError;
export interface Post {
  body: ResultRequest | ResultBatchRequest;
  answer(a: Answer): void;
}

/** Every POST /v1/agent/results the agent's client sends, held until the test answers it (one already given up goes to the real transport, which refuses it unsent; one given up in flight is rejected). */
export function heldPosts(client: ApiClient) {
  const real = client.requestJson.bind(client);
  const posts: Post[] = [];
  client.requestJson = (method, path, body, headers, signal) => {
    if (path !== API.postResult.path || signal?.aborted) return real(method, path, body, headers, signal);
    return new Promise((resolve, reject) => {
      // given up in flight (the post's own limit): rejected with the signal's reason, as the transport does
      signal?.addEventListener("abort", () => reject(signal.reason as Error), { once: true });
      posts.push({ body: body as Post["body"], answer: (a) => (a instanceof ApiError ? reject(a) : resolve(a.json)) });
    });
  };
  return posts;
}

export const TAKEN = { status: "failed", duplicate: false };
export const itemsOf = (b: Post["body"]) => (b.kind === "batch" ? b.results : [b]);

/** Two results posted while a first post was in flight: that post answered, their batch sent and held (posts[1]). */
export async function batchOfTwo() {
  const { a, failed } = await agent();
  const posts = heldPosts(a.api);
  void a.api.request(API.postResult, { body: failed() });
  await pollUntil("the first post", () => posts[0], 2_000);
  const rs = [failed(), failed()];
  const answers = rs.map((r) => a.api.request(API.postResult, { body: r }));
  posts[0]!.answer({ json: TAKEN });
  await pollUntil("the batch", () => posts[1], 2_000);
  return { a, failed, posts, rs, answers };
}
