import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { generateSigningKey } from "../core/crypto/keys";
import { CocoonClient } from "../client/sdk";
import { checkInvariants } from "./invariants";
import { MODEL, pollUntil, startCoordinatorProcess, startSilentAgent, type CoordinatorProcess } from "./helpers";

const TON = 1_000_000_000n;

describe("restart recovery", () => {
  it("a job held when the coordinator is killed (kill -9) is settled after restart: its lost lease check is re-issued and the money comes back", async () => {
    // Prepare: a coordinator in its own process (3 s leases), a worker that never answers, money held for a job
    const home = mkdtempSync(join(tmpdir(), "cocoon-recovery-"));
    const env = { COCOON_LEASE_BASE_SECONDS: "3", COCOON_LEASE_MS_PER_TOKEN: "0" };
    let coordinator: CoordinatorProcess = await startCoordinatorProcess({ home, env });
    const silent = await startSilentAgent(coordinator.url, 10_000);
    try {
      const client = new CocoonClient({ apiUrl: coordinator.url, key: generateSigningKey(), allowDev: true });
      await client.faucet(TON);
      const asking = client
        .ask({ model: MODEL, messages: [{ role: "user", content: "x" }], tiers: ["dev"], candidates: 1, timeoutMs: 200 })
        .catch((e) => e);
      const held = await pollUntil(
        "the job's money to be held",
        async () => {
          const h = (await client.balance()).held;
          return h !== "0" ? h : undefined;
        },
        10_000,
      );
      expect(BigInt(held)).toBeGreaterThan(0n);

      // Act: kill -9 (the in-memory queues and their delayed lease checks are gone), then start again on the same data
      await coordinator.kill9();
      await asking;
      coordinator = await startCoordinatorProcess({ home, port: coordinator.port, env });

      // Assess: the open job is found and refunded, and the data satisfies every invariant
      const settled = await pollUntil(
        "the held money to come back",
        async () => {
          const b = await client.balance();
          return b.held === "0" ? b : undefined;
        },
        20_000,
        100,
      );
      expect([settled.available, settled.held]).toEqual([TON.toString(), "0"]);
      await silent.stop();
      await coordinator.stop();
      const report = await checkInvariants(join(home, "data"), { settled: true });
      expect(report.violations).toEqual([]);
      expect(report.jobs).toEqual({ open: 0, completed: 0, refunded: 1 });
    } finally {
      await silent.stop();
      await coordinator.kill9();
    }
  }, 60_000);
});
