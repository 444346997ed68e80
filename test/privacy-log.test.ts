import { describe, expect, it } from "vitest";
import { jsonLog } from "../agent/log";
import { randomCanary } from "./helpers";
import { expectNoCanary, lineSources } from "./canary";

/**
 * Session 23 privacy review: the agent's log is the host's to read, and agent/log.ts promises a
 * second line of defence (text fields withheld, long strings cut) whatever a caller passes. It
 * held only for the first levels of nesting and for plain arrays.
 */

const logged = () => {
  const lines: string[] = [];
  return { lines, log: jsonLog({ write: (l) => void lines.push(l), now: () => 0 }) };
};

describe("privacy: the agent's log withholds request text however it is passed", () => {
  it("withholds a text field and cuts a long string nested deeper than four levels", () => {
    // Prepare
    const { lines, log } = logged();
    const canary = randomCanary();
    // Act
    log.warn("job failed", { a: { b: { c: { d: { prompt: `say ${canary}`, other: `${"x".repeat(400)}${canary}` } } } } });
    // Assess
    expect(lines).toHaveLength(1);
    expectNoCanary(canary, lineSources("agent log", lines));
    expect(JSON.parse(lines[0]!).msg).toBe("job failed");
  });

  it.each([
    ["tools", (c: string) => [{ type: "function", function: { name: "f", description: c } }]],
    ["embedding", (c: string) => [0.25, -0.5, c]],
    ["embeddings", (c: string) => [[c]]],
    ["vectors", (c: string) => [[c]]],
    ["image_url", (c: string) => ({ url: `data:image/png;base64,${c}` })],
    ["response_format", (c: string) => ({ type: "json_schema", json_schema: { name: c } })],
    ["metadata", (c: string) => ({ k: c })],
    ["safety_identifier", (c: string) => c],
    ["prompt_cache_key", (c: string) => c],
  ])("session 42: withholds %s (fields requests carry since session 31)", (field, value) => {
    // Prepare
    const { lines, log } = logged();
    const canary = randomCanary();
    // Act
    log.warn("job", { jobId: "job_1", [field]: value(canary) });
    // Assess
    expect(JSON.parse(lines[0]!)[field]).toBe("[withheld]");
    expectNoCanary(canary, lineSources("agent log", lines));
  });

  it("does not write out the bytes of a Buffer or a typed array (a plaintext before it is parsed)", () => {
    // Prepare
    const { lines, log } = logged();
    const canary = randomCanary();
    const bytes = new TextEncoder().encode(`say ${canary}`);
    // Act
    log.info("job", { jobId: "job_1", body: Buffer.from(bytes), raw: bytes, buffer: bytes.buffer });
    // Assess: the bytes are gone, their count stays (it helps and the ciphertext shows it anyway)
    const line = JSON.parse(lines[0]!);
    expect(line.jobId).toBe("job_1");
    expect(line.raw).toBe(`[${bytes.length} bytes withheld]`);
    expect(lines[0]!.match(/\d+,\d+,\d+/)).toBeNull();
    expect(lines[0]!).not.toMatch(/"0":\d+/);
    expectNoCanary(canary, lineSources("agent log", lines));
  });

  it.each([
    ["reasoning"],
    ["reasoning_content"],
    ["arguments"],
    ["tool_calls"],
    ["toolCalls"],
    ["delta"],
    ["instructions"],
    ["system"],
    ["stop"],
    ["logprobs"],
    ["user"],
  ])("session 31: withholds a %s field (the request and answer fields later work added)", (field) => {
    // Prepare
    const { lines, log } = logged();
    const canary = randomCanary();
    // Act
    log.warn("job failed", { jobId: "job_1", [field]: `say ${canary}`, nested: { [field]: [canary] } });
    // Assess: the text is gone, the id stays
    expect(JSON.parse(lines[0]!).jobId).toBe("job_1");
    expectNoCanary(canary, lineSources("agent log", lines));
  });
});
