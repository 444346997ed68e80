/**
 * Explicit nulls on optional request fields: client libraries (LangChain, LiteLLM, the Vercel AI
 * SDK, older openai-python) send `"field": null` for a field left unset, and api.openai.com takes
 * them as not given. Raw bodies here: the official client never sends such nulls.
 */
import { describe, expect, it } from "vitest";
import { anAnswer, aRouteContext, routeRequest } from "../../test/fixtures/serve-proxy";
import { chatCompletions } from "./chat-completions";
import { completions } from "./completions";
import { embeddings } from "./embeddings";
import { mapAskError, OpenAiError } from "./errors";
import { responses } from "./responses";
import type { ProxyContext } from "./types";
import type { HttpRequest, HttpResponse } from "../../edge/http";

const MODEL = "llama-3-8b";

/** A faked network; `calls` is every request that reached it (ask or embed). */
function aNetwork() {
  return aRouteContext({
    ask: async () => anAnswer(MODEL),
    embed: async () => ({
      vectors: [[0.5, 0.25]],
      usage: { promptTokens: 3 },
      model: MODEL,
      workerId: "w1",
      tier: "standard",
      cost: "0",
      jobId: "job_1",
    }),
    mapError: mapAskError,
    now: () => 1_700_000_000_000,
  });
}

/** The Responses API's ids are random per answer (responses.ts newId): one placeholder for all, so two answers compare. */
const sameIds = (_k: string, v: unknown) => (typeof v === "string" && /^[a-z]+_[0-9a-f]{24}$/.test(v) ? "<id>" : v);

type Route = (req: HttpRequest, ctx: ProxyContext) => Promise<HttpResponse>;

/** What the route does with `body`: its status and answer, or its refusal, and what reached the network. */
async function outcome(route: Route, path: string, body: unknown) {
  const { ctx, calls } = aNetwork();
  const res = await route(routeRequest(path, body), ctx).then(
    (r) => ({ status: r.status, body: JSON.parse(r.body as string, sameIds) as unknown }),
    (e: unknown) => (e instanceof OpenAiError ? { status: e.status, param: e.param, message: e.message } : { thrown: String(e) }),
  );
  return { res, calls };
}

const CHAT_NULLS = {
  max_tokens: null,
  max_completion_tokens: null,
  temperature: null,
  top_p: null,
  n: null,
  stream: null,
  stream_options: null,
  stop: null,
  seed: null,
  user: null,
  tools: null,
  tool_choice: null,
  parallel_tool_calls: null,
  response_format: null,
  logprobs: null,
  top_logprobs: null,
  // passed on to the worker when given (schemas.ts ChatPassedOn): a null is not passed on as one
  frequency_penalty: null,
  presence_penalty: null,
  logit_bias: null,
  metadata: null,
  store: null,
  reasoning_effort: null,
  service_tier: null,
  verbosity: null,
  prompt_cache_key: null,
  safety_identifier: null,
  modalities: null,
  prediction: null,
  // refused when given (chat-completions.ts refuseUnanswered): a null is not given
  functions: null,
  function_call: null,
  audio: null,
  web_search_options: null,
};

const ROUTES: Array<{ name: string; route: Route; path: string; base: Record<string, unknown>; nulls: Record<string, null> }> = [
  {
    name: "chat completions",
    route: chatCompletions,
    path: "/v1/chat/completions",
    base: { model: MODEL, messages: [{ role: "user", content: "Capital of France?" }] },
    nulls: CHAT_NULLS,
  },
  {
    name: "completions",
    route: completions,
    path: "/v1/completions",
    base: { model: MODEL, prompt: "Capital of France?" },
    nulls: {
      max_tokens: null,
      temperature: null,
      top_p: null,
      n: null,
      stream: null,
      stream_options: null,
      stop: null,
      seed: null,
      user: null,
      echo: null,
      suffix: null,
      best_of: null,
      logprobs: null,
      frequency_penalty: null,
      presence_penalty: null,
      logit_bias: null,
    },
  },
  {
    name: "embeddings",
    route: embeddings,
    path: "/v1/embeddings",
    base: { model: MODEL, input: "Capital of France?" },
    nulls: { encoding_format: null, dimensions: null, user: null },
  },
  {
    name: "responses",
    route: responses,
    path: "/v1/responses",
    base: { model: MODEL, input: "Capital of France?" },
    nulls: {
      instructions: null,
      max_output_tokens: null,
      temperature: null,
      top_p: null,
      tools: null,
      tool_choice: null,
      parallel_tool_calls: null,
      stream: null,
      stream_options: null,
      metadata: null,
      user: null,
      store: null,
      previous_response_id: null,
      conversation: null,
      prompt: null,
      background: null,
      include: null,
      text: null,
      truncation: null,
      reasoning: null,
      top_logprobs: null,
    },
  },
];

describe("serve: an explicit null on an optional field is the field not given", () => {
  for (const { name, route, path, base, nulls } of ROUTES) {
    for (const field of Object.keys(nulls)) {
      it(`${name}: "${field}": null answers as without it`, async () => {
        // Prepare
        const without = await outcome(route, path, base);
        // Act
        const withNull = await outcome(route, path, { ...base, [field]: null });
        // Assess: same answer, same request to the network
        expect(withNull.res).toStrictEqual(without.res);
        expect(withNull.calls).toStrictEqual(without.calls);
      });
    }

    it(`${name}: every optional field null at once answers as without them`, async () => {
      // Prepare
      const without = await outcome(route, path, base);
      // Act
      const withNulls = await outcome(route, path, { ...base, ...nulls });
      // Assess
      expect(withNulls.res).toStrictEqual(without.res);
      expect(withNulls.calls).toStrictEqual(without.calls);
    });
  }
});

describe("serve: an explicit null inside a chat message is the field not given", () => {
  const USER = { role: "user", content: "Capital of France?" };
  const CASES = [
    { name: "a user's name", message: USER, nulls: { name: null } },
    { name: "a system message's name", message: { role: "system", content: "Be brief." }, nulls: { name: null } },
    {
      name: "an assistant's name and tool_calls",
      message: { role: "assistant", content: "Paris." },
      nulls: { name: null, tool_calls: null },
    },
  ];
  for (const { name, message, nulls } of CASES) {
    it(`${name}: null answers as without it`, async () => {
      // Prepare
      const body = (m: unknown) => ({ model: MODEL, messages: [USER, m, USER] });
      const without = await outcome(chatCompletions, "/v1/chat/completions", body(message));
      // Act
      const withNulls = await outcome(chatCompletions, "/v1/chat/completions", body({ ...message, ...nulls }));
      // Assess
      expect(withNulls.res).toStrictEqual(without.res);
      expect(withNulls.calls).toStrictEqual(without.calls);
    });
  }
});

describe("serve: a null on a required field is still refused, naming it", () => {
  const REQUIRED = ROUTES.flatMap(({ name, route, path, base }) => Object.keys(base).map((field) => ({ name, route, path, base, field })));
  for (const { name, route, path, base, field } of REQUIRED) {
    it(`${name}: "${field}": null is a 400 naming ${field}`, async () => {
      // Act
      const { res, calls } = await outcome(route, path, { ...base, [field]: null });
      // Assess
      expect(res).toMatchObject({ status: 400, param: field });
      expect(calls).toHaveLength(0);
    });
  }
});
