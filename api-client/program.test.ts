/** `--version` of both CLIs: the release package.json names, and for the agent's bundle its SHA-256 (the digest the allow-list names). */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { COCOON_VERSION, newProgram, runProgram, versionLine } from "./program";

const root = fileURLToPath(new URL("..", import.meta.url));
const versionOf = (file: string) => (JSON.parse(readFileSync(join(root, file), "utf8")) as { version: string }).version;

describe("--version", () => {
  it("is the release package.json names (the repository's and the client package's)", () => {
    expect(COCOON_VERSION).toBe(versionOf("package.json"));
    expect(COCOON_VERSION).toBe(versionOf("bin/package.json"));
  });

  it("names the agent bundle's SHA-256 when run from it, and nothing more from sources", () => {
    // Prepare: a file named as the bundle is
    const bundle = join(mkdtempSync(join(tmpdir(), "cocoon-version-")), "cocoon-agent.cjs");
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
