/**
 * Test factory: the local store backends, for `describe.each` over a suite that must hold on
 * both (the memory store and LMDB, each fresh per call). The LMDB directories are temporary and
 * removed after the calling file's tests. Call it at a test file's top level (it registers an
 * afterAll). `tempDir` makes another such directory, for a suite's own LMDB files.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import type { Store } from "../core/ports";
import { createMemoryStore } from "./memory-store";
import { openLmdbStore } from "./store-lmdb";

export function localStoreBackends(prefix: string) {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), `cocoon-${prefix}-`));
    dirs.push(dir);
    return dir;
  };
  const stores = [
    ["memory", async (): Promise<Store> => createMemoryStore()],
    ["lmdb", async (): Promise<Store> => openLmdbStore(tempDir(), { durable: false })],
  ] as const;
  return { stores, tempDir };
}
