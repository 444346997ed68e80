/**
 * Mutants of resolveConfig's engineSetBy hint (session 38, helper mut38) that agent/config.test.ts
 * left alive: the hint ("add --engine llama", naming where the engine was set) belongs only to the
 * refusal of a model file under an engine set to something other than llama.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { ConfigError, resolveConfig } from "./config";

const fileWith = (settings: Record<string, unknown>) => {
  const f = join(tempDir("cocoon-agent-config-mut38-"), "agent.json");
  writeFileSync(f, JSON.stringify(settings));
  return f;
};
const lineOf = (fn: () => unknown, setting: string) => {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.message.split("\n").find((l) => l.includes(`${setting}`));
  }
  throw new Error("no ConfigError");
};

describe("the engine hint of a refused model file", () => {
  it("is not given for another setting's refusal beside it", () => {
    // Prepare: the builtin engine spelled out, a model file, and a payout address of the wrong shape
    const file = fileWith({ engine: "builtin" });
    // Act
    const payout = lineOf(() => resolveConfig({ file, env: {}, flags: { modelFile: "/m.gguf", payoutAddress: "EQfoo" } }), "payoutAddress");
    // Assess
    expect(payout).toMatch(/must be a TON address/);
    expect(payout).not.toContain("--engine llama");
  });

  it("is not given for a model file refused for itself: under the llama engine, with no engine set, or empty", () => {
    // Prepare: agent.json with a model file that is no path (a number, an empty string)
    const cases = [{ modelFile: 5 }, { engine: "llama", modelFile: 5 }, { engine: "builtin", modelFile: "" }];
    for (const settings of cases) {
      // Act
      const line = lineOf(() => resolveConfig({ file: fileWith(settings), env: {}, flags: {} }), "modelFile");
      // Assess
      expect(line, JSON.stringify(settings)).toMatch(/modelFile: (Invalid input|Too small)/);
      expect(line, JSON.stringify(settings)).not.toContain("--engine llama");
    }
  });
});
