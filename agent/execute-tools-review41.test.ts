/**
 * review41 (the GPU owner's side): a cancelled job whose model was writing a tool call. A cancel
 * bills the completion tokens as the pieces streamed (agent/execute.ts run: one per delta with text
 * or thinking), a known under-count by tokens-per-piece (docs/security.md, session 25 item 11). But
 * the HTTP adapter (agent/engines/openai-http.ts) streams a tool call's arguments as no delta at
 * all: it gathers them for the final result. So a tool call cut by a cancel counts no pieces, and
 * however many tokens the engine generated for it, the worker is billed 0 completion tokens. A
 * requester asking for a long forced tool call (tool_choice "required", a large schema) and
 * cancelling before its end makes a worker generate for the price of the prompt alone. The engine
 * here is the real adapter against a server speaking vLLM's SSE, one argument fragment a token.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import { createOpenAiEngine } from "./engines/openai-http";
import { executeJob } from "./execute";
import { executeContext, openableJob, recordingApi } from "./job-testing";
import { MODEL } from "../test/helpers";

const servers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((c) => c()));
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Factory: a chat server. Streamed requests get a tool call, its name and then `fragments`
 * argument fragments one every `everyMs` (each one token, as vLLM streams them); whole requests
 * (the agent's prompt re-count) an answer counting `promptTokens`. `sent` counts the fragments out.
 */
async function toolCallServer(o: { fragments: number; everyMs: number; promptTokens: number }) {
  const state = { sent: 0 };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      if (req.method !== "POST") {
        // the adapter's capability probes (GET /props, /models): a plain OpenAI server listing the model
        res.writeHead(req.url?.endsWith("/models") ? 200 : 404, { "content-type": "application/json" });
        res.end(JSON.stringify({ object: "list", data: [{ id: MODEL, object: "model" }] }));
        return;
      }
      const ask = JSON.parse(body) as { stream?: boolean; max_tokens?: number };
      if (!ask.stream) {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            choices: [{ index: 0, message: { role: "assistant", content: "x" }, finish_reason: "length" }],
            usage: { prompt_tokens: o.promptTokens, completion_tokens: 1, total_tokens: o.promptTokens + 1 },
          }),
        );
        return;
      }
      res.writeHead(200, { "content-type": "text/event-stream" });
      const event = (d: unknown) => res.write(`data: ${JSON.stringify(d)}\n\n`);
      event({ choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] });
      event({
        choices: [
          {
            index: 0,
            delta: { tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "write", arguments: "" } }] },
            finish_reason: null,
          },
        ],
      });
      void (async () => {
        for (let k = 0; k < o.fragments && !res.destroyed; k++) {
          await sleep(o.everyMs);
          if (res.destroyed) return;
          event({
            choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: `"w${k}",` } }] }, finish_reason: null }],
          });
          state.sent++;
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, state };
}

describe("review41: a cancel while the model writes a tool call", () => {
  it("bills the tokens the engine generated for it, not 0", async () => {
    // Prepare: a forced tool call of up to 2,000 tokens; the requester cancels after ~100
    const srv = await toolCallServer({ fragments: 2000, everyMs: 5, promptTokens: 7 });
    const engine = createOpenAiEngine({ baseUrl: srv.url });
    const signingKey = generateSigningKey();
    const kemKey = generateKemKey();
    const tools = [{ type: "function", function: { name: "write", parameters: { type: "object" } } }];
    const { job } = openableJob(
      signingKey.id,
      kemKey,
      30_000,
      { messages: [{ role: "user", content: "call write with a long list" }], tools, toolChoice: "required" },
      { maxTokens: 2000, maxPromptTokens: 1000 },
    );
    const { api, results } = recordingApi();
    const cancel = new AbortController();

    // Act
    const running = executeJob(
      executeContext({ signingKey, kemKey }, api, engine, {
        cancel: cancel.signal,
      }),
      job,
    );
    for (const t0 = Date.now(); srv.state.sent < 100 && Date.now() - t0 < 10_000;) await sleep(5);
    const generated = srv.state.sent;
    cancel.abort();
    await running;

    // Assess: a completed result (the cancel's), billing what the engine generated before it
    const r = results.find((x) => x.kind === "completed");
    if (r?.kind !== "completed")
      throw new Error(
        `no completed result: ${JSON.stringify(results.map((x) => (x.kind === "failed" ? x.code : x.kind)))} after ${generated} fragments`,
      );
    expect(generated).toBeGreaterThanOrEqual(100);
    expect(r.receipt.body.usage.promptTokens).toBe(7);
    expect(r.receipt.body.usage.completionTokens).toBeGreaterThanOrEqual(generated / 2);
  });
});
