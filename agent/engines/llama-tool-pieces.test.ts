/**
 * review41: the embedded llama.cpp engine returns a tool call whole in its result and streamed none
 * of it (a forced call's JSON is generated unstreamed; an auto call's parameters are parsed out of
 * the text), so a cancel that cut one counted no piece and billed 0 completion tokens. The child now
 * streams each chunk of a call as a hidden piece (EngineStreamEvent.hidden): counted by a cancel's
 * bill (agent/execute.ts), never shown, never more than the tokens generated.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EngineRequest, EngineStreamEvent, EngineTool } from "./engine";
import { TINY_LLAMA, tinyLlama } from "./engine-testing";
import type { LlamaEngine } from "./llama";

let engine: LlamaEngine;
beforeAll(async () => {
  engine = await tinyLlama();
}, 60_000);
afterAll(async () => {
  await engine?.close();
});

const weatherTool: EngineTool = {
  type: "function",
  function: { name: "get_weather", parameters: { type: "object", properties: { unit: { enum: ["c", "f"] } }, required: ["unit"] } },
};

/** Factory: a chat the grammar forces into a call of weatherTool. */
const forcedCall = (over: Partial<EngineRequest> = {}): EngineRequest => ({
  model: TINY_LLAMA,
  messages: [{ role: "user", content: "hello world" }],
  maxTokens: 40,
  temperature: 0,
  tools: [weatherTool],
  toolChoice: "required",
  ...over,
});

async function eventsOf(req: EngineRequest): Promise<EngineStreamEvent[]> {
  const out: EngineStreamEvent[] = [];
  for await (const ev of engine.stream(req)) out.push(ev);
  return out;
}

describe("review41: the llama engine's streamed tool calls count as hidden pieces", () => {
  it("a forced call streams hidden pieces only, at least one, never more than the tokens billed", async () => {
    // Act
    const events = await eventsOf(forcedCall());
    // Assess
    const deltas = events.flatMap((e) => (e.type === "delta" ? [e] : []));
    const done = events.at(-1);
    if (done?.type !== "done") throw new Error("no result");
    const hidden = deltas.reduce((n, d) => n + (d.hidden ?? 0), 0);
    // (random weights: the grammar's JSON may be cut by max_tokens before the name is whole)
    expect(deltas.every((d) => d.text === "" && !d.reasoning)).toBe(true);
    expect(hidden).toBeGreaterThan(0);
    expect(hidden).toBeLessThanOrEqual(done.result.usage.completionTokens);
  });
});
