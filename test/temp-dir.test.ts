import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { removeTempDirs, tempDir } from "./temp-dir";

describe("tempDir: test folders that do not outlive the test file", () => {
  it("makes a fresh, empty folder per call under the OS temp dir, with the prefix", () => {
    // Act
    const a = tempDir("cocoon-tempdir-test-");
    const b = tempDir("cocoon-tempdir-test-");
    // Assess
    expect(a).not.toBe(b);
    expect(a.startsWith(join(tmpdir(), "cocoon-tempdir-test-"))).toBe(true);
    expect(readdirSync(a)).toEqual([]);
  });

  it("removes every folder it made, with what the test wrote in it", () => {
    // Prepare
    const dirs = [tempDir("cocoon-tempdir-test-"), tempDir("cocoon-tempdir-test-")];
    writeFileSync(join(dirs[0]!, "file"), "x");
    // Act (what the afterAll it registers does)
    removeTempDirs();
    // Assess
    expect(dirs.map(existsSync)).toEqual([false, false]);
  });
});
