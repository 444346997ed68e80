/**
 * Money on TON, end to end in the local default: real HTTP on 127.0.0.1, the @ton/sandbox vault
 * inside the coordinator process, the chain watcher on its timer, the CLIs' own code paths.
 *   deposit (cocoon deposit) → ask (CocoonClient, dev attestation) → worker earns →
 *   voucher + redeem (cocoon-agent redeem) → balances agree on chain and in the ledger to the nanoTON.
 * The tests share the network only: each makes its own requester and its own agent (stopped at
 * its end) and measures the chain and the ledger from where it found them, so each runs alone and
 * in any order (issue 14: npm run test:isolation).
 */
import { payeeUint } from "../core/chain/payee";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { Address, type Transaction } from "@ton/core";
import { DEPOSIT_FEE, OPCODES } from "../contracts/vault";
import { REDEEM_GAS } from "../functions/adapters/ton-chain";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { main as agentCli } from "../agent/cli";
import { main as requesterCli } from "../client/cli";
import { loadOrCreateKey } from "../api-client/keys";
import { CocoonClient } from "../client/sdk";
import { generateSigningKey } from "../core/crypto/keys";
import { CHAIN_ACCOUNT } from "../core/chain/store-ledger";
import { getBalance, requesterAccount, workerAccount } from "../core/ledger";
import { voucherAccount } from "../core/payouts";
import { startLocalAgents } from "../local/agents";
import { startNetwork, type LocalNetwork } from "../local/network";
import { MODEL, signedFetch } from "./helpers";
import { runCli } from "../api-client/cli-testing";

const TON = 1_000_000_000n;

/**
 * What deposits cost the vault's own balance (the owner's reserve) in its transactions after
 * `afterLt`, read from the transactions themselves: a deposit is two vault transactions (the
 * Deposit routed to the account's wallet, then the wallet's confirmation credited with the log),
 * and each moves the balance by what came in, minus what went out with its forward fee, minus
 * its fees. The cost is what the deposited value lost on the way.
 */
function depositCostSince(net: LocalNetwork, afterLt: bigint, deposited: bigint) {
  const chain = net.chain!;
  const vaultHash = BigInt("0x" + chain.vaultAddress.hash.toString("hex"));
  const txs = (chain.blockchain as unknown as { transactions: Transaction[] }).transactions;
  let delta = 0n;
  for (const t of txs) {
    if (t.address !== vaultHash || t.lt <= afterLt || t.inMessage?.info.type !== "internal") continue;
    const s = t.inMessage.body.beginParse();
    const op = s.remainingBits >= 32 ? s.preloadUint(32) : -1;
    if (op !== OPCODES.deposit && op !== OPCODES.accountCredited) continue;
    delta += t.inMessage.info.value.coins - t.totalFees.coins;
    for (const m of t.outMessages.values()) if (m.info.type === "internal") delta -= m.info.value.coins + m.info.forwardFee;
  }
  return deposited - delta;
}

describe("money on TON in the local default (sandbox vault, chain watcher, real HTTP)", () => {
  const dataDir = tempDir("cocoon-money-");
  const home = tempDir("cocoon-money-home-");
  // The sandbox clock is pinned: no storage fees accrue between transactions, so the vault's
  // balance moves by exactly what the money flow explains.
  const chainNow = Math.floor(Date.now() / 1000);
  const logs: string[] = [];
  let net: LocalNetwork;
  const startShared = () => startNetwork({ dataDir, logSink: (l) => logs.push(l), chain: { now: chainNow }, watcherIntervalMs: 100 });

  beforeAll(async () => {
    net = await startShared();
  });
  afterAll(async () => {
    await net?.stop();
  });

  /** Factory: a requester of this test's own (a fresh key file). */
  const newRequester = () => {
    const keyFile = join(mkdtempSync(join(home, "requester-")), "requester.key");
    return { keyFile, key: loadOrCreateKey(keyFile) };
  };

  /** Factory: a dev agent of this test's own; the test stops it (it then leaves the candidate lists at once). */
  const newAgent = async (name = "agent") => {
    const agentHome = mkdtempSync(join(home, "agent-"));
    const [agent] = await startLocalAgents(net.url, agentHome, [{ name, priceBps: 10_000 }]);
    return { agent: agent!, keyFile: join(agentHome, `${name}.key`) };
  };

  /** What the test's requester pays in (two `cocoon deposit`s) and is credited. */
  const PAID_IN = 5n * TON + TON / 4n;
  const DEPOSITS = PAID_IN - 2n * DEPOSIT_FEE;

  /** Prepare: a requester who deposited, asked once, and an agent that was paid for it (`cocoon-agent redeem`). */
  async function cashedWorker() {
    const requester = newRequester();
    const { agent, keyFile } = await newAgent();
    const common = ["--api", net.url, "--json"];
    for (const amount of ["5", "0.25"])
      expect((await runCli(requesterCli, ["deposit", amount, "--key", requester.keyFile, ...common])).code).toBe(0);
    const client = new CocoonClient({ apiUrl: net.url, key: requester.key, allowDev: true });
    const r = await client.ask({ model: MODEL, messages: [{ role: "user", content: "pay me" }], maxTokens: 16, tiers: ["dev"] });
    expect(r.workerId).toBe(agent.workerId);
    const red = await runCli(agentCli, ["redeem", "--key", keyFile, ...common]);
    expect([red.code, red.json?.paid]).toEqual([0, r.cost]);
    return { requester, agent, agentKeyFile: keyFile, cost: BigInt(r.cost) };
  }

  it("deposit → ask → earn → voucher → redeem: ledger and chain agree to the nanoTON, and every pass after that changes nothing", async () => {
    // Prepare: an account and an agent of our own; the chain and the ledger as we find them
    const chain = net.chain!;
    const { keyFile: requesterKeyFile, key: requester } = newRequester();
    const { agent, keyFile: agentKeyFile } = await newAgent();
    await net.runWatcherOnce(); // whatever earlier tests left is read: the re-read below starts here
    const startCursor = await net.chainLedger.getCursor();
    const startLt = BigInt(startCursor?.lt ?? "0");
    const vault0 = await chain.vaultBalance();
    const owed0 = await net.chainLedger.liabilities();
    const mirror0 = (await getBalance(net.store, CHAIN_ACCOUNT)).available;
    const common = ["--api", net.url, "--json"];
    try {
      // Act 1: two deposits through `cocoon deposit` (sandbox test wallet → vault → watcher → ledger)
      const d1 = await runCli(requesterCli, ["deposit", "5", "--key", requesterKeyFile, ...common]);
      const d2 = await runCli(requesterCli, ["deposit", "0.25", "--key", requesterKeyFile, ...common]);
      const paidIn = 5n * TON + TON / 4n;
      // the vault keeps its fixed deposit fee of each: the account is credited the rest
      const deposits = paidIn - 2n * DEPOSIT_FEE;

      // Assess 1
      expect(d1.err).toBe("");
      expect(d1.code).toBe(0);
      expect(d2.code).toBe(0);
      expect(d1.json.txHash).toMatch(/^[0-9a-f]{64}$/);
      expect(d1.json).toMatchObject({
        amount: (5n * TON).toString(),
        credited: (5n * TON - DEPOSIT_FEE).toString(),
        available: (5n * TON - DEPOSIT_FEE).toString(),
      });
      expect(d2.json).toMatchObject({
        amount: (TON / 4n).toString(),
        credited: (TON / 4n - DEPOSIT_FEE).toString(),
        available: deposits.toString(),
      });
      expect(await chain.accountBalance(requester.id)).toBe(deposits);

      // Act 2: ask; the one worker earns the job's cost
      const client = new CocoonClient({ apiUrl: net.url, key: requester, allowDev: true });
      const r = await client.ask({
        model: MODEL,
        messages: [{ role: "user", content: "What does a vault do?" }],
        maxTokens: 48,
        tiers: ["dev"],
      });
      const cost = BigInt(r.cost);
      expect(cost).toBeGreaterThan(0n);
      expect(r.workerId).toBe(agent.workerId);

      // Act 3: `cocoon-agent redeem`: voucher for the cumulative earnings, Redeem from the worker's sandbox wallet
      const red = await runCli(agentCli, ["redeem", "--key", agentKeyFile, ...common]);

      // Assess 3: one job's earnings are far below a Redeem's network fees, which the CLI says (and nothing else)
      expect(
        red.err
          .trim()
          .split("\n")
          .map((l) => (JSON.parse(l) as { warning: { code: string } }).warning.code),
      ).toEqual(["redeem_below_fee"]);
      expect(red.json.feeWarning).toMatchObject({ code: "redeem_below_fee", due: cost.toString(), first: true }); // the vault paid the whole cumulative: a first Redeem
      expect(red.code).toBe(0);
      const workerAddress = Address.parse(red.json.voucher.worker);
      expect(red.json.paid).toBe(cost.toString());
      expect(red.json.voucher.cumulative).toBe(cost.toString());
      expect(red.json.status.earned).toBe(cost.toString());
      expect(red.json.status.redeemed).toBe(cost.toString());

      // requester: deposits − cost, nothing held
      const req = await getBalance(net.store, requesterAccount(requester.id));
      expect(req.available).toBe(deposits - cost);
      expect(req.held).toBe(0n);
      // worker: the vault paid exactly what the ledger says it earned; nothing left owed
      const workerId = agent.workerId;
      expect(workerAddress.toRawString()).toBe(Address.parse(red.json.voucher.worker).toRawString());
      expect(await chain.paid(payeeUint(workerId))).toBe(cost);
      expect((await getBalance(net.store, workerAccount(workerId))).available).toBe(0n);
      expect((await getBalance(net.store, voucherAccount(workerId))).available).toBe(0n);
      // chain: the vault holds what was paid in − payouts more than before, less its own gas on
      // deposits, which the deposit fees it kept pay for (contracts/README.md): the owner's
      // reserve (what the vault holds beyond what it owes) grew
      const depositGas = depositCostSince(net, startLt, paidIn);
      expect(depositGas).toBeGreaterThan(0n);
      expect(depositGas).toBeLessThan(2n * DEPOSIT_FEE);
      expect((await chain.vaultBalance()) - vault0).toBe(paidIn - cost - depositGas);
      expect((await chain.vaultBalance()) - vault0 - (deposits - cost)).toBe(2n * DEPOSIT_FEE - depositGas);
      // the ledger's mirror of the vault, and what it owes
      expect((await getBalance(net.store, CHAIN_ACCOUNT)).available).toBe(mirror0 - (deposits - cost));
      expect(await net.chainLedger.liabilities()).toBe(owed0 + deposits - cost);
      // agent status reads the same from GET /v1/agents/me
      const st = await runCli(agentCli, ["status", "--key", agentKeyFile, ...common]);
      expect(st.json).toMatchObject({ workerId, jobs: 1, earned: cost.toString(), redeemed: cost.toString() });
      expect(st.json.completionTokens).toBe(r.usage.completionTokens);
      expect(net.chainAlerts.map((a) => a.key)).not.toContain("chain.undercollateral");

      // Act 4: the watcher runs twice more, then re-reads this test's history again
      const again = await net.runWatcherOnce();
      if (startCursor) await net.chainLedger.setCursor(startCursor, Date.now());
      else await net.store.transact([{ op: "delete", table: "chain", key: { pk: "cursor", sk: "cursor" } }]);
      const reread = await net.runWatcherOnce();

      // Assess 4: nothing new, everything seen again is a duplicate, no balance moved
      expect(again.deposits + again.redemptions).toBe(0);
      expect(reread.deposits).toBe(0);
      expect(reread.redemptions).toBe(0);
      expect(reread.duplicates).toBe(3); // two deposits + one redemption
      expect((await getBalance(net.store, requesterAccount(requester.id))).available).toBe(deposits - cost);
      expect(await net.chainLedger.liabilities()).toBe(owed0 + deposits - cost);
    } finally {
      await agent.stop();
    }
  });

  it("a replayed voucher pays 0 and changes nothing, on chain or in the ledger", async () => {
    // Prepare: the voucher the worker already cashed
    const chain = net.chain!;
    const { agent, agentKeyFile } = await cashedWorker();
    const key = loadOrCreateKey(agentKeyFile);
    try {
      const wallet = await signedFetch(net.url, key, "GET", "/v1/dev/wallet");
      const voucher = await signedFetch(net.url, key, "POST", "/v1/agents/voucher", { payoutAddress: wallet.json.address });
      const paid0 = await chain.paid(BigInt("0x" + voucher.json.payee));
      const vault0 = await chain.vaultBalance();
      const owed0 = await net.chainLedger.liabilities();
      const status0 = await signedFetch(net.url, key, "GET", "/v1/agents/me");

      // Act
      const replay = await signedFetch(net.url, key, "POST", "/v1/dev/wallet/redeem", { voucher: voucher.json });
      const pass = await net.runWatcherOnce();

      // Assess
      expect(voucher.status).toBe(200);
      expect(voucher.json.cumulative).toBe(paid0.toString()); // re-issued: nothing earned since
      expect(replay.status).toBe(409);
      expect(replay.json.error.code).toBe("redeem_rejected");
      expect(replay.json.error.details.exit).toBe("ERR_NOTHING_TO_PAY");
      expect(await chain.paid(BigInt("0x" + voucher.json.payee))).toBe(paid0);
      // nothing paid out; the payout wallet's refusal bounced to the vault, which keeps the rest of
      // the sender's gas (a bounce does not say who sent the Redeem)
      const kept = (await chain.vaultBalance()) - vault0;
      expect(kept >= 0n && kept < REDEEM_GAS).toBe(true);
      expect(pass.redemptions).toBe(0);
      // the watcher saw the refused Redeem (on its timer or in this pass) and reported it, once
      const seen = net.chainAlerts.filter((a) => a.details.txHash === replay.json.error.details.txHash);
      expect(seen.map((a) => a.key)).toEqual(["chain.bounce:redeem"]);
      expect(await net.chainLedger.liabilities()).toBe(owed0);
      expect((await signedFetch(net.url, key, "GET", "/v1/agents/me")).json).toEqual(status0.json);
    } finally {
      await agent.stop();
    }
  });

  it("payout requests that cannot be honoured are refused with their precise codes", async () => {
    // Prepare: a worker whose vouchers are paid to its own wallet, one that earned nothing, a stranger
    const { agent, agentKeyFile } = await cashedWorker();
    const worker = loadOrCreateKey(agentKeyFile);
    const stranger = generateSigningKey();
    const idle = await startLocalAgents(net.url, tempDir("cocoon-idle-"), [{ name: "idle", priceBps: 50_000 }]);
    const other = await chain_wallet(net, "someone-else");
    try {
      // Act
      const notWorker = await signedFetch(net.url, stranger, "POST", "/v1/agents/voucher", { payoutAddress: other });
      const badAddress = await signedFetch(net.url, worker, "POST", "/v1/agents/voucher", { payoutAddress: "not-an-address" });
      const otherAddress = await signedFetch(net.url, worker, "POST", "/v1/agents/voucher", { payoutAddress: other });
      const nothing = await signedFetch(net.url, idle[0]!.api.key, "POST", "/v1/agents/voucher", { payoutAddress: other });
      const tooSmall = await signedFetch(net.url, stranger, "POST", "/v1/dev/wallet/deposit", { amount: "1000" });
      const noVoucherFields = await signedFetch(net.url, worker, "POST", "/v1/dev/wallet/redeem", { voucher: { vault: "x" } });

      // Assess
      expect([notWorker.status, notWorker.json.error.code]).toEqual([403, "not_a_worker"]);
      expect([badAddress.status, badAddress.json.error.code]).toEqual([400, "invalid_payout_address"]);
      expect([otherAddress.status, otherAddress.json.error.code]).toEqual([409, "payout_address_mismatch"]);
      expect([nothing.status, nothing.json.error.code]).toEqual([409, "nothing_earned"]);
      expect([tooSmall.status, tooSmall.json.error.code]).toEqual([400, "invalid_amount"]);
      // in TON too, the unit the CLI takes (cocoon deposit 0.05)
      expect(tooSmall.json.error.message).toContain("(0.1 TON, the vault's minimum deposit)");
      expect(tooSmall.json.error.message).toContain("got 1000 (0.000001 TON)");
      expect([noVoucherFields.status, noVoucherFields.json.error.code]).toEqual([400, "invalid_request"]);
    } finally {
      await Promise.all([...idle, agent].map((a) => a.stop()));
    }
  });

  it("after a restart the same vault comes back and the watcher, reading every transaction again, credits nothing twice", async () => {
    // Prepare: deposits and a redemption in the history; forget the cursor so the restarted
    // watcher re-reads the vault's whole history
    const { requester, agent } = await cashedWorker();
    await agent.stop();
    await net.runWatcherOnce();
    const vault = net.chain!.vaultAddress.toRawString();
    const before = await getBalance(net.store, requesterAccount(requester.key.id));
    const owed = await net.chainLedger.liabilities();
    await net.store.transact([{ op: "delete", table: "chain", key: { pk: "cursor", sk: "cursor" } }]);
    await net.stop();

    // Act
    net = await startNetwork({ dataDir, logSink: (l) => logs.push(l), chain: { now: chainNow }, watcherIntervalMs: 0 });
    const pass = await net.runWatcherOnce();

    // Assess
    expect(net.chain!.restored).toBe(true);
    expect(net.chain!.vaultAddress.toRawString()).toBe(vault);
    expect(pass.processed).toBeGreaterThanOrEqual(3);
    expect(pass.deposits).toBe(0);
    expect(pass.redemptions).toBe(0);
    expect(await getBalance(net.store, requesterAccount(requester.key.id))).toEqual(before);
    expect(await net.chainLedger.liabilities()).toBe(owed);
    expect(await net.chain!.accountBalance(requester.key.id)).toBe(DEPOSITS);
    // the other tests get the network as beforeAll made it (the watcher on its timer)
    await net.stop();
    net = await startShared();
  });

  it("without the local sandbox the dev wallet routes refuse with 403 dev_chain_disabled and payouts with 503", async () => {
    // Prepare
    const bare = await startNetwork({ chain: false });
    const key = generateSigningKey();
    const workers = await startLocalAgents(bare.url, tempDir("cocoon-bare-"), [{ name: "w", priceBps: 10_000 }]);
    try {
      // Act
      const dep = await signedFetch(bare.url, key, "POST", "/v1/dev/wallet/deposit", { amount: TON.toString() });
      const wal = await signedFetch(bare.url, key, "GET", "/v1/dev/wallet");
      const voucher = await signedFetch(bare.url, key, "POST", "/v1/agents/voucher", { payoutAddress: "0:" + "0".repeat(64) });
      // Assess
      expect([dep.status, dep.json.error.code]).toEqual([403, "dev_chain_disabled"]);
      expect([wal.status, wal.json.error.code]).toEqual([403, "dev_chain_disabled"]);
      expect([voucher.status, voucher.json.error.code]).toEqual([403, "not_a_worker"]); // checked before the signer
      const noSigner = await signedFetch(bare.url, workers[0]!.api.key, "POST", "/v1/agents/voucher", {
        payoutAddress: "0:" + "0".repeat(64),
      });
      expect([noSigner.status, noSigner.json.error.code]).toEqual([503, "payouts_unavailable"]);
      expect(() => bare.runWatcherOnce()).toThrow(/without the TON sandbox/);
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
      await bare.stop();
    }
  });
});

async function chain_wallet(net: LocalNetwork, name: string) {
  return (await net.chain!.wallet(name)).address.toRawString();
}
