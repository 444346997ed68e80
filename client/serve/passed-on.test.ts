/**
 * OpenAI's request fields the proxy does not act on itself (penalties, logit_bias, metadata,
 * store, reasoning_effort, prediction…): checked as OpenAI checks them, a bad value a 400 naming
 * it before any job, and a good one passed on to the worker as sent. And what no Cocoon answer can
 * hold (spoken audio, OpenAI's web search): a 400 naming it, never a text answer that looks like
 * what was asked. Through the official openai client, as an app ported unchanged sends them.
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

/** A body field the client's types would refuse at compile time, sent as a loosely typed app (JavaScript, LangChain) sends it. */
type Loose = Record<string, unknown>;

describe("serve: OpenAI's fields the proxy passes on are checked as OpenAI checks them", () => {
  const BAD: Array<[string, Loose, string]> = [
    ["a frequency_penalty past 2", { frequency_penalty: 2.5 }, "frequency_penalty"],
    ["a presence_penalty below -2", { presence_penalty: -3 }, "presence_penalty"],
    ["a penalty given as a string", { presence_penalty: "0.5" }, "presence_penalty"],
    ["a logit_bias keyed by a word, not a token id", { logit_bias: { Paris: -100 } }, "logit_bias"],
    ["a logit_bias past 100", { logit_bias: { "50256": 500 } }, "logit_bias.50256"],
    ["metadata holding a number", { metadata: { attempt: 1 } }, "metadata.attempt"],
    ["store given as a string", { store: "yes" }, "store"],
    ["a prediction that is not content", { prediction: { type: "diff", content: "Paris" } }, "prediction.type"],
    ["a modality that does not exist", { modalities: ["video"] }, "modalities.0"],
  ];
  for (const [what, field, param] of BAD) {
    it(`chat: ${what} is a 400 naming ${param}, and no job is asked`, async () => {
      // Prepare
      const { openai, calls } = await start();
      // Act
      const err = await failure(openai.chat.completions.create({ model: MODEL, messages, ...(field as object) }));
      // Assess
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect(err).toMatchObject({ status: 400, code: "invalid_request", param });
      expect(calls).toHaveLength(0);
    });
  }

  it("completions: penalties and logit_bias are checked too", async () => {
    // Prepare
    const { openai, calls } = await start();
    // Act
    const errors = await Promise.all(
      [{ frequency_penalty: 9 }, { logit_bias: { the: 1 } }].map((field) =>
        failure(openai.completions.create({ model: MODEL, prompt: "Once upon", ...(field as object) })),
      ),
    );
    // Assess
    expect(errors.map((e) => [e.status, e.param])).toEqual([
      [400, "frequency_penalty"],
      [400, "logit_bias"],
    ]);
    expect(calls).toHaveLength(0);
  });

  it("takes what the Vercel AI SDK and LangChain send, passing each on to the worker as sent", async () => {
    // Prepare
    const { openai, calls } = await start();
    const passed = {
      frequency_penalty: -2,
      presence_penalty: 2,
      logit_bias: { "50256": -100, "198": 100 },
      metadata: { app: "x" },
      store: true,
      reasoning_effort: "low" as const,
      service_tier: "flex" as const,
      verbosity: "low" as const,
      prompt_cache_key: "k",
      safety_identifier: "s",
      modalities: ["text" as const],
      prediction: { type: "content" as const, content: [{ type: "text" as const, text: "Paris." }] },
    };
    // Act
    const chat = await openai.chat.completions.create({ model: MODEL, messages, ...passed });
    const text = await openai.completions.create({ model: MODEL, prompt: "Once upon", frequency_penalty: 1, logit_bias: { "1": 5 } });
    // Assess
    expect(chat.choices[0]!.message.content).toBe("Paris.");
    expect(text.choices[0]!.text).toBe("Paris.");
    expect(calls[0]!.extra).toEqual(passed);
    expect(calls[1]!.extra).toEqual({ frequency_penalty: 1, logit_bias: { "1": 5 } });
  });
});

describe("serve: what no Cocoon answer can hold is refused, not answered without it", () => {
  const REFUSED: Array<[string, Loose, string]> = [
    ["spoken audio (modalities)", { modalities: ["text", "audio"], audio: { voice: "alloy", format: "wav" } }, "modalities"],
    ["audio output settings alone", { audio: { voice: "alloy", format: "mp3" } }, "audio"],
    ["OpenAI's web search", { web_search_options: { search_context_size: "low" } }, "web_search_options"],
  ];
  for (const [what, field, param] of REFUSED) {
    it(`${what}: a 400 unsupported_parameter naming ${param}, and no job is asked`, async () => {
      // Prepare
      const { openai, calls } = await start();
      // Act
      const err = await failure(openai.chat.completions.create({ model: MODEL, messages, ...(field as object) }));
      // Assess
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect(err).toMatchObject({ status: 400, code: "unsupported_parameter", param, type: "invalid_request_error" });
      expect(calls).toHaveLength(0);
    });
  }

  it("streamed too: the refusal is the HTTP answer, before any chunk", async () => {
    // Prepare
    const { openai, calls } = await start();
    // Act
    const err = await failure(
      openai.chat.completions.create({
        model: MODEL,
        messages,
        stream: true,
        modalities: ["text", "audio"],
        audio: { voice: "alloy", format: "pcm16" },
      }),
    );
    // Assess
    expect(err).toMatchObject({ status: 400, param: "modalities" });
    expect(calls).toHaveLength(0);
  });
});
