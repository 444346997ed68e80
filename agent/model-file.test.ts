/**
 * A model file that cannot be served is the setting's fault (agent/model-file.ts): found walking
 * the README (session 36), `init --model-file typo.gguf` wrote the config without a word and a
 * file that is no GGUF at all (an HTML error page saved as model.gguf) passed start's check,
 * failed the load with model_invalid, exit 1, and was restarted by the unit every 15 s until its
 * start limit. Now init warns of both, and start refuses both with exit 78 before it makes a key.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { writeTinyGguf } from "./engines/tiny-gguf";
import { runAgentCli } from "./cli-testing";
import { modelFileProblem } from "./model-file";

/** Factory: a file with `text` in a fresh folder. */
function fileWith(text: string, name = "model.gguf"): string {
  const file = join(tempDir("cocoon-model-file-"), name);
  writeFileSync(file, text);
  return file;
}

describe("modelFileProblem", () => {
  it.each([
    ["an HTML page saved under the model's name", "<html>404 Not Found</html>"],
    ["an empty file", ""],
    ["a file shorter than the magic", "GG"],
  ])("refuses %s as no GGUF file", (_what, text) => {
    expect(modelFileProblem(fileWith(text))).toBe('it is not a GGUF model file (it does not begin with "GGUF")');
  });

  it("accepts a GGUF file (the project's tiny model), and says why for a missing file and a folder", () => {
    // Prepare
    const dir = tempDir("cocoon-model-file-ok-");
    const tiny = writeTinyGguf(join(dir, "tiny.gguf")).path;
    mkdirSync(join(dir, "folder.gguf"));
    // Act / Assess
    expect(modelFileProblem(tiny)).toBeUndefined();
    expect(modelFileProblem(join(dir, "typo.gguf"))).toBe("there is no such file");
    expect(modelFileProblem(join(dir, "folder.gguf"))).toBe("it is not a regular file");
  });

  it("says the file system's own reason for any other failure, not that there is no such file", () => {
    // Prepare: a path through a regular file (ENOTDIR: the file exists, the setting names a path under it)
    const tiny = writeTinyGguf(join(tempDir("cocoon-model-file-notdir-"), "tiny.gguf")).path;
    // Act
    const why = modelFileProblem(join(tiny, "model.gguf"));
    // Assess
    expect(why).toMatch(/^ENOTDIR: not a directory/);
  });
});

describe.runIf(process.platform === "linux")("modelFileProblem's file descriptors", () => {
  it("closes the file it reads the magic from, whether it is GGUF or not", () => {
    // Prepare: a GGUF file and one that is not; this process's open descriptors counted before
    const tiny = writeTinyGguf(join(tempDir("cocoon-model-file-fds-"), "tiny.gguf")).path;
    const page = fileWith("<html>404 Not Found</html>");
    const open = () => readdirSync("/proc/self/fd").length;
    const before = open();
    // Act: 50 checks of each (a descriptor left open by each would show as 100 more)
    for (let i = 0; i < 50; i++) {
      modelFileProblem(tiny);
      modelFileProblem(page);
    }
    // Assess: nothing else in this test opens descriptors in between (synchronous); a few of slack for the runner's own
    expect(open() - before).toBeLessThan(10);
  });
});

describe("cocoon-agent init and start with a model file that cannot be served", () => {
  it("init writes the config but warns, naming the file, the reason and that start refuses it", async () => {
    // Prepare
    const home = tempDir("cocoon-agent-init-model-");
    const missing = join(home, "typo.gguf");
    // Act
    const r = await runAgentCli(["init", "--api", "http://127.0.0.1:1", "--tier", "dev", "--model-file", missing], { COCOON_HOME: home });
    // Assess
    expect(r.code).toBe(0);
    expect(r.out).toContain(`WARNING: the model file ${missing} cannot be served: there is no such file; start refuses it (exit 78)`);
  });

  it("start refuses a file that is no GGUF with bad_config, exit 78 (not restarted), before it makes a worker key", async () => {
    // Prepare: a closed API port; should the check be missed, the load fails with exit 1 instead
    const home = tempDir("cocoon-agent-start-not-gguf-");
    const page = fileWith("<html>404 Not Found</html>");
    const argv = ["start", "--api", "http://127.0.0.1:1", "--tier", "dev", "--metrics-port", "0", "--model-file", page];
    // Act
    const r = await runAgentCli(argv, { COCOON_HOME: home });
    // Assess
    expect(r.code).toBe(78);
    expect(r.err).toContain(
      `error [bad_config]: modelFile (--model-file, COCOON_MODEL_FILE or agent.json): cannot read the model file ${page}: it is not a GGUF model file`,
    );
    expect(existsSync(join(home, "worker.key"))).toBe(false);
  });
});

describe("cocoon-agent start --model-file while the model loads", () => {
  it("says it is loading the file before the load (minutes for a large model), and the load's refusal after it", async () => {
    // Prepare: GGUF's magic and nothing else, so the load itself refuses it (in this process, before any native code)
    const home = tempDir("cocoon-agent-start-loading-");
    const truncated = fileWith("GGUF");
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
