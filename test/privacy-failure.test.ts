import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import { startAgent, type RunningAgent } from "../agent/runtime";
import { makeAttester } from "../agent/attest";
import { createOpenAiEngine } from "../agent/engines/openai-http";
import { jsonLog } from "../agent/log";
import { serveMetrics } from "../agent/metrics";
import type { LmdbStore } from "../local/store-lmdb";
import { dirSources, expectNoCanary, findCanary, lineSources, storeSources } from "./canary";
import { MODEL, randomCanary, startTestNet, type TestNet } from "./helpers";

/**
 * Session 23 privacy review: the privacy scans of test/e2e.test.ts and test/stream.test.ts cover
 * answered jobs. Here the engine fails, with its error text echoing the prompt (vLLM and TGI
 * quote the input in some of their 400s and 500s): that text must reach the requester sealed,
 * and nothing the coordinator holds or logs, nor the agent's log, /metrics or /status (the host's).
 */

/** An OpenAI-compatible engine on 127.0.0.1 that lists MODEL and fails every job with `status`, quoting the request. */
async function echoingEngine(): Promise<{ url: string; status: number; close(): Promise<void> }> {
  const e = { url: "", status: 400, close: async () => {} };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString("utf8")));
    req.on("end", () => {
      if (req.url?.endsWith("/models"))
        return void res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ object: "list", data: [{ id: MODEL }] }));
      res
        .writeHead(e.status, { "content-type": "application/json" })
        .end(JSON.stringify({ error: { message: `could not handle the request ${body}`, type: "BadRequestError", code: e.status } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  e.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  e.close = () => new Promise<void>((r) => server.close(() => r()));
  return e;
}

let t: TestNet;
let engine: Awaited<ReturnType<typeof echoingEngine>>;
let agent: RunningAgent;
let served: { url: string; close(): Promise<void> };
const agentLines: string[] = [];

beforeAll(async () => {
  t = await startTestNet({ agents: [] });
  engine = await echoingEngine();
  const signingKey = generateSigningKey();
  const kemKey = generateKemKey();
  agent = await startAgent({
    apiUrl: t.net.url,
    signingKey,
    kemKey,
    engine: createOpenAiEngine({ baseUrl: engine.url }),
    models: [{ model: MODEL, priceBps: 10_000 }],
    attest: makeAttester({ tier: "dev", signingKey, kemKey }),
    log: jsonLog({ write: (l) => void agentLines.push(l) }),
    pollWaitSeconds: 1,
    heartbeatMs: 500,
  });
  served = await serveMetrics(agent.metrics, 0);
});

afterAll(async () => {
  await served?.close();
  await agent?.stop();
  await engine?.close();
  await t?.stop();
});

describe("privacy: an engine's error text that quotes the prompt", () => {
  it.each([400, 500])(
    "reaches the requester sealed, and no coordinator item, message or log, nor the agent's log, metrics or status (HTTP %i)",
    async (status) => {
      // Prepare
      engine.status = status;
      const client = await t.client();
      const canary = randomCanary();
      // Act
      const err = await client
        .ask({
          model: MODEL,
          messages: [{ role: "user", content: `say ${canary}` }],
          maxTokens: 16,
          tiers: ["dev"],
          candidates: 1,
          timeoutMs: 20_000,
        })
        .then(
          () => undefined,
          (e: unknown) => e as Error,
        );
      const metrics = await (await fetch(`${served.url}/metrics`)).text();
      const statusDoc = await (await fetch(`${served.url}/status`)).text();
      // Assess: the requester got the engine's text (positive control: the text did quote the prompt)
      expect(err).toBeInstanceOf(Error);
      expect(findCanary(err!.message, canary).length).toBeGreaterThan(0);
      expect(agentLines.some((l) => /job failed/.test(l))).toBe(true);
      expectNoCanary(canary, [
        ...lineSources("queue message", t.sent),
        ...lineSources("coordinator log", t.logs),
        ...storeSources(t.net.store as LmdbStore),
        ...dirSources(t.net.dataDir),
        ...lineSources("agent log", agentLines),
        ...lineSources("metrics", [metrics]),
        ...lineSources("status", [statusDoc]),
      ]);
    },
  );
});
