/**
 * review41: a request's `extra` reaches the worker's engine under its own names, and engines read
 * far more there than sampling: a requester's chat template or grammar can make an honest worker's
 * engine hang or compute far more than it bills, n_probs returns log probabilities past the
 * capability check. `extra` is now an allow-list (events/engine-extra.ts), checked by the schema
 * the SDK and the agent both parse a request with.
 */
import { describe, expect, it } from "vitest";
import { EngineExtra, EXTRA_PARAM_NAMES } from "./engine-extra";
import { RequestPlaintext } from "./envelope";

/** Factory: a chat request with this `extra`. */
const chatWith = (extra: Record<string, unknown>) => ({ kind: "chat", messages: [{ role: "user", content: "hi" }], extra });

/** Where the sealed schema refuses `extra`, and why ("ok" when it takes it). */
function verdict(extra: Record<string, unknown>): string {
  const r = RequestPlaintext.safeParse(chatWith(extra));
  return r.success ? "ok" : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join(" | ");
}

describe("review41: a request's extra is an allow-list of engine parameters", () => {
  it.each([
    ["vLLM's prompt log probabilities", { prompt_logprobs: 20 }],
    ["vLLM's guided decoding", { guided_json: { type: "object" } }],
    ["vLLM's guided regex", { guided_regex: "(a|a)*b" }],
    ["vLLM's structured outputs", { structured_outputs: { grammar: "root ::= x" } }],
    ["a chat template", { chat_template: "{% for i in range(99999999) %}x{% endfor %}" }],
    ["chat template variables other than the thinking switch", { chat_template_kwargs: { tools: [] } }],
    ["llama-server's n_probs", { n_probs: 20 }],
    ["llama-server's lora adapters", { lora: [{ id: 0, scale: 1 }] }],
    ["llama-server's grammar", { grammar: "root ::= x*" }],
    ["llama-server's json_schema", { json_schema: { type: "object" } }],
    ["vLLM's scheduling priority", { priority: -100 }],
    ["a field the network sets (max_tokens)", { max_tokens: 100_000 }],
    ["llama.cpp's n_predict", { n_predict: 100_000 }],
    ["a cache salt", { cache_salt: "another's" }],
    ["a name no engine knows today", { some_future_knob: 1 }],
  ])("refuses %s, naming it", (_, extra) => {
    // Act
    const v = verdict(extra);
    // Assess
    const name = Object.keys(extra)[0]!;
    expect(v).toMatch(new RegExp(`^extra\\.${name}: `));
    expect(v).not.toBe("ok");
  });

  it("takes the sampling engines share, llama-server's, OpenAI's passed-on fields, and null for any of them", () => {
    // Prepare
    const extra = {
      top_k: 40,
      min_p: 0.05,
      repetition_penalty: 1.1,
      frequency_penalty: 0.5,
      presence_penalty: -0.5,
      logit_bias: { "42": -100 },
      min_tokens: 4,
      stop_token_ids: [2],
      repeat_penalty: 1.1,
      dry_sequence_breakers: ["\n"],
      chat_template_kwargs: { enable_thinking: false },
      reasoning_effort: "low",
      metadata: { app: "x" },
      store: false,
      prediction: { type: "content", content: "Paris." },
      typical_p: null,
    };
    // Act + Assess
    expect(verdict(extra)).toBe("ok");
  });

  it("refuses an allowed name with a value of the wrong type, naming it", () => {
    expect(verdict({ top_k: "40" })).toMatch(/^extra\.top_k: top_k: /);
    expect(verdict({ ignore_eos: 1 })).toMatch(/^extra\.ignore_eos: /);
  });

  it("lists none of the fields an adapter sets itself or that decide the bill, the answer's shape or the cache", () => {
    // Prepare: what openai-http.ts sets or never passes (its comment), and what review41 named
    const never = [
      "model",
      "messages",
      "prompt",
      "stream",
      "stream_options",
      "max_tokens",
      "max_completion_tokens",
      "n_predict",
      "n",
      "n_cmpl",
    ];
    never.push(
      "best_of",
      "echo",
      "suffix",
      "logprobs",
      "top_logprobs",
      "n_probs",
      "tools",
      "tool_choice",
      "response_format",
      "temperature",
    );
    never.push("top_p", "seed", "stop", "user", "cache_salt", "id_slot", "slot_id", "cache_prompt", "chat_template", "grammar", "lora");
    // Act + Assess
    expect(EXTRA_PARAM_NAMES.filter((n) => never.includes(n))).toEqual([]);
    expect(EngineExtra.safeParse(Object.fromEntries(never.map((n) => [n, 1]))).error?.issues).toHaveLength(never.length);
  });
});
