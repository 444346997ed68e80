/**
 * review41: fields the proxy does not name go to the worker's engine as `extra`, which is now an
 * allow-list of engine parameters (events/engine-extra.ts): a requester's chat_template, grammar,
 * guided decoding or n_probs could make a worker compute what it cannot bill. The proxy refuses
 * any other with a 400 naming it before a quote or a job, as OpenAI refuses a field it does not
 * know, rather than letting the SDK refuse it under `extra.…` or a worker fail the held job.
 */
import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { caps, closeProxies, startFakedProxy } from "../../test/fixtures/serve-proxy";

afterEach(closeProxies);

const MODEL = "chat-tools";
const start = () => startFakedProxy([{ id: MODEL, capabilities: caps({ tools: true, jsonSchema: true, completions: true }) }]);
const messages = [{ role: "user" as const, content: "Capital of France?" }];

/** The error a call rejected with, as the openai client raised it. */
const failure = (p: Promise<unknown>) =>
  p.then(
    () => expect.unreachable("the call should have failed"),
    (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
  );

describe("review41: serve refuses what the network does not pass on to engines", () => {
  const REFUSED: Array<[string, Record<string, unknown>]> = [
    ["chat_template", { chat_template: "{{ 'x' * 999999 }}" }],
    ["grammar", { grammar: "root ::= x*" }],
    ["guided_json", { guided_json: { type: "object" } }],
    ["prompt_logprobs", { prompt_logprobs: 5 }],
    ["n_probs", { n_probs: 5 }],
    ["best_of", { best_of: 4 }],
  ];
  for (const [param, field] of REFUSED) {
    it(`chat: ${param} is a 400 naming it, and no job is asked`, async () => {
      // Prepare
      const { openai, calls } = await start();
      // Act
      const err = await failure(openai.chat.completions.create({ model: MODEL, messages, ...field }));
      // Assess
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect(err).toMatchObject({ status: 400, code: "unsupported_parameter", param });
      expect(err.message).toContain("top_k");
      expect(calls).toHaveLength(0);
    });
  }

  it("completions and responses refuse one too; an allowed parameter of a wrong type is a 400 naming it", async () => {
    // Prepare
    const { openai, calls } = await start();
    // Act
    const text = await failure(openai.completions.create({ model: MODEL, prompt: "Once", ...{ grammar: "root ::= x" } }));
    const resp = await failure(openai.responses.create({ model: MODEL, input: "hi", ...{ chat_template: "x" } }));
    const typed = await failure(openai.chat.completions.create({ model: MODEL, messages, ...{ top_k: "40" } }));
    // Assess
    expect([text, resp, typed].map((e) => [e.status, e.param])).toEqual([
      [400, "grammar"],
      [400, "chat_template"],
      [400, "top_k"],
    ]);
    expect(calls).toHaveLength(0);
  });

  it("passes the allowed ones on as sent", async () => {
    // Prepare
    const { openai, calls } = await start();
    // Act
    await openai.chat.completions.create({
      model: MODEL,
      messages,
      ...{ top_k: 40, min_p: 0.05, chat_template_kwargs: { enable_thinking: false } },
    });
    // Assess
    expect(calls[0]!.extra).toEqual({ top_k: 40, min_p: 0.05, chat_template_kwargs: { enable_thinking: false } });
  });
});
