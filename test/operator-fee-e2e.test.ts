/**
 * The operator fee end to end in the local default, with the registry's first policy taking
 * 5 %: real HTTP, the LMDB store, the sandbox with the vault, the anchor and the registry, a
 * dev agent and the CLIs. The requester is charged the job's cost; the worker earns, is
 * vouchered and is paid on chain cost − fee; the operator's account holds the fee, which the
 * vault still backs (no undercollateral alert); the receipt still proves against the anchor.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Address } from "@ton/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main as agentCli } from "../agent/cli";
import type { RunningAgent } from "../agent/runtime";
import { loadOrCreateKey } from "../api-client/keys";
import { main as requesterCli } from "../client/cli";
import { CocoonClient } from "../client/sdk";
import { getBalance, OPERATOR_ACCOUNT, requesterAccount, workerAccount } from "../core/ledger";
import { startLocalAgents } from "../local/agents";
import { startNetwork, type LocalNetwork } from "../local/network";
import { MODEL } from "./helpers";

const FEE_BPS = 500;

/** Runs a CLI's main() in-process and captures what it prints. */
async function cli(run: (argv: string[], out?: any, err?: any) => Promise<number>, argv: string[]) {
  let out = "";
  let err = "";
  const sink = (f: (s: string) => void) => ({ write: (s: string) => (f(s), true) }) as unknown as NodeJS.WriteStream;
  const code = await run(
    argv,
    sink((s) => (out += s)),
    sink((s) => (err += s)),
  );
  return { code, out, err, json: code === 0 && out.trim().startsWith("{") ? JSON.parse(out) : undefined };
}

describe("operator fee (local default, registry fee 5 %)", () => {
  let net: LocalNetwork;
  let agent: RunningAgent;
  let home: string;

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), "cocoon-opfee-"));
    net = await startNetwork({ anchoring: { tickMs: 200, intervalSeconds: 1 }, policyRegistry: { operatorFeeBps: FEE_BPS } });
    [agent] = (await startLocalAgents(net.url, home, [{ name: "a", priceBps: 10_000 }])) as [RunningAgent];
  }, 60_000);
  afterAll(async () => {
    await agent?.stop();
    await net?.stop();
  });

  it("the requester pays the cost, the worker is paid on chain cost − fee, the operator holds the fee, the receipt proves", async () => {
    // Prepare: the registry's policy names the fee; a requester with play money
    expect((await cli(requesterCli, ["policy", "show", "--api", net.url])).out).toContain("operator 5 %");
    const keyFile = join(home, "requester.key");
    const key = loadOrCreateKey(keyFile);
    const client = new CocoonClient({ apiUrl: net.url, key, allowDev: true });
    await client.faucet(2_000_000_000n);
    const before = await getBalance(net.store, requesterAccount(key.id));
    const owed0 = await net.chainLedger.liabilities();

    // Act: a job, then the worker cashes its earnings
    const r = await client.ask({
      model: MODEL,
      messages: [{ role: "user", content: "who keeps the fee?" }],
      maxTokens: 16,
      tiers: ["dev"],
    });
    const red = await cli(agentCli, ["redeem", "--key", join(home, "a.key"), "--api", net.url, "--json"]);
    const proof = await cli(requesterCli, ["receipts", "verify", r.jobId, "--api", net.url, "--key", keyFile, "--wait", "60", "--json"]);

    // Assess
    const cost = BigInt(r.cost);
    const fee = (cost * BigInt(FEE_BPS)) / 10_000n;
    expect(fee).toBeGreaterThan(0n);
    expect((await getBalance(net.store, requesterAccount(key.id))).available).toBe(before.available - cost);
    expect(red.code, red.err).toBe(0);
    expect(red.json).toMatchObject({ paid: (cost - fee).toString() });
    expect(red.json.status).toMatchObject({ earned: (cost - fee).toString(), redeemed: (cost - fee).toString() });
    expect(await net.chain!.paid(Address.parse(red.json.voucher.worker))).toBe(cost - fee);
    expect((await getBalance(net.store, workerAccount(agent.workerId))).available).toBe(0n);
    expect((await getBalance(net.store, OPERATOR_ACCOUNT)).available).toBe(fee);
    // the agent's own count of what it earned is its share, not the requester's cost
    expect(agent.metrics.status.total.earned).toBe((cost - fee).toString());
    // what the vault owes still covers the operator's fee (it is never paid out yet), and nothing is flagged
    await net.runWatcherOnce();
    expect(await net.chainLedger.liabilities()).toBe(owed0 - (cost - fee));
    expect(net.chainAlerts.map((a) => a.key)).not.toContain("chain.undercollateral");
    expect(proof.code, proof.err).toBe(0);
    expect(proof.json).toMatchObject({ jobId: r.jobId, verified: true });
  }, 120_000);
});
