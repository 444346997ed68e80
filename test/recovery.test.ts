import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { generateSigningKey } from "../core/crypto/keys";
import { CocoonClient } from "../client/sdk";
import { checkInvariants } from "./invariants";
import { startNetwork } from "../local/network";
import { readJob } from "../core/jobs/items";
import type { LeaseCheckMessage } from "../events/queue";
import { MODEL, pollUntil, startCoordinatorProcess, startSilentAgent, type CoordinatorProcess } from "./helpers";

const TON = 1_000_000_000n;

describe("restart recovery", () => {
  it("a job held when the coordinator is killed (kill -9) is settled after restart: its lost lease check is re-issued and the money comes back", async () => {
    // Prepare: a coordinator in its own process (3 s leases), a worker that never answers, money held for a job
    const home = tempDir("cocoon-recovery-");
    const env = { COCOON_LEASE_BASE_SECONDS: "3", COCOON_LEASE_MS_PER_TOKEN: "0" };
    let coordinator: CoordinatorProcess = await startCoordinatorProcess({ home, env });
    const silent = await startSilentAgent(coordinator.url, 10_000);
    try {
      const client = new CocoonClient({ apiUrl: coordinator.url, key: generateSigningKey(), allowDev: true });
      await client.faucet(TON);
      const asking = client
        .ask({ model: MODEL, messages: [{ role: "user", content: "x" }], tiers: ["dev"], candidates: 1, timeoutMs: 2_000 })
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

  it("issue 12: a lease check dead-lettered (five failed deliveries) comes back with the scheduled redrive, and the held money with it", async () => {
    // Prepare: a network (3 s leases, redrive only on demand), a worker that never answers, money held for a job
    const net = await startNetwork({ chain: false, redriveIntervalMs: 0, config: { leaseBaseSeconds: 3, leaseMsPerToken: 0 } });
    const silent = await startSilentAgent(net.url, 10_000);
    try {
      const client = new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true });
      await client.faucet(TON);
      const asking = client
        .ask({ model: MODEL, messages: [{ role: "user", content: "x" }], tiers: ["dev"], candidates: 1, timeoutMs: 2_000 })
        .catch((e) => e);
      const jobId = await pollUntil(
        "the job to be held",
        async () => (BigInt((await client.balance()).held) > 0n ? jobOf(net) : undefined),
        10_000,
      );
      await asking;
      // its lease check, as SQS leaves it after five failed deliveries: gone from the matching queue, in the DLQ
      net.queues.purge("matching");
      const check: LeaseCheckMessage = { type: "lease", jobId, attempt: 0 };
      await net.queues.send("matching-dlq", check);
      const { leaseUntil } = (await readJob(net.store, jobId))!;
      await new Promise((r) => setTimeout(r, leaseUntil + 1_000 - Date.now())); // a second past the lease: nothing else would ever check it
      expect(BigInt((await client.balance()).held)).toBeGreaterThan(0n);

      // Act
      const report = await net.redriveOnce();

      // Assess
      expect(report).toEqual({ redriven: 1, left: 0 });
      const settled = await pollUntil(
        "the held money to come back",
        async () => {
          const b = await client.balance();
          return b.held === "0" ? b : undefined;
        },
        10_000,
        100,
      );
      expect([settled.available, settled.held]).toEqual([TON.toString(), "0"]);
      expect(net.queues.stats("matching-dlq")).toMatchObject({ visible: 0, inFlight: 0, delayed: 0 });
    } finally {
      await silent.stop();
      await net.stop();
    }
  }, 30_000);
});

/** The id of the network's one job. */
async function jobOf(net: Awaited<ReturnType<typeof startNetwork>>): Promise<string | undefined> {
  const lmdb = net.store as unknown as { scan(table: string): Array<{ sk: string; pk: string }> };
  return lmdb.scan("jobs").find((i) => i.sk === "job")?.pk;
}
