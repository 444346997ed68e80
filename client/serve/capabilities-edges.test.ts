/**
 * capabilities.ts at its edges: the model catalog's reuse and refetch of the coordinator's list
 * (at the TTL and the one-second refetch of a missing model, on a faked clock), which request
 * features each check refuses for a model that cannot do them (status, code, `param` and the
 * message naming what the model serves) and which it lets through at the boundary (a budget equal
 * to the context, a job of exactly MAX_JOB_TOKENS, response_format text, top_logprobs 0), and the
 * default budget cut to the context. A few cases go through the proxy (loopback only), where the
 * refusal is what an OpenAI client sees.
 */
import { afterEach, describe, expect, it } from "vitest";
import { MAX_JOB_TOKENS } from "../../events/api";
import { caps, closeProxies, startFakedProxy } from "../../test/fixtures/serve-proxy";
import { checkChat, checkCompletion, checkEmbeddings, checkJobTokens, defaultBudget, modelCatalog, type ChatNeeds } from "./capabilities";
import { OpenAiError } from "./errors";
import type { AskMessage, ModelCapabilities, ModelInfo } from "./types";

const MODEL = "llama-3-8b";
const USER: AskMessage[] = [{ role: "user", content: "Capital of France?" }];
const LOOKUP = { type: "function" as const, function: { name: "lookup" } };
const T0 = 1_700_000_000_000;

afterEach(closeProxies);

/** A listed model that can do `over` (chat and streaming only otherwise). */
const aModel = (over: Partial<ModelCapabilities> = {}): ModelInfo => ({ id: MODEL, capabilities: caps(over) });

/** A model that serves nothing the proxy routes (every kind false). */
const NOTHING = caps({ chat: false, streaming: false });

/** A chat's needs: one user message and `over`. */
const aChat = (over: Partial<ChatNeeds> = {}): ChatNeeds => ({ messages: USER, ...over });

/** The OpenAiError `act` throws (the check's refusal). */
function refusal(act: () => unknown): OpenAiError {
  let err: unknown;
  try {
    act();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(OpenAiError);
  return err as OpenAiError;
}

/** The 400 of a model that cannot do what is asked, naming `param`. */
const unsupportedOf = (param: string) => ({ status: 400, type: "invalid_request_error", code: "unsupported_parameter", param });

/**
 * A catalog over a faked coordinator list (`models`, swapped by `set`) and a faked clock (`at`,
 * moved by `advance`); `fetches` counts the list's calls.
 */
function aCatalog(o: { models?: Array<string | ModelInfo>; ttlMs?: number } = {}) {
  let models = o.models ?? [MODEL];
  let at = T0;
  const state = { fetches: 0 };
  const catalog = modelCatalog(
    async () => {
      state.fetches++;
      return models;
    },
    o.ttlMs ?? 10_000,
    () => at,
  );
  return {
    catalog,
    state,
    advance: (ms: number) => void (at += ms),
    set: (m: Array<string | ModelInfo>) => void (models = m),
  };
}

/** The error a promise rejects with. */
const rejection = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

describe("modelCatalog: without a list", () => {
  it("is unavailable, lists nothing and leaves every model unchecked", async () => {
    // Prepare
    const catalog = modelCatalog(undefined, 10_000, () => T0);
    // Act
    const all = await catalog.all();
    const model = await catalog.model(MODEL);
    // Assess
    expect(catalog.available).toBe(false);
    expect(all).toStrictEqual([]);
    expect(model).toBeUndefined();
  });
});

describe("modelCatalog: reuse of the list within its TTL", () => {
  it("lists the models once per TTL, names taken as bare entries", async () => {
    // Prepare
    const { catalog, state, advance } = aCatalog({ models: [MODEL, { id: "embedder", capabilities: caps({ embeddings: true }) }] });
    // Act
    const first = await catalog.all();
    advance(9_999);
    const again = await catalog.all();
    // Assess
    expect(first).toStrictEqual([{ id: MODEL }, { id: "embedder", capabilities: caps({ embeddings: true }) }]);
    expect(again).toStrictEqual(first);
    expect(state.fetches).toBe(1);
  });

  it("fetches the list again for all() once it is exactly the TTL old, and sees what changed", async () => {
    // Prepare
    const { catalog, state, advance, set } = aCatalog();
    await catalog.all();
    set([MODEL, "newcomer"]);
    // Act
    advance(10_000);
    const listed = await catalog.all();
    // Assess
    expect(state.fetches).toBe(2);
    expect(listed.map((m) => m.id)).toStrictEqual([MODEL, "newcomer"]);
  });

  it("answers model() from the list within the TTL, also a found model's entry in a list older than a second", async () => {
    // Prepare
    const { catalog, state, advance } = aCatalog({ models: [aModel({ tools: true })] });
    // Act
    const first = await catalog.model(MODEL);
    advance(5_000);
    const again = await catalog.model(MODEL);
    advance(4_999);
    const last = await catalog.model(MODEL);
    // Assess: one fetch for all three
    expect(first).toStrictEqual(aModel({ tools: true }));
    expect(again).toStrictEqual(first);
    expect(last).toStrictEqual(first);
    expect(state.fetches).toBe(1);
  });

  it("fetches the list again for model() once it is exactly the TTL old, and sees what changed", async () => {
    // Prepare
    const { catalog, state, advance, set } = aCatalog({ models: [aModel()] });
    await catalog.model(MODEL);
    set([aModel({ tools: true })]);
    // Act
    advance(10_000);
    const found = await catalog.model(MODEL);
    // Assess
    expect(state.fetches).toBe(2);
    expect(found).toStrictEqual(aModel({ tools: true }));
  });

  it("reuses the list model() fetched for all() and the one all() fetched for model()", async () => {
    // Prepare
    const { catalog, state, advance } = aCatalog();
    // Act
    await catalog.model(MODEL);
    advance(3_000);
    await catalog.all();
    // Assess
    expect(state.fetches).toBe(1);
  });
});

describe("modelCatalog: a list that failed", () => {
  it("asks the coordinator again after a list call that threw, rather than answer its error forever", async () => {
    // Prepare: a listModels that throws before it returns a promise (a non-async wrapper over
    // a client that is not ready yet), then lists the model
    let calls = 0;
    const catalog = modelCatalog(
      () => {
        calls++;
        if (calls === 1) throw new Error("coordinator unreachable");
        return Promise.resolve([MODEL]);
      },
      10_000,
      () => T0,
    );
    const first = await rejection(catalog.model(MODEL));
    // Act
    const second = await rejection(catalog.model(MODEL));
    // Assess
    expect(first).toMatchObject({ message: "coordinator unreachable" });
    // Regression: the synchronous throw ran fetchList's `finally { pending = undefined }` before `pending ??=`
    // stored the rejected promise, so every later lookup got that rejection and the list was never asked
    // again: each request to every model failed until the proxy restarted.
    expect(second).toBeUndefined();
    expect(calls).toBe(2);
  });

  it("asks the coordinator once for lookups made while its list is on the way", async () => {
    // Prepare
    const { catalog, state } = aCatalog();
    // Act
    const [a, b, all] = await Promise.all([catalog.model(MODEL), catalog.model(MODEL), catalog.all()]);
    // Assess
    expect(a).toStrictEqual({ id: MODEL });
    expect(b).toStrictEqual(a);
    expect(all).toStrictEqual([a]);
    expect(state.fetches).toBe(1);
  });

  it("asks the coordinator again after a list call that rejected", async () => {
    // Prepare
    let calls = 0;
    const catalog = modelCatalog(
      async () => {
        calls++;
        if (calls === 1) throw new Error("coordinator unreachable");
        return [MODEL];
      },
      10_000,
      () => T0,
    );
    await rejection(catalog.all());
    // Act
    const listed = await catalog.all();
    // Assess
    expect(listed).toStrictEqual([{ id: MODEL }]);
    expect(calls).toBe(2);
  });
});

describe("modelCatalog: a model missing from the list", () => {
  it("is 404 model_not_found from a list just fetched, without fetching it again", async () => {
    // Prepare
    const { catalog, state } = aCatalog();
    // Act
    const err = await rejection(catalog.model("unknown"));
    // Assess
    expect(err).toMatchObject({ status: 404, code: "model_not_found", param: "model" });
    expect(state.fetches).toBe(1);
  });

  it("does not refetch a list younger than a second", async () => {
    // Prepare
    const { catalog, state, advance, set } = aCatalog();
    await catalog.all();
    set([MODEL, "newcomer"]);
    // Act
    advance(999);
    const err = await rejection(catalog.model("newcomer"));
    // Assess
    expect(err).toMatchObject({ status: 404, code: "model_not_found" });
    expect(state.fetches).toBe(1);
  });

  it("refetches a list exactly a second old once, so a worker that just registered is found at once", async () => {
    // Prepare
    const { catalog, state, advance, set } = aCatalog();
    await catalog.all();
    set([MODEL, "newcomer"]);
    // Act
    advance(1_000);
    const found = await catalog.model("newcomer");
    // Assess
    expect(found).toStrictEqual({ id: "newcomer" });
    expect(state.fetches).toBe(2);
  });

  it("is 404 after that one refetch when the fresh list does not hold it either", async () => {
    // Prepare
    const { catalog, state, advance } = aCatalog();
    await catalog.all();
    // Act
    advance(2_000);
    const err = await rejection(catalog.model("unknown"));
    // Assess
    expect(err).toMatchObject({ status: 404, code: "model_not_found" });
    expect(state.fetches).toBe(2);
  });
});

describe("checkChat: what the model cannot do", () => {
  it("passes anything for a model without capabilities (the worker decides)", () => {
    // Act / Assess
    expect(() => checkChat({ id: MODEL }, aChat({ tools: [LOOKUP], logprobs: true, maxTokens: 1e6 }))).not.toThrow();
    expect(() => checkChat(undefined, aChat({ responseFormat: { type: "json_object" } }))).not.toThrow();
  });

  it("refuses a model that serves no chat with a 400 naming model and what it serves", () => {
    // Act
    const err = refusal(() => checkChat(aModel({ chat: false, embeddings: true }), aChat()));
    // Assess
    expect(err).toMatchObject(unsupportedOf("model"));
    expect(err.message).toBe(`model "${MODEL}" does not serve chat completions (it serves: embeddings)`);
  });

  it("says the model serves nothing when it advertises no kind", () => {
    // Act
    const err = refusal(() => checkChat({ id: MODEL, capabilities: NOTHING }, aChat()));
    // Assess
    expect(err.message).toBe(`model "${MODEL}" does not serve chat completions (it serves: nothing)`);
  });

  it("refuses tools for a model without function calling, naming tools", () => {
    // Act
    const err = refusal(() => checkChat(aModel(), aChat({ tools: [LOOKUP], toolChoice: "auto" })));
    // Assess
    expect(err).toMatchObject(unsupportedOf("tools"));
    expect(err.message).toBe(`model "${MODEL}" does not support function calling (tools)`);
  });

  it.each<[string, AskMessage]>([
    ["a tool result", { role: "tool", content: "14°C", toolCallId: "call_1" }],
    [
      "an assistant's tool call",
      { role: "assistant", content: "", toolCalls: [{ id: "call_1", type: "function", function: { name: "lookup", arguments: "{}" } }] },
    ],
  ])("refuses %s as the first message (index 0) for a model without function calling", (_what, first) => {
    // Act
    const err = refusal(() => checkChat(aModel(), aChat({ messages: [first, ...USER] })));
    // Assess
    expect(err).toMatchObject(unsupportedOf("messages.0"));
    expect(err.message).toBe(
      `model "${MODEL}" does not support function calling: its chat template cannot hold tool calls or tool results`,
    );
  });

  it("names the message by the request's own name for it when one is given", () => {
    // Prepare
    const messages: AskMessage[] = [...USER, { role: "tool", content: "14°C", toolCallId: "call_1" }];
    // Act
    const err = refusal(() => checkChat(aModel(), aChat({ messages, messageParam: (i) => `input.${i}` })));
    // Assess
    expect(err.param).toBe("input.1");
  });

  it("takes an assistant message with an empty tool call list as a plain message", () => {
    // Prepare
    const messages: AskMessage[] = [{ role: "assistant", content: "Hello.", toolCalls: [] }, ...USER];
    // Act / Assess
    expect(() => checkChat(aModel(), aChat({ messages }))).not.toThrow();
  });

  it("lets response_format text through for a model that cannot enforce JSON", () => {
    // Act / Assess
    expect(() => checkChat(aModel(), aChat({ responseFormat: { type: "text" } }))).not.toThrow();
  });

  it.each([
    ["response_format", undefined],
    ["text.format", "text.format"],
  ])("refuses json_object for a model that cannot enforce it, naming %s", (param, responseFormatParam) => {
    // Act
    const err = refusal(() =>
      checkChat(aModel(), aChat({ responseFormat: { type: "json_object" }, ...(responseFormatParam ? { responseFormatParam } : {}) })),
    );
    // Assess
    expect(err).toMatchObject(unsupportedOf(param));
    expect(err.message).toBe(`model "${MODEL}" cannot enforce ${param} json_object`);
  });

  it("refuses logprobs and top_logprobs for a model that does not return them, each naming itself", () => {
    // Act
    const asked = refusal(() => checkChat(aModel(), aChat({ logprobs: true })));
    const top = refusal(() => checkChat(aModel({ logprobs: false }), aChat({ topLogprobs: 2 })));
    // Assess
    expect(asked).toMatchObject(unsupportedOf("logprobs"));
    expect(asked.message).toBe(`model "${MODEL}" does not return log probabilities`);
    expect(top).toMatchObject(unsupportedOf("top_logprobs"));
    expect(top.message).toBe(`model "${MODEL}" does not return log probabilities`);
  });

  it("lets top_logprobs 0 and logprobs false through for a model that does not return them", () => {
    // Act / Assess
    expect(() => checkChat(aModel(), aChat({ logprobs: false, topLogprobs: 0 }))).not.toThrow();
  });

  it("lets logprobs with top_logprobs through for a model that returns them", () => {
    // Act / Assess
    expect(() => checkChat(aModel({ logprobs: true }), aChat({ logprobs: true, topLogprobs: 5 }))).not.toThrow();
  });
});

describe("checkChat: the budget against the context", () => {
  it("refuses a budget equal to the context (no room for the prompt), naming the request's field", () => {
    // Act
    const err = refusal(() =>
      checkChat(aModel({ contextLength: 4096 }), aChat({ maxTokens: 4096, maxTokensParam: "max_completion_tokens" })),
    );
    // Assess
    expect(err).toMatchObject(unsupportedOf("max_completion_tokens"));
    expect(err.message).toBe(`max_completion_tokens 4096 does not fit model "${MODEL}"'s context of 4096 tokens (prompt included)`);
  });

  it("names max_tokens when the request did not say which field set the budget", () => {
    // Act
    const err = refusal(() => checkChat(aModel({ contextLength: 4096 }), aChat({ maxTokens: 5000 })));
    // Assess
    expect(err).toMatchObject(unsupportedOf("max_tokens"));
  });

  it("lets a budget one below the context through, and no budget whatever the context", () => {
    // Act / Assess
    expect(() => checkChat(aModel({ contextLength: 4096 }), aChat({ maxTokens: 4095 }))).not.toThrow();
    expect(() => checkChat(aModel({ contextLength: 4096 }), aChat())).not.toThrow();
    expect(() => checkChat(aModel(), aChat({ maxTokens: 100_000 }))).not.toThrow();
  });
});

describe("checkCompletion", () => {
  it("refuses a model that serves neither completions nor chat, naming model and what it serves", () => {
    // Act
    const err = refusal(() => checkCompletion(aModel({ chat: false, embeddings: true }), {}));
    // Assess
    expect(err).toMatchObject(unsupportedOf("model"));
    expect(err.message).toBe(`model "${MODEL}" does not serve text completions (it serves: embeddings)`);
  });

  it("continues the raw prompt for a completions-only model and goes through the chat template for a chat-only one", () => {
    // Act
    const completionsOnly = checkCompletion(aModel({ chat: false, completions: true }), {});
    const chatOnly = checkCompletion(aModel(), {});
    const bare = checkCompletion({ id: MODEL }, {});
    // Assess
    expect(completionsOnly).toStrictEqual({ raw: true });
    expect(chatOnly).toStrictEqual({ raw: false });
    expect(bare).toStrictEqual({ raw: true });
  });

  it("takes logprobs null as not asked", () => {
    // Act / Assess
    expect(checkCompletion(aModel({ completions: true }), { logprobs: null })).toStrictEqual({ raw: true });
  });

  it("refuses logprobs 0 on a model that returns them for chat, saying so", () => {
    // Act
    const err = refusal(() => checkCompletion(aModel({ completions: true, logprobs: true }), { logprobs: 0 }));
    // Assess
    expect(err).toMatchObject(unsupportedOf("logprobs"));
    expect(err.message).toBe(`model "${MODEL}" returns log probabilities for chat completions only, not for /v1/completions`);
  });

  it.each<[string, ModelInfo | undefined]>([
    ["a model that does not return them", aModel({ completions: true, logprobs: false })],
    ["a model without capabilities", { id: MODEL }],
    ["no model list", undefined],
  ])("refuses logprobs on %s with the general message", (_what, model) => {
    // Act
    const err = refusal(() => checkCompletion(model, { logprobs: 2 }));
    // Assess
    expect(err).toMatchObject(unsupportedOf("logprobs"));
    expect(err.message).toBe(
      "log probabilities are not returned for /v1/completions (Cocoon returns them for chat completions, on models whose workers say so)",
    );
  });

  it("refuses a max_tokens equal to the context, naming max_tokens, and lets one below it through", () => {
    // Prepare
    const model = aModel({ completions: true, contextLength: 512 });
    // Act
    const err = refusal(() => checkCompletion(model, { maxTokens: 512 }));
    // Assess
    expect(err).toMatchObject(unsupportedOf("max_tokens"));
    expect(err.message).toBe(`max_tokens 512 does not fit model "${MODEL}"'s context of 512 tokens (prompt included)`);
    expect(checkCompletion(model, { maxTokens: 511 })).toStrictEqual({ raw: true });
  });
});

describe("checkEmbeddings", () => {
  it("refuses a model that serves no embeddings, listing every kind it serves", () => {
    // Act
    const err = refusal(() => checkEmbeddings(aModel({ completions: true })));
    // Assess
    expect(err).toMatchObject(unsupportedOf("model"));
    expect(err.message).toBe(`model "${MODEL}" does not serve embeddings (it serves: chat, completions)`);
  });

  it("lets an embedding model, a model without capabilities and no model list through", () => {
    // Act / Assess
    expect(() => checkEmbeddings(aModel({ chat: false, embeddings: true }))).not.toThrow();
    expect(() => checkEmbeddings({ id: MODEL })).not.toThrow();
    expect(() => checkEmbeddings(undefined)).not.toThrow();
  });
});

describe("defaultBudget", () => {
  it("is half the context when that is below the fallback", () => {
    expect(defaultBudget(aModel({ contextLength: 513 }), 1024)).toBe(256);
  });

  it("is the fallback when half the context is more", () => {
    expect(defaultBudget(aModel({ contextLength: 8192 }), 1024)).toBe(1024);
  });

  it("is at least 1 for a context of one token", () => {
    expect(defaultBudget(aModel({ contextLength: 1 }), 1024)).toBe(1);
  });

  it("is the fallback without a known context, without capabilities and without a model", () => {
    expect(defaultBudget(aModel(), 1024)).toBe(1024);
    expect(defaultBudget({ id: MODEL }, 1024)).toBe(1024);
    expect(defaultBudget(undefined, 1024)).toBe(1024);
  });
});

describe("checkJobTokens", () => {
  it("lets a job of exactly the network's cap through, as one choice or as several", () => {
    // Act / Assess
    expect(() => checkJobTokens(1, MAX_JOB_TOKENS, "max_tokens")).not.toThrow();
    expect(() => checkJobTokens(4, MAX_JOB_TOKENS / 4, "max_tokens")).not.toThrow();
  });

  it("refuses one choice over the cap with a message about the budget alone, naming the request's field", () => {
    // Act
    const err = refusal(() => checkJobTokens(1, MAX_JOB_TOKENS + 1, "max_completion_tokens"));
    // Assess
    expect(err).toMatchObject({ status: 400, code: "invalid_request", param: "max_completion_tokens" });
    expect(err.message).toBe(
      `max_completion_tokens must be at most ${MAX_JOB_TOKENS} (the Cocoon network's cap on one job's completion tokens), got ${MAX_JOB_TOKENS + 1}`,
    );
  });

  it("refuses n choices over the cap with a message that multiplies them out", () => {
    // Act
    const err = refusal(() => checkJobTokens(2, MAX_JOB_TOKENS / 2 + 1, "max_tokens"));
    // Assess
    expect(err).toMatchObject({ status: 400, code: "invalid_request", param: "max_tokens" });
    expect(err.message).toBe(
      `n × max_tokens must be at most ${MAX_JOB_TOKENS} (the Cocoon network's cap on one job's completion tokens): 2 × ${MAX_JOB_TOKENS / 2 + 1} = ${MAX_JOB_TOKENS + 2}`,
    );
  });
});

describe("through the proxy: what an OpenAI client sees", () => {
  const post = (url: string, path: string, body: unknown) =>
    fetch(`${url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const errorOf = async (r: Response) => ((await r.json()) as { error: Record<string, unknown> }).error;

  it("answers a chat request to an embedding model with a 400 naming model and what it serves, asking nothing", async () => {
    // Prepare
    const { url, calls } = await startFakedProxy([aModel({ chat: false, embeddings: true })]);
    // Act
    const res = await post(url, "/v1/chat/completions", { model: MODEL, messages: USER });
    // Assess
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toStrictEqual({
      message: `model "${MODEL}" does not serve chat completions (it serves: embeddings)`,
      type: "invalid_request_error",
      param: "model",
      code: "unsupported_parameter",
    });
    expect(calls).toHaveLength(0);
  });

  it("answers a replayed tool result to a model without function calling with a 400 naming that message", async () => {
    // Prepare
    const { url, calls } = await startFakedProxy([aModel()]);
    const messages = [
      { role: "tool", content: "14°C", tool_call_id: "call_1" },
      { role: "user", content: "And tomorrow?" },
    ];
    // Act
    const res = await post(url, "/v1/chat/completions", { model: MODEL, messages });
    // Assess
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toMatchObject({ param: "messages.0", code: "unsupported_parameter" });
    expect(calls).toHaveLength(0);
  });

  it("sends the default budget cut to half the model's context when the request names none", async () => {
    // Prepare
    const { url, calls } = await startFakedProxy([aModel({ contextLength: 600 })]);
    // Act
    const res = await post(url, "/v1/chat/completions", { model: MODEL, messages: USER });
    // Assess
    expect(res.status).toBe(200);
    expect(calls[0]!.maxTokens).toBe(300);
  });
});
