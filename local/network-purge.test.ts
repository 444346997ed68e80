/**
 * The local default removes expired items from its LMDB disk (local/network.ts purge), as
 * DynamoDB's TTL does: a job's records past their retention (core/jobs/retention.ts) are
 * then gone from the data folder too, not only absent for reads.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { jobKey } from "../core/jobs/items";
import { tempDir } from "../test/temp-dir";
import { startNetwork } from "./network";
import { openLmdbStore } from "./store-lmdb";

describe("local store purge", () => {
  it("a job item past its ttl is off the disk once the network has started and stopped; a live one stays", async () => {
    // Prepare: a data folder holding an expired job item and a kept one
    const dataDir = tempDir("cocoon-purge-");
    const now = Math.ceil(Date.now() / 1000);
    const seeded = await openLmdbStore(join(dataDir, "store"));
    await seeded.transact([
      { op: "put", table: "jobs", item: { ...jobKey("job_expired"), requester: "r", ttl: now - 60 } },
      { op: "put", table: "jobs", item: { ...jobKey("job_kept"), requester: "r", ttl: now + 86_400 } },
    ]);
    await seeded.close();
    // Act
    const net = await startNetwork({ dataDir, chain: false });
    await net.stop();
    // Assess: nothing expired is left to purge, and the live item is still there
    const after = await openLmdbStore(join(dataDir, "store"));
    try {
      expect(await after.purgeExpired()).toBe(0);
      expect(await after.get("jobs", jobKey("job_kept"))).toMatchObject({ requester: "r" });
    } finally {
      await after.close();
    }
  });
});
