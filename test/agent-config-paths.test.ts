/**
 * `cocoon-agent init --model-file model.gguf`, as README's step 2 writes it, run from the folder
 * that holds the model: agent.json kept the name as given, and the service, which runs in its
 * state directory (deploy/cocoon-agent.service: WorkingDirectory=/var/lib/cocoon-agent), looked
 * for the file there and refused every start (bad_config, exit 78: "there is no such file").
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { runAgentCli } from "../agent/cli-testing";

const INIT = ["init", "--api", "http://127.0.0.1:1", "--tier", "dev", "--metrics-port", "0"];
const written = (home: string) => JSON.parse(readFileSync(join(home, "agent.json"), "utf8")) as { modelFile?: string };

describe("cocoon-agent init with a model file named relative to where it runs", () => {
  it.each([
    ["--model-file", (name: string) => [...INIT, "--model-file", name], {}],
    ["COCOON_MODEL_FILE", () => INIT, { COCOON_MODEL_FILE: "models/my-model.gguf" }],
  ])("writes it (%s) as the absolute path it names here, which the service finds from its own directory", async (_how, argv, env) => {
    // Prepare
    const home = tempDir("cocoon-agent-model-path-");
    // Act
    const r = await runAgentCli(argv("models/my-model.gguf"), { COCOON_HOME: home, ...env });
    // Assess
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(written(home).modelFile).toBe(resolve("models/my-model.gguf"));
    expect(r.out).toContain(`engine llama serving ${resolve("models/my-model.gguf")}`);
  });

  it("keeps an absolute path as it is", async () => {
    // Prepare
    const home = tempDir("cocoon-agent-model-path-abs-");
    const file = join(home, "m.gguf");
    // Act
    const r = await runAgentCli([...INIT, "--model-file", file], { COCOON_HOME: home });
    // Assess
    expect(r.code).toBe(0);
    expect(written(home).modelFile).toBe(file);
  });
});
