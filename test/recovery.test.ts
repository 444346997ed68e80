import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { generateSigningKey } from "../core/crypto/keys";
import { getBalance, requesterAccount } from "../core/ledger";
import { startNetwork } from "../local/network";
import { CocoonClient } from "../client/sdk";
import { MODEL, startSilentAgent } from "./helpers";

describe("restart recovery", () => {
  it("a job held when the coordinator dies is settled after restart: its lost lease check is re-issued and the money comes back", async () => {
    // Prepare: a job assigned to a worker that never answers, money held
    const dataDir = mkdtempSync(join(tmpdir(), "cocoon-recovery-"));
    const config = { leaseBaseSeconds: 3, leaseMsPerToken: 0 };
    let net = await startNetwork({ dataDir, config });
    const silent = await startSilentAgent(net.url, 10_000);
    const key = generateSigningKey();
    const client = new CocoonClient({ apiUrl: net.url, key, allowDev: true });
    await client.faucet(1_000_000_000n);
    const asking = client.ask({ model: MODEL, messages: [{ role: "user", content: "x" }], tiers: ["dev"], candidates: 1, timeoutMs: 200 }).catch((e) => e);
    await new Promise((r) => setTimeout(r, 300));
    const held = await getBalance(net.store, requesterAccount(key.id));
    expect(held.held).toBeGreaterThan(0n);
    // Act: the process dies (in-memory queues and their delayed lease checks are gone) and comes back
    await silent.stop();
    await net.stop();
    await asking;
    net = await startNetwork({ dataDir, config });
    try {
      // Assess: the open job is found and refunded
      let bal = await getBalance(net.store, requesterAccount(key.id));
      for (let i = 0; i < 100 && bal.held !== 0n; i++) {
        await new Promise((r) => setTimeout(r, 100));
        bal = await getBalance(net.store, requesterAccount(key.id));
      }
      expect(bal).toEqual({ account: requesterAccount(key.id), available: 1_000_000_000n, held: 0n });
    } finally {
      await net.stop();
    }
  });
});
