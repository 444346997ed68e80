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
import { buildTinyGguf, writeTinyGguf } from "./engines/tiny-gguf";
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
    // the next step is a file that loads, not the start that refuses this one
    expect(r.out).toMatch(/\nnext: cocoon-agent init --force --model-file <path\.gguf> naming a GGUF file/);
    expect(r.out).not.toContain("next: cocoon-agent start");
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

describe("cocoon-agent init and start with a GGUF file cut short (a download that did not finish)", () => {
  // Walking the README (session 38): such a file passed start's checks, made the worker key, and
  // failed the load with model_invalid, exit 1 (restarted by the unit until its start limit),
  // saying only "truncated: tensor … ends at byte …".
  /** Factory: the tiny model's first `fraction` of bytes, as an interrupted download leaves it. */
  function cutShort(fraction = 0.6): string {
    const whole = buildTinyGguf();
    const file = join(tempDir("cocoon-model-file-cut-"), "model.gguf");
    writeFileSync(file, whole.subarray(0, Math.floor(whole.length * fraction)));
    return file;
  }

  it("start refuses it with bad_config, exit 78 (not restarted), naming the setting and the fix, before it makes a worker key", async () => {
    // Prepare: a closed API port; should the check be missed, the load fails with exit 1 instead
    const home = tempDir("cocoon-agent-start-cut-");
    const file = cutShort();
    const argv = ["start", "--api", "http://127.0.0.1:1", "--tier", "dev", "--metrics-port", "0", "--model-file", file];
    // Act
    const r = await runAgentCli(argv, { COCOON_HOME: home });
    // Assess
    expect(r.code).toBe(78);
    expect(r.err).toContain(
      `error [bad_config]: modelFile (--model-file, COCOON_MODEL_FILE or agent.json): ${file} is not a valid GGUF model file: truncated`,
    );
    expect(r.err).toContain("download it again");
    expect(r.out).not.toContain('"msg":"loading model"');
    expect(existsSync(join(home, "worker.key"))).toBe(false);
  });

  it("init writes the config but warns that start refuses it", async () => {
    // Prepare
    const home = tempDir("cocoon-agent-init-cut-");
    const file = cutShort();
    // Act
    const r = await runAgentCli(["init", "--api", "http://127.0.0.1:1", "--tier", "dev", "--model-file", file], { COCOON_HOME: home });
    // Assess
    expect(r.code).toBe(0);
    expect(r.out).toContain(`WARNING: the model file ${file} cannot be served: ${file} is not a valid GGUF model file: truncated`);
    expect(r.out).toContain("download it again");
    expect(r.out).toContain("start refuses it (exit 78)");
  });
});
