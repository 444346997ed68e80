/**
 * countPromptTokens: the prompt's tokens as the server counts them, without generation (a cancelled
 * job's prompt, agent/execute.ts promptTokensOf: asked again, the engine redid a prefill that could
 * outlast the lease, billed 0). Against stand-ins on 127.0.0.1 answering in vLLM's shape (POST
 * /tokenize beside /v1: `messages` rendered with the chat template, or `prompt`; answer
 * {count, max_model_len, tokens}) and llama-server's (POST /apply-template → {prompt}; POST
 * /tokenize {content, add_special} → {tokens}; a body without `content` → {tokens: []}).
 */
import { afterEach, describe, expect, it } from "vitest";
import { createOpenAiEngine } from "./openai-http";
import { aRequest, errorOf } from "./engine-testing";
import { json, type StandIn, standIn as startStandIn } from "./stand-in-testing";

const open: StandIn[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});
const standIn = async (...a: Parameters<typeof startStandIn>) => {
  const s = await startStandIn(...a);
  open.push(s);
  return s;
};

/** One token a whitespace-separated word: the stand-ins' tokenizer. */
const words = (text: string) => text.split(/\s+/).filter(Boolean).length;

/** vLLM: a chat's messages counted with its template (2 tokens a turn, +1 the generation prompt, +3 for tools); a prompt with BOS. */
const vllm = () =>
  standIn((req, res, _s, body) => {
    const b = body as { messages?: Array<{ content: string }>; prompt?: string; tools?: unknown[] };
    if (req.method === "POST" && req.url === "/tokenize") {
      const count = b.messages
        ? b.messages.reduce((n, m) => n + 2 + words(m.content), 1) + (b.tools?.length ? 3 : 0)
        : 1 + words(b.prompt ?? "");
      return json(res, 200, { count, max_model_len: 4096, tokens: Array.from({ length: count }, (_, i) => i) });
    }
    json(res, 404, { detail: "Not Found" });
  });

/** llama-server: /apply-template renders ChatML; /tokenize counts `content` (+1 BOS with add_special), nothing without it. */
const llamaServer = () =>
  standIn((req, res, _s, body) => {
    const b = body as { messages?: Array<{ role: string; content: string }>; content?: string; add_special?: boolean };
    if (req.method === "POST" && req.url === "/apply-template") {
      const prompt = b.messages!.map((m) => `<|im_start|>${m.role} ${m.content} <|im_end|>`).join(" ") + " <|im_start|>assistant";
      return json(res, 200, { prompt });
    }
    if (req.method === "POST" && req.url === "/tokenize") {
      if (b.content === undefined) return json(res, 200, { tokens: [] });
      const n = words(b.content) + (b.add_special ? 1 : 0);
      return json(res, 200, { tokens: Array.from({ length: n }, (_, i) => i) });
    }
    json(res, 404, { error: { code: 404, message: "File Not Found", type: "not_found_error" } });
  });

describe("countPromptTokens against vLLM's POST /tokenize", () => {
  it("a chat: its messages, tools and template arguments sent as the chat route would render them, no sampling; vLLM's count", async () => {
    // Prepare
    const s = await vllm();
    const engine = createOpenAiEngine({ baseUrl: s.url });
    const tools = [{ type: "function" as const, function: { name: "f", parameters: { type: "object" } } }];
    // Act
    const n = await engine.countPromptTokens!(
      aRequest({
        messages: [
          { role: "system", content: "be brief" },
          { role: "user", content: "hi there you" },
        ],
        tools,
        toolChoice: "auto",
        temperature: 0.5,
        extra: { chat_template_kwargs: { enable_thinking: false }, top_k: 5 },
      }),
    );
    // Assess: (2 + 2) + (2 + 3) + 1 + 3
    expect(n).toBe(13);
    expect(s.seen).toEqual(["POST /tokenize"]);
    expect(s.bodies[0]).toEqual({
      model: "m",
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "hi there you" },
      ],
      tools,
      tool_choice: "auto",
      chat_template_kwargs: { enable_thinking: false },
    });
  });

  it("a text completion: its prompt; the server is known from then on (no second guess)", async () => {
    // Prepare
    const s = await vllm();
    const engine = createOpenAiEngine({ baseUrl: s.url });
    // Act
    const first = await engine.countPromptTokens!({ model: "m", prompt: "once upon a time", maxTokens: 5 });
    const second = await engine.countPromptTokens!(aRequest());
    // Assess
    expect(first).toBe(5);
    expect(second).toBe(4);
    expect(s.bodies[0]).toEqual({ model: "m", prompt: "once upon a time" });
    expect(s.seen).toEqual(["POST /tokenize", "POST /tokenize"]);
  });
});

describe("countPromptTokens against llama-server's POST /apply-template and POST /tokenize", () => {
  it("a chat: rendered by /apply-template, the text counted by /tokenize with add_special (as its chat route tokenizes); never the empty first answer", async () => {
    // Prepare
    const s = await llamaServer();
    const engine = createOpenAiEngine({ baseUrl: s.url });
    const req = aRequest({ messages: [{ role: "user", content: "hi there you" }] });
    // Act
    const first = await engine.countPromptTokens!(req);
    const second = await engine.countPromptTokens!(req);
    // Assess: "<|im_start|>user hi there you <|im_end|> <|im_start|>assistant" is 6 words, + BOS
    expect(first).toBe(7);
    expect(second).toBe(7);
    // the first /tokenize (vLLM's shape) answered tokens of no content: llama-server, rendered and counted; then known
    expect(s.seen).toEqual(["POST /tokenize", "POST /apply-template", "POST /tokenize", "POST /apply-template", "POST /tokenize"]);
    expect(s.bodies[1]).toEqual({ model: "m", messages: [{ role: "user", content: "hi there you" }] });
    expect(s.bodies[2]).toEqual({
      content: "<|im_start|>user hi there you <|im_end|> <|im_start|>assistant",
      add_special: true,
      parse_special: true,
    });
  });

  it("a text completion: its prompt counted by /tokenize with add_special", async () => {
    // Prepare: the server already known
    const s = await llamaServer();
    const engine = createOpenAiEngine({ baseUrl: s.url });
    await engine.countPromptTokens!(aRequest());
    // Act
    const n = await engine.countPromptTokens!({ model: "m", prompt: "once upon a time", maxTokens: 5 });
    // Assess
    expect(n).toBe(5);
    expect(s.bodies.at(-1)).toEqual({ content: "once upon a time", add_special: true, parse_special: true });
  });
});

describe("countPromptTokens where it cannot count", () => {
  it("a server without /tokenize (404: Ollama, SGLang): undefined, and not asked again", async () => {
    // Prepare
    const s = await standIn((_req, res) => json(res, 404, { error: "404 page not found" }));
    const engine = createOpenAiEngine({ baseUrl: s.url });
    // Act
    const first = await engine.countPromptTokens!(aRequest());
    const second = await engine.countPromptTokens!(aRequest());
    // Assess
    expect([first, second]).toEqual([undefined, undefined]);
    expect(s.seen).toEqual(["POST /tokenize"]);
  });

  it("images (the vision encoder's tokens, which /tokenize does not count) and reasoning_effort: undefined, nothing asked", async () => {
    // Prepare
    const s = await vllm();
    const engine = createOpenAiEngine({ baseUrl: s.url });
    const image = { type: "image_url" as const, image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } };
    // Act
    const withImage = await engine.countPromptTokens!(
      aRequest({ messages: [{ role: "user", content: [{ type: "text", text: "what is it" }, image] }] }),
    );
    const withEffort = await engine.countPromptTokens!(aRequest({ extra: { reasoning_effort: "high" } }));
    // Assess
    expect([withImage, withEffort]).toEqual([undefined, undefined]);
    expect(s.seen).toEqual([]);
  });

  it("a failing tokenizer (500) throws the engine's error and is asked again next time", async () => {
    // Prepare
    let fail = true;
    const s = await standIn((_req, res) => (fail ? json(res, 500, { error: "boom" }) : json(res, 200, { count: 4, tokens: [1, 2, 3, 4] })));
    const engine = createOpenAiEngine({ baseUrl: s.url });
    // Act
    const err = await errorOf(engine.countPromptTokens!(aRequest()));
    fail = false;
    const n = await engine.countPromptTokens!(aRequest());
    // Assess
    expect(err.code).toBe("engine_unavailable");
    expect(n).toBe(4);
  });

  it("an answer in neither shape is engine_bad_response, never a count", async () => {
    // Prepare
    const s = await standIn((req, res) =>
      req.url === "/tokenize" ? json(res, 200, { ok: true }) : json(res, 404, { detail: "Not Found" }),
    );
    const engine = createOpenAiEngine({ baseUrl: s.url });
    // Act
    const err = await errorOf(engine.countPromptTokens!(aRequest()));
    // Assess
    expect(err.code).toBe("engine_bad_response");
  });
});
