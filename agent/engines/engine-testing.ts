/** Test factories shared by the engine adapters' suites. */
import { join } from "node:path";
import { expect } from "vitest";
import { tempDir } from "../../test/temp-dir";
import { EngineError, type EngineRequest } from "./engine";
import { createLlamaEngine, type LlamaEngine } from "./llama";
import { type TinyGgufOptions, writeTinyGguf } from "./tiny-gguf";

/** A small chat request to model "m"; `over` replaces fields. */
export const aRequest = (over: Partial<EngineRequest> = {}): EngineRequest => ({
  model: "m",
  messages: [{ role: "user", content: "hi" }],
  maxTokens: 64,
  ...over,
});

/** The EngineError `p` rejects with (fails the test if it resolves or rejects with anything else). */
export async function errorOf(p: Promise<unknown>): Promise<EngineError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(EngineError);
    return err as EngineError;
  }
  throw new Error("expected an EngineError, got a result");
}

/** The model name of tinyLlama's engine (its file's name). */
export const TINY_LLAMA = "tiny-random";

/**
 * The embedded llama.cpp engine on the project's tiny GGUF (random weights; `options` as
 * writeTinyGguf takes them, another chat template for one), written to a fresh temp folder,
 * loaded, on one CPU thread. Its model name is TINY_LLAMA. The caller closes it.
 */
export async function tinyLlama(options: TinyGgufOptions = {}): Promise<LlamaEngine> {
  const file = writeTinyGguf(join(tempDir("cocoon-llama-"), `${TINY_LLAMA}.gguf`), options).path;
  const engine = createLlamaEngine({ modelFile: file, threads: 1, gpu: false });
  await engine.load();
  return engine;
}
