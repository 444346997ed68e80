import { afterEach, describe, expect, it } from "vitest";
import { caps } from "../test/fixtures/serve-proxy";
import { pollUntil } from "../test/helpers";
import {
  type AskFn,
  type AskResult,
  type AskStreamEvent,
  type AskStreamFn,
  type EmbedResult,
  float32Base64,
  mapAskError,
  type ServeProxy,
  ServeProxyError,
  startServeProxy,
  serveBackend,
  streamPieces,
} from "./serve";
import { type AskOptions, requestPlaintextOf } from "./sdk";
import { INTERNAL_MESSAGE } from "./serve/errors";
import type { NetworkClient } from "./serve/sdk-backend";

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
          {
            role: "user",
            content: [
              { type: "text", text: "Capital " },
              { type: "text", text: "of France?" },
            ],
          },
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
    expect(chunks.at(-1)).toMatchObject({
      choices: [],
      usage: { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 },
      cocoon: { job_ids: ["job_0123456789abcdefghijklmnop"], cost_nanoton: "1900" },
    });
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
  });

  it("streams without a usage chunk unless asked", async () => {
    // Prepare
    const { url } = await startWith(async () => anAnswer());
    // Act
    const events = sseData(await (await postJson(`${url}/v1/chat/completions`, aChatBody({ stream: true }))).text());
    // Assess
    expect(
      events
        .slice(0, -1)
        .map((e) => JSON.parse(e))
        .some((c) => "usage" in c),
    ).toBe(false);
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
    // an image is taken only as a data:image/…;base64 URL (client/serve/images.test.ts), and only for a model that says vision
    ["image part", aChatBody({ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }] }), /data:image/],
    // only an assistant's answer is replayed as a refusal part
    [
      "refusal part on a user message",
      aChatBody({ messages: [{ role: "user", content: [{ type: "refusal", refusal: "no" }] }] }),
      /"refusal"/,
    ],
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
      expect(["invalid_request", "unsupported_content", "invalid_image_url"]).toContain(answer.error.code);
      expect(answer.error.message).toMatch(message);
      expect(calls).toHaveLength(0);
    });
  }

  it("answers 400 invalid_json for a body that is not JSON", async () => {
    // Prepare
    const { url } = await startWith(async () => anAnswer());
    // Act
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{nope",
    });
    // Assess
    expect(res.status).toBe(400);
    expect((await json(res)).error.code).toBe("invalid_json");
  });

  it("answers 415 to a non-JSON content type (no cross-site simple POSTs)", async () => {
    // Prepare
    const { url, calls } = await startWith(async () => anAnswer());
    // Act
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify(aChatBody()),
    });
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
    const { url } = await startWith(
      async () => anAnswer(),
      async () => ["m"],
    );
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

  it("names the root as / and, for a path outside /v1 (a base URL without /v1), says to add it", async () => {
    // Prepare
    const { url } = await startWith(async () => anAnswer());
    const host = new URL(url).host;
    // Act
    const root = (await json(await fetch(`${url}/`))).error.message as string;
    const noV1 = (await json(await postJson(`${url}/chat/completions`, aChatBody()))).error.message as string;
    const inV1 = (await json(await fetch(`${url}/v1/images/generations`, { method: "POST" }))).error.message as string;
    // Assess
    expect(root).toMatch(/^no route GET \/; /);
    expect(root).toContain(`set the OpenAI base URL to http://${host}/v1`);
    expect(noV1).toMatch(/^no route POST \/chat\/completions; /);
    expect(noV1).toContain(`http://${host}/v1`);
    expect(inV1).not.toContain("base URL");
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
      expect(await json(res)).toEqual({
        error: { message: `what went wrong: ${code}`, type, param: code === "model_not_served" ? "model" : null, code },
      });
    });
  }

  it("maps an error without a code to 500 internal_error, saying nothing of what was thrown", async () => {
    // Prepare
    const { url } = await startWith(async () => {
      throw new Error("boom");
    });
    // Act
    const res = await postJson(`${url}/v1/chat/completions`, aChatBody({ stream: true }));
    // Assess
    expect(res.status).toBe(500);
    expect((await json(res)).error).toMatchObject({ code: "internal_error", type: "server_error", message: INTERNAL_MESSAGE });
  });

  it("lets the caller override the mapping", async () => {
    // Prepare
    proxy = await startServeProxy({
      port: 0,
      ask: async () => {
        throw new SdkError("quota", "over quota");
      },
      mapError: (err) =>
        (err as SdkError).code === "quota" ? { status: 429, type: "rate_limit_error", code: "quota", message: "slow down" } : undefined,
    });
    // Act
    const res = await postJson(`${proxy.url}/v1/chat/completions`, aChatBody());
    // Assess
    expect(res.status).toBe(429);
    expect((await json(res)).error.message).toBe("slow down");
  });

  it("mapAskError keeps unknown non-errors as 500", () => {
    expect(mapAskError("weird")).toEqual({
      status: 500,
      type: "server_error",
      code: "internal_error",
      message: INTERNAL_MESSAGE,
      param: null,
      retryable: false,
    });
  });
});

describe("startServeProxy: models, completions, binding", () => {
  it("lists models from listModels and answers one model card", async () => {
    // Prepare
    const { url } = await startWith(
      async () => anAnswer(),
      async () => ["llama-3-8b", "qwen/qwen2-7b"],
    );
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
    expect(body).toMatchObject({
      object: "text_completion",
      choices: [{ text: "Paris is the capital of France.", finish_reason: "stop" }],
    });
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
    expect(
      events
        .slice(0, -1)
        .map((e) => JSON.parse(e).choices[0].text)
        .join(""),
    ).toBe("Paris is the capital of France.");
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
      const req = request(
        `${url}/v1/chat/completions`,
        { method: "POST", headers: { host: "evil.example:8788", "content-type": "application/json" } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
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

// ---------------------------------------------------------------- issue 11: an OpenAI drop-in

type StreamArgs = Parameters<AskStreamFn>[0];

/** A stream whose events the test releases one by one: `push` yields an event, `end` finishes. */
function controlledStream() {
  const queue: Array<AskStreamEvent | Error | "end"> = [];
  let wake: (() => void) | undefined;
  const put = (x: AskStreamEvent | Error | "end") => {
    queue.push(x);
    wake?.();
  };
  async function* events(): AsyncGenerator<AskStreamEvent> {
    for (;;) {
      while (queue.length === 0) await new Promise<void>((r) => (wake = r));
      const x = queue.shift()!;
      if (x === "end") return;
      if (x instanceof Error) throw x;
      yield x;
    }
  }
  return { events, push: (e: AskStreamEvent) => put(e), fail: (e: Error) => put(e), end: () => put("end") };
}

const done = (over: Partial<AskResult> = {}): AskStreamEvent => ({ type: "done", ...anAnswer(over) });

/** Reads an SSE response event by event as it arrives. */
function sseReader(res: Response) {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  return async function next(): Promise<string | undefined> {
    for (;;) {
      const end = buffer.indexOf("\n\n");
      if (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        expect(block.startsWith("data: ")).toBe(true);
        return block.slice("data: ".length);
      }
      const { value, done: finished } = await reader.read();
      if (finished) return undefined;
      buffer += decoder.decode(value, { stream: true });
    }
  };
}

async function startFull(o: Partial<Parameters<typeof startServeProxy>[0]> = {}) {
  const calls: AskArgs[] = [];
  const streamCalls: StreamArgs[] = [];
  proxy = await startServeProxy({
    port: 0,
    ...o,
    ask: async (req) => (calls.push(req), (o.ask ?? (async () => anAnswer()))(req)),
    ...(o.askStream ? { askStream: (req: StreamArgs) => (streamCalls.push(req), o.askStream!(req)) } : {}),
  });
  return { url: proxy.url, calls, streamCalls };
}

describe("issue 11: streaming as the network delivers it", () => {
  it("sends the first chunk before the answer is finished, with one id, role first, finish_reason last, usage null then a usage chunk", async () => {
    // Prepare
    const s = controlledStream();
    const { url } = await startFull({ askStream: () => s.events() });
    s.push({ type: "delta", text: "Par" });
    // Act
    const res = await postJson(`${url}/v1/chat/completions`, aChatBody({ stream: true, stream_options: { include_usage: true } }));
    const next = sseReader(res);
    const role = JSON.parse((await next())!);
    const first = JSON.parse((await next())!); // arrives while the stream is still open
    s.push({ type: "delta", text: "is." });
    s.push(done({ text: "Paris.", usage: { promptTokens: 3, completionTokens: 2 } }));
    const rest: string[] = [];
    for (let e = await next(); e !== undefined; e = await next()) rest.push(e);
    // Assess
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    expect(res.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{24}$/);
    expect(role.choices[0]).toEqual({
      index: 0,
      delta: { role: "assistant", content: "", refusal: null },
      logprobs: null,
      finish_reason: null,
    });
    expect(first.choices[0].delta).toEqual({ content: "Par" });
    expect(rest.at(-1)).toBe("[DONE]");
    const chunks = [role, first, ...rest.slice(0, -1).map((e) => JSON.parse(e))];
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks[0].id).toMatch(/^chatcmpl-/);
    expect(chunks.at(-2).choices[0]).toMatchObject({ delta: {}, finish_reason: "stop" });
    expect(chunks.slice(0, -2).every((c) => c.choices[0].finish_reason === null)).toBe(true);
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } });
  });

  it("without include_usage sends no chunk without choices, and the Cocoon facts ride on the finish chunk", async () => {
    // Prepare
    const { url } = await startFull({
      askStream: async function* () {
        yield { type: "delta", text: "hi" };
        yield done();
      },
    });
    // Act
    const chunks = sseData(await (await postJson(`${url}/v1/chat/completions`, aChatBody({ stream: true }))).text())
      .slice(0, -1)
      .map((e) => JSON.parse(e));
    // Assess
    expect(chunks.every((c) => c.choices.length === 1 && !("usage" in c))).toBe(true);
    expect(chunks.at(-1)).toMatchObject({
      choices: [{ finish_reason: "stop" }],
      cocoon: { job_ids: ["job_0123456789abcdefghijklmnop"], cost_nanoton: "1900", tiers: ["tdx-h100"] },
    });
  });

  it("streams tool calls as deltas with index, id, type, name and arguments, and finishes with tool_calls", async () => {
    // Prepare
    const call = { id: "call_1", type: "function" as const, function: { name: "get_weather", arguments: '{"city":"Paris"}' } };
    const { url } = await startFull({
      askStream: async function* () {
        yield {
          type: "delta",
          toolCalls: [{ index: 0, id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":' } }],
        };
        yield { type: "delta", toolCalls: [{ index: 0, function: { arguments: '"Paris"}' } }] };
        yield done({ text: "", toolCalls: [call], finishReason: "tool_calls" });
      },
    });
    // Act
    const chunks = sseData(
      await (
        await postJson(
          `${url}/v1/chat/completions`,
          aChatBody({ stream: true, tools: [{ type: "function", function: { name: "get_weather" } }] }),
        )
      ).text(),
    )
      .slice(0, -1)
      .map((e) => JSON.parse(e));
    // Assess
    const pieces = chunks.flatMap((c) => c.choices[0]?.delta?.tool_calls ?? []);
    expect(pieces).toEqual([
      { index: 0, id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":' } },
      { index: 0, function: { arguments: '"Paris"}' } },
    ]);
    expect(chunks.at(-1).choices[0].finish_reason).toBe("tool_calls");
  });

  it("sends tool calls that come only with the result as whole deltas, numbered", async () => {
    // Prepare
    const calls = [
      { id: "call_a", type: "function" as const, function: { name: "f", arguments: "{}" } },
      { id: "call_b", type: "function" as const, function: { name: "g", arguments: '{"x":1}' } },
    ];
    const { url } = await startFull({
      askStream: async function* () {
        yield done({ text: "", toolCalls: calls, finishReason: "stop" });
      },
    });
    // Act
    const chunks = sseData(await (await postJson(`${url}/v1/chat/completions`, aChatBody({ stream: true }))).text())
      .slice(0, -1)
      .map((e) => JSON.parse(e));
    // Assess
    expect(chunks.flatMap((c) => c.choices[0]?.delta?.tool_calls ?? [])).toEqual([
      { index: 0, ...calls[0] },
      { index: 1, ...calls[1] },
    ]);
    expect(chunks.at(-1).choices[0].finish_reason).toBe("tool_calls");
  });

  it("streams n choices of one job by their index", async () => {
    // Prepare
    const { url, streamCalls } = await startFull({
      askStream: async function* () {
        yield { type: "delta", text: "A", index: 0 };
        yield { type: "delta", text: "B", index: 1 };
        yield done({
          text: "A",
          choices: [
            { index: 0, text: "A", finishReason: "stop" },
            { index: 1, text: "B", finishReason: "length" },
          ],
        });
      },
    });
    // Act
    const chunks = sseData(await (await postJson(`${url}/v1/chat/completions`, aChatBody({ stream: true, n: 2 }))).text())
      .slice(0, -1)
      .map((e) => JSON.parse(e));
    // Assess
    expect(streamCalls).toHaveLength(1);
    expect(streamCalls[0]?.n).toBe(2);
    const of = (i: number) => chunks.map((c) => c.choices[0]).filter((c) => c.index === i);
    expect(
      of(0)
        .map((c) => c.delta.content ?? "")
        .join(""),
    ).toBe("A");
    expect(
      of(1)
        .map((c) => c.delta.content ?? "")
        .join(""),
    ).toBe("B");
    expect(of(0)[0].delta.role).toBe("assistant");
    expect(of(1)[0].delta.role).toBe("assistant");
    expect(of(0).at(-1).finish_reason).toBe("stop");
    expect(of(1).at(-1).finish_reason).toBe("length");
  });

  it("a failure before the first event is an HTTP error, not a stream", async () => {
    // Prepare
    const { url } = await startFull({
      // eslint-disable-next-line require-yield -- the stream fails before its first event on purpose
      askStream: async function* () {
        throw new SdkError("insufficient_funds", "top up first");
      },
    });
    // Act
    const res = await postJson(`${url}/v1/chat/completions`, aChatBody({ stream: true }));
    // Assess
    expect(res.status).toBe(402);
    expect(res.headers.get("x-should-retry")).toBe("false");
    expect((await json(res)).error).toEqual({
      message: "top up first",
      type: "insufficient_quota",
      param: null,
      code: "insufficient_funds",
    });
  });

  const broken: Array<[string, () => AsyncGenerator<AskStreamEvent>, string]> = [
    [
      "a failed chunk check",
      async function* () {
        yield { type: "delta", text: "Hel" };
        throw new SdkError("chunk_reordered", "chunk 3 arrived before chunk 2");
      },
      "chunk_reordered",
    ],
    [
      "a stream that ends without its final event",
      async function* () {
        yield { type: "delta", text: "Hel" };
      },
      "stream_truncated",
    ],
    [
      "a restart after text was sent",
      async function* () {
        yield { type: "delta", text: "Hel" };
        yield { type: "restart" };
        yield { type: "delta", text: "Hello" };
        yield done({ text: "Hello" });
      },
      "stream_restarted",
    ],
  ];
  for (const [name, events, code] of broken) {
    it(`ends with an SSE error event and no [DONE] after ${name}`, async () => {
      // Prepare
      const failures: unknown[] = [];
      const { url } = await startFull({ askStream: events, onError: (e) => failures.push(e) });
      // Act
      const res = await postJson(`${url}/v1/chat/completions`, aChatBody({ stream: true }));
      const events2 = sseData(await res.text());
      // Assess
      expect(res.status).toBe(200);
      expect(events2).not.toContain("[DONE]");
      expect(JSON.parse(events2.at(-1)!).error.code).toBe(code);
      expect(failures).toHaveLength(1);
    });
  }

  it("a restart before any text was sent is invisible", async () => {
    // Prepare
    const { url } = await startFull({
      askStream: async function* () {
        yield { type: "restart" };
        yield { type: "delta", text: "Hello" };
        yield done({ text: "Hello" });
      },
    });
    // Act
    const events = sseData(await (await postJson(`${url}/v1/chat/completions`, aChatBody({ stream: true }))).text());
    // Assess
    expect(events.at(-1)).toBe("[DONE]");
    expect(
      events
        .slice(0, -1)
        .map((e) => JSON.parse(e).choices[0]?.delta?.content ?? "")
        .join(""),
    ).toBe("Hello");
  });

  it("closes the network's stream when the app goes away, even while it waits for the next event", async () => {
    // Prepare: a stream that yields one delta and then never again
    let closed = false;
    const stalled: AsyncIterable<AskStreamEvent> = {
      [Symbol.asyncIterator]: () => {
        let sent = false;
        return {
          next: () =>
            sent
              ? new Promise<IteratorResult<AskStreamEvent>>(() => {})
              : ((sent = true), Promise.resolve({ done: false, value: { type: "delta" as const, text: "one" } })),
          return: async () => ((closed = true), { done: true as const, value: undefined }),
        };
      },
    };
    const { url } = await startFull({ askStream: () => stalled });
    const ctl = new AbortController();
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(aChatBody({ stream: true })),
      signal: ctl.signal,
    });
    const next = sseReader(res);
    await next();
    await next();
    // Act
    ctl.abort();
    // Assess
    await pollUntil("the network's stream to be closed", () => (closed ? true : undefined), 5000, 10);
    expect(closed).toBe(true);
  });

  it("streams text completions with echo", async () => {
    // Prepare
    const { url, streamCalls } = await startFull({
      askStream: async function* () {
        yield { type: "delta", text: " world" };
        yield done({ text: " world" });
      },
      listModels: async () => [{ id: "m", capabilities: caps({ completions: true }) }],
    });
    // Act
    const events = sseData(
      await (await postJson(`${url}/v1/completions`, { model: "m", prompt: "hello", stream: true, echo: true })).text(),
    );
    // Assess
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    expect(chunks.every((c) => c.object === "text_completion" && c.id === chunks[0].id)).toBe(true);
    expect(chunks.map((c) => c.choices[0].text).join("")).toBe("hello world");
    expect(chunks.at(-1).choices[0].finish_reason).toBe("stop");
    expect(streamCalls[0]).toMatchObject({ prompt: "hello" });
    expect(streamCalls[0]?.messages).toBeUndefined();
  });
});

describe("issue 11: OpenAI's fields pass through", () => {
  it("hands tools, tool_choice, parallel_tool_calls, response_format, n, stop, seed, top_p, user and logprobs to the network", async () => {
    // Prepare
    const { url, calls } = await startFull();
    const tools = [
      {
        type: "function",
        function: {
          name: "get_weather",
          description: "weather",
          parameters: { type: "object", properties: { city: { type: "string" } } },
          strict: true,
        },
      },
    ];
    const responseFormat = { type: "json_schema", json_schema: { name: "w", schema: { type: "object" }, strict: true } };
    // Act
    const res = await postJson(
      `${url}/v1/chat/completions`,
      aChatBody({
        tools,
        tool_choice: { type: "function", function: { name: "get_weather" } },
        parallel_tool_calls: false,
        response_format: responseFormat,
        n: 2,
        stop: "END",
        seed: 42,
        top_p: 0.5,
        user: "u-1",
        logprobs: false,
        max_completion_tokens: 33,
        frequency_penalty: 0,
        top_k: 5,
        messages: [
          { role: "user", content: "weather?" },
          {
            role: "assistant",
            content: null,
            tool_calls: [{ id: "c1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }],
          },
          { role: "tool", tool_call_id: "c1", content: "sunny" },
        ],
      }),
    );
    // Assess
    expect(res.status).toBe(200);
    expect(calls[0]).toEqual({
      model: "llama-3-8b",
      messages: [
        { role: "user", content: "weather?" },
        {
          role: "assistant",
          content: "",
          toolCalls: [{ id: "c1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }],
        },
        { role: "tool", content: "sunny", toolCallId: "c1" },
      ],
      maxTokens: 33,
      n: 2,
      topP: 0.5,
      seed: 42,
      stop: ["END"],
      tools,
      toolChoice: { type: "function", function: { name: "get_weather" } },
      parallelToolCalls: false,
      responseFormat,
      logprobs: false,
      user: "u-1",
      extra: { frequency_penalty: 0, top_k: 5 },
      signal: expect.any(AbortSignal),
    });
  });

  it("answers tool calls with content null, tool_calls and finish_reason tool_calls", async () => {
    // Prepare
    const call = { id: "call_9", type: "function" as const, function: { name: "f", arguments: '{"a":1}' } };
    const { url } = await startFull({ ask: async () => anAnswer({ text: "", toolCalls: [call], finishReason: "tool_calls" }) });
    // Act
    const body = await json(await postJson(`${url}/v1/chat/completions`, aChatBody()));
    // Assess
    expect(body.choices).toEqual([
      {
        index: 0,
        message: { role: "assistant", content: null, refusal: null, tool_calls: [call] },
        logprobs: null,
        finish_reason: "tool_calls",
      },
    ]);
  });

  it("answers n choices of one job", async () => {
    // Prepare
    const { url, calls } = await startFull({
      ask: async () =>
        anAnswer({
          text: "A",
          choices: [
            { index: 0, text: "A", finishReason: "stop" },
            { index: 1, text: "B", finishReason: "length" },
          ],
        }),
    });
    // Act
    const body = await json(await postJson(`${url}/v1/chat/completions`, aChatBody({ n: 2 })));
    // Assess
    expect(calls).toHaveLength(1);
    expect(
      body.choices.map((c: { index: number; message: { content: string }; finish_reason: string }) => [
        c.index,
        c.message.content,
        c.finish_reason,
      ]),
    ).toEqual([
      [0, "A", "stop"],
      [1, "B", "length"],
    ]);
  });

  it("runs one job per prompt for legacy completions, with choices in prompt × n order", async () => {
    // Prepare
    const { url, calls } = await startFull({
      ask: async (req) =>
        anAnswer({
          text: `<${req.prompt}>`,
          choices: [0, 1].map((i) => ({ index: i, text: `<${req.prompt}${i}>`, finishReason: "stop" as const })),
        }),
      listModels: async () => [{ id: "m", capabilities: caps({ completions: true }) }],
    });
    // Act
    const body = await json(await postJson(`${url}/v1/completions`, { model: "m", prompt: ["a", "b"], n: 2, max_tokens: 3 }));
    // Assess
    expect(calls).toHaveLength(2);
    expect(body.choices.map((c: { index: number; text: string }) => [c.index, c.text])).toEqual([
      [0, "<a0>"],
      [1, "<a1>"],
      [2, "<b0>"],
      [3, "<b1>"],
    ]);
  });

  it("sends a legacy completion for a chat-only model through its chat template", async () => {
    // Prepare
    const { url, calls } = await startFull({ listModels: async () => [{ id: "m", capabilities: caps() }] });
    // Act
    await postJson(`${url}/v1/completions`, { model: "m", prompt: "Say hi", max_tokens: 5 });
    // Assess
    expect(calls[0]).toMatchObject({ messages: [{ role: "user", content: "Say hi" }] });
    expect(calls[0]?.prompt).toBeUndefined();
  });

  it("drops tools a model without function calling is told not to use (tool_choice none)", async () => {
    // Prepare
    const { url, calls } = await startFull({ listModels: async () => [{ id: "llama-3-8b", capabilities: caps() }] });
    // Act
    const res = await postJson(
      `${url}/v1/chat/completions`,
      aChatBody({ tools: [{ type: "function", function: { name: "f" } }], tool_choice: "none" }),
    );
    // Assess
    expect(res.status).toBe(200);
    expect(calls[0]?.tools).toBeUndefined();
  });
});

describe("issue 11: what a model cannot do is a 400 naming the parameter", () => {
  const refusals: Array<[string, string, Record<string, unknown>, string]> = [
    ["tools", "/v1/chat/completions", aChatBody({ tools: [{ type: "function", function: { name: "f" } }] }), "tools"],
    [
      "a tool result",
      "/v1/chat/completions",
      aChatBody({
        messages: [
          { role: "user", content: "x" },
          { role: "tool", tool_call_id: "c", content: "y" },
        ],
      }),
      "messages.1",
    ],
    [
      "json_schema",
      "/v1/chat/completions",
      aChatBody({ response_format: { type: "json_schema", json_schema: { name: "x", schema: {} } } }),
      "response_format",
    ],
    ["json_object", "/v1/chat/completions", aChatBody({ response_format: { type: "json_object" } }), "response_format"],
    ["logprobs", "/v1/chat/completions", aChatBody({ logprobs: true }), "logprobs"],
    ["top_logprobs", "/v1/chat/completions", aChatBody({ top_logprobs: 3 }), "top_logprobs"],
    ["max_tokens past the context", "/v1/chat/completions", aChatBody({ max_tokens: 4096 }), "max_tokens"],
    ["embeddings", "/v1/embeddings", { model: "llama-3-8b", input: "x" }, "model"],
    ["token-id prompts", "/v1/completions", { model: "llama-3-8b", prompt: [1, 2, 3] }, "prompt"],
    ["suffix", "/v1/completions", { model: "llama-3-8b", prompt: "x", suffix: "y" }, "suffix"],
    ["dimensions", "/v1/embeddings", { model: "llama-3-8b", input: "x", dimensions: 8 }, "dimensions"],
  ];
  for (const [what, path, body, param] of refusals) {
    it(`refuses ${what} for a model that cannot (param ${param}) without asking the network`, async () => {
      // Prepare
      const { url, calls } = await startFull({
        embed: async () => ({ vectors: [[0]], usage: { promptTokens: 1 }, model: "m", workerId: "w", tier: "dev", cost: "0", jobId: "j" }),
        listModels: async () => [{ id: "llama-3-8b", capabilities: caps({ contextLength: 2048 }) }],
      });
      // Act
      const res = await postJson(`${url}${path}`, body);
      const answer = await json(res);
      // Assess
      expect(res.status).toBe(400);
      expect(res.headers.get("x-should-retry")).toBe("false");
      expect(answer.error).toMatchObject({ type: "invalid_request_error", param });
      expect(calls).toHaveLength(0);
    });
  }

  it("answers 404 model_not_found with param model for a model nobody offers, after refetching the list once", async () => {
    // Prepare
    let now = 0;
    let lists = 0;
    const { url, calls } = await startFull({
      now: () => now,
      listModels: async () => (lists++, [{ id: "llama-3-8b", capabilities: caps() }]),
    });
    await postJson(`${url}/v1/chat/completions`, aChatBody());
    now = 5_000;
    // Act
    const res = await postJson(`${url}/v1/chat/completions`, aChatBody({ model: "gpt-9" }));
    // Assess
    expect(res.status).toBe(404);
    expect(await json(res)).toEqual({
      error: { message: expect.stringContaining("gpt-9"), type: "invalid_request_error", param: "model", code: "model_not_found" },
    });
    expect(lists).toBe(2);
    expect(calls).toHaveLength(1);
  });

  it("lets everything through to the worker when models carry no capabilities (older coordinator)", async () => {
    // Prepare
    const { url, calls } = await startFull({ listModels: async () => ["llama-3-8b"] });
    // Act
    const res = await postJson(
      `${url}/v1/chat/completions`,
      aChatBody({ tools: [{ type: "function", function: { name: "f" } }], response_format: { type: "json_object" } }),
    );
    // Assess
    expect(res.status).toBe(200);
    expect(calls).toHaveLength(1);
  });

  it("lists each model's capabilities", async () => {
    // Prepare
    const { url } = await startFull({
      listModels: async () => [
        { id: "gguf", capabilities: caps({ completions: true, embeddings: true, tools: true, jsonSchema: true, contextLength: 4096 }) },
        "plain",
      ],
    });
    // Act
    const list = await json(await fetch(`${url}/v1/models`));
    const one = await json(await fetch(`${url}/v1/models/gguf`));
    // Assess
    expect(list.data).toEqual([
      {
        id: "gguf",
        object: "model",
        created: 0,
        owned_by: "cocoon",
        capabilities: {
          chat: true,
          completions: true,
          embeddings: true,
          streaming: true,
          tools: true,
          json_schema: true,
          context_length: 4096,
          logprobs: false,
          vision: false,
        },
      },
      { id: "plain", object: "model", created: 0, owned_by: "cocoon" },
    ]);
    expect(one).toEqual(list.data[0]);
  });
});

describe("issue 11: /v1/embeddings", () => {
  const vectors = [
    [0.5, -1.25, 3],
    [1e-3, 0, -2],
  ];
  const anEmbedding = (): EmbedResult => ({
    vectors,
    usage: { promptTokens: 7 },
    model: "emb",
    workerId: "W",
    tier: "dev",
    cost: "70",
    jobId: "job_e",
  });

  it("answers floats by default, with usage and the Cocoon headers", async () => {
    // Prepare
    const seen: unknown[] = [];
    const { url } = await startFull({ embed: async (r) => (seen.push(r.input), anEmbedding()) });
    // Act
    const res = await postJson(`${url}/v1/embeddings`, { model: "emb", input: ["a", "b"] });
    const body = await json(res);
    // Assess
    expect(res.status).toBe(200);
    expect(res.headers.get("x-cocoon-job-id")).toBe("job_e");
    expect(body).toEqual({
      object: "list",
      data: vectors.map((embedding, index) => ({ object: "embedding", index, embedding })),
      model: "emb",
      usage: { prompt_tokens: 7, total_tokens: 7 },
    });
    expect(seen).toEqual([["a", "b"]]);
  });

  it("answers base64 as little-endian float32", async () => {
    // Prepare
    const { url } = await startFull({ embed: async () => anEmbedding() });
    // Act
    const body = await json(await postJson(`${url}/v1/embeddings`, { model: "emb", input: ["a", "b"], encoding_format: "base64" }));
    // Assess
    const decoded = body.data.map((d: { embedding: string }) => {
      const b = Buffer.from(d.embedding, "base64");
      return Array.from({ length: b.length / 4 }, (_, i) => b.readFloatLE(i * 4));
    });
    expect(decoded).toEqual(vectors.map((v) => v.map((x) => Math.fround(x))));
    expect(float32Base64([1])).toBe(Buffer.from([0, 0, 0x80, 0x3f]).toString("base64"));
  });

  const inputs: Array<[string, unknown, unknown]> = [
    ["a string", "hello", ["hello"]],
    ["token ids", [1, 2, 3], [[1, 2, 3]]],
    ["arrays of token ids", [[1], [2, 3]], [[1], [2, 3]]],
  ];
  for (const [name, input, expected] of inputs) {
    it(`takes ${name} as input`, async () => {
      // Prepare
      const seen: unknown[] = [];
      const { url } = await startFull({
        embed: async (r) => (seen.push(r.input), { ...anEmbedding(), vectors: (r.input as unknown[]).map(() => [1]) }),
      });
      // Act
      const res = await postJson(`${url}/v1/embeddings`, { model: "emb", input });
      // Assess
      expect(res.status).toBe(200);
      expect(seen).toEqual([expected]);
    });
  }

  it("refuses an empty string, and a worker that answers the wrong number of vectors is a 502", async () => {
    // Prepare
    const { url } = await startFull({ embed: async () => ({ ...anEmbedding(), vectors: [[1]] }) });
    // Act
    const empty = await postJson(`${url}/v1/embeddings`, { model: "emb", input: "" });
    const short = await postJson(`${url}/v1/embeddings`, { model: "emb", input: ["a", "b"] });
    // Assess
    expect(empty.status).toBe(400);
    expect((await json(empty)).error.param).toBe("input");
    expect(short.status).toBe(502);
  });

  it("answers 501 when the proxy has no embed", async () => {
    // Prepare
    const { url } = await startFull();
    // Act
    const res = await postJson(`${url}/v1/embeddings`, { model: "emb", input: "x" });
    // Assess
    expect(res.status).toBe(501);
    expect(res.headers.get("x-should-retry")).toBe("false");
  });
});

describe("issue 11: errors in OpenAI's shape, x-request-id on every answer", () => {
  it("puts a distinct x-request-id on answers, errors, unknown routes and refusals before the body", async () => {
    // Prepare
    const { url } = await startFull();
    const { request } = await import("node:http");
    // Act
    const ok = await postJson(`${url}/v1/chat/completions`, aChatBody());
    const bad = await postJson(`${url}/v1/chat/completions`, aChatBody({ temperature: 9 }));
    const missing = await fetch(`${url}/v1/nothing`);
    const forbidden = await new Promise<string | undefined>((resolve, reject) => {
      const req = request(`${url}/v1/models`, { headers: { host: "evil.example" } }, (res) => {
        res.resume();
        resolve(res.headers["x-request-id"] as string | undefined);
      });
      req.on("error", reject);
      req.end();
    });
    // Assess
    const ids = [ok, bad, missing].map((r) => r.headers.get("x-request-id"));
    expect([...ids, forbidden].every((id) => /^req_[0-9a-f]{24}$/.test(id ?? ""))).toBe(true);
    expect(new Set([...ids, forbidden]).size).toBe(4);
    expect((await json(bad)).error).toEqual({
      message: expect.stringMatching(/temperature/),
      type: "invalid_request_error",
      param: "temperature",
      code: "invalid_request",
    });
  });

  const retries: Array<[string, Error, number, string | null]> = [
    ["a refused attestation", new SdkError("no_verified_candidates", "none passed"), 502, "false"],
    [
      "a worker that refused the request",
      Object.assign(new SdkError("job_failed", "refunded"), { failure: { workerId: "w", code: "engine_rejected" } }),
      400,
      "false",
    ],
    ["no capacity", new SdkError("no_workers", "busy"), 503, null],
    // the job runs on and is billed if answered: a retry would be a second paid job
    ["the SDK's wait running out", new SdkError("timeout", "slow"), 504, "false"],
    ["another timeout (the coordinator's)", new SdkError("gateway_timeout", "slow"), 504, null],
  ];
  for (const [what, err, status, header] of retries) {
    it(`answers ${status} for ${what} with x-should-retry ${header ?? "absent"}`, async () => {
      // Prepare
      const { url } = await startFull({
        ask: async () => {
          throw err;
        },
      });
      // Act
      const res = await postJson(`${url}/v1/chat/completions`, aChatBody());
      // Assess
      expect(res.status).toBe(status);
      expect(res.headers.get("x-should-retry")).toBe(header);
      expect(Object.keys((await json(res)).error).sort()).toEqual(["code", "message", "param", "type"]);
    });
  }
});

describe("issue 11: the SDK's stream checks map to upstream_verification_error", () => {
  for (const code of [
    "stream_tampered",
    "stream_reordered",
    "stream_duplicate",
    "stream_gap",
    "stream_truncated",
    "stream_cross_job",
    "stream_mismatch",
    "stream_too_long",
  ]) {
    it(`${code} → 502, not retried`, () => {
      expect(mapAskError(new SdkError(code, "x"))).toMatchObject({ status: 502, type: "upstream_verification_error", retryable: false });
    });
  }
  it("a restart is not a verification failure", () => {
    expect(mapAskError(new SdkError("stream_restarted", "x"))).toMatchObject({ status: 502, type: "upstream_error" });
  });
});

describe("a chat message's name (OpenAI's participant name) reaches the network", () => {
  /** A proxy over the SDK backend; `sealed` is each request's plaintext as the SDK seals it (requestPlaintextOf). */
  async function startSealing() {
    const sealed: unknown[] = [];
    const client: NetworkClient = {
      ask: async (o: AskOptions) => {
        sealed.push(requestPlaintextOf(o, false));
        return { ...anAnswer(), tier: "dev", engine: "e", maxCost: "1900", attempt: 0 };
      },
      askStream: () => {
        throw new Error("not streamed here");
      },
      embed: () => {
        throw new Error("no embeddings here");
      },
      models: async () => ({ models: [{ model: "llama-3-8b", workers: 1 }] }),
    };
    proxy = await startServeProxy({ port: 0, ...serveBackend(client) });
    return { url: proxy.url, sealed };
  }

  it("seals the name of system, developer, user and assistant messages as sent, and none where none was sent", async () => {
    // Prepare: an AutoGen group chat replayed to the model
    const { url, sealed } = await startSealing();
    // Act
    const res = await postJson(
      `${url}/v1/chat/completions`,
      aChatBody({
        messages: [
          { role: "system", content: "Debate.", name: "chair" },
          { role: "developer", content: "Be brief.", name: "ops" },
          { role: "user", content: "Tabs or spaces?", name: "host" },
          { role: "assistant", content: "Tabs.", name: "alice" },
          { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "vote", arguments: "{}" } }] },
          { role: "tool", tool_call_id: "c1", content: "tabs 2, spaces 1" },
          { role: "user", content: "And you, bob?" },
        ],
      }),
    );
    // Assess
    expect(res.status).toBe(200);
    expect(sealed).toHaveLength(1);
    expect((sealed[0] as { messages: unknown[] }).messages).toStrictEqual([
      { role: "system", content: "Debate.", name: "chair" },
      { role: "system", content: "Be brief.", name: "ops" },
      { role: "user", content: "Tabs or spaces?", name: "host" },
      { role: "assistant", content: "Tabs.", name: "alice" },
      { role: "assistant", content: "", toolCalls: [{ id: "c1", type: "function", function: { name: "vote", arguments: "{}" } }] },
      { role: "tool", content: "tabs 2, spaces 1", toolCallId: "c1" },
      { role: "user", content: "And you, bob?" },
    ]);
  });

  it("refuses a name outside OpenAI's rule with a 400 naming messages.i.name, and sends nothing", async () => {
    // Prepare
    const { url, sealed } = await startSealing();
    // Act
    const res = await postJson(
      `${url}/v1/chat/completions`,
      aChatBody({
        messages: [
          { role: "system", content: "Debate." },
          { role: "user", content: "hi", name: "Alice Smith" },
        ],
      }),
    );
    // Assess
    expect(res.status).toBe(400);
    expect((await json(res)).error).toMatchObject({ type: "invalid_request_error", param: "messages.1.name" });
    expect(sealed).toHaveLength(0);
  });
});
