import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { tempDir } from "./temp-dir";
import { EngineError } from "../agent/engines/engine";
import { createLlamaEngine, type LlamaEngine } from "../agent/engines/llama";
import { writeTinyGguf } from "../agent/engines/tiny-gguf";
import { expectNoCanary, valueBytes } from "./canary";
import { randomCanary } from "./helpers";

/**
 * Session 23 privacy review: what the embedded llama.cpp child prints is the output of a process
 * that serves every requester's jobs (`parallel` at once). An engine_crashed error goes sealed to
 * each requester whose job was running, and its message reaches the agent's /status (the host's
 * to read: agent/runtime.ts engineIsDown writes it as lastError), so it must not carry that output.
 */

const MODEL = "tiny-random";
let dir: string;
let engine: LlamaEngine;
const lines: string[] = [];

/**
 * Preloaded into the child: it prints any canary a job message carries to its stderr, as
 * llama.cpp's own error lines can print the text they failed on, and then stops itself (SIGSTOP)
 * with that job started: the job cannot end before the test kills the child. (It once stopped only
 * when the test killed it, at the job's first delta: but the weights are random and the prompt
 * holds a random canary, so some jobs end at once, a few with no token at all (about 1 in 30), some
 * after tens of ms, before a parent on a loaded machine got to the kill, and the test failed.)
 */
const ECHO_PRELOAD = [
  // once the worker listens (a listener of ours before it would take its first message)
  'if (require("node:worker_threads").isMainThread && process.send) {',
  "  const hook = (event) => {",
  '    if (event !== "message") return;',
  '    process.off("newListener", hook);',
  "    setImmediate(() =>",
  '      process.on("message", (m) => {',
  "        const hit = /CANARY-[0-9a-f]+/.exec(JSON.stringify(m));",
  "        if (!hit) return;",
  // a pipe: written synchronously, so the line is there for the parent to read while the child is stopped
  "        process.stderr.write(`llama_decode: failed on ${hit[0]}\\n`);",
  '        process.kill(process.pid, "SIGSTOP");',
  "      }),",
  "    );",
  "  };",
  '  process.on("newListener", hook);',
  "}",
].join("\n");

beforeAll(async () => {
  dir = tempDir("cocoon-privacy-engine-");
  const modelFile = writeTinyGguf(join(dir, `${MODEL}.gguf`)).path;
  const preload = join(dir, "echo.cjs");
  writeFileSync(preload, ECHO_PRELOAD);
  const before = process.env.NODE_OPTIONS;
  process.env.NODE_OPTIONS = `${before ?? ""} --require ${preload}`.trim();
  try {
    engine = createLlamaEngine({ modelFile, threads: 1, gpu: false, onLog: (l) => void lines.push(l) });
    await engine.load(); // the child is forked here, with the preload
  } finally {
    if (before === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = before;
  }
});

afterAll(async () => {
  await engine?.close();
});

describe("privacy: the llama.cpp child's output stays out of error texts", () => {
  it("an engine_crashed error does not carry the child's last output, which can hold another requester's text", async () => {
    // Prepare: a job whose prompt the child prints to its stderr
    const canary = randomCanary();
    const pid = engine.workerPid!;
    // Act: the child dies while the job runs (stopped in it: ECHO_PRELOAD), after the parent read that line
    const consumed = (async () => {
      for await (const ev of engine.streamCompletion!({ model: MODEL, prompt: `say ${canary}`, maxTokens: 1500, temperature: 0 })) void ev;
    })();
    await vi.waitFor(() => expect(lines.join("\n")).toContain(canary), { timeout: 15_000 });
    process.kill(pid, "SIGKILL");
    const err = await consumed.then(
      () => undefined,
      (e: unknown) => e,
    );
    // Assess
    expect(err).toBeInstanceOf(EngineError);
    expect((err as EngineError).code).toBe("engine_crashed");
    expect((err as EngineError).message).toMatch(/SIGKILL/);
    // in any encoding (test/canary.ts), not only as the raw text the child printed
    expectNoCanary(canary, [
      { name: "error message", data: (err as EngineError).message },
      { name: "error details", data: valueBytes((err as EngineError).details) },
    ]);
  });
});
