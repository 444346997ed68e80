/**
 * POST /v1/completions (completions.ts, OpenAI's legacy completions) at its edges, called as a
 * route with a faked network: which fields of the request reach each prompt's job (exactly those
 * the app named; null is unsent), the choice indexes, texts and finish reasons across several
 * prompts and n, echo, usage summed over the jobs, the streamed chunks (id, usage, echo, tool
 * pieces dropped, a failure after the head, an app that went away), and the refusals of token-id
 * prompts, suffix, best_of, logprobs, a budget past the context and too many choices (status,
 * code, param and message) before any job is asked.
 */
import { describe, expect, it } from "vitest";
import type { HttpResponse } from "../../edge/http";
import { MAX_JOB_PROMPT_TOKENS } from "../../events/api";
import { aRouteContext, routeRequest, caps } from "../../test/fixtures/serve-proxy";
import { completions } from "./completions";
import { OpenAiError } from "./errors";
import type { AskChoice, AskRequest, AskResult, AskStreamEvent, ModelCapabilities, OpenAiErrorMapping, ProxyContext } from "./types";

const MODEL = "gpt-3.5-turbo-instruct";
/** The faked clock: 1 700 000 000.123 s, in milliseconds as Date.now counts. */
const NOW_MS = 1_700_000_000_123;
const NOW_S = 1_700_000_000;
/** A model that continues a prompt as is. */
const RAW = caps({ completions: true });

/** A completions body: the model, one prompt and `over`. */
const aBody = (over: Record<string, unknown> = {}) => ({ model: MODEL, prompt: "Once", ...over });

/** The route's request for a JSON `body`. */
const aRequest = (body: unknown, signal?: AbortSignal) => routeRequest("/v1/completions", body, signal);

/** The prompt a job was asked to continue (as is, or as the one user message of a chat-only model). */
const promptOf = (req: AskRequest) => req.prompt ?? req.messages![0]!.content;

/**
 * A worker's answer to `req`: choice i of prompt p is " p#i", odd choices cut by the budget;
 * 5 prompt tokens and 4 completion tokens per choice; the job id names the prompt.
 */
function answerTo(req: AskRequest): AskResult {
  const n = req.n ?? 1;
  const choices: AskChoice[] = Array.from({ length: n }, (_, i) => ({
    index: i,
    text: ` ${promptOf(req)}#${i}`,
    finishReason: i % 2 ? "length" : "stop",
  }));
  return {
    text: choices[0]!.text,
    finishReason: choices[0]!.finishReason,
    ...(n > 1 ? { choices } : {}),
    usage: { promptTokens: 5, completionTokens: 4 * n },
    model: MODEL,
    workerId: "W".repeat(43),
    tier: "dev",
    cost: "110",
    jobId: `job_${promptOf(req)}`,
  };
}

/** The network's stream of `answerTo(req)`: each choice's text as one delta (naming its job unless `anonymous`), then done. */
async function* streamTo(req: AskRequest, anonymous = false): AsyncGenerator<AskStreamEvent> {
  const r = answerTo(req);
  for (const c of r.choices ?? [{ index: 0, text: r.text }])
    yield { type: "delta", text: c.text, index: c.index, ...(anonymous ? {} : { jobId: r.jobId }) };
  yield { type: "done", ...r };
}

interface NetworkOptions {
  /** the model's capabilities; without, no model list (nothing checked) */
  capabilities?: ModelCapabilities;
  askStream?: (req: AskRequest) => AsyncIterable<AskStreamEvent>;
  mapError?: (err: unknown) => OpenAiErrorMapping;
}

/**
 * The route's context over a faked network answering `answerTo`; `calls` is every AskRequest it
 * received, `errors` what reached onError, `gone` how often the app was said to have gone away.
 */
function aNetwork(o: NetworkOptions = {}) {
  const r = aRouteContext({
    ask: async (req) => answerTo(req),
    ...(o.askStream ? { askStream: o.askStream } : {}),
    model: async (id) => (o.capabilities ? { id, capabilities: o.capabilities } : undefined),
    ...(o.mapError ? { mapError: o.mapError } : {}),
    now: () => NOW_MS,
  });
  return { ...r, calls: r.calls as AskRequest[] };
}

/** The whole (non-streamed) answer of the route for `body`. */
async function whole(body: unknown, ctx: ProxyContext, signal?: AbortSignal) {
  const res = await completions(aRequest(body, signal), ctx);
  return { status: res.status, body: JSON.parse(res.body as string) as Record<string, any> };
}

/** The refusal the route throws for `body` (what errorResponse turns into OpenAI's error body). */
async function refusal(body: unknown, ctx: ProxyContext): Promise<OpenAiError> {
  const err = await completions(aRequest(body), ctx).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OpenAiError);
  return err as OpenAiError;
}

/** Every SSE `data:` payload of a streamed answer: chunks as objects, then "[DONE]" if it came. */
async function frames(res: HttpResponse): Promise<Array<Record<string, any> | "[DONE]">> {
  const out: Array<Record<string, any> | "[DONE]"> = [];
  for await (const f of res.body as AsyncIterable<string>) {
    const m = /^data: ([^\n]+)\n\n$/.exec(f);
    expect(m, f).not.toBeNull();
    out.push(m![1] === "[DONE]" ? "[DONE]" : (JSON.parse(m![1]!) as Record<string, any>));
  }
  return out;
}

/** The chunks of the route's stream for `body` over `ctx` (without the final [DONE]). */
async function streamed(ctx: ProxyContext, body: Record<string, unknown>) {
  const all = await frames(await completions(aRequest({ ...body, stream: true }), ctx));
  expect(all.at(-1)).toBe("[DONE]");
  return all.slice(0, -1) as Array<Record<string, any>>;
}

/** [index, text, finish_reason] of each choice of each chunk. */
const choiceRows = (chunks: Array<Record<string, any>>) =>
  chunks.flatMap((c) => (c.choices as Array<Record<string, unknown>>).map((ch) => [ch.index, ch.text, ch.finish_reason]));

describe("completions: what reaches the network", () => {
  it("sends only the model, the prompt and the budget when the request names nothing else (no n for one choice)", async () => {
    // Prepare
    const { ctx, calls } = aNetwork({ capabilities: RAW });
    // Act
    await whole(aBody({ max_tokens: 50 }), ctx);
    await whole(aBody({ max_tokens: 50, n: 1 }), ctx);
    // Assess: no key for what was not sent, not even one holding undefined
    expect(calls).toStrictEqual([
      { model: MODEL, prompt: "Once", maxTokens: 50 },
      { model: MODEL, prompt: "Once", maxTokens: 50 },
    ]);
  });

  it("treats null sampling, stop, n, budget and refused fields as unsent", async () => {
    // Prepare
    const { ctx, calls } = aNetwork({ capabilities: RAW });
    const nulls = {
      max_tokens: null,
      temperature: null,
      top_p: null,
      seed: null,
      n: null,
      stop: null,
      logprobs: null,
      best_of: null,
      suffix: null,
      echo: null,
      stream: null,
    };
    // Act
    const res = await whole(aBody(nulls), ctx);
    // Assess: the budget is the proxy's default
    expect(res.status).toBe(200);
    expect(calls).toStrictEqual([{ model: MODEL, prompt: "Once", maxTokens: 1024 }]);
  });

  it("passes falsy values the app named (0, empty user), n, stop and unknown fields under the network's names", async () => {
    // Prepare
    const { ctx, calls } = aNetwork({ capabilities: RAW });
    const named = { temperature: 0, top_p: 1, seed: 0, user: "", n: 2, stop: "END", presence_penalty: 0, top_k: 5 };
    // Act
    await whole(aBody({ max_tokens: 8, ...named }), ctx);
    // Assess
    expect(calls).toStrictEqual([
      {
        model: MODEL,
        prompt: "Once",
        n: 2,
        maxTokens: 8,
        temperature: 0,
        topP: 1,
        seed: 0,
        stop: ["END"],
        user: "",
        extra: { presence_penalty: 0, top_k: 5 },
      },
    ]);
  });

  it("asks one job per prompt, each with its own prompt and the same fields", async () => {
    // Prepare
    const { ctx, calls } = aNetwork({ capabilities: RAW });
    // Act
    await whole(aBody({ prompt: ["a", "b", "c"], max_tokens: 7, temperature: 0.5, stop: ["\n", "."] }), ctx);
    // Assess
    expect(calls).toStrictEqual(
      ["a", "b", "c"].map((prompt) => ({ model: MODEL, prompt, maxTokens: 7, temperature: 0.5, stop: ["\n", "."] })),
    );
  });

  it("sends the prompt of a chat-only model as its one user message", async () => {
    // Prepare
    const { ctx, calls } = aNetwork({ capabilities: caps() });
    // Act
    await whole(aBody({ max_tokens: 9 }), ctx);
    // Assess
    expect(calls).toStrictEqual([{ model: MODEL, messages: [{ role: "user", content: "Once" }], maxTokens: 9 }]);
  });

  it("hands the app's abort signal to every prompt's job", async () => {
    // Prepare
    const { ctx, calls } = aNetwork();
    const app = new AbortController();
    // Act
    await whole(aBody({ prompt: ["a", "b"] }), ctx, app.signal);
    // Assess
    expect(calls.map((c) => c.signal)).toEqual([app.signal, app.signal]);
  });

  it("accepts an empty prompt, as OpenAI does, and sends it as is", async () => {
    // Prepare
    const { ctx, calls } = aNetwork({ capabilities: RAW });
    // Act
    const res = await whole(aBody({ prompt: "", max_tokens: 4 }), ctx);
    // Assess
    expect(res.status).toBe(200);
    expect(calls).toStrictEqual([{ model: MODEL, prompt: "", maxTokens: 4 }]);
  });
});

describe("completions: the whole answer", () => {
  it("numbers the choices prompt × n + j, each with its own text and finish_reason, and sums the usage over the jobs", async () => {
    // Prepare
    const { ctx } = aNetwork({ capabilities: RAW });
    // Act
    const res = await whole(aBody({ prompt: ["a", "b"], n: 2 }), ctx);
    // Assess
    expect(res.body.choices).toStrictEqual([
      { index: 0, text: " a#0", logprobs: null, finish_reason: "stop" },
      { index: 1, text: " a#1", logprobs: null, finish_reason: "length" },
      { index: 2, text: " b#0", logprobs: null, finish_reason: "stop" },
      { index: 3, text: " b#1", logprobs: null, finish_reason: "length" },
    ]);
    expect(res.body.usage).toStrictEqual({ prompt_tokens: 10, completion_tokens: 16, total_tokens: 26 });
  });

  it("answers OpenAI's envelope: the first job's id, text_completion, created in seconds, the model asked", async () => {
    // Prepare
    const { ctx } = aNetwork({ capabilities: RAW });
    // Act
    const res = await whole(aBody({ prompt: ["a", "b"] }), ctx);
    // Assess
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: "cmpl-job_a", object: "text_completion", created: NOW_S, model: MODEL });
    expect(res.body.choices.map((c: { index: number }) => c.index)).toEqual([0, 1]);
  });

  it("puts each prompt before the texts of its own choices with echo, across several prompts and n", async () => {
    // Prepare
    const { ctx } = aNetwork({ capabilities: RAW });
    // Act
    const res = await whole(aBody({ prompt: ["a", "b"], n: 2, echo: true }), ctx);
    // Assess
    expect(res.body.choices.map((c: { text: string }) => c.text)).toEqual(["a a#0", "a a#1", "b b#0", "b b#1"]);
  });
});

describe("completions: the streamed answer", () => {
  it("names the stream after the first job's id, or after the request when the network names none yet", async () => {
    // Prepare
    const named = aNetwork({ askStream: (req) => streamTo(req) });
    const anonymous = aNetwork({ askStream: (req) => streamTo(req, true) });
    // Act
    const a = await streamed(named.ctx, aBody({ prompt: ["a", "b"] }));
    const b = await streamed(anonymous.ctx, aBody());
    // Assess
    expect(new Set(a.map((c) => c.id))).toEqual(new Set(["cmpl-job_a"]));
    expect(new Set(b.map((c) => c.id))).toEqual(new Set(["cmpl-req_test"]));
  });

  it("numbers streamed choices prompt × n + j, echoes each prompt first, and ends each choice with its finish_reason", async () => {
    // Prepare
    const { ctx } = aNetwork({ askStream: (req) => streamTo(req) });
    // Act
    const chunks = await streamed(ctx, aBody({ prompt: ["a", "b"], n: 2, echo: true }));
    // Assess
    expect(chunks.every((c) => c.object === "text_completion" && c.created === NOW_S && c.model === MODEL)).toBe(true);
    expect(chunks.every((c) => c.choices.every((ch: { logprobs: unknown }) => ch.logprobs === null))).toBe(true);
    const rows = choiceRows(chunks);
    expect(rows.slice(0, 4)).toEqual([
      [0, "a", null],
      [1, "a", null],
      [2, "b", null],
      [3, "b", null],
    ]);
    for (let i = 0; i < 4; i++) {
      const own = rows.filter((r) => r[0] === i);
      const prompt = i < 2 ? "a" : "b";
      expect(own.map((r) => r[1]).join("")).toBe(`${prompt} ${prompt}#${i % 2}`);
      expect(own.at(-1)).toEqual([i, "", i % 2 ? "length" : "stop"]);
    }
  });

  it("sends usage null on each chunk and then the usage summed over the jobs with include_usage", async () => {
    // Prepare
    const { ctx } = aNetwork({ askStream: (req) => streamTo(req) });
    // Act
    const chunks = await streamed(ctx, aBody({ prompt: ["a", "b"], stream_options: { include_usage: true } }));
    // Assess
    const last = chunks.at(-1)!;
    expect(chunks.slice(0, -1).every((c) => c.usage === null && c.choices.length === 1)).toBe(true);
    expect(last.choices).toEqual([]);
    expect(last.usage).toStrictEqual({ prompt_tokens: 10, completion_tokens: 8, total_tokens: 18 });
  });

  it("sends no usage key and no choice-less chunk without include_usage", async () => {
    // Prepare
    const { ctx } = aNetwork({ askStream: (req) => streamTo(req) });
    // Act
    const chunks = await streamed(ctx, aBody({ stream_options: { include_usage: false } }));
    // Assess
    expect(chunks.every((c) => !("usage" in c) && c.choices.length === 1)).toBe(true);
  });

  it("sends no chunk for tool-call pieces, which a text completion has no place for", async () => {
    // Prepare
    const call = { id: "call_1", type: "function" as const, function: { name: "lookup", arguments: "{}" } };
    const { ctx } = aNetwork({
      askStream: async function* (req) {
        yield { type: "delta", toolCalls: [call], jobId: "job_t" };
        yield { type: "delta", text: "ok" };
        yield { type: "done", ...answerTo(req), text: "ok" };
      },
    });
    // Act
    const chunks = await streamed(ctx, aBody());
    // Assess
    expect(choiceRows(chunks)).toEqual([
      [0, "ok", null],
      [0, "", "stop"],
    ]);
  });

  it("ends a stream the network broke after the head with an error event, and tells onError", async () => {
    // Prepare
    const boom = new Error("worker vanished");
    const mapped = { status: 502, type: "server_error", code: "worker_failed", message: "the worker failed" };
    const { ctx, errors } = aNetwork({
      mapError: () => mapped,
      askStream: async function* () {
        yield { type: "delta", text: "Par", jobId: "job_x" };
        throw boom;
      },
    });
    // Act
    const all = await frames(await completions(aRequest(aBody({ stream: true })), ctx));
    // Assess
    expect(all.at(-1)).toStrictEqual({ error: { message: "the worker failed", type: "server_error", param: null, code: "worker_failed" } });
    expect(all).not.toContain("[DONE]");
    expect(errors).toEqual([boom]);
  });

  it("sends nothing more, not even [DONE], to an app that went away, and tells clientGone instead of onError", async () => {
    // Prepare
    const { ctx, errors, gone } = aNetwork({ askStream: (req) => streamTo(req) });
    const app = new AbortController();
    const res = await completions(aRequest(aBody({ stream: true, prompt: ["a", "b"] }), app.signal), ctx);
    // Act
    app.abort();
    const all = await frames(res);
    // Assess
    expect(all).toEqual([]);
    expect(gone()).toBe(1);
    expect(errors).toEqual([]);
  });
});

describe("completions: refusals before any job", () => {
  it.each([
    ["a list of token ids", [1, 2, 3]],
    ["a list of token-id lists", [[1, 2], [3]]],
  ])("refuses a prompt of %s with 400 unsupported_parameter naming prompt", async (_what, prompt) => {
    // Prepare
    const { ctx, calls } = aNetwork();
    // Act
    const err = await refusal(aBody({ prompt }), ctx);
    // Assess
    expect(err).toMatchObject({
      status: 400,
      type: "invalid_request_error",
      code: "unsupported_parameter",
      param: "prompt",
      message: "token-id prompts are not supported by Cocoon: send the prompt as text",
    });
    expect(calls).toHaveLength(0);
  });

  it("refuses a suffix with 400 naming suffix and saying fill-in-the-middle is not supported, but takes an empty one", async () => {
    // Prepare
    const { ctx, calls } = aNetwork();
    // Act
    const err = await refusal(aBody({ suffix: "end" }), ctx);
    const empty = await whole(aBody({ suffix: "" }), ctx);
    // Assess
    expect(err).toMatchObject({
      status: 400,
      code: "unsupported_parameter",
      param: "suffix",
      message: "suffix (fill-in-the-middle) is not supported by Cocoon",
    });
    expect(empty.status).toBe(200);
    expect(calls).toHaveLength(1);
  });

  it.each([
    [2, undefined],
    [3, 2],
  ])("refuses best_of %s above n %s with 400 naming best_of and pointing to n", async (best_of, n) => {
    // Prepare
    const { ctx, calls } = aNetwork();
    // Act
    const err = await refusal(aBody({ best_of, ...(n ? { n } : {}) }), ctx);
    // Assess
    expect(err).toMatchObject({
      status: 400,
      type: "invalid_request_error",
      code: "unsupported_parameter",
      param: "best_of",
      message: "best_of is not supported by Cocoon (the choices are not ranked by log probability): use n",
    });
    expect(calls).toHaveLength(0);
  });

  it.each([
    [1, undefined],
    [3, 3],
  ])("takes best_of %s equal to n %s (nothing to rank) and does not send it", async (best_of, n) => {
    // Prepare
    const { ctx, calls } = aNetwork();
    // Act
    const res = await whole(aBody({ best_of, max_tokens: 5, ...(n ? { n } : {}) }), ctx);
    // Assess
    expect(res.status).toBe(200);
    expect(calls).toStrictEqual([{ model: MODEL, prompt: "Once", maxTokens: 5, ...(n ? { n } : {}) }]);
  });

  // Regression: best_of below n was taken (n choices sent); OpenAI refuses it
  it("refuses best_of below n with 400 naming best_of", async () => {
    // Prepare
    const { ctx, calls } = aNetwork();
    // Act
    const err = await refusal(aBody({ best_of: 1, n: 2 }), ctx);
    // Assess
    expect(err).toMatchObject({ status: 400, code: "invalid_request", param: "best_of", message: "best_of (1) must be at least n (2)" });
    expect(calls).toHaveLength(0);
  });

  it.each([0, 2])("refuses logprobs %s with 400 naming logprobs (not answered as logprobs: null)", async (logprobs) => {
    // Prepare
    const { ctx, calls } = aNetwork({ capabilities: caps({ completions: true, logprobs: true }) });
    // Act
    const err = await refusal(aBody({ logprobs }), ctx);
    // Assess
    expect(err).toMatchObject({ status: 400, code: "unsupported_parameter", param: "logprobs" });
    expect(calls).toHaveLength(0);
  });

  it("refuses a max_tokens the model's context cannot hold with 400 naming max_tokens; a default budget is cut to fit", async () => {
    // Prepare
    const { ctx, calls } = aNetwork({ capabilities: caps({ completions: true, contextLength: 512 }) });
    // Act
    const err = await refusal(aBody({ max_tokens: 512 }), ctx);
    await whole(aBody(), ctx);
    // Assess
    expect(err).toMatchObject({ status: 400, code: "unsupported_parameter", param: "max_tokens" });
    expect(err.message).toContain("512");
    expect(calls).toStrictEqual([{ model: MODEL, prompt: "Once", maxTokens: 256 }]);
  });

  it.each([
    ["2 prompts × n 5", ["a", "b"], 5, "n"],
    ["8 prompts × n 2", Array(8).fill("p"), 2, "n"],
    ["9 prompts", Array(9).fill("p"), 1, "prompt"],
  ])("refuses %s (more than 8 choices) with 400 invalid_request naming the field to lower", async (_what, prompt, n, param) => {
    // Prepare
    const { ctx, calls } = aNetwork();
    // Act
    const err = await refusal(aBody({ prompt, n }), ctx);
    // Assess
    expect(err).toMatchObject({ status: 400, type: "invalid_request_error", code: "invalid_request", param });
    expect(err.message).toBe(
      `prompts × n must be at most 8 (each prompt is a separate sealed job of n choices), got ${prompt.length} × ${n}; send fewer prompts per request or a lower n`,
    );
    expect(calls).toHaveLength(0);
  });

  it.each([
    ["8 prompts", 8, 1],
    ["4 prompts × n 2", 4, 2],
  ])("takes %s (exactly 8 choices)", async (_what, prompts, n) => {
    // Prepare
    const { ctx, calls } = aNetwork();
    // Act
    const res = await whole(aBody({ prompt: Array.from({ length: prompts }, (_, i) => `p${i}`), n }), ctx);
    // Assess
    expect(res.body.choices).toHaveLength(8);
    expect(calls).toHaveLength(prompts);
  });
});

describe("completions: a prompt past the network's cap on one job's prompt tokens", () => {
  it.each([
    // a raw prompt's bound is its bytes + 16; a chat-only model's, as one user message, bytes + 24
    ["a model that continues it as is", RAW, 16],
    ["a chat-only model (one user message)", caps(), 24],
  ])("to %s: 400 context_length_exceeded naming prompt, no job asked; one at the cap is asked", async (_what, capabilities, overhead) => {
    // Prepare
    const { ctx, calls } = aNetwork({ capabilities });
    const at = "p".repeat(MAX_JOB_PROMPT_TOKENS - overhead);
    // Act
    const err = await refusal(aBody({ prompt: ["short", at + "p"] }), ctx);
    const taken = await whole(aBody({ prompt: at }), ctx);
    // Assess
    expect(err).toMatchObject({
      status: 400,
      type: "invalid_request_error",
      code: "context_length_exceeded",
      param: "prompt",
      message: `prompt may take up to ${MAX_JOB_PROMPT_TOKENS + 1} tokens (one per byte), past ${MAX_JOB_PROMPT_TOKENS} (the Cocoon network's cap on one job's prompt tokens); shorten it`,
    });
    expect(taken.status).toBe(200);
    expect(calls).toHaveLength(1);
  });
});
