import { afterEach, describe, expect, it } from "vitest";
import { type AskFn, type AskResult, mapAskError, type ServeProxy, ServeProxyError, startServeProxy, streamPieces } from "./serve";

type AskArgs = Parameters<AskFn>[0];

/** Response bodies are checked field by field below; `any` keeps those checks short. */
// biome-ignore lint/suspicious/noExplicitAny: test helper
const json = async (res: Response): Promise<any> => res.json();

const anAnswer = (over: Partial<AskResult> = {}): AskResult => ({
  text: "Paris is the capital of France.",
  usage: { promptTokens: 12, completionTokens: 7 },
  finishReason: "stop",
  model: "llama-3-8b",
  workerId: "W".repeat(43),
  tier: "tdx-h100",
  cost: "1900",
  jobId: "job_0123456789abcdefghijklmnop",
  ...over,
});

class SdkError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let proxy: ServeProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

async function startWith(ask: AskFn, listModels?: () => Promise<string[]>) {
  const calls: AskArgs[] = [];
  proxy = await startServeProxy({
    port: 0,
    ask: async (req) => {
      calls.push(req);
      return ask(req);
    },
    ...(listModels ? { listModels } : {}),
  });
  return { url: proxy.url, calls };
}

const postJson = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

const aChatBody = (over: Record<string, unknown> = {}) => ({
  model: "llama-3-8b",
  messages: [
    { role: "system", content: "Be brief." },
    { role: "user", content: "Capital of France?" },
  ],
  max_tokens: 50,
  ...over,
});

/** Parses an SSE body into its data payloads. */
function sseData(text: string): string[] {
  return text
    .split("\n\n")
    .filter((block) => block.trim().length > 0)
    .map((block) => {
      expect(block.startsWith("data: ")).toBe(true);
      return block.slice("data: ".length);
    });
}

describe("startServeProxy: chat completions", () => {
  it("answers an OpenAI chat completion with usage and Cocoon headers", async () => {
    // Prepare
    const { url, calls } = await startWith(async () => anAnswer());
    // Act
    const res = await postJson(`${url}/v1/chat/completions`, aChatBody({ temperature: 0.3 }));
    const text = await res.text();
    const body = JSON.parse(text);
    // Assess
    expect(res.status).toBe(200);
    expect(res.headers.get("content-length")).toBe(String(Buffer.byteLength(text)));
    expect(res.headers.get("x-cocoon-job-id")).toBe("job_0123456789abcdefghijklmnop");
    expect(res.headers.get("x-cocoon-worker")).toBe("W".repeat(43));
    expect(res.headers.get("x-cocoon-tier")).toBe("tdx-h100");
    expect(res.headers.get("x-cocoon-cost-nanoton")).toBe("1900");
    expect(body).toMatchObject({
      id: "chatcmpl-job_0123456789abcdefghijklmnop",
      object: "chat.completion",
      model: "llama-3-8b",
      choices: [{ index: 0, message: { role: "assistant", content: "Paris is the capital of France." }, finish_reason: "stop" }],
      usage: { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 },
    });
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ model: "llama-3-8b", messages: aChatBody().messages, maxTokens: 50, temperature: 0.3 });
  });

  it("maps developer role to system, text parts to a string, and max_completion_tokens to maxTokens", async () => {
    // Prepare
    const { url, calls } = await startWith(async () => anAnswer({ finishReason: "length" }));
    // Act
    const res = await postJson(
      `${url}/v1/chat/completions`,
      aChatBody({
        max_tokens: undefined,
        max_completion_tokens: 9,
        messages: [
          { role: "developer", content: "Be brief." },
          { role: "user", content: [{ type: "text", text: "Capital " }, { type: "text", text: "of France?" }] },
        ],
      }),
    );
    // Assess
    expect(res.status).toBe(200);
    expect((await json(res)).choices[0].finish_reason).toBe("length");
    expect(calls[0]).toMatchObject({
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Capital of France?" },
      ],
      maxTokens: 9,
    });
  });

  it("uses the default max tokens when the request names none", async () => {
    // Prepare
    const { url, calls } = await startWith(async () => anAnswer());
    // Act
    await postJson(`${url}/v1/chat/completions`, aChatBody({ max_tokens: undefined }));
    // Assess
    expect(calls[0]?.maxTokens).toBe(1024);
  });

  it("without askStream, streams the finished answer as SSE chunks, then [DONE]", async () => {
    // Prepare
    const { url } = await startWith(async () => anAnswer());
    // Act
    const res = await postJson(`${url}/v1/chat/completions`, aChatBody({ stream: true, stream_options: { include_usage: true } }));
    const events = sseData(await res.text());
    // Assess
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    expect(events.at(-1)).toBe("[DONE]");
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    expect(chunks.every((c) => c.object === "chat.completion.chunk" && c.id === "chatcmpl-job_0123456789abcdefghijklmnop")).toBe(true);
    expect(chunks[0].choices[0].delta).toEqual({ role: "assistant", content: "", refusal: null });
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("");
    expect(text).toBe("Paris is the capital of France.");
    expect(chunks.length).toBeGreaterThan(3);
    const finishes = chunks.map((c) => c.choices[0]?.finish_reason).filter((f) => f);
    expect(finishes).toEqual(["stop"]);
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 }, cocoon: { job_ids: ["job_0123456789abcdefghijklmnop"], cost_nanoton: "1900" } });
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
  });

  it("streams without a usage chunk unless asked", async () => {
    // Prepare
    const { url } = await startWith(async () => anAnswer());
    // Act
    const events = sseData(await (await postJson(`${url}/v1/chat/completions`, aChatBody({ stream: true }))).text());
    // Assess
    expect(events.slice(0, -1).map((e) => JSON.parse(e)).some((c) => "usage" in c)).toBe(false);
  });
});

describe("startServeProxy: bad input", () => {
  const cases: [string, unknown, RegExp][] = [
    ["no model", { messages: [{ role: "user", content: "hi" }] }, /model/],
    ["empty messages", aChatBody({ messages: [] }), /messages/],
    ["tool message without tool_call_id", aChatBody({ messages: [{ role: "tool", content: "x" }] }), /tool_call_id/],
    ["unknown role", aChatBody({ messages: [{ role: "robot", content: "x" }] }), /role must be/],
    ["negative max_tokens", aChatBody({ max_tokens: -1 }), /max_tokens/],
    ["temperature out of range", aChatBody({ temperature: 3 }), /temperature/],
    ["n = 9", aChatBody({ n: 9 }), /n is at most 8/],
    ["a tool without a function", aChatBody({ tools: [{ type: "function" }] }), /tools\.0\.function/],
    ["a non-function tool", aChatBody({ tools: [{ type: "web_search", function: { name: "x" } }] }), /type "function"/],
    ["stop with 5 sequences", aChatBody({ stop: ["a", "b", "c", "d", "e"] }), /at most 4/],
    ["response_format of an unknown type", aChatBody({ response_format: { type: "yaml" } }), /response_format/],
    ["image part", aChatBody({ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }] }), /image_url/],
  ];
  for (const [name, body, message] of cases) {
    it(`answers 400 for ${name} without calling ask`, async () => {
      // Prepare
      const { url, calls } = await startWith(async () => anAnswer());
      // Act
      const res = await postJson(`${url}/v1/chat/completions`, body);
      const answer = await json(res);
      // Assess
      expect(res.status).toBe(400);
      expect(answer.error.type).toBe("invalid_request_error");
      expect(["invalid_request", "unsupported_content"]).toContain(answer.error.code);
      expect(answer.error.message).toMatch(message);
      expect(calls).toHaveLength(0);
    });
  }

  it("answers 400 invalid_json for a body that is not JSON", async () => {
    // Prepare
    const { url } = await startWith(async () => anAnswer());
    // Act
    const res = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: "{nope" });
    // Assess
    expect(res.status).toBe(400);
    expect((await json(res)).error.code).toBe("invalid_json");
  });

  it("answers 415 to a non-JSON content type (no cross-site simple POSTs)", async () => {
    // Prepare
    const { url, calls } = await startWith(async () => anAnswer());
    // Act
    const res = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "text/plain" }, body: JSON.stringify(aChatBody()) });
    // Assess
    expect(res.status).toBe(415);
    expect((await json(res)).error.code).toBe("unsupported_media_type");
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    expect(calls).toHaveLength(0);
  });

  it("answers 413 body_too_large past maxBodyBytes without calling ask", async () => {
    // Prepare
    const calls: AskArgs[] = [];
    proxy = await startServeProxy({ port: 0, maxBodyBytes: 64, ask: async (req) => (calls.push(req), anAnswer()) });
    // Act
    const res = await postJson(`${proxy.url}/v1/chat/completions`, aChatBody({ padding: "x".repeat(100) }));
    // Assess
    expect(res.status).toBe(413);
    expect((await json(res)).error).toMatchObject({ code: "body_too_large", type: "invalid_request_error" });
    expect(calls).toHaveLength(0);
  });

  it("answers 400 invalid_path for a model id that does not percent-decode", async () => {
    // Prepare
    const { url } = await startWith(async () => anAnswer(), async () => ["m"]);
    // Act
    const res = await fetch(`${url}/v1/models/%E0%A4%A`);
    // Assess
    expect(res.status).toBe(400);
    expect((await json(res)).error.code).toBe("invalid_path");
  });

  it("answers 404 and 405 for unknown routes and wrong methods", async () => {
    // Prepare
    const { url } = await startWith(async () => anAnswer());
    // Act
    const missing = await fetch(`${url}/v1/images/generations`, { method: "POST" });
    const wrong = await fetch(`${url}/v1/chat/completions`);
    // Assess
    expect(missing.status).toBe(404);
    expect((await json(missing)).error.code).toBe("not_found");
    expect(wrong.status).toBe(405);
    expect((await json(wrong)).error.code).toBe("method_not_allowed");
  });
});

describe("startServeProxy: ask errors", () => {
  const cases: [string, number, string][] = [
    ["insufficient_funds", 402, "insufficient_quota"],
    ["model_not_served", 404, "invalid_request_error"],
    ["no_candidates", 503, "service_unavailable"],
    ["job_timeout", 504, "timeout_error"],
    ["attestation_rejected", 502, "upstream_verification_error"],
    ["something_new", 502, "upstream_error"],
  ];
  for (const [code, status, type] of cases) {
    it(`maps SDK error ${code} to ${status}`, async () => {
      // Prepare
      const { url } = await startWith(async () => {
        throw new SdkError(code, `what went wrong: ${code}`);
      });
      // Act
      const res = await postJson(`${url}/v1/chat/completions`, aChatBody());
      // Assess
      expect(res.status).toBe(status);
      expect(await json(res)).toEqual({ error: { message: `what went wrong: ${code}`, type, param: code === "model_not_served" ? "model" : null, code } });
    });
  }

  it("maps an error without a code to 500 internal_error", async () => {
    // Prepare
    const { url } = await startWith(async () => {
      throw new Error("boom");
    });
    // Act
    const res = await postJson(`${url}/v1/chat/completions`, aChatBody({ stream: true }));
    // Assess
    expect(res.status).toBe(500);
    expect((await json(res)).error).toMatchObject({ code: "internal_error", type: "server_error", message: "boom" });
  });

  it("lets the caller override the mapping", async () => {
    // Prepare
    proxy = await startServeProxy({
      port: 0,
      ask: async () => {
        throw new SdkError("quota", "over quota");
      },
      mapError: (err) => ((err as SdkError).code === "quota" ? { status: 429, type: "rate_limit_error", code: "quota", message: "slow down" } : undefined),
    });
    // Act
    const res = await postJson(`${proxy.url}/v1/chat/completions`, aChatBody());
    // Assess
    expect(res.status).toBe(429);
    expect((await json(res)).error.message).toBe("slow down");
  });

  it("mapAskError keeps unknown non-errors as 500", () => {
    expect(mapAskError("weird")).toEqual({ status: 500, type: "server_error", code: "internal_error", message: "weird", param: null });
  });
});

describe("startServeProxy: models, completions, binding", () => {
  it("lists models from listModels and answers one model card", async () => {
    // Prepare
    const { url } = await startWith(async () => anAnswer(), async () => ["llama-3-8b", "qwen/qwen2-7b"]);
    // Act
    const list = await json(await fetch(`${url}/v1/models`));
    const one = await fetch(`${url}/v1/models/qwen/qwen2-7b`);
    const none = await fetch(`${url}/v1/models/gpt-9`);
    // Assess
    expect(list).toEqual({
      object: "list",
      data: [
        { id: "llama-3-8b", object: "model", created: 0, owned_by: "cocoon" },
        { id: "qwen/qwen2-7b", object: "model", created: 0, owned_by: "cocoon" },
      ],
    });
    expect((await json(one)).id).toBe("qwen/qwen2-7b");
    expect(none.status).toBe(404);
    expect((await json(none)).error.code).toBe("model_not_found");
  });

  it("answers 501 for models without listModels", async () => {
    // Prepare
    const { url } = await startWith(async () => anAnswer());
    // Act
    const res = await fetch(`${url}/v1/models`);
    // Assess
    expect(res.status).toBe(501);
    expect((await json(res)).error.code).toBe("not_implemented");
  });

  it("answers legacy completions as one user message", async () => {
    // Prepare
    const { url, calls } = await startWith(async () => anAnswer());
    // Act
    const res = await postJson(`${url}/v1/completions`, { model: "llama-3-8b", prompt: "Say hi", max_tokens: 5 });
    const body = await json(res);
    // Assess
    expect(res.status).toBe(200);
    expect(body).toMatchObject({ object: "text_completion", choices: [{ text: "Paris is the capital of France.", finish_reason: "stop" }] });
    expect(calls[0]).toMatchObject({ prompt: "Say hi", maxTokens: 5 });
    expect(res.headers.get("x-cocoon-cost-nanoton")).toBe("1900");
  });

  it("streams legacy completions", async () => {
    // Prepare
    const { url } = await startWith(async () => anAnswer());
    // Act
    const events = sseData(await (await postJson(`${url}/v1/completions`, { model: "m", prompt: "x", stream: true })).text());
    // Assess
    expect(events.at(-1)).toBe("[DONE]");
    expect(events.slice(0, -1).map((e) => JSON.parse(e).choices[0].text).join("")).toBe("Paris is the capital of France.");
  });

  it("refuses to bind to a non-loopback host", async () => {
    // Act
    const err = await startServeProxy({ host: "0.0.0.0", port: 0, ask: async () => anAnswer() }).catch((e: unknown) => e);
    // Assess
    expect(err).toBeInstanceOf(ServeProxyError);
    expect((err as ServeProxyError).code).toBe("non_loopback_host");
  });

  it("refuses a non-loopback Host header (DNS rebinding)", async () => {
    // Prepare
    const { url, calls } = await startWith(async () => anAnswer());
    const { request } = await import("node:http");
    // Act
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${url}/v1/chat/completions`, { method: "POST", headers: { host: "evil.example:8788", "content-type": "application/json" } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.end(JSON.stringify(aChatBody()));
    });
    // Assess
    expect(status).toBe(403);
    expect(calls).toHaveLength(0);
  });

  it("aborts ask's signal when the client disconnects", async () => {
    // Prepare
    let seen: AbortSignal | undefined;
    let started!: () => void;
    const began = new Promise<void>((r) => (started = r));
    const { url } = await startWith(
      (req) =>
        new Promise<AskResult>((_, reject) => {
          seen = req.signal;
          started();
          req.signal?.addEventListener("abort", () => reject(new SdkError("aborted", "client went away")));
        }),
    );
    const ctl = new AbortController();
    // Act
    const res = fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(aChatBody()),
      signal: ctl.signal,
    }).catch(() => undefined);
    await began;
    ctl.abort();
    await res;
    while (!seen?.aborted) await new Promise((r) => setTimeout(r, 5));
    // Assess
    expect(seen.aborted).toBe(true);
  });
});

describe("streamPieces", () => {
  it("splits into word pieces that join back to the exact text", () => {
    for (const text of ["", "one", "  two  words ", "a\nb\tc  "]) {
      expect(streamPieces(text).join("")).toBe(text);
    }
    expect(streamPieces("Paris is here.")).toEqual(["Paris", " is", " here."]);
  });
});
