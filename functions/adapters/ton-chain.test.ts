import { describe, expect, it } from "vitest";
import { payeeUintToHex } from "../../core/chain/payee";
import { Address, toNano, type Transaction, type TupleItem } from "@ton/core";
import { accountWalletAddress, CREDIT_VALUE, DEPOSIT_FEE } from "../../contracts/vault";
import { startLocalChain, testPayee, type LocalChain } from "../../local/chain";
import { freeze, refDepositLookalikes } from "../../contracts/fixtures";
import { accountIdToUint } from "../../core/chain/account";
import { getBalance, requesterAccount } from "../../core/ledger";
import {
  DEFAULT_RELEASE_GRACE_SECONDS,
  getWithdrawal,
  releaseExpiredWithdrawals,
  requestWithdrawal,
  type WithdrawalDeps,
} from "../../core/withdrawals";
import { withdrawalFromJson } from "./ton-withdrawal-signer";
import { loadAwsConfig } from "../config";
import { createAwsDeps } from "./aws-deps";
import { accountIdFromUint } from "../../core/chain/account";
import { collectingAlerts } from "../../core/chain/dedup";
import { StoreChainLedger } from "../../core/chain/store-ledger";
import { TestStore } from "../../test/fixtures/faulty-store";
import { runWatcher } from "../../core/chain/watcher";
import type { ChainReader } from "../../core/chain/ports";
import {
  InvalidVoucherError,
  normalizeVaultTx,
  SandboxChainReader,
  TonClientChainReader,
  type TonClientLike,
  tonClientWithdrawSeqno,
  voucherFromJson,
  voucherToJson,
} from "./ton-chain";
import { NOW, accountOf, seed, withdrawalDeps } from "./ton-chain-testing";

const requesterId = accountOf("requester-key");
/** what a deposit of `value` credits: the vault keeps DEPOSIT_FEE (contracts/README.md) */
const net = (value: bigint) => value - DEPOSIT_FEE;

async function chainWithWatcher(opts: { reserve?: bigint } = {}) {
  const chain = await startLocalChain({ now: NOW, coordinatorSeed: seed("coordinator"), ...opts });
  const store = new TestStore();
  const ledger = new StoreChainLedger(store);
  const alerts = collectingAlerts();
  const watch = (o: { pageSize?: number; maxPages?: number; reader?: ChainReader } = {}) =>
    runWatcher({
      reader: o.reader ?? chain.reader,
      ledger,
      alerts,
      now: () => NOW * 1000 + 60_000,
      lagThresholdSeconds: 600,
      pageSize: o.pageSize,
      maxPages: o.maxPages,
      vault: chain.vaultAddress.toRawString(),
    });
  return { chain, store, ledger, alerts, watch };
}

function vaultTxs(chain: LocalChain, txs: Transaction[]): Transaction[] {
  const h = BigInt("0x" + chain.vaultAddress.hash.toString("hex"));
  return txs.filter((t) => t.address === h);
}

describe("normalizeVaultTx on real sandbox transactions", () => {
  it("decodes every kind of vault message, across the two vault transactions of each operation", async () => {
    const chain = await startLocalChain({ now: NOW, coordinatorSeed: seed("coordinator") });
    const worker = await chain.wallet("worker");
    const stranger = await chain.wallet("stranger");

    const dep = await chain.deposit(requesterId, 5n);
    const depC = await chain.depositNano(requesterId, toNano("1"), { comment: true });
    const wd = await chain.signWithdrawal(requesterId, chain.requesterWallet.address, toNano("2"));
    const w = await chain.withdraw(chain.requesterWallet, wd);
    const wReplay = await chain.withdraw(chain.requesterWallet, wd);
    const voucher = chain.signVoucher(worker.address, toNano("1"));
    const red = await chain.redeem(worker, voucher);
    const redReplay = await chain.redeem(worker, voucher);
    const top = (await chain.vault.sendTopUp(chain.owner.getSender(), toNano("1"))).transactions;
    const bounce = (await chain.vault.sendTopUp(stranger.getSender(), toNano("1"))).transactions;
    const refund = (await chain.vault.sendTopUp(stranger.getSender(), toNano("1"), { bounce: false })).transactions;
    const admin = (await chain.vault.sendSetCoordinatorKey(chain.owner.getSender(), toNano("0.05"), chain.coordinator.publicKey))
      .transactions;
    const other = accountOf("frozen-account");
    await freeze(chain, await accountWalletAddress(chain.vaultAddress, accountIdToUint(other)));
    const refused = await chain.depositNano(other, toNano("3"));

    const n = (txs: Transaction[]) => vaultTxs(chain, txs).map(normalizeVaultTx);
    const kinds = (txs: Transaction[]) => n(txs).map((t) => t.kind);
    expect([dep, depC, w, wReplay, red, redReplay, refused].map((r) => kinds(r.transactions))).toEqual([
      ["deposit-routed", "deposit"],
      ["deposit-routed", "deposit"],
      ["withdraw-routed", "withdraw"],
      ["withdraw-routed", "withdraw-refused"],
      ["redeem-routed", "redeem"],
      ["redeem-routed", "redeem-refused"],
      ["deposit-routed", "deposit-refund"],
    ]);
    const [routed, credited] = n(dep.transactions);
    expect(routed).toMatchObject({ amount: toNano("5"), inValue: toNano("5"), outValue: CREDIT_VALUE, aborted: false, bounced: false });
    expect(routed!.account).toBeUndefined();
    // credited from the log: the deposit less the vault's fee, exactly what the account wallet recorded
    expect(credited).toMatchObject({
      kind: "deposit",
      account: requesterId,
      amount: net(toNano("5")),
      outValue: 0n,
      aborted: false,
      bounced: false,
    });
    expect(n(depC.transactions)[1]).toMatchObject({ kind: "deposit", account: requesterId, amount: net(toNano("1")) });
    expect(await chain.vault.getTotals()).toMatchObject({ deposited: net(toNano("5")) + net(toNano("1")) });
    const paid = n(w.transactions)[1]!;
    expect(paid).toMatchObject({
      kind: "withdraw",
      account: requesterId,
      amount: toNano("2"),
      seqno: 0,
      expiry: wd.expiry,
      to: chain.requesterWallet.address.toRawString(),
      aborted: false,
    });
    expect(paid.outValue > toNano("2") && paid.outValue <= toNano("2") + paid.inValue).toBe(true);
    expect(n(wReplay.transactions)[1]).toMatchObject({ kind: "withdraw-refused", amount: toNano("2"), bounced: true, outValue: 0n });
    expect(n(red.transactions)[1]).toMatchObject({
      kind: "redeem",
      worker: worker.address.toRawString(),
      amount: toNano("1"),
      aborted: false,
    });
    expect(n(redReplay.transactions)[1]).toMatchObject({ kind: "redeem-refused", amount: toNano("1"), bounced: true, outValue: 0n });
    expect(n(refused.transactions)[1]).toMatchObject({
      kind: "deposit-refund",
      amount: net(toNano("3")),
      bounced: true,
      outValue: net(toNano("3")),
    });
    expect(n(top)).toMatchObject([{ kind: "topup", amount: toNano("1"), outValue: 0n }]);
    expect(n(bounce)).toMatchObject([{ kind: "bounce", aborted: true, exitCode: 1006 }]);
    expect(n(refund)).toMatchObject([{ kind: "bounce", aborted: false }]);
    expect(n(admin)).toMatchObject([{ kind: "admin" }]);
    // the local chain reports the transaction the watcher books: the credit, the payment, the refusal
    expect([dep, w, wReplay, red, refused].map((r) => r.txHash)).toEqual(
      [dep, w, wReplay, red, refused].map((r) => n(r.transactions).at(-1)!.hash),
    );
    expect([wReplay.error, redReplay.error, refused.error]).toEqual(["ERR_BAD_SEQNO", "ERR_NOTHING_TO_PAY", "ERR_NO_WALLET"]);
  });
});

describe("chain watcher on the sandbox", () => {
  it("deposit is credited once even when the watcher restarts after every transaction or reads a page twice", async () => {
    const { chain, ledger, watch } = await chainWithWatcher();
    await chain.deposit(requesterId, 5n);
    await chain.depositNano(requesterId, 1_234_567_891n, { comment: true });

    for (let i = 0; i < 6; i++) await watch({ pageSize: 1, maxPages: 1 }); // a "restart" per transaction
    await ledger.setCursor({ lt: "0", hash: "" }, 0); // forget the cursor: re-read everything
    const again = await watch();

    expect(again.duplicates).toBeGreaterThanOrEqual(2);
    const onChain = await chain.accountBalance(requesterId);
    expect(onChain).toBe(net(toNano("5")) + net(1_234_567_891n));
    expect((await ledger.balance(`req:${requesterId}`)).available).toBe(onChain);
  });

  it("deposit -> worker earns -> voucher -> redeem -> withdrawal: chain and ledger agree to the nanoTON", async () => {
    const { chain, store, ledger, alerts, watch } = await chainWithWatcher();
    const worker = await chain.wallet("worker-1");
    await chain.deposit(requesterId, 5n);
    await watch();

    // a job settles 1.5 TON from the requester to the worker (what core/ledger.ts does)
    const cost = toNano("1.5");
    await store.transact([
      { op: "update", table: "accounts", key: { pk: `req:${requesterId}`, sk: "balance" }, add: { available: -cost } },
      { op: "update", table: "accounts", key: { pk: "vch:worker-1", sk: "balance" }, add: { available: cost } }, // vouchered (core/payouts.ts)
    ]);
    const voucher = chain.signVoucher(worker.address, cost);
    await ledger.recordIssuedVoucher(
      {
        workerId: "worker-1",
        payee: payeeUintToHex(voucher.payee),
        worker: worker.address.toRawString(),
        cumulative: cost,
        expiry: voucher.expiry,
      },
      0,
    );
    const before = await chain.walletBalance(worker.address);
    const red = await chain.redeem(worker, voucher);
    expect(red.success).toBe(true);

    const wd = await chain.signWithdrawal(requesterId, chain.requesterWallet.address, toNano("1"));
    await ledger.recordIssuedWithdrawal(
      { account: requesterId, seqno: wd.seqno, amount: wd.amount, to: wd.to.toRawString(), expiry: wd.expiry },
      0,
    );
    expect((await chain.withdraw(chain.requesterWallet, wd)).success).toBe(true);

    const r = await watch();

    expect({ redemptions: r.redemptions, withdrawals: r.withdrawals }).toEqual({ redemptions: 1, withdrawals: 1 });
    expect(alerts.raised).toEqual([]);
    expect(await chain.paid(voucher.payee)).toBe(cost);
    expect(await ledger.redeemed(payeeUintToHex(voucher.payee))).toBe(cost);
    expect((await ledger.balance("vch:worker-1")).available).toBe(0n);
    expect(await chain.walletBalance(worker.address)).toBeGreaterThan(before + cost - toNano("0.05"));
    // requester: 5 deposited (less the fee) - 1.5 spent - 1 withdrawn
    expect((await ledger.balance(`req:${requesterId}`)).available).toBe(net(toNano("2.5")));
    // the vault holds its reserve plus exactly what the ledger owes, minus the gas it paid for deposits
    const totals = await chain.vault.getTotals();
    expect(totals.deposited - totals.withdrawn - totals.paid).toBe(await ledger.liabilities());
    expect(r.vaultBalance! >= r.liabilities!).toBe(true);
  });

  it("a payout or withdrawal to a wallet never deployed is paid, not reported refused (a fresh wallet is what most owners give)", async () => {
    // Prepare: an address nothing was ever sent to (no code, no state), and money to pay it
    const { chain, watch } = await chainWithWatcher();
    const fresh = Address.parse(`0:${"11".repeat(32)}`);
    const sender = await chain.wallet("worker-1");
    await chain.deposit(requesterId, 5n);
    await watch();

    // Act: the dev redeem and withdraw paths (cocoon-agent redeem --payout-address, cocoon withdraw --to)
    const red = await chain.redeem(sender, chain.signVoucher(fresh, toNano("1")));
    const wd = await chain.withdraw(chain.requesterWallet, await chain.signWithdrawal(requesterId, fresh, toNano("1")));

    // Assess: both landed (the payee's uninitialised account keeps the value: bounce is off), so neither is "refused"
    expect(await chain.paid(testPayee(fresh))).toBe(toNano("1"));
    expect(await chain.walletBalance(fresh)).toBeGreaterThan(toNano("1.9"));
    expect([red, wd].map((r) => ({ success: r.success, error: r.error }))).toEqual([
      { success: true, error: undefined },
      { success: true, error: undefined },
    ]);
  });

  it("issue 9 #1: transfers the vault refunded are never credited (deposit:<hex> + an empty ref, op 0 with the text in a ref); genuine comment and Deposit deposits are", async () => {
    // Prepare
    const { chain, ledger, alerts, watch } = await chainWithWatcher();
    const attacker = await chain.wallet("attacker");
    const fakes: Transaction[] = [];
    for (const body of Object.values(refDepositLookalikes(accountIdToUint(requesterId)))) {
      fakes.push(...(await attacker.send({ to: chain.vaultAddress, value: toNano("100"), bounce: false, body })).transactions);
    }
    await chain.depositNano(requesterId, toNano("1"), { comment: true });
    await chain.depositNano(requesterId, toNano("2"));

    // Act
    const r = await watch();

    // Assess
    expect(vaultTxs(chain, fakes).map((t) => normalizeVaultTx(t).kind)).toEqual(["bounce", "bounce"]);
    expect({ deposits: r.deposits, bounces: r.bounces }).toEqual({ deposits: 2, bounces: 2 });
    expect(await chain.accountBalance(requesterId)).toBe(net(toNano("1")) + net(toNano("2")));
    expect((await ledger.balance(`req:${requesterId}`)).available).toBe(net(toNano("1")) + net(toNano("2")));
    const totals = await chain.vault.getTotals();
    expect(await ledger.liabilities()).toBe(totals.deposited - totals.withdrawn - totals.paid);
    expect(alerts.raised.map((a) => a.key)).toEqual(["chain.bounce:bounce", "chain.bounce:bounce"]); // refunded, reported, not credited
  });

  it("issue 9 #1: a deposit is read from the vault's log alone: no log, no credit, whatever the inbound body says", async () => {
    // Prepare: a genuine deposit, its log cut off (what a transfer the vault did not credit looks like)
    const chain = await startLocalChain({ now: NOW, coordinatorSeed: seed("coordinator") });
    const res = await chain.depositNano(requesterId, toNano("1"), { comment: true });
    const [routed, tx] = vaultTxs(chain, res.transactions) as [Transaction, Transaction]; // routed to the wallet, then credited with the log
    const logged = normalizeVaultTx(tx);
    const external = [...tx.outMessages.keys()].filter((k) => tx.outMessages.get(k)!.info.type === "external-out");
    for (const k of external) tx.outMessages.delete(k);

    // Act
    const unlogged = normalizeVaultTx(tx);

    // Assess
    expect(external).toHaveLength(1);
    expect(logged).toMatchObject({ kind: "deposit", account: requesterId, amount: net(toNano("1")) });
    expect(unlogged.kind).not.toBe("deposit");
    expect(unlogged.account).toBeUndefined();
    // the first transaction, whose inbound body is the deposit comment, credits nothing either
    const first = normalizeVaultTx(routed);
    expect([first.kind, first.account]).toEqual(["deposit-routed", undefined]);
  });

  it("issue 16: a deposit its account wallet could not record is sent back by the vault and never credited; the refund is no unmatched outflow", async () => {
    // Prepare: a frozen account wallet (what a wallet that ran out of storage money looks like)
    const { chain, ledger, alerts, watch } = await chainWithWatcher();
    const victim = accountOf("frozen-account");
    await freeze(chain, await accountWalletAddress(chain.vaultAddress, accountIdToUint(victim)));
    const sender = await chain.wallet("depositor");
    const before = await chain.walletBalance(sender.address);
    const refused = await chain.depositNano(victim, toNano("7"), { from: sender });
    await chain.depositNano(requesterId, toNano("2")); // and a genuine one next to it

    // Act
    const r = await watch();

    // Assess: only the genuine deposit is credited; the refused one is reported, not credited
    expect(refused).toMatchObject({ success: false, error: "ERR_NO_WALLET" });
    expect({ deposits: r.deposits, bounces: r.bounces }).toEqual({ deposits: 1, bounces: 1 });
    expect((await ledger.balance(`req:${victim}`)).available).toBe(0n);
    expect((await ledger.balance(`req:${requesterId}`)).available).toBe(net(toNano("2")));
    expect(alerts.raised.map((a) => a.key)).toEqual(["chain.bounce:deposit"]);
    // sent back less the vault's deposit fee (which paid for the attempt); plus its own wallet's fee
    expect(before - (await chain.walletBalance(sender.address)) - DEPOSIT_FEE).toBeLessThan(toNano("0.01"));
    expect(before - (await chain.walletBalance(sender.address))).toBeGreaterThanOrEqual(DEPOSIT_FEE);
    const totals = await chain.vault.getTotals();
    expect(await ledger.liabilities()).toBe(totals.deposited - totals.withdrawn - totals.paid);
    expect(await chain.vault.getInflight()).toBe(0);
  });

  it("raises the under-collateral alert when the vault is drained on chain behind the ledger's back", async () => {
    const { chain, alerts, watch } = await chainWithWatcher({ reserve: toNano("0.5") });
    const thief = await chain.wallet("thief");
    await chain.deposit(requesterId, 5n);
    await watch();
    expect(alerts.raised).toEqual([]);

    // a leaked coordinator key signs a voucher the ledger never issued
    const res = await chain.redeem(thief, chain.signVoucher(thief.address, toNano("4")));
    expect(res.success).toBe(true);
    const r = await watch();

    const keys = alerts.raised.map((a) => a.key);
    expect(keys).toContain("chain.undercollateral");
    expect(keys).toContain(`chain.unmatched-outflow:redeem:${res.txHash}`);
    expect(r.liabilities).toBe(net(toNano("5")));
  });

  it("an unattributable transfer bounces on chain and raises a bounce alert; nothing is credited", async () => {
    const { chain, ledger, alerts, watch } = await chainWithWatcher();
    const stranger = await chain.wallet("stranger");
    const res = await chain.vault.sendComment(stranger.getSender(), toNano("3"), "for the GPU folks");
    const vtx = normalizeVaultTx(vaultTxs(chain, res.transactions)[0]!);
    expect({ aborted: vtx.aborted, exitCode: vtx.exitCode }).toEqual({ aborted: true, exitCode: 1006 });

    await watch();

    expect(alerts.raised.map((a) => a.key)).toEqual(["chain.bounce:bounce"]);
    expect(await ledger.liabilities()).toBe(0n);
  });
});

// ---------------------------------------------------------------- TonClient paging
/** Emulates toncenter's getTransactions (newest first; lt/hash start, inclusive, to_lt) over sandbox history. */
function fakeToncenter(chain: LocalChain): TonClientLike & { calls: number } {
  const fake = {
    calls: 0,
    async getTransactions(address: Address, opts: { limit: number; lt?: string; hash?: string; to_lt?: string; inclusive?: boolean }) {
      fake.calls++;
      const h = BigInt("0x" + address.hash.toString("hex"));
      const all = ((chain.blockchain as unknown as { transactions: Transaction[] }).transactions ?? [])
        .filter((t) => t.address === h)
        .sort((a, b) => (a.lt > b.lt ? -1 : 1));
      let start = 0;
      if (opts.lt && opts.hash) {
        start = all.findIndex((t) => t.lt === BigInt(opts.lt!) && t.hash().toString("base64") === opts.hash);
        if (start < 0) throw new Error("lt/hash not found");
        if (opts.inclusive === false) start++;
      }
      let page = all.slice(start, start + opts.limit);
      if (opts.to_lt) page = page.filter((t) => t.lt > BigInt(opts.to_lt!));
      return page;
    },
    async getBalance(address: Address) {
      return (await chain.blockchain.getContract(address)).balance;
    },
    async getContractState(address: Address) {
      const t = (await chain.blockchain.getContract(address)).accountState?.type;
      return { state: t === "active" ? ("active" as const) : t === "frozen" ? ("frozen" as const) : ("uninitialized" as const) };
    },
    async runMethod(address: Address, name: string, stack: TupleItem[] = []) {
      const r = await chain.blockchain.runGetMethod(address, name, stack);
      if (r.exitCode !== 0) throw new Error(`Unable to execute get method. Got exit_code: ${r.exitCode}`);
      return { stack: r.stackReader };
    },
  };
  return fake;
}

describe("TonClientChainReader", () => {
  it("pages the history back to the cursor and returns it oldest first, in pages of `limit`", async () => {
    const chain = await startLocalChain({ now: NOW, coordinatorSeed: seed("coordinator") });
    for (let i = 0; i < 7; i++) await chain.depositNano(requesterId, toNano("1") + BigInt(i));
    const sandbox = new SandboxChainReader(chain.blockchain, chain.vaultAddress);
    const client = fakeToncenter(chain);
    const reader = new TonClientChainReader(client, chain.vaultAddress, { pageSize: 3 });

    const seen: string[] = [];
    let cursor = null;
    for (;;) {
      const { txs, cursor: next } = await reader.getVaultTransactions(cursor, 2);
      if (txs.length === 0) break;
      seen.push(...txs.map((t) => t.hash));
      cursor = next;
    }
    const expected: string[] = [];
    let c = null;
    for (;;) {
      const { txs, cursor: next } = await sandbox.getVaultTransactions(c, 100);
      if (txs.length === 0) break;
      expected.push(...txs.map((t) => t.hash));
      c = next;
    }
    expect(seen).toEqual(expected);
    expect(seen).toHaveLength(15); // deploy + 7 deposits (each routed to the account wallet, then credited)
    expect(await reader.getVaultBalance()).toBe(await chain.vaultBalance());
  });

  it("returns nothing new and keeps the cursor at the head", async () => {
    const chain = await startLocalChain({ now: NOW, coordinatorSeed: seed("coordinator") });
    const reader = new TonClientChainReader(fakeToncenter(chain), chain.vaultAddress);
    const first = await reader.getVaultTransactions(null, 10);
    const again = await reader.getVaultTransactions(first.cursor, 10);
    expect({ n: again.txs.length, cursor: again.cursor }).toEqual({ n: 0, cursor: first.cursor });
  });
});

describe("issue 9 #3: the AWS adapter reads the vault's withdraw seqno, and a landing behind a page limit is never released", () => {
  it("issue 9 #3: tonClientWithdrawSeqno reads withdrawSeqno(account) through toncenter's get-method, like the sandbox getter", async () => {
    // Prepare
    const chain = await startLocalChain({ now: NOW, coordinatorSeed: seed("coordinator") });
    await chain.deposit(requesterId, 5n);
    for (let i = 0; i < 2; i++)
      expect(
        (await chain.withdraw(chain.requesterWallet, await chain.signWithdrawal(requesterId, chain.requesterWallet.address, toNano("1"))))
          .success,
      ).toBe(true);
    const reader = new TonClientChainReader(fakeToncenter(chain), chain.vaultAddress);
    const nobody = accountIdToUint(accountOf("nobody"));

    // Act
    const seqnos = [
      await reader.getWithdrawSeqno(accountIdToUint(requesterId)),
      await tonClientWithdrawSeqno(fakeToncenter(chain), chain.vaultAddress)(nobody),
    ];

    // Assess
    expect(seqnos).toEqual([2, 0]);
    expect(await chain.vault.getWithdrawSeqno(accountIdToUint(requesterId))).toBe(2);
  });

  it("issue 9 #3: a seqno that cannot be read (the account's wallet is frozen) throws instead of reading as 0", async () => {
    // Prepare: the requester's wallet exists (two withdrawals spent seqnos 0 and 1), then freezes
    const chain = await startLocalChain({ now: NOW, coordinatorSeed: seed("coordinator") });
    await chain.deposit(requesterId, 5n);
    for (let i = 0; i < 2; i++)
      await chain.withdraw(chain.requesterWallet, await chain.signWithdrawal(requesterId, chain.requesterWallet.address, toNano("1")));
    await freeze(chain, await accountWalletAddress(chain.vaultAddress, accountIdToUint(requesterId)));

    // Act
    const read = tonClientWithdrawSeqno(
      fakeToncenter(chain),
      chain.vaultAddress,
    )(accountIdToUint(requesterId)).then(
      (n) => n,
      (e: Error) => e,
    );

    // Assess: unreadable, never "0" (a 0 would let an expired withdrawal whose seqno landed be released)
    expect(await read).toBeInstanceOf(Error);
    expect(String(await read)).toMatch(/frozen/);
  });

  it("issue 9 #3: on AWS, withdrawals get the vault's seqno getter whenever a toncenter endpoint is configured", () => {
    // Prepare: the environment stacks/Cocoon.ts gives the withdraw routes
    const account = "123456789012";
    const env = (ton: boolean) => ({
      COCOON_STAGE: "dev",
      AWS_REGION: "us-east-1",
      COCOON_TABLE: "dev-cocoon-Cocoon-DataTable-1X2Y3Z",
      COCOON_MATCHING_QUEUE_URL: `https://sqs.us-east-1.amazonaws.com/${account}/dev-cocoon-Cocoon-MatchingQueue-AbC123`,
      COCOON_WORKER_QUEUE_NAME_PREFIX: "cocoon-dev-",
      COCOON_WORKER_QUEUE_URL_PREFIX: `https://sqs.us-east-1.amazonaws.com/${account}/cocoon-dev-`,
      COCOON_WORKER_QUEUE_ARN_PREFIX: `arn:aws:sqs:us-east-1:${account}:cocoon-dev-`,
      COCOON_WORKER_DLQ_ARN: `arn:aws:sqs:us-east-1:${account}:dev-cocoon-Cocoon-WorkerDlq-XyZ789`,
      COCOON_VAULT_ADDRESS: "0:" + "ab".repeat(32),
      COCOON_COORDINATOR_SEED: "07".repeat(32),
      ...(ton ? { COCOON_TON_ENDPOINT: "https://toncenter.com/api/v2/jsonRPC", COCOON_TON_API_KEY: "k" } : {}),
    });

    // Act
    const withTon = createAwsDeps(loadAwsConfig(env(true))) as WithdrawalDeps;
    const without = createAwsDeps(loadAwsConfig(env(false))) as WithdrawalDeps;

    // Assess
    expect(typeof withTon.withdrawalSigner?.chainSeqno).toBe("function");
    expect(without.withdrawalSigner).toBeDefined();
    expect(without.withdrawalSigner?.chainSeqno).toBeUndefined();
  });

  it("issue 9 #3: over the toncenter reader, a withdrawal that landed behind more than a page of vault transactions is recorded, never released", async () => {
    // Prepare: the AWS set-up as it was (no seqno getter), a real vault
    const chain = await startLocalChain({ now: NOW, coordinatorSeed: seed("coordinator") });
    const store = new TestStore();
    let now = NOW * 1000;
    const deps = withdrawalDeps(chain, store, () => now, { seqnoGetter: false });
    const ledger = new StoreChainLedger(store);
    const reader = new TonClientChainReader(fakeToncenter(chain), chain.vaultAddress, { pageSize: 3 });
    const watch = () =>
      runWatcher({
        reader,
        ledger,
        alerts: collectingAlerts(),
        now: () => now,
        lagThresholdSeconds: 600_000,
        pageSize: 2,
        maxPages: 2,
        vault: chain.vaultAddress.toRawString(),
      });
    await chain.deposit(requesterId, 5n);
    await watch();
    const view = await requestWithdrawal(deps, requesterId, { amount: net(toNano("5")), to: chain.requesterWallet.address.toRawString() });
    const stranger = await chain.wallet("stranger");
    for (let i = 0; i < 6; i++) await chain.depositNano(accountOf(`other-${i}`), toNano("1"), { from: stranger });
    expect((await chain.withdraw(chain.requesterWallet, withdrawalFromJson(view).withdrawal)).success).toBe(true);
    now = (view.expiry + DEFAULT_RELEASE_GRACE_SECONDS + 1) * 1000;

    // Act
    const limited = await watch();
    const released = await releaseExpiredWithdrawals(deps, requesterId);
    let withdrawals = 0;
    for (let more = true; more;) {
      const pass = await watch();
      withdrawals += pass.withdrawals;
      more = pass.hasMore;
    }

    // Assess
    expect(limited.hasMore).toBe(true);
    expect(released.released).toBe(0);
    expect(withdrawals).toBe(1);
    expect(await getWithdrawal(store, requesterId, view.seqno)).toMatchObject({ status: "landed" });
    expect((await getBalance(store, requesterAccount(requesterId))).available).toBe(0n);
    expect(await chain.accountBalance(requesterId)).toBe(0n);
  });
});

describe("voucher JSON", () => {
  it("round-trips and rejects malformed vouchers with code invalid_voucher", async () => {
    const chain = await startLocalChain({ now: NOW, coordinatorSeed: seed("coordinator") });
    const worker = await chain.wallet("w");
    const v = chain.signVoucher(worker.address, 123n);
    const j = voucherToJson(chain.vaultAddress, v);
    const back = voucherFromJson(j);
    expect(back.vault.equals(chain.vaultAddress)).toBe(true);
    expect({ ...back.voucher, to: back.voucher.to.toRawString() }).toEqual({ ...v, to: v.to.toRawString() });
    for (const bad of [
      { ...j, signature: "AAAA" },
      { ...j, cumulative: "-1" },
      { ...j, worker: "nope" },
    ]) {
      expect(() => voucherFromJson(bad)).toThrow(InvalidVoucherError);
    }
    expect(accountIdFromUint(1n)).toHaveLength(43);
  });
});
