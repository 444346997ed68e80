/**
 * Crash recovery of the local coordinator, with a real kill -9.
 *
 * The coordinator (local/main.ts: the real handlers over HTTP on 127.0.0.1, the LMDB store, the
 * @ton/sandbox vault and its chain watcher) runs as a child process. Agents and requesters run
 * here and use the repository's own clients (CocoonClient, the CLI's deposit and withdraw
 * flows), so requests are signed as in production. Under load with jobs, deposits and
 * withdrawals in flight, the coordinator is killed with SIGKILL, the money invariants are
 * checked on what it left on disk, it is started again on the same data and port, recovery
 * runs, and every invariant is checked again (test/invariants.ts says which).
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import type { RunningAgent } from "../agent/runtime";
import { createBuiltinEngine } from "../agent/engines/builtin";
import type { Engine } from "../agent/engines/engine";
import { depositAndWait, withdrawAndWait } from "../api-client/money";
import { CocoonClient } from "../client/sdk";
import { generateSigningKey } from "../core/crypto/keys";
import { startLocalAgents } from "../local/agents";
import { startLocalChain } from "../local/chain";
import { DEPOSIT_FEE } from "../contracts/vault";
import { checkInvariants } from "./invariants";
import { MODEL, pollUntil, startCoordinatorProcess, type CoordinatorProcess } from "./helpers";

const TON = 1_000_000_000n;
type Kind = "job" | "deposit" | "withdraw";

/**
 * The built-in engine, taking `ms` per answer like a model would, and counting the answers in
 * progress: while one is, its job is assigned on the coordinator (held, leased, queued).
 */
function thinkingEngine(ms: number, busy: { n: number }): Engine {
  const inner = createBuiltinEngine();
  return {
    ...inner,
    async generate(req) {
      busy.n++;
      try {
        await new Promise((r) => setTimeout(r, ms));
        return await inner.generate(req);
      } finally {
        busy.n--;
      }
    },
    // the runtime streams when the engine can (issue 11): that answer counts as in progress too
    ...(inner.stream
      ? {
          async *stream(req: Parameters<NonNullable<Engine["stream"]>>[0]) {
            busy.n++;
            try {
              await new Promise((r) => setTimeout(r, ms));
              yield* inner.stream!(req);
            } finally {
              busy.n--;
            }
          },
        }
      : {}),
  };
}

describe("the sandbox chain is durable", () => {
  it("a transaction the watcher can read is already on disk: a start from the state file (after a kill -9) holds it", async () => {
    // Prepare
    const stateFile = join(tempDir("cocoon-chain-"), "chain.json");
    const chain = await startLocalChain({ stateFile });
    const account = generateSigningKey().id;

    // Act: a deposit, read by the watcher's reader, then the process dies without any save()
    await chain.depositNano(account, 2n * TON);
    const seen = await chain.reader.getVaultTransactions(null, 100);
    const restarted = await startLocalChain({ stateFile });

    // Assess: same vault, the deposit and the transaction the watcher saw are there
    expect(restarted.vaultAddress.equals(chain.vaultAddress)).toBe(true);
    expect(await restarted.accountBalance(account)).toBe(2n * TON - DEPOSIT_FEE); // the vault keeps its deposit fee
    const again = await restarted.reader.getVaultTransactions(null, 100);
    expect(again.txs.map((t) => t.hash)).toEqual(seen.txs.map((t) => t.hash));
  });
});

describe("kill -9 under load", () => {
  it("jobs, deposits and withdrawals in flight: after kill -9 and a restart every job settles and ledger, reservations and vault agree", async () => {
    const t0 = Date.now();
    const phases: string[] = [];
    let last = t0;
    const phase = (name: string) => {
      phases.push(`${name} ${Date.now() - last} ms`);
      last = Date.now();
    };
    const home = tempDir("cocoon-crash-");
    const dataDir = join(home, "data");
    const agentHome = tempDir("cocoon-crash-agents-");
    let coordinator: CoordinatorProcess | undefined;
    let agents: RunningAgent[] = [];
    try {
      // Prepare: a coordinator (5 s job leases, so recovery of a lost lease check is quick), two
      // agents that take 300 ms per answer, four funded requesters
      const env = { COCOON_LEASE_BASE_SECONDS: "5", COCOON_LEASE_MS_PER_TOKEN: "0" };
      coordinator = await startCoordinatorProcess({ home, env });
      const { url, port } = coordinator;
      const answering = { n: 0 };
      agents = await startLocalAgents(url, agentHome, [
        { name: "agent-0", priceBps: 10_000, engine: thinkingEngine(300, answering) },
        { name: "agent-1", priceBps: 12_000, engine: thinkingEngine(300, answering) },
      ]);
      // reconnectMs 0: a job in flight at the kill fails at once (JobOutcomeUnknownError) instead of
      // waiting for the coordinator's return, which comes only after the load has ended
      const requesters = Array.from(
        { length: 4 },
        () => new CocoonClient({ apiUrl: url, key: generateSigningKey(), allowDev: true, reconnectMs: 0 }),
      );
      await Promise.all(requesters.map((c) => c.faucet(20n * TON)));
      phase("start+fund");

      // Act 1: load, each requester cycling through jobs, deposits and withdrawals (at most 30 ops)
      const inFlight: Record<Kind, number> = { job: 0, deposit: 0, withdraw: 0 };
      const done: Record<Kind, number> = { job: 0, deposit: 0, withdraw: 0 };
      const errorsBeforeKill: string[] = [];
      let killed = false;
      const ops: Record<Kind, (c: CocoonClient, i: number) => Promise<unknown>> = {
        job: (c, i) =>
          c.ask({
            model: MODEL,
            messages: [{ role: "user", content: `crash load ${i}` }],
            maxTokens: 16,
            tiers: ["dev"],
            timeoutMs: 60_000,
          }),
        deposit: (c) => depositAndWait(c.api, TON, { timeoutMs: 30_000, pollMs: 100 }),
        withdraw: (c) => withdrawAndWait(c.api, TON / 2n, { timeoutMs: 30_000, pollMs: 100 }),
      };
      const cycle: Kind[] = ["job", "deposit", "job", "withdraw"];
      const drive = async (c: CocoonClient, r: number) => {
        for (let i = 0; i < 30 && !killed; i++) {
          const kind = cycle[(i + r) % cycle.length]!;
          inFlight[kind]++;
          try {
            await ops[kind](c, i);
            done[kind]++;
          } catch (e) {
            if (!killed) errorsBeforeKill.push(`${kind}: ${(e as Error).message}`);
            return;
          } finally {
            inFlight[kind]--;
          }
        }
      };
      const load = Promise.all(requesters.map((c, r) => drive(c, r)));
      const atKill = await pollUntil(
        "a job being answered, a deposit and a withdrawal in flight at once, after some work",
        () =>
          done.job + done.deposit + done.withdraw >= 6 && answering.n > 0 && inFlight.deposit > 0 && inFlight.withdraw > 0
            ? { ...inFlight, answering: answering.n }
            : undefined,
        20_000,
        5,
      );
      killed = true;
      await coordinator.kill9();
      await load;
      expect(errorsBeforeKill).toEqual([]);
      phase("load+kill");

      // Assess 1: what the killed process left on disk already satisfies the invariants that hold at every commit
      const crashed = await checkInvariants(dataDir, { settled: false });
      expect(crashed.violations).toEqual([]);
      expect(crashed.jobs.open).toBeGreaterThan(0); // the kill really caught jobs in flight
      phase("check on disk");

      // Act 2: start again on the same data and port; recovery runs; the agents reconnect
      coordinator = await startCoordinatorProcess({ home, port, env });
      phase("restart");
      await pollUntil(
        "every open job to complete or be refunded",
        async () => ((await Promise.all(requesters.map(async (c) => (await c.balance()).held))).every((h) => h === "0") ? true : undefined),
        40_000,
        200,
      );
      phase("recovery");
      // the recovered network serves: a new job completes, a new requester's deposit is credited
      // (the chain faucet runs a watcher pass before it answers, so everything on chain is read)
      const after = await requesters[0]!.ask({
        model: MODEL,
        messages: [{ role: "user", content: "after the crash" }],
        maxTokens: 16,
        tiers: ["dev"],
      });
      const probe = new CocoonClient({ apiUrl: coordinator.url, key: generateSigningKey(), allowDev: true });
      const probed = await probe.faucet(TON);
      await Promise.all(agents.map((a) => a.stop()));
      agents = [];
      await coordinator.stop();
      phase("serve+stop");

      // Assess 2: every invariant, against the chain the coordinator saved
      const recovered = await checkInvariants(dataDir, { settled: true });
      phase("check");
      expect(recovered.violations).toEqual([]);
      expect(after.text.length).toBeGreaterThan(0);
      expect(probed.available).toBe(TON.toString());
      expect(recovered.requesters).toBe(5);
      expect(recovered.jobs.completed + recovered.jobs.refunded).toBeGreaterThanOrEqual(done.job + 1);
      console.log(
        `crash test: ${Date.now() - t0} ms (${phases.join(", ")}); killed with ${JSON.stringify(atKill)} in flight after ${JSON.stringify(done)}; ` +
          `at the crash ${crashed.jobs.open} jobs open, ${crashed.pendingWithdrawals} withdrawals pending, ${crashed.unread} vault txs unread; ` +
          `after recovery ${recovered.jobs.completed} completed, ${recovered.jobs.refunded} refunded, ${recovered.pendingWithdrawals} withdrawals pending (not expired)`,
      );
    } catch (e) {
      if (coordinator) console.error(`coordinator output:\n${coordinator.output()}`);
      throw e;
    } finally {
      await Promise.all(agents.map((a) => a.stop()));
      await coordinator?.kill9();
    }
  }, 90_000);
});
