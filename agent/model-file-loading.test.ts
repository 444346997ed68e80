/**
 * `cocoon-agent start --model-file` says "loading model" before a load that can take minutes.
 * Start's own check of the file's structure (modelFileDamage) is stood aside here, so that a
 * file the load refuses in this process, before any native code, stands in for one llama.cpp
 * refuses after a long load (a child that loads natively takes seconds on a busy machine).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { tempDir } from "../test/temp-dir";
import { runAgentCli } from "./cli-testing";

vi.mock("./model-file", async (importOriginal) => ({
  ...(await importOriginal<typeof import("./model-file")>()),
  modelFileDamage: async () => undefined,
}));

describe("cocoon-agent start --model-file while the model loads", () => {
  it("says it is loading the file before the load (minutes for a large model), and the load's refusal after it", async () => {
    // Prepare: GGUF's magic and nothing else, so the load itself refuses it (in this process, before any native code)
    const home = tempDir("cocoon-agent-start-loading-");
    const truncated = join(tempDir("cocoon-model-file-"), "model.gguf");
    writeFileSync(truncated, "GGUF");
    const argv = ["start", "--api", "http://127.0.0.1:1", "--tier", "dev", "--metrics-port", "0", "--model-file", truncated];
    // Act
    const r = await runAgentCli(argv, { COCOON_HOME: home });
    // Assess
    const lines = r.out.trim().split("\n");
    const loading = lines.findIndex((l) => l.includes('"msg":"loading model"'));
    expect(loading).toBeGreaterThanOrEqual(0);
    expect(JSON.parse(lines[loading]!)).toMatchObject({ level: "info", file: truncated });
    expect(r.err).toContain("model_invalid");
  });
});
