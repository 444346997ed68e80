/**
 * The operator fee end to end in the local default, with the registry's first policy taking
 * 5 %: real HTTP, the LMDB store, the sandbox with the vault, the anchor and the registry, a
 * dev agent and the CLIs. The requester is charged the job's cost; the worker earns, is
 * vouchered and is paid on chain cost − fee; the operator's account holds the fee, which the
 * vault still backs (no undercollateral alert); the receipt still proves against the anchor.
 * Then the operator, named by its key (COCOON_OPERATOR_KEY), is paid the fee through a voucher
 * of its own at the same vault (POST /v1/operator/voucher), which the watcher books.
 */
import { join } from "node:path";
import { Address } from "@ton/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { main as agentCli } from "../agent/cli";
import type { RunningAgent } from "../agent/runtime";
import { ApiClient, ApiError } from "../api-client/api";
import { loadOrCreateKey } from "../api-client/keys";
import { API } from "../api-client/routes";
import { main as requesterCli } from "../client/cli";
import { CocoonClient } from "../client/sdk";
import { generateSigningKey, type SigningKeyPair } from "../core/crypto/keys";
import { getBalance, operatorFeeAccount, operatorFeesEarned, requesterAccount, workerAccount } from "../core/ledger";
import { OPERATOR_VOUCHER_ACCOUNT } from "../core/payouts";
import { startLocalAgents } from "../local/agents";
import { startNetwork, type LocalNetwork } from "../local/network";
import { MODEL } from "./helpers";
import { runCli } from "../api-client/cli-testing";

const FEE_BPS = 500;

describe("operator fee (local default, registry fee 5 %)", () => {
  let net: LocalNetwork;
  let agent: RunningAgent;
  let home: string;
  let operatorKey: SigningKeyPair;
  /** the fee the first test's job paid the operator */
  let fee = 0n;

  beforeAll(async () => {
    home = tempDir("cocoon-opfee-");
    operatorKey = generateSigningKey();
    net = await startNetwork({
      anchoring: { tickMs: 200, intervalSeconds: 1 },
      policyRegistry: { operatorFeeBps: FEE_BPS },
      operatorKey: Buffer.from(operatorKey.publicKey).toString("hex"),
    });
    [agent] = (await startLocalAgents(net.url, home, [{ name: "a", priceBps: 10_000 }])) as [RunningAgent];
  }, 60_000);
  afterAll(async () => {
    await agent?.stop();
    await net?.stop();
  });

  /** The refusal a request ends in (ApiError), or fails the test. */
  async function refusal(p: Promise<unknown>): Promise<ApiError> {
    const e = await p.then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(ApiError);
    return e as ApiError;
  }

  it("before any job the operator has no fees to be paid: 409 nothing_earned", async () => {
    const op = new ApiClient(net.url, operatorKey);
    const { address } = await op.request(API.devWallet);
    const e = await refusal(op.request(API.issueOperatorVoucher, { body: { payoutAddress: address } }));
    expect(e).toMatchObject({ status: 409, code: "nothing_earned" });
  });

  it("the requester pays the cost, the worker is paid on chain cost − fee, the operator holds the fee, the receipt proves", async () => {
    // Prepare: the registry's policy names the fee; a requester with play money
    expect((await runCli(requesterCli, ["policy", "show", "--api", net.url])).out).toContain("operator 5 %");
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
    const red = await runCli(agentCli, ["redeem", "--key", join(home, "a.key"), "--api", net.url, "--json"]);
    const proof = await runCli(requesterCli, ["receipts", "verify", r.jobId, "--api", net.url, "--key", keyFile, "--wait", "60", "--json"]);

    // Assess
    const cost = BigInt(r.cost);
    fee = (cost * BigInt(FEE_BPS)) / 10_000n;
    expect(fee).toBeGreaterThan(0n);
    expect((await getBalance(net.store, requesterAccount(key.id))).available).toBe(before.available - cost);
    expect(red.code, red.err).toBe(0);
    expect(red.json).toMatchObject({ paid: (cost - fee).toString() });
    expect(red.json.status).toMatchObject({ earned: (cost - fee).toString(), redeemed: (cost - fee).toString() });
    expect(await net.chain!.paid(BigInt("0x" + red.json.voucher.payee))).toBe(cost - fee);
    expect((await getBalance(net.store, workerAccount(agent.workerId))).available).toBe(0n);
    expect((await getBalance(net.store, operatorFeeAccount(agent.workerId))).available).toBe(fee); // the worker's fee shard
    expect(await operatorFeesEarned(net.store)).toBe(fee);
    // the agent's own count of what it earned is its share, not the requester's cost
    expect(agent.metrics.status.total.earned).toBe((cost - fee).toString());
    // what the vault owes still covers the operator's fee (it is never paid out yet), and nothing is flagged
    await net.runWatcherOnce();
    expect(await net.chainLedger.liabilities()).toBe(owed0 - (cost - fee));
    expect(net.chainAlerts.map((a) => a.key)).not.toContain("chain.undercollateral");
    expect(proof.code, proof.err).toBe(0);
    expect(proof.json).toMatchObject({ jobId: r.jobId, verified: true });
  }, 120_000);

  it("the operator is paid its fees through a voucher at the vault, once; the watcher books it; any other key is refused", async () => {
    // Prepare: the fee of the job above sits in the operator's fee shards
    expect(fee).toBeGreaterThan(0n);
    expect(await operatorFeesEarned(net.store)).toBe(fee);
    const op = new ApiClient(net.url, operatorKey);
    const { address } = await op.request(API.devWallet);
    const worker = new ApiClient(net.url, loadOrCreateKey(join(home, "a.key")));
    const stranger = new ApiClient(net.url, generateSigningKey());
    await net.runWatcherOnce();
    const owed0 = await net.chainLedger.liabilities();

    // Act: other keys ask first, then the operator asks, redeems, and replays both
    const byWorker = await refusal(worker.request(API.issueOperatorVoucher, { body: { payoutAddress: address } }));
    const byStranger = await refusal(stranger.request(API.issueOperatorVoucher, { body: { payoutAddress: address } }));
    const feesAfterRefusals = await operatorFeesEarned(net.store);
    const voucher = await op.request(API.issueOperatorVoucher, { body: { payoutAddress: address } });
    const sent = await op.request(API.devRedeem, { body: { voucher } });
    await net.runWatcherOnce();
    const again = await op.request(API.issueOperatorVoucher, { body: { payoutAddress: address } });
    const replay = await op.request(API.devRedeem, { body: { voucher: again } }).then(
      (x) => x.paid,
      (e: unknown) => (e instanceof ApiError ? e.code : e),
    );
    await net.runWatcherOnce();

    // Assess
    expect(byWorker).toMatchObject({ status: 403, code: "not_the_operator" });
    expect(byStranger).toMatchObject({ status: 403, code: "not_the_operator" });
    expect(feesAfterRefusals).toBe(fee);
    expect(voucher).toMatchObject({ worker: Address.parse(address).toRawString(), cumulative: fee.toString() });
    expect(sent.paid).toBe(fee.toString());
    expect(again.cumulative).toBe(fee.toString());
    expect(replay).toBe("redeem_rejected"); // the vault already paid this cumulative: nothing is paid twice
    expect(await net.chain!.paid(BigInt("0x" + voucher.payee))).toBe(fee);
    expect(await operatorFeesEarned(net.store)).toBe(0n);
    expect((await getBalance(net.store, OPERATOR_VOUCHER_ACCOUNT)).available).toBe(0n);
    expect(await net.chainLedger.balance("ext:unmatched")).toEqual({ available: 0n, held: 0n });
    expect(await net.chainLedger.liabilities()).toBe(owed0 - fee);
    expect(net.chainAlerts.map((a) => a.key).filter((k) => k.startsWith("chain.unmatched-outflow"))).toEqual([]);
    expect(net.chainAlerts.map((a) => a.key)).not.toContain("chain.undercollateral");
  }, 120_000);
});
