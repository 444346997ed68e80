/**
 * review41: an engine marks output it generated but does not stream as text (a tool call's
 * arguments) with hidden pieces (EngineStreamEvent.hidden), which a cancel bills. They must stay
 * the worker's own: never published to the relay (where their number would show in the count and
 * timing of relay messages) and never logged (the host reads the agent's log: session 31 privacy
 * review). A job that completes is billed by the engine's own count, as before.
 */
import { describe, expect, it } from "vitest";
import { API, type ApiClient } from "../api-client/api";
import type { ApiRoute } from "../api-client/routes";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import type { ResultRequest } from "../events/api";
import type { RelayChunk } from "../events/relay";
import type { Engine, EngineStreamEvent } from "./engines/engine";
import { executeJob } from "./execute";
import { executeContext, freshStats, openableJob } from "./job-testing";

/** Factory: an engine streaming "a", `hidden` hidden pieces, "b", then a tool call billed 2 + hidden tokens. */
function engineWith(hidden: number): Engine {
  const result = {
    text: "ab",
    usage: { promptTokens: 3, completionTokens: 2 + hidden },
    finishReason: "stop" as const,
    toolCalls: [{ id: "call_1", type: "function" as const, function: { name: "f", arguments: "{}" } }],
    engine: "stub",
  };
  return {
    name: "stub",
    models: async () => ["m"],
    generate: async () => result,
    async *stream(): AsyncGenerator<EngineStreamEvent> {
      await Promise.resolve();
      yield { type: "delta", text: "a" };
      for (let k = 0; k < hidden; k++) yield { type: "delta", text: "", hidden: 1 };
      yield { type: "delta", text: "b" };
      yield { type: "done", result };
    },
  };
}

/** Act: one streamed job on `engine`, each delta its own relay message; what was published, posted and logged. */
async function streamedJob(engine: Engine) {
  const signingKey = generateSigningKey();
  const kemKey = generateKemKey();
  const { job } = openableJob(
    signingKey.id,
    kemKey,
    60_000,
    { messages: [{ role: "user", content: "hi" }], stream: true },
    { model: "m", maxTokens: 100 },
  );
  const published: RelayChunk[] = [];
  const results: ResultRequest[] = [];
  const api = {
    async request(route: ApiRoute, opts: { body?: unknown } = {}) {
      if (route === API.publishChunks) {
        published.push(...(opts.body as { chunks: RelayChunk[] }).chunks);
        return {};
      }
      if (route !== API.postResult) throw new Error(`unexpected route ${route.path}`);
      results.push(opts.body as ResultRequest);
      return { status: "completed", duplicate: false, cost: "1" };
    },
    localTime: (t: number) => t,
  } as unknown as ApiClient;
  const logged: unknown[] = [];
  const stats = freshStats();
  const log = { info: (m: string, d?: unknown) => logged.push([m, d]), warn: (m: string, d?: unknown) => logged.push([m, d]) };
  await executeJob(
    executeContext({ signingKey, kemKey }, api, engine, { stats, log, chunking: { intervalMs: 0, maxTokens: 1, maxBytes: 1024 } }),
    { ...job, relay: { transport: "http" } },
  );
  return { published, results, logged, stats };
}

describe("review41: hidden pieces are billed by a cancel, and shown to no one", () => {
  it("publishes as many relay messages with 40 hidden pieces as with none, logs the same, bills the engine's count", async () => {
    // Act
    const plain = await streamedJob(engineWith(0));
    const hidden = await streamedJob(engineWith(40));
    // Assess
    expect(hidden.results.map((r) => (r.kind === "failed" ? r.code : r.kind))).toEqual(["completed"]);
    expect(hidden.stats.completionTokens).toBe(42);
    expect(hidden.published.length).toBe(plain.published.length);
    expect(hidden.published.map((c) => c.data.length)).toEqual(plain.published.map((c) => c.data.length));
    // (the log names the job and its time; no count, the same lines either way)
    const shown = (l: unknown[]) => JSON.stringify(l).replace(/"jobId":"[^"]*"|"ms":\d+/g, "");
    expect(shown(hidden.logged)).toBe(shown(plain.logged));
  });
});
