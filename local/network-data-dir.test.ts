/**
 * Who owns the local network's data folder: a temp folder startNetwork made is removed by stop()
 * (each test run used to leave one LMDB store, up to 38 MB, per network in the temp dir); a
 * dataDir the caller passed is kept, since a restart (crash and recovery tests, `npm start`) reopens it.
 */
import { existsSync, readdirSync } from "node:fs";
import { basename, join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { startNetwork } from "./network";

describe("startNetwork: its data folder on stop()", () => {
  it("removes the temp folder it made, once the store is closed", async () => {
    // Prepare
    const net = await startNetwork({ chain: false });
    expect(basename(net.dataDir)).toMatch(/^cocoon-\w{6}$/); // mkdtemp's, in the OS temp dir
    expect(readdirSync(net.dataDir)).toContain("store");
    // Act
    await net.stop();
    // Assess
    expect(existsSync(net.dataDir)).toBe(false);
  });

  it("keeps a dataDir the caller passed, with the store in it, for the next start to reopen", async () => {
    // Prepare
    const dataDir = join(tempDir("cocoon-net-owned-"), "data");
    const net = await startNetwork({ chain: false, dataDir });
    // Act
    await net.stop();
    // Assess
    expect(readdirSync(dataDir)).toContain("store");
    const again = await startNetwork({ chain: false, dataDir });
    await again.stop();
    expect(readdirSync(dataDir)).toContain("store");
  });
});
