/** `--version` of both CLIs: the release package.json names, and for the agent's bundle its SHA-256 (the digest the allow-list names). */
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { InvalidArgumentError } from "commander";
import { COCOON_VERSION, EX_USAGE, newProgram, runProgram, versionLine } from "./program";

const root = fileURLToPath(new URL("..", import.meta.url));
const versionOf = (file: string) => (JSON.parse(readFileSync(join(root, file), "utf8")) as { version: string }).version;

describe("--version", () => {
  it("is the release package.json names (the repository's and the client package's)", () => {
    expect(COCOON_VERSION).toBe(versionOf("package.json"));
    expect(COCOON_VERSION).toBe(versionOf("bin/package.json"));
  });

  it("names the agent bundle's SHA-256 when run from it, and nothing more from sources", () => {
    // Prepare: a file named as the bundle is
    const bundle = join(tempDir("cocoon-version-"), "cocoon-agent.cjs");
    writeFileSync(bundle, "bundle bytes");
    // Act / Assess
    expect(versionLine("cocoon-agent", bundle)).toBe(
      `cocoon-agent ${COCOON_VERSION} (bundle sha256:${createHash("sha256").update("bundle bytes").digest("hex")})`,
    );
    expect(versionLine("cocoon", join(root, "client", "cli.ts"))).toBe(`cocoon ${COCOON_VERSION}`);
  });

  it("-V and --version print it and exit 0, before any command runs", async () => {
    for (const flag of ["--version", "-V"]) {
      // Prepare
      const out: string[] = [];
      let ran = false;
      const program = newProgram("cocoon", "test", { out: { write: (s: string) => out.push(s) }, err: { write: () => {} } });
      program.command("ask").action(() => void (ran = true));
      // Act
      const code = await runProgram(program, [flag], () => 0);
      // Assess
      expect(code).toBe(0);
      expect(out.join("")).toBe(`cocoon ${COCOON_VERSION}\n`);
      expect(ran).toBe(false);
    }
  });
});

describe("usage errors", () => {
  /** A program with one command that takes a job id and --json, its output collected. */
  function programWithCancel() {
    const out: string[] = [];
    const err: string[] = [];
    const program = newProgram("cocoon", "test", {
      out: { write: (s: string) => out.push(s) },
      err: { write: (s: string) => err.push(s) },
    });
    program
      .command("cancel")
      .argument("<jobId>", "the job", (v: string) => {
        if (!v.startsWith("job_")) throw new InvalidArgumentError("must be a job id.");
        return v;
      })
      .option("--json", "print JSON");
    return { program, out, err };
  }

  it("with --json, a bad argument is one JSON line on stderr with a code, exit 64, and nothing on stdout", async () => {
    // Prepare
    const { program, out, err } = programWithCancel();
    // Act
    const code = await runProgram(program, ["cancel", "nonsense", "--json"], () => 0);
    // Assess
    expect(code).toBe(EX_USAGE);
    expect(out.join("")).toBe("");
    const lines = err.join("").trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    const e = (JSON.parse(lines[0]!) as { error: { code: string; message: string; status: number; details: unknown } }).error;
    expect(e.code).toBe("usage_error");
    expect(e.status).toBe(0);
    expect(e.message).toContain("must be a job id.");
    expect(e.message).not.toMatch(/^error: /);
    expect(e.details).toEqual({ commander: "invalidArgument" });
  });

  it("with --json, an unknown command is a JSON line too", async () => {
    // Prepare
    const { program, err } = programWithCancel();
    // Act
    const code = await runProgram(program, ["cancl", "--json"], () => 0);
    // Assess
    expect(code).toBe(EX_USAGE);
    expect(JSON.parse(err.join("")) as unknown).toMatchObject({ error: { code: "usage_error", details: { commander: "unknownCommand" } } });
  });

  it("without --json, commander's text and the help hint are printed as before", async () => {
    // Prepare
    const { program, err } = programWithCancel();
    // Act
    const code = await runProgram(program, ["cancel", "nonsense"], () => 0);
    // Assess
    expect(code).toBe(EX_USAGE);
    expect(err.join("")).toMatch(/^error: .*must be a job id\.\n\(add --help for usage\)\n$/);
  });
});
