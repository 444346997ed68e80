/**
 * Requester withdrawals end to end in the local default: real HTTP on 127.0.0.1, the @ton/sandbox
 * vault inside the coordinator process, the chain watcher on its timer, the CLI's own code path.
 *   deposit (cocoon deposit) → withdraw part (cocoon withdraw) → the sandbox wallet is paid →
 *   the watcher moves the reservation out of the ledger; ledger, liabilities and vault agree.
 * The tests share the network only: each makes its own account (seqnos from 0) and measures the
 * ledger's mirror of the vault and its liabilities from where it found them, so each runs alone
 * and in any order (issue 14: npm run test:isolation); the one that moves the clocks has a
 * network of its own.
 */
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { Address, fromNano } from "@ton/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { main as requesterCli } from "../client/cli";
import { ApiError } from "../api-client/api";
import { loadOrCreateKey } from "../api-client/keys";
import { CocoonClient } from "../client/sdk";
import { generateSigningKey, type SigningKeyPair } from "../core/crypto/keys";
import { CHAIN_ACCOUNT, pendingWithdrawalAccount } from "../core/chain/store-ledger";
import { getBalance, requesterAccount } from "../core/ledger";
import { DEFAULT_RELEASE_GRACE_SECONDS } from "../core/withdrawals";
import type { RunningAgent } from "../agent/runtime";
import { startLocalAgents } from "../local/agents";
import { startNetwork, type LocalNetwork } from "../local/network";
import { WITHDRAW_GAS } from "../functions/adapters/ton-chain";
import { tonWithdrawalSigner, withdrawalFromJson } from "../functions/adapters/ton-withdrawal-signer";
import { DEPOSIT_FEE, withdrawalHash } from "../contracts/vault";
import { keyPairFromSeed, signVerify } from "@ton/crypto";
import { MODEL, signedFetch } from "./helpers";
import { runCli } from "../api-client/cli-testing";

const TON = 1_000_000_000n;
/** `cocoon deposit` argument that credits `credited` nanoTON: the vault keeps its deposit fee of what is paid in */
const paying = (credited: bigint) => fromNano(credited + DEPOSIT_FEE);

/** Runs the CLI's main() in-process and captures what it prints. */
const cli = (argv: string[]) => runCli(requesterCli, argv);

/** The CLI run that must succeed: a failure shows what the CLI printed. */
async function cliOk(argv: string[]) {
  const r = await cli(argv);
  expect(r.code, `cocoon ${argv.join(" ")}: ${r.err}`).toBe(0);
  return r;
}

describe("requester withdrawals in the local default (sandbox vault, chain watcher, real HTTP)", () => {
  const dataDir = tempDir("cocoon-wd-");
  const home = tempDir("cocoon-wd-home-");
  // pinned sandbox clock: no storage fees, so the vault's balance moves by exactly the payouts
  const chainNow = Math.floor(Date.now() / 1000);
  let net: LocalNetwork;
  let agents: RunningAgent[];

  /**
   * Factory: an account of the test's own on network `on`, with its CLI arguments, a signed POST
   * and its ledger view. `chain` (the ledger's mirror of the vault) and `liabilities` are
   * measured from when the account was made: only the test's own money moves them.
   */
  async function newAccount(on: LocalNetwork = net) {
    const keyFile = join(mkdtempSync(join(home, "requester-")), "requester.key");
    const requester: SigningKeyPair = loadOrCreateKey(keyFile);
    await on.runWatcherOnce(); // what earlier tests sent is booked before the baseline
    const base = { chain: (await getBalance(on.store, CHAIN_ACCOUNT)).available, liabilities: await on.chainLedger.liabilities() };
    let keys = 0;
    return {
      requester,
      keyFile,
      common: () => ["--api", on.url, "--key", keyFile, "--json"],
      ledger: async () => ({
        available: (await getBalance(on.store, requesterAccount(requester.id))).available,
        held: (await getBalance(on.store, requesterAccount(requester.id))).held,
        pending: (await getBalance(on.store, pendingWithdrawalAccount(requester.id))).available,
        chain: (await getBalance(on.store, CHAIN_ACCOUNT)).available - base.chain,
        liabilities: (await on.chainLedger.liabilities()) - base.liabilities,
      }),
      post: (path: string, body: unknown, o: { now?: number; key?: string } = {}) =>
        signedFetch(on.url, requester, "POST", path, body, {
          ...o,
          headers: { "idempotency-key": o.key ?? `test-key-${++keys}-${Date.now()}` },
        }),
    };
  }

  beforeAll(async () => {
    net = await startNetwork({ dataDir, chain: { now: chainNow }, watcherIntervalMs: 100 });
    agents = await startLocalAgents(net.url, home, [{ name: "agent-0", priceBps: 10_000 }]);
  });
  afterAll(async () => {
    await Promise.all((agents ?? []).map((a) => a.stop()));
    await net?.stop();
  });

  it("deposit → cocoon withdraw: the wallet is paid on chain, available drops by exactly the amount, ledger and vault agree", async () => {
    // Prepare
    const chain = net.chain!;
    const { requester, common, ledger } = await newAccount();
    const dep = await cli(["deposit", paying(5n * TON), ...common()]);
    expect(dep.code).toBe(0);
    expect(dep.json).toMatchObject({ amount: (5n * TON + DEPOSIT_FEE).toString(), credited: (5n * TON).toString() });
    const wallet = await chain.wallet(`wallet:${requester.id}`);
    const wallet0 = await chain.walletBalance(wallet.address);
    const vault0 = await chain.vaultBalance();
    const before = await ledger();

    // Act
    const w = await cli(["withdraw", "2", ...common()]);

    // Assess
    expect(w.err).toBe("");
    expect(w.code).toBe(0);
    expect(w.json).toMatchObject({ sent: true, status: "landed", available: (3n * TON).toString() });
    expect(w.json.withdrawal).toMatchObject({
      account: requester.id,
      to: wallet.address.toRawString(),
      amount: (2n * TON).toString(),
      seqno: 0,
    });
    // chain: the vault paid exactly 2 TON (send mode 64: the gas the sender attached travels back with it)
    expect(vault0 - (await chain.vaultBalance())).toBe(2n * TON);
    expect(await chain.accountBalance(requester.id)).toBe(3n * TON);
    expect(await chain.vault.getWithdrawSeqno(BigInt("0x" + Buffer.from(requester.id, "base64url").toString("hex")))).toBe(1);
    const gained = (await chain.walletBalance(wallet.address)) - wallet0;
    expect(gained).toBeGreaterThan(2n * TON - WITHDRAW_GAS);
    expect(gained).toBeLessThanOrEqual(2n * TON);
    // ledger: available dropped by exactly 2 TON, nothing left reserved, the mirror of the vault moved with it
    expect(before).toMatchObject({ available: 5n * TON, pending: 0n, liabilities: 5n * TON });
    expect(await ledger()).toEqual({ available: 3n * TON, held: 0n, pending: 0n, chain: before.chain + 2n * TON, liabilities: 3n * TON });
    const st = await signedFetch(net.url, requester, "GET", "/v1/account/withdrawals/0");
    expect(st.json).toMatchObject({ seqno: 0, status: "landed", amount: (2n * TON).toString() });
    expect(st.json.txHash).toBe(w.json.txHash);
    expect(net.chainAlerts.map((a) => a.key).filter((k) => k.startsWith("chain.unmatched") || k === "chain.undercollateral")).toEqual([]);
  });

  it("withdrawing more than available is refused with 402 and reserves nothing", async () => {
    // Prepare
    const { requester, common, ledger, post } = await newAccount();
    await cliOk(["deposit", paying(3n * TON), ...common()]);
    const before = await ledger();
    const to = (await signedFetch(net.url, requester, "GET", "/v1/dev/wallet")).json.address;

    // Act
    const r = await post("/v1/account/withdraw", { amount: (3n * TON + 1n).toString(), to });
    const badAddress = await post("/v1/account/withdraw", { amount: "1", to: "nowhere" });
    const zero = await post("/v1/account/withdraw", { amount: "0", to });

    // Assess
    expect([r.status, r.json.error.code]).toEqual([402, "insufficient_funds"]);
    expect([badAddress.status, badAddress.json.error.code]).toEqual([400, "invalid_address"]);
    expect([zero.status, zero.json.error.code]).toEqual([400, "invalid_amount"]);
    expect(await ledger()).toEqual(before);
    expect((await signedFetch(net.url, requester, "GET", "/v1/account/withdrawals/0")).json.error.code).toBe("withdrawal_not_found");
  });

  it("issue 9 #3: a withdrawal to the vault's own address or to a non-basechain address is refused with 400 and a code, reserving nothing", async () => {
    // Prepare
    const { requester, ledger, post } = await newAccount();
    const before = await ledger();
    const vault = net.chain!.vaultAddress;
    const wallet = await net.chain!.wallet(`wallet:${requester.id}`);

    // Act
    const raw = await post("/v1/account/withdraw", { amount: "1", to: vault.toRawString() });
    const friendly = await post("/v1/account/withdraw", { amount: "1", to: vault.toString() });
    const masterchain = await post("/v1/account/withdraw", { amount: "1", to: `-1:${wallet.address.hash.toString("hex")}` });

    // Assess
    expect([raw.status, raw.json.error.code]).toEqual([400, "withdrawal_to_vault"]);
    expect([friendly.status, friendly.json.error.code]).toEqual([400, "withdrawal_to_vault"]);
    expect([masterchain.status, masterchain.json.error.code]).toEqual([400, "unsupported_workchain"]);
    expect(await ledger()).toEqual(before);
  });

  it("money reserved for a withdrawal cannot be spent on a job", async () => {
    // Prepare: reserve everything available
    const { requester, common, ledger, post } = await newAccount();
    await cliOk(["deposit", paying(3n * TON), ...common()]);
    const to = (await signedFetch(net.url, requester, "GET", "/v1/dev/wallet")).json.address;
    const w = await post("/v1/account/withdraw", { amount: (3n * TON).toString(), to });
    expect(w.status).toBe(200);
    const client = new CocoonClient({ apiUrl: net.url, key: requester, allowDev: true });

    // Act
    const asked = await client.ask({ model: MODEL, messages: [{ role: "user", content: "spend it" }], maxTokens: 16, tiers: ["dev"] }).then(
      () => null,
      (e) => e,
    );

    // Assess
    expect(asked).toBeInstanceOf(ApiError);
    expect([(asked as ApiError).status, (asked as ApiError).code]).toEqual([402, "insufficient_funds"]);
    expect(await ledger()).toMatchObject({ available: 0n, held: 0n, pending: 3n * TON, liabilities: 3n * TON });

    // and the withdrawal itself still goes through
    const sent = await post("/v1/dev/wallet/withdraw", { withdrawal: w.json });
    expect(sent.status).toBe(200);
    await net.runWatcherOnce();
    expect(await ledger()).toMatchObject({ available: 0n, pending: 0n, liabilities: 0n });
    expect(await net.chain!.accountBalance(requester.id)).toBe(0n);
  });

  it("concurrent withdrawals get distinct seqnos, and all of them land in order", async () => {
    // Prepare
    const { requester, common, ledger, post } = await newAccount();
    await cliOk(["deposit", paying(3n * TON), ...common()]);
    const to = (await net.chain!.wallet("elsewhere")).address.toString();

    // Act
    const rs = await Promise.all([1n, 2n, 3n].map((n) => post("/v1/account/withdraw", { amount: ((n * TON) / 4n).toString(), to })));
    const ws = rs.map((r) => r.json).sort((a, b) => a.seqno - b.seqno);
    for (const w of ws) expect((await post("/v1/dev/wallet/withdraw", { withdrawal: w })).status).toBe(200);
    await net.runWatcherOnce();

    // Assess
    expect(rs.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(ws.map((w) => w.seqno)).toEqual([0, 1, 2]);
    expect(new Set(ws.map((w) => w.to))).toEqual(new Set([Address.parse(to).toRawString()]));
    const left = 3n * TON - (6n * TON) / 4n;
    expect(await ledger()).toMatchObject({ available: left, pending: 0n, liabilities: left });
    expect(await net.chain!.accountBalance(requester.id)).toBe(left);
  });

  it("a replayed withdrawal is refused (by the account's wallet: ERR_BAD_SEQNO; by the vault when its totals no longer cover it) and changes nothing in the ledger", async () => {
    // Prepare: a landed 100 TON withdrawal (more than the vault holds for requesters once it is
    // paid, whatever other tests left there), then a landed 0.25 TON one (the vault's totals still
    // cover it: the account's wallet decides)
    const chain = net.chain!;
    const { requester, common, ledger, post } = await newAccount();
    await cliOk(["deposit", paying(101n * TON), ...common()]);
    const to = (await signedFetch(net.url, requester, "GET", "/v1/dev/wallet")).json.address;
    const landed = async (amount: bigint) => {
      const w = (await post("/v1/account/withdraw", { amount: amount.toString(), to })).json;
      expect((await post("/v1/dev/wallet/withdraw", { withdrawal: w })).status).toBe(200);
      return w;
    };
    const firstWithdrawal = await landed(100n * TON);
    const smallLanded = await landed(TON / 4n);
    await net.runWatcherOnce();
    const vault0 = await chain.vaultBalance();
    const before = await ledger();
    const withdrawAlertsBefore = net.chainAlerts.filter((a) => a.key === "chain.bounce:withdraw").length;

    // Act
    const replay = await post("/v1/dev/wallet/withdraw", { withdrawal: smallLanded });
    const replayBig = await post("/v1/dev/wallet/withdraw", { withdrawal: firstWithdrawal });
    const pass = await net.runWatcherOnce();

    // Assess
    expect([replay.status, replay.json.error.code, replay.json.error.details.exit]).toEqual([409, "withdraw_rejected", "ERR_BAD_SEQNO"]);
    expect([replayBig.status, replayBig.json.error.code, replayBig.json.error.details.exit]).toEqual([
      409,
      "withdraw_rejected",
      "ERR_VAULT_INSOLVENT",
    ]);
    // nothing paid; the wallet's refusal bounced to the vault, which keeps the rest of the sender's gas
    const kept = (await chain.vaultBalance()) - vault0;
    expect(kept >= 0n && kept < WITHDRAW_GAS).toBe(true);
    expect(pass.withdrawals).toBe(0);
    expect(await ledger()).toEqual(before);
    // reported on the transaction the route named; alerts are sent once per key (10 min): the
    // second replay's is the same key, and one an earlier test raised holds this one back too
    const seen = net.chainAlerts.filter((a) => a.details.txHash === replay.json.error.details.txHash);
    expect(seen.map((a) => a.key)).toEqual(withdrawAlertsBefore === 0 ? ["chain.bounce:withdraw"] : []);
  });

  it("without the local sandbox: 503 withdrawals_unavailable without a key, the dev route 403; with a key the CLI prints the signed withdrawal", async () => {
    // Prepare
    const bare = await startNetwork({ chain: false });
    const key = generateSigningKey();
    try {
      // Act
      const w = await signedFetch(
        bare.url,
        key,
        "POST",
        "/v1/account/withdraw",
        { amount: "1", to: "0:" + "0".repeat(64) },
        { headers: { "idempotency-key": "bare-key-0001" } },
      );
      const someWithdrawal = {
        vault: "0:" + "ab".repeat(32),
        account: key.id,
        to: "0:" + "cd".repeat(32),
        amount: "1",
        seqno: 0,
        expiry: 1,
        signature: "A".repeat(86) + "==",
      };
      const dev = await signedFetch(bare.url, key, "POST", "/v1/dev/wallet/withdraw", { withdrawal: someWithdrawal });
      // Assess
      expect([w.status, w.json.error.code]).toEqual([503, "withdrawals_unavailable"]);
      expect([dev.status, dev.json.error.code]).toEqual([403, "dev_chain_disabled"]);

      // With a signing key but no sandbox (a deployment), the CLI prints the signed withdrawal
      // for the requester to send, and needs --to.
      const seed = Buffer.alloc(32, 7);
      const vault = Address.parse("0:" + "ab".repeat(32));
      bare.deps.withdrawalSigner = tonWithdrawalSigner(keyPairFromSeed(seed).secretKey, vault);
      const bareKeyFile = join(tempDir("cocoon-wd-bare-"), "requester.key");
      const bareKey = loadOrCreateKey(bareKeyFile);
      expect((await signedFetch(bare.url, bareKey, "POST", "/v1/account/faucet", { amount: TON.toString() })).status).toBe(200);
      const args = ["--api", bare.url, "--key", bareKeyFile, "--json"];
      const noTo = await cli(["withdraw", "0.5", ...args]);
      const printed = await cli(["withdraw", "0.5", "--to", "0:" + "cd".repeat(32), ...args]);
      expect([noTo.code, JSON.parse(noTo.err)]).toEqual([2, { error: expect.objectContaining({ code: "missing_address", status: 0 }) }]);
      expect(printed.code).toBe(0);
      expect(printed.json).toMatchObject({ sent: false, status: "pending", available: (TON / 2n).toString(), messageValue: "50000000" });
      const { withdrawal } = withdrawalFromJson(printed.json.withdrawal);
      expect(withdrawal).toMatchObject({ amount: TON / 2n, seqno: 0 });
      expect(signVerify(withdrawalHash(vault, withdrawal), withdrawal.signature, keyPairFromSeed(seed).publicKey)).toBe(true);
    } finally {
      await bare.stop();
    }
  });

  it("an expired unused withdrawal is refused on chain (ERR_EXPIRED) and released back exactly once; its seqno is issued again", async () => {
    // Prepare: a network of its own (this test moves the chain's and the coordinator's clocks),
    // an account with 1 TON, a withdrawal nobody sends in time
    const own = await startNetwork({ chain: { now: chainNow }, watcherIntervalMs: 100 });
    try {
      const net = own;
      const chain = net.chain!;
      const { requester, common, ledger, post } = await newAccount(own);
      await cliOk(["deposit", paying(TON), ...common()]);
      const before = await ledger();
      const to = (await signedFetch(net.url, requester, "GET", "/v1/dev/wallet")).json.address;
      const w = (await post("/v1/account/withdraw", { amount: (TON / 2n).toString(), to })).json;
      expect(await ledger()).toMatchObject({ available: before.available - TON / 2n, pending: TON / 2n });
      // time passes, on chain and at the coordinator (signed requests follow the coordinator's clock)
      const later = (w.expiry + DEFAULT_RELEASE_GRACE_SECONDS + 1) * 1000;
      chain.blockchain.now = later / 1000;
      net.deps.clock.now = () => later;
      const get = (path: string) => signedFetch(net.url, requester, "GET", path, undefined, { now: later });

      // Act
      const late = await post("/v1/dev/wallet/withdraw", { withdrawal: w }, { now: later });
      await net.runWatcherOnce();
      const s1 = await get(`/v1/account/withdrawals/${w.seqno}`);
      const s2 = await get(`/v1/account/withdrawals/${w.seqno}`);
      const afterRelease = await ledger();
      const again = (await post("/v1/account/withdraw", { amount: (TON / 4n).toString(), to }, { now: later })).json;
      const sent = await post("/v1/dev/wallet/withdraw", { withdrawal: again }, { now: later });
      await net.runWatcherOnce();

      // Assess
      expect([late.status, late.json.error.details.exit]).toEqual([409, "ERR_EXPIRED"]);
      expect([s1.json.status, s2.json.status]).toEqual(["released", "released"]);
      expect(afterRelease).toEqual(before);
      const releases = [];
      for (const pk of [`withdrawal-release:${requester.id}:${w.seqno}:0`, `withdrawal-release:${requester.id}:${w.seqno}:1`])
        releases.push(await net.store.get("ledger", { pk, sk: "tx" }));
      expect(releases.filter(Boolean)).toHaveLength(1);
      expect(again.seqno).toBe(w.seqno); // the vault still expected it
      expect(sent.status).toBe(200);
      expect(await ledger()).toMatchObject({
        available: before.available - TON / 4n,
        pending: 0n,
        liabilities: before.liabilities - TON / 4n,
      });
      expect(await chain.accountBalance(requester.id)).toBe(TON - TON / 4n);
    } finally {
      await own.stop();
    }
  });
});

describe("withdraw requests are idempotent", () => {
  it("the same Idempotency-Key returns the same signed withdrawal and reserves once; reused for another amount it is 422", async () => {
    // Prepare
    const net = await startNetwork({});
    const key = generateSigningKey();
    const post = (body: unknown, idem: string) =>
      signedFetch(net.url, key, "POST", "/v1/account/withdraw", body, { headers: { "idempotency-key": idem } });
    try {
      expect((await signedFetch(net.url, key, "POST", "/v1/account/faucet", { amount: TON.toString() })).status).toBe(200);
      const to = (await signedFetch(net.url, key, "GET", "/v1/dev/wallet")).json.address;

      // Act
      const first = await post({ amount: (TON / 2n).toString(), to }, "withdraw-once-1");
      const retry = await post({ amount: (TON / 2n).toString(), to }, "withdraw-once-1");
      const other = await post({ amount: (TON / 4n).toString(), to }, "withdraw-once-1");
      const missing = await signedFetch(net.url, key, "POST", "/v1/account/withdraw", { amount: "1", to });

      // Assess
      expect([first.status, retry.status]).toEqual([200, 200]);
      expect(retry.json).toEqual(first.json);
      expect([other.status, other.json.error.code]).toEqual([422, "idempotency_key_reused"]);
      expect([missing.status, missing.json.error.code]).toEqual([400, "missing_idempotency_key"]);
      expect((await getBalance(net.store, pendingWithdrawalAccount(key.id))).available).toBe(TON / 2n);
      expect((await getBalance(net.store, requesterAccount(key.id))).available).toBe(TON / 2n);
    } finally {
      await net.stop();
    }
  });
});
