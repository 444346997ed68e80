/**
 * tool_choice allowed_tools and custom tools on /v1/chat/completions and /v1/responses. The
 * engine knows neither: an allowed_tools choice gives the job only the tools it names, with its
 * mode ("auto" or "required") as the tool_choice (schemas.ts allowedTools); a custom tool of the
 * text format travels as a function of one string argument and its call comes back as a custom
 * tool call (custom-tools.ts); a grammar format is a 400 naming it. Run through the official
 * openai client (its types name these shapes) against a faked network.
 */
import { afterEach, describe, expect, it } from "vitest";
import OpenAI from "openai";
import { anAnswer, caps, closeProxies, startFakedProxy } from "../../test/fixtures/serve-proxy";
import { CUSTOM_INPUT_PARAMETERS, customInputOf } from "./custom-tools";
import type { AskRequest, AskResult, AskStreamEvent } from "./types";

afterEach(closeProxies);

const MODEL = "chat-tools";

/** A proxy whose one model can call functions, answering `answer` (whole, or streamed as it is); `calls` is every job it asked. */
const aProxy = (answer?: Partial<AskResult>) =>
  startFakedProxy([{ id: MODEL, capabilities: caps({ tools: true }) }], {
    ...(answer ? { ask: async () => anAnswer(MODEL, answer) } : {}),
    ...(answer
      ? {
          askStream: async function* (): AsyncGenerator<AskStreamEvent> {
            yield { type: "delta", jobId: "job_c", toolCalls: answer.toolCalls ?? [] };
            yield { type: "done", ...anAnswer(MODEL, answer) };
          },
        }
      : {}),
  });

const fn = (name: string) => ({ type: "function" as const, function: { name, parameters: { type: "object", properties: {} } } });
const flat = (name: string) => ({ type: "function" as const, name, parameters: { type: "object", properties: {} }, strict: false });
const names = (req: AskRequest | undefined) => req?.tools?.map((t) => t.function.name);

/** What the official client threw (an APIError), or undefined. */
const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as { status: number; code: string; param: string | null; message: string },
  );

describe("regression: chat completions tool_choice allowed_tools", () => {
  // BUG: tool_choice {type: "allowed_tools", allowed_tools: {mode, tools}} was a 400 (tool_choice must be …).
  for (const mode of ["auto", "required"] as const) {
    it(`gives the job only the allowed tools, with tool_choice "${mode}"`, async () => {
      // Prepare
      const { openai, calls } = await aProxy();
      // Act
      const res = await openai.chat.completions.create({
        model: MODEL,
        messages: [{ role: "user", content: "weather in Oslo?" }],
        tools: [fn("get_weather"), fn("get_time"), fn("send_mail")],
        tool_choice: {
          type: "allowed_tools",
          allowed_tools: {
            mode,
            tools: [
              { type: "function", function: { name: "get_weather" } },
              { type: "function", function: { name: "get_time" } },
            ],
          },
        },
      });
      // Assess
      expect(res.choices[0]!.message.content).toBe("Paris.");
      expect(names(calls[0])).toEqual(["get_weather", "get_time"]);
      expect(calls[0]!.toolChoice).toBe(mode);
    });
  }

  it("refuses an allowed tool that is not in tools, naming its entry, before any job", async () => {
    // Prepare
    const { openai, calls } = await aProxy();
    // Act
    const err = await failure(
      openai.chat.completions.create({
        model: MODEL,
        messages: [{ role: "user", content: "hi" }],
        tools: [fn("get_weather")],
        tool_choice: {
          type: "allowed_tools",
          allowed_tools: {
            mode: "auto",
            tools: [
              { type: "function", function: { name: "get_weather" } },
              { type: "function", function: { name: "rm_rf" } },
            ],
          },
        },
      }),
    );
    // Assess
    expect(err).toMatchObject({ status: 400, code: "invalid_request", param: "tool_choice.allowed_tools.tools.1" });
    expect(err!.message).toMatch(/"rm_rf", which is not in tools/);
    expect(calls).toHaveLength(0);
  });

  it("refuses a mode other than auto and required, naming it", async () => {
    // Prepare
    const { url, calls } = await aProxy();
    // Act
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: MODEL,
        messages: [{ role: "user", content: "hi" }],
        tools: [fn("get_weather")],
        tool_choice: {
          type: "allowed_tools",
          allowed_tools: { mode: "none", tools: [{ type: "function", function: { name: "get_weather" } }] },
        },
      }),
    });
    const body = (await res.json()) as { error: { param: string } };
    // Assess
    expect(res.status).toBe(400);
    expect(body.error.param).toBe("tool_choice.allowed_tools.mode");
    expect(calls).toHaveLength(0);
  });
});

describe("regression: responses tool_choice allowed_tools", () => {
  // BUG: tool_choice {type: "allowed_tools", mode, tools} was a 400 (tool_choice of type "allowed_tools" is not supported).
  it("gives the job only the allowed tools with the mode, and echoes every tool and the choice as given", async () => {
    // Prepare
    const { openai, calls } = await aProxy();
    const choice = { type: "allowed_tools" as const, mode: "required" as const, tools: [{ type: "function", name: "get_time" }] };
    // Act
    const res = await openai.responses.create({
      model: MODEL,
      input: "what time is it?",
      tools: [flat("get_weather"), flat("get_time")],
      tool_choice: choice,
    });
    // Assess
    expect(names(calls[0])).toEqual(["get_time"]);
    expect(calls[0]!.toolChoice).toBe("required");
    expect(res.tools.map((t) => (t as { name: string }).name)).toEqual(["get_weather", "get_time"]);
    expect(res.tool_choice).toEqual(choice);
  });

  it("refuses an allowed tool that is not in tools, naming its entry, before any job", async () => {
    // Prepare
    const { openai, calls } = await aProxy();
    // Act
    const err = await failure(
      openai.responses.create({
        model: MODEL,
        input: "hi",
        tools: [flat("get_weather")],
        tool_choice: { type: "allowed_tools", mode: "auto", tools: [{ type: "function", name: "get_time" }] },
      }),
    );
    // Assess
    expect(err).toMatchObject({ status: 400, code: "invalid_request", param: "tool_choice.tools.0" });
    expect(calls).toHaveLength(0);
  });
});

const PY = { type: "custom" as const, custom: { name: "run_python", description: "Runs Python code" } };
const pyCall = (args: string) => ({ id: "call_py", type: "function" as const, function: { name: "run_python", arguments: args } });

describe("regression: chat completions custom tools (text format)", () => {
  // BUG: a tool of type "custom" was a 400 (only tools of type "function" are supported).
  it("gives the job a function of one string and answers its call as a custom tool call", async () => {
    // Prepare
    const { openai, calls } = await aProxy({ text: "", toolCalls: [pyCall('{"input":"print(1)"}')] });
    // Act
    const res = await openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "run it" }], tools: [PY] });
    // Assess
    expect(calls[0]!.tools).toEqual([
      { type: "function", function: { name: "run_python", description: "Runs Python code", parameters: CUSTOM_INPUT_PARAMETERS } },
    ]);
    expect(res.choices[0]!.message.tool_calls).toEqual([
      { id: "call_py", type: "custom", custom: { name: "run_python", input: "print(1)" } },
    ]);
    expect(res.choices[0]!.finish_reason).toBe("tool_calls");
  });

  it("sends an earlier custom call back as the function call it travelled as, and a named custom choice as that function", async () => {
    // Prepare
    const { openai, calls } = await aProxy();
    // Act
    await openai.chat.completions.create({
      model: MODEL,
      tools: [PY],
      tool_choice: { type: "custom", custom: { name: "run_python" } },
      messages: [
        { role: "user", content: "run it" },
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "call_py", type: "custom", custom: { name: "run_python", input: 'print("a")' } }],
        },
        { role: "tool", tool_call_id: "call_py", content: "a" },
      ],
    });
    // Assess
    expect(calls[0]!.messages![1]!.toolCalls).toEqual([pyCall(JSON.stringify({ input: 'print("a")' }))]);
    expect(calls[0]!.toolChoice).toEqual({ type: "function", function: { name: "run_python" } });
  });

  it("refuses a grammar format 400 naming tools.N.custom.format, streamed or not, before any job", async () => {
    // Prepare
    const { openai, calls } = await aProxy();
    const grammar = { type: "grammar" as const, grammar: { syntax: "regex" as const, definition: "^[0-9]+$" } };
    // Act
    const graminar = await failure(
      openai.chat.completions.create({
        model: MODEL,
        messages: [{ role: "user", content: "n?" }],
        tools: [fn("get_time"), { type: "custom", custom: { name: "digits", format: grammar } }],
      }),
    );
    const streamed = await failure(
      openai.chat.completions.create({
        model: MODEL,
        messages: [{ role: "user", content: "n?" }],
        tools: [{ type: "custom", custom: { name: "digits", format: grammar } }],
        stream: true,
      }),
    );
    // Assess
    expect(graminar).toMatchObject({ status: 400, code: "unsupported_parameter", param: "tools.1.custom.format" });
    expect(graminar!.message).toMatch(/grammar/);
    expect(streamed).toMatchObject({ status: 400, code: "unsupported_parameter", param: "tools.0.custom.format" });
    expect(calls).toHaveLength(0);
  });
});

/** A proxy whose model streams `pieces` as the pieces of one answer's tool calls, then the answer whole. */
const aStreamingProxy = (pieces: AskStreamEvent[], answer: Partial<AskResult>) =>
  startFakedProxy([{ id: MODEL, capabilities: caps({ tools: true }) }], {
    ask: async () => anAnswer(MODEL, answer),
    askStream: async function* (): AsyncGenerator<AskStreamEvent> {
      yield* pieces;
      yield { type: "done", ...anAnswer(MODEL, answer) };
    },
  });

const toolPieces = (...calls: Array<{ index: number; id?: string; name?: string; args: string }>): AskStreamEvent[] =>
  calls.map((c) => ({
    type: "delta",
    jobId: "job_c",
    toolCalls: [
      {
        index: c.index,
        ...(c.id ? { id: c.id, type: "function" as const } : {}),
        function: { ...(c.name ? { name: c.name } : {}), arguments: c.args },
      },
    ],
  }));

describe("regression: chat completions streamed custom tools (text format)", () => {
  // BUG: stream: true with a custom tool was a 400 naming stream (custom tools are answered whole on /v1/chat/completions).
  it("streams the call as a custom tool call whose input is what the unstreamed answer gives, beside a streamed function call", async () => {
    // Prepare: the engine writes the custom call's JSON in pieces (one cut inside an escape) and a function call after it
    const args = JSON.stringify({ input: 'print("a\tb")\nprint(2)' });
    const answer = {
      text: "",
      toolCalls: [pyCall(args), { id: "call_t", type: "function" as const, function: { name: "get_time", arguments: "{}" } }],
    };
    const { openai } = await aStreamingProxy(
      toolPieces(
        { index: 0, id: "call_py", name: "run_python", args: args.slice(0, 15) },
        { index: 0, args: args.slice(15, 19) },
        { index: 0, args: args.slice(19) },
        { index: 1, id: "call_t", name: "get_time", args: "{" },
        { index: 1, args: "}" },
      ),
      answer,
    );
    const body = { model: MODEL, messages: [{ role: "user" as const, content: "run" }], tools: [PY, fn("get_time")] };
    // Act
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const c of await openai.chat.completions.create({ ...body, stream: true })) chunks.push(c);
    const whole = await openai.chat.completions.create(body);
    // Assess: the custom call is one piece, whole (its JSON pieces are not pieces of its text), before the finish
    const pieces = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []) as unknown as Array<Record<string, unknown>>;
    const custom = pieces.filter((p) => p.index === 0);
    expect(custom).toEqual([{ index: 0, id: "call_py", type: "custom", custom: { name: "run_python", input: 'print("a\tb")\nprint(2)' } }]);
    expect(pieces.filter((p) => p.index === 1)).toEqual([
      { index: 1, id: "call_t", type: "function", function: { name: "get_time", arguments: "{" } },
      { index: 1, function: { arguments: "}" } },
    ]);
    const input = custom.map((p) => (p.custom as { input?: string }).input ?? "").join("");
    expect(input).toBe((whole.choices[0]!.message.tool_calls![0] as { custom: { input: string } }).custom.input);
    const last = chunks.at(-1)!.choices[0]!;
    expect(last).toMatchObject({ delta: {}, finish_reason: "tool_calls" });
    expect(chunks.findIndex((c) => c.choices[0]?.delta.tool_calls?.[0]?.index === 0)).toBe(chunks.length - 2);
  });

  it("gives a call the budget cut the input as far as it was written, as the unstreamed answer does", async () => {
    // Prepare
    const cut = '{"input":"print(1';
    const { openai } = await aStreamingProxy(toolPieces({ index: 0, id: "call_py", name: "run_python", args: cut }), {
      text: "",
      toolCalls: [pyCall(cut)],
      finishReason: "length",
    });
    // Act
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const c of await openai.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "run" }],
      tools: [PY],
      stream: true,
    }))
      chunks.push(c);
    // Assess
    const pieces = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect(pieces).toEqual([{ index: 0, id: "call_py", type: "custom", custom: { name: "run_python", input: customInputOf(cut) } }]);
    expect(customInputOf(cut)).toBe("print(1");
  });
});

describe("regression: responses custom tools (text format)", () => {
  // BUG: a tool of type "custom" was a 400 (tool type "custom" is not supported: Cocoon runs no hosted tools).
  const PY_FLAT = { type: "custom" as const, name: "run_python", description: "Runs Python code" };

  it("answers the call as a custom_tool_call item and echoes the tool as given", async () => {
    // Prepare
    const { openai, calls } = await aProxy({ text: "", toolCalls: [pyCall('{"input":"print(1)"}')] });
    // Act
    const res = await openai.responses.create({ model: MODEL, input: "run it", tools: [PY_FLAT] });
    // Assess
    expect(calls[0]!.tools![0]!.function.parameters).toEqual(CUSTOM_INPUT_PARAMETERS);
    expect(res.output).toEqual([
      {
        id: expect.stringMatching(/^ctc_/),
        type: "custom_tool_call",
        status: "completed",
        call_id: "call_py",
        name: "run_python",
        input: "print(1)",
      },
    ]);
    expect(res.tools).toEqual([{ ...PY_FLAT, format: { type: "text" } }]);
  });

  it("streams the call as custom_tool_call_input events, its input whole, as the stream helper assembles it", async () => {
    // Prepare
    const { openai } = await aProxy({ text: "", toolCalls: [pyCall('{"input":"print(1)"}')] });
    // Act
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const e of await openai.responses.create({ model: MODEL, input: "run it", tools: [PY_FLAT], stream: true })) events.push(e);
    const final = await openai.responses.stream({ model: MODEL, input: "run it", tools: [PY_FLAT] }).finalResponse();
    // Assess
    expect(events.map((e) => e.type)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.custom_tool_call_input.delta",
      "response.custom_tool_call_input.done",
      "response.output_item.done",
      "response.completed",
    ]);
    expect(events[4]).toMatchObject({ input: "print(1)" });
    expect(events[5]).toMatchObject({ item: { type: "custom_tool_call", status: "completed", input: "print(1)" } });
    expect(final.output).toMatchObject([{ type: "custom_tool_call", name: "run_python", input: "print(1)" }]);
  });

  it("reads custom_tool_call and custom_tool_call_output items as the call and its answer", async () => {
    // Prepare
    const { openai, calls } = await aProxy();
    // Act
    await openai.responses.create({
      model: MODEL,
      tools: [PY_FLAT],
      tool_choice: { type: "custom", name: "run_python" },
      input: [
        { role: "user", content: "run it" },
        { type: "custom_tool_call", call_id: "call_py", name: "run_python", input: "print(1)" },
        { type: "custom_tool_call_output", call_id: "call_py", output: "1" },
      ],
    });
    // Assess
    expect(calls[0]!.messages).toEqual([
      { role: "user", content: "run it" },
      { role: "assistant", content: "", toolCalls: [pyCall('{"input":"print(1)"}')] },
      { role: "tool", content: "1", toolCallId: "call_py" },
    ]);
    expect(calls[0]!.toolChoice).toEqual({ type: "function", function: { name: "run_python" } });
  });

  it("gives a call the budget cut with its input as far as it was written, incomplete", async () => {
    // Prepare
    const { openai } = await aProxy({ text: "", toolCalls: [pyCall('{"input":"print(\\"a')], finishReason: "length" });
    // Act
    const res = await openai.responses.create({ model: MODEL, input: "run it", tools: [PY_FLAT], max_output_tokens: 8 });
    // Assess
    expect(res.status).toBe("incomplete");
    expect(res.output).toMatchObject([{ type: "custom_tool_call", status: "incomplete", input: 'print("a' }]);
  });

  it("refuses a grammar format 400 naming tools.N.format, and a custom tool named as a function, before any job", async () => {
    // Prepare
    const { openai, calls } = await aProxy();
    // Act
    const grammar = await failure(
      openai.responses.create({
        model: MODEL,
        input: "n?",
        tools: [{ type: "custom", name: "digits", format: { type: "grammar", syntax: "lark", definition: "start: /[0-9]+/" } }],
      }),
    );
    const twice = await failure(openai.responses.create({ model: MODEL, input: "n?", tools: [flat("run_python"), PY_FLAT] }));
    // Assess
    expect(grammar).toMatchObject({ status: 400, code: "unsupported_parameter", param: "tools.0.format" });
    expect(twice).toMatchObject({ status: 400, code: "invalid_request", param: "tools.1" });
    expect(calls).toHaveLength(0);
  });
});

describe("customInputOf", () => {
  const cases: Array<[string, string, string]> = [
    ["a whole call", '{"input":"print(1)"}', "print(1)"],
    ["a call cut inside its text", '{"input":"print(', "print("],
    ["a call cut inside an escape", '{"input":"a\\nb\\u00', "a\nb"],
    ["a call cut after its string", '{"input":"done"', "done"],
    ["arguments of another form", '{"code":"x"}', '{"code":"x"}'],
    ["text that is no JSON", "print(1)", "print(1)"],
  ];
  for (const [what, args, input] of cases)
    it(`gives ${JSON.stringify(input)} for ${what}`, () => {
      // Prepare: args
      // Act
      const got = customInputOf(args);
      // Assess
      expect(got).toBe(input);
    });
});
