import { afterEach, describe, expect, it, vi } from "vitest";
import { synthCommand } from "./synth";

/**
 * `npm run synth` on its command line: a settings refusal printed a full stack trace after its
 * message, and `--stage=prod` or a bare `--stage` synthesized both stages without a word.
 */

afterEach(() => {
  delete process.env.COCOON_VAULT_ADDRESS;
  vi.restoreAllMocks();
});

function stderr() {
  const lines: string[] = [];
  vi.spyOn(console, "error").mockImplementation((...a: unknown[]) => void lines.push(a.join(" ")));
  vi.spyOn(console, "log").mockImplementation(() => {});
  return lines;
}

describe("npm run synth", () => {
  it("a refused setting is one line, error [deploy_refused] naming it, no stack trace, exit 2, before anything is synthesized", async () => {
    // Prepare
    process.env.COCOON_VAULT_ADDRESS = "EQbad";
    const err = stderr();
    // Act (--stage=prod: the = form names the stage too)
    const code = await synthCommand(["--stage=prod"]);
    // Assess
    expect(code).toBe(2);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/^error \[deploy_refused\]: COCOON_VAULT_ADDRESS must be the vault's TON address[^\n]*$/);
  }, 60_000);

  it("--stage without a value, an unknown flag or a stray word: a usage error, exit 64, nothing synthesized", async () => {
    for (const args of [["--stage"], ["--stage", "--verbose"], ["--bundle=false"], ["prod"]]) {
      // Prepare
      const err = stderr();
      // Act
      const code = await synthCommand(args);
      // Assess
      expect(code, args.join(" ")).toBe(64);
      expect(err[0], args.join(" ")).toMatch(/^error \[usage\]: .*\nusage: npm run synth/);
      vi.restoreAllMocks();
    }
  });
});
