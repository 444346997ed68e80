/** Test factories shared by the engine adapters' suites. */
import { expect } from "vitest";
import { EngineError, type EngineRequest } from "./engine";

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
