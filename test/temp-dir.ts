/**
 * Temp folders for tests that clean up after themselves: each test run used to leave its LMDB
 * stores, agent homes and key files under the OS temp dir (thousands of folders, gigabytes, a
 * few runs in). The suite's setup file (test/setup.ts) removes them after each test file.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const made = new Set<string>();

/**
 * A fresh, empty folder under the OS temp dir (`<tmpdir>/<prefix>XXXXXX`), removed with
 * everything in it after the test file's last test. Folders outlive each test, so a test may
 * hand one to a later test or to a process that is stopped in an afterAll.
 */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.add(dir);
  return dir;
}

/** Removes every folder tempDir made so far (tests of the cleanup itself call it). */
export function removeTempDirs(): void {
  for (const dir of made) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  made.clear();
}
