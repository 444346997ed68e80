/**
 * review41: a tool call's arguments are gathered into the final result, not streamed as text, so a
 * cancel that cut one saw no piece of it and billed 0 completion tokens. The adapter now marks each
 * server event that carried arguments (and no text) with a hidden piece: counted by a cancel's bill
 * (agent/execute.ts), shown to no one. An event with text counts once already and gets no mark.
 */
import { describe, expect, it } from "vitest";
import type { EngineStreamEvent } from "./engine";
import { aRequest } from "./engine-testing";
import { createOpenAiEngine } from "./openai-http";

/** Factory: an SSE body of these chat events, a usage event and [DONE]. */
const sse = (events: unknown[]) =>
  [...events, { choices: [], usage: { prompt_tokens: 3, completion_tokens: 9, total_tokens: 12 } }, "[DONE]"]
    .map((e) => `data: ${typeof e === "string" ? e : JSON.stringify(e)}\n\n`)
    .join("");

const call = (fn: { name?: string; arguments?: string }, id?: string) => ({
  choices: [
    { index: 0, delta: { tool_calls: [{ index: 0, ...(id ? { id, type: "function" } : {}), function: fn }] }, finish_reason: null },
  ],
});

async function eventsOf(body: string): Promise<EngineStreamEvent[]> {
  const fetchImpl = (async () => new Response(body, { status: 200, headers: { "content-type": "text/event-stream" } })) as typeof fetch;
  const engine = createOpenAiEngine({ baseUrl: "http://127.0.0.1:9/v1", fetchImpl });
  const out: EngineStreamEvent[] = [];
  for await (const ev of engine.stream!(aRequest())) out.push(ev);
  return out;
}

describe("review41: the OpenAI-compatible engine's streamed tool calls count as hidden pieces", () => {
  it("marks each event of argument fragments with one hidden piece, and none for the name alone", async () => {
    // Prepare: the name, then three argument fragments (vLLM streams one a token)
    const body = sse([
      call({ name: "write", arguments: "" }, "call_1"),
      call({ arguments: '{"a":' }),
      call({ arguments: "1" }),
      call({ arguments: "}" }),
    ]);
    // Act
    const events = await eventsOf(body);
    // Assess: three hidden pieces with no text, then the whole call in the result
    const deltas = events.filter((e) => e.type === "delta");
    expect(deltas).toEqual([0, 1, 2].map(() => ({ type: "delta", text: "", hidden: 1 })));
    const done = events.at(-1);
    expect(done?.type === "done" && done.result.toolCalls).toEqual([
      { id: "call_1", type: "function", function: { name: "write", arguments: '{"a":1}' } },
    ]);
  });

  it("gives an event that also streamed text no hidden piece (its text counts already)", async () => {
    // Prepare: text and an argument fragment in one event
    const both = {
      choices: [
        {
          index: 0,
          delta: { content: "ok", tool_calls: [{ index: 0, id: "c", type: "function", function: { name: "f", arguments: "{}" } }] },
          finish_reason: null,
        },
      ],
    };
    // Act
    const events = await eventsOf(sse([both]));
    // Assess
    expect(events.filter((e) => e.type === "delta")).toEqual([{ type: "delta", text: "ok" }]);
  });
});
