import { beforeEach, describe, expect, it } from "vitest";
import { collectingAlerts } from "./dedup";
import { accountId, deposit, redeem, SCRIPTED_VAULT, ScriptedReader, vaultTx, withdraw, workerAddress } from "./fixtures";
import { StoreChainLedger } from "./store-ledger";
import { TestStore } from "../../test/fixtures/faulty-store";
import { runWatcher, type WatcherOptions } from "./watcher";

const TON = 1_000_000_000n;
const NOW_MS = 1_750_000_100_000;

function setup(txs = [] as ReturnType<typeof deposit>[]) {
  const store = new TestStore();
  const ledger = new StoreChainLedger(store);
  const reader = new ScriptedReader(txs);
  const alerts = collectingAlerts();
  const opts = (o: Partial<WatcherOptions> = {}): WatcherOptions => ({
    reader,
    vault: SCRIPTED_VAULT,
    ledger,
    alerts,
    now: () => NOW_MS,
    lagThresholdSeconds: 600,
    ...o,
  });
  return { store, ledger, reader, alerts, opts };
}

/** Sum over every account item: double entry means it is always zero. */
function sumOfAccounts(store: TestStore): bigint {
  let s = 0n;
  for (const v of store.scan("accounts")) {
    s += BigInt((v.available as bigint | undefined) ?? 0n) + BigInt((v.held as bigint | undefined) ?? 0n);
  }
  return s;
}

const A = accountId(1);
const B = accountId(2);
const W = workerAddress(1);

describe("runWatcher: deposits", () => {
  it("credits each deposit once and moves the cursor to the last transaction", async () => {
    const txs = [deposit(A, 5n * TON), deposit(B, 2n * TON), deposit(A, 1n * TON)];
    const { ledger, reader, store, opts } = setup(txs);
    reader.balance = 9n * TON;

    const r = await runWatcher(opts());

    expect({ processed: r.processed, deposits: r.deposits, duplicates: r.duplicates }).toEqual({
      processed: 3,
      deposits: 3,
      duplicates: 0,
    });
    expect(await ledger.balance(`req:${A}`)).toEqual({ available: 6n * TON, held: 0n });
    expect(await ledger.balance(`req:${B}`)).toEqual({ available: 2n * TON, held: 0n });
    expect(await ledger.getCursor()).toEqual({ lt: txs[2]!.lt, hash: txs[2]!.hash });
    expect(await ledger.liabilities()).toBe(8n * TON);
    expect(sumOfAccounts(store)).toBe(0n);
    expect(r.alerts).toEqual([]);
  });

  it("credits once when the watcher restarts after every transaction (page size 1)", async () => {
    const txs = [deposit(A, 5n * TON), deposit(A, 3n * TON), deposit(B, 1n * TON)];
    const { ledger, opts } = setup(txs);
    for (let i = 0; i < 5; i++) await runWatcher(opts({ pageSize: 1, maxPages: 1 }));
    expect(await ledger.balance(`req:${A}`)).toEqual({ available: 8n * TON, held: 0n });
    expect(await ledger.balance(`req:${B}`)).toEqual({ available: 1n * TON, held: 0n });
  });

  it("credits once when a pass crashes after crediting but before saving the cursor", async () => {
    const txs = [deposit(A, 5n * TON), deposit(A, 3n * TON)];
    const { store, ledger, opts } = setup(txs);
    // transact #1 = the vault binding; #2, #3 = the two credits; #4 = setCursor -> fails
    store.failNextTransacts = 0;
    const orig = store.transact.bind(store);
    let n = 0;
    store.transact = async (ops) => {
      n++;
      if (n === 4) throw new Error("crash before the cursor is saved");
      return orig(ops);
    };
    await expect(runWatcher(opts())).rejects.toThrow("crash before the cursor is saved");
    expect(await ledger.getCursor()).toBeNull();

    const r = await runWatcher(opts());

    expect({ deposits: r.deposits, duplicates: r.duplicates }).toEqual({ deposits: 0, duplicates: 2 });
    expect(await ledger.balance(`req:${A}`)).toEqual({ available: 8n * TON, held: 0n });
  });

  it("credits once when the reader serves the same page twice", async () => {
    const txs = [deposit(A, 5n * TON), deposit(B, 1n * TON)];
    const { ledger, reader, opts } = setup(txs);
    await runWatcher(opts());
    reader.repeatFirstPageOnce = true;

    const r = await runWatcher(opts());

    expect(r.duplicates).toBe(2);
    expect(await ledger.balance(`req:${A}`)).toEqual({ available: 5n * TON, held: 0n });
  });

  it("ignores an aborted deposit (value bounced) and raises a bounce alert", async () => {
    const { ledger, alerts, opts } = setup([deposit(A, 1n, { aborted: true, exitCode: 1008, outValue: 0n })]);
    const r = await runWatcher(opts());
    expect(r.bounces).toBe(1);
    expect(await ledger.balance(`req:${A}`)).toEqual({ available: 0n, held: 0n });
    expect(alerts.raised.map((a) => [a.key, a.severity])).toEqual([["chain.bounce:deposit", "info"]]);
  });
});

describe("runWatcher: withdrawals and redemptions", () => {
  let s: ReturnType<typeof setup>;
  beforeEach(async () => {
    s = setup();
    s.reader.balance = 100n * TON;
  });

  it("records a withdrawal the coordinator signed: debits the requester, no alert", async () => {
    await s.ledger.recordIssuedWithdrawal({ account: A, seqno: 0, amount: 2n * TON, to: "0:" + "11".repeat(32), expiry: 0 }, 0);
    s.reader.txs = [deposit(A, 5n * TON), withdraw(A, 2n * TON, 0, "0:" + "11".repeat(32))];

    const r = await runWatcher(s.opts());

    expect(r.withdrawals).toBe(1);
    expect(await s.ledger.balance(`req:${A}`)).toEqual({ available: 3n * TON, held: 0n });
    expect(r.alerts).toEqual([]);
    expect(sumOfAccounts(s.store)).toBe(0n);
  });

  it("raises a critical alert for a withdrawal nobody signed (still recorded: the chain is the truth)", async () => {
    const tx = withdraw(A, 2n * TON, 0, "0:" + "22".repeat(32));
    s.reader.txs = [deposit(A, 5n * TON), tx];

    const r = await runWatcher(s.opts());

    expect(await s.ledger.balance(`req:${A}`)).toEqual({ available: 3n * TON, held: 0n });
    const alert = s.alerts.raised.find((a) => a.key === `chain.unmatched-outflow:withdraw:${tx.hash}`);
    expect(alert?.severity).toBe("critical");
    expect(r.alerts).toContain(`chain.unmatched-outflow:withdraw:${tx.hash}`);
  });

  it("records redemptions as the difference to what was already redeemed, from the worker's vouchered earnings (vch:<id>)", async () => {
    await s.store.transact([{ op: "update", table: "accounts", key: { pk: "vch:worker-1", sk: "balance" }, add: { available: 3n * TON } }]);
    await s.store.transact([{ op: "update", table: "accounts", key: { pk: "ext:faucet", sk: "balance" }, add: { available: -3n * TON } }]);
    await s.ledger.recordIssuedVoucher({ workerId: "worker-1", payee: W, worker: W, cumulative: 1n * TON, expiry: 0 }, 0);
    await s.ledger.recordIssuedVoucher({ workerId: "worker-1", payee: W, worker: W, cumulative: 2n * TON, expiry: 0 }, 0);
    s.reader.txs = [redeem(W, 1n * TON, 1n * TON), redeem(W, 2n * TON, 1n * TON)];

    const r = await runWatcher(s.opts());

    expect(r.redemptions).toBe(2);
    expect(await s.ledger.balance("vch:worker-1")).toEqual({ available: 1n * TON, held: 0n });
    expect(await s.ledger.redeemed(W)).toBe(2n * TON);
    expect(r.alerts).toEqual([]);
    expect(sumOfAccounts(s.store)).toBe(0n);
  });

  it("vault v2: two payees redeemed to one shared address are each booked against their own vouchers, by payee; no alert", async () => {
    // Prepare: worker-1 and worker-2 vouchered to the same address W under their own payees
    const [P1, P2] = ["1".repeat(64), "2".repeat(64)];
    for (const [id, amount] of [["worker-1", 2n * TON] as const, ["worker-2", 3n * TON] as const]) {
      await s.store.transact([{ op: "update", table: "accounts", key: { pk: `vch:${id}`, sk: "balance" }, add: { available: amount } }]);
      await s.store.transact([{ op: "update", table: "accounts", key: { pk: "ext:faucet", sk: "balance" }, add: { available: -amount } }]);
    }
    await s.ledger.recordIssuedVoucher({ workerId: "worker-1", payee: P1, worker: W, cumulative: 2n * TON, expiry: 0 }, 0);
    await s.ledger.recordIssuedVoucher({ workerId: "worker-2", payee: P2, worker: W, cumulative: 3n * TON, expiry: 0 }, 0);
    s.reader.txs = [
      redeem(P2, 3n * TON, 3n * TON, { worker: W, due: 3n * TON }),
      redeem(P1, 2n * TON, 2n * TON, { worker: W, due: 2n * TON }),
    ];

    // Act
    const r = await runWatcher(s.opts());

    // Assess
    expect(r.redemptions).toBe(2);
    expect(r.alerts).toEqual([]);
    expect(await s.ledger.balance("vch:worker-1")).toEqual({ available: 0n, held: 0n });
    expect(await s.ledger.balance("vch:worker-2")).toEqual({ available: 0n, held: 0n });
    expect([await s.ledger.redeemed(P1), await s.ledger.redeemed(P2)]).toEqual([2n * TON, 3n * TON]);
    expect(sumOfAccounts(s.store)).toBe(0n);
  });

  it("raises a critical alert for a voucher redeemed above what was signed", async () => {
    await s.ledger.recordIssuedVoucher({ workerId: "worker-1", payee: W, worker: W, cumulative: 1n * TON, expiry: 0 }, 0);
    const tx = redeem(W, 5n * TON, 5n * TON);
    s.reader.txs = [tx];
    await runWatcher(s.opts());
    expect(s.alerts.raised.map((a) => a.key)).toContain(`chain.unmatched-outflow:redeem:${tx.hash}`);
  });

  it("raises a critical alert when value leaves the vault on a transaction that explains none", async () => {
    const tx = vaultTx({ kind: "topup", inValue: TON, outValue: 7n * TON });
    s.reader.txs = [tx];
    await runWatcher(s.opts());
    expect(s.alerts.raised.find((a) => a.key === `chain.unmatched-outflow:${tx.hash}`)?.severity).toBe("critical");
  });

  it("a withdrawal that pays out more than amount + the gas it brought is an unmatched outflow", async () => {
    await s.ledger.recordIssuedWithdrawal({ account: A, seqno: 0, amount: TON, to: "0:" + "11".repeat(32), expiry: 0 }, 0);
    const funded = deposit(A, 5n * TON); // first, so the history is in lt order as a reader serves it
    const tx = withdraw(A, TON, 0, "0:" + "11".repeat(32), { inValue: 50_000_000n, outValue: TON + 60_000_000n });
    s.reader.txs = [funded, tx];
    await runWatcher(s.opts());
    expect(s.alerts.raised.map((a) => a.key)).toEqual([`chain.unmatched-outflow:${tx.hash}`]);
  });

  it("a redemption that pays out more than its due (the cumulative less what the address was paid) + the gas it brought is an unmatched outflow", async () => {
    // Prepare: 2 TON vouchered, 1 TON of it redeemed; the next redemption is due 1 TON but pays the whole cumulative again
    await s.ledger.recordIssuedVoucher({ workerId: "worker-1", payee: W, worker: W, cumulative: 2n * TON, expiry: 0 }, 0);
    const first = redeem(W, TON, TON);
    const again = redeem(W, 2n * TON, TON, { due: TON, outValue: 2n * TON + 45_000_000n });
    s.reader.txs = [first, again];

    // Act
    await runWatcher(s.opts());

    // Assess: within cumulative + gas, but above due + gas
    expect(s.alerts.raised.map((a) => a.key)).toEqual([`chain.unmatched-outflow:${again.hash}`]);
  });
});

/**
 * The vault holds exactly what A is owed (5 TON); A's signed withdrawal of 2 TON lands (and the
 * vault pays it) between the pass's last page and its balance read.
 */
async function withdrawalLandingAtBalanceRead() {
  const s = setup([deposit(A, 5n * TON)]);
  s.reader.balance = 5n * TON;
  await s.ledger.recordIssuedWithdrawal({ account: A, seqno: 0, amount: 2n * TON, to: "0:" + "11".repeat(32), expiry: 0 }, 0);
  const getVaultBalance = s.reader.getVaultBalance.bind(s.reader);
  s.reader.getVaultBalance = async () => {
    s.reader.getVaultBalance = getVaultBalance;
    s.reader.txs.push(withdraw(A, 2n * TON, 0, "0:" + "11".repeat(32)));
    s.reader.balance = 3n * TON;
    return getVaultBalance();
  };
  return s;
}

describe("runWatcher: alerts", () => {
  it("under-collateral: vault balance below requester balances + unredeemed earnings", async () => {
    const { reader, alerts, opts } = setup([deposit(A, 5n * TON)]);
    reader.balance = 4n * TON;
    const r = await runWatcher(opts());
    const a = alerts.raised.find((x) => x.key === "chain.undercollateral");
    expect(a?.severity).toBe("critical");
    expect(a?.details).toEqual({ vaultBalance: String(4n * TON), liabilities: String(5n * TON), shortfall: String(TON) });
    expect({ vaultBalance: r.vaultBalance, liabilities: r.liabilities }).toEqual({ vaultBalance: 4n * TON, liabilities: 5n * TON });
  });

  it("false undercollateral alert: a withdrawal that lands after the pass's last page and before its balance read is no shortfall", async () => {
    // Prepare
    const { alerts, opts } = await withdrawalLandingAtBalanceRead();
    // Act
    const r = await runWatcher(opts());
    // Assess
    expect(alerts.raised.map((a) => a.key)).not.toContain("chain.undercollateral");
    expect({ vaultBalance: r.vaultBalance, liabilities: r.liabilities, withdrawals: r.withdrawals }).toEqual({
      vaultBalance: 3n * TON,
      liabilities: 3n * TON,
      withdrawals: 1,
    });
  });

  it("false undercollateral alert: the same, from an indexer whose pages start at the cursor's own transaction (inclusive pagination; found by the simulation with stalled store reads)", async () => {
    // Prepare: as above, and every page after a cursor starts with the cursor's transaction
    // again, as some indexers paginate
    const { reader, alerts, opts } = await withdrawalLandingAtBalanceRead();
    const page = reader.getVaultTransactions.bind(reader);
    reader.getVaultTransactions = async (after, limit) => {
      if (!after) return page(after, limit);
      const at = reader.txs.findIndex((t) => t.lt === after.lt);
      const txs = reader.txs.slice(at, at + limit);
      return { txs, cursor: txs.length ? { lt: txs.at(-1)!.lt, hash: txs.at(-1)!.hash } : after };
    };
    // Act
    const r = await runWatcher(opts());
    // Assess: it saw the withdrawal newer than its cursor, read on, and compared at one point
    expect(alerts.raised.map((a) => a.key)).not.toContain("chain.undercollateral");
    expect({ vaultBalance: r.vaultBalance, liabilities: r.liabilities, withdrawals: r.withdrawals }).toEqual({
      vaultBalance: 3n * TON,
      liabilities: 3n * TON,
      withdrawals: 1,
    });
  });

  it("false undercollateral alert: an overlapping pass that credits a new deposit between this pass's balance and liabilities reads is no shortfall", async () => {
    // Prepare: B deposits 4 TON just after this pass read the balance, and an overlapping pass
    // credits it before this one reads the liabilities
    const { reader, alerts, opts } = setup([deposit(A, 5n * TON)]);
    reader.balance = 5n * TON;
    const getVaultBalance = reader.getVaultBalance.bind(reader);
    reader.getVaultBalance = async () => {
      reader.getVaultBalance = getVaultBalance;
      const before = await getVaultBalance();
      reader.txs.push(deposit(B, 4n * TON));
      reader.balance = 9n * TON;
      await runWatcher(opts()); // the overlapping pass
      return before;
    };
    // Act
    const r = await runWatcher(opts());
    // Assess
    expect(alerts.raised.map((a) => a.key)).not.toContain("chain.undercollateral");
    expect({ vaultBalance: r.vaultBalance, liabilities: r.liabilities }).toEqual({ vaultBalance: 9n * TON, liabilities: 9n * TON });
  });

  it("a pass left behind (stopped at its page limit) gives no collateral verdict: the balance already holds what it has not read", async () => {
    // Prepare: a withdrawal the pass does not reach has already lowered the balance
    const { ledger, reader, alerts, opts } = setup();
    await ledger.recordIssuedWithdrawal({ account: A, seqno: 0, amount: 2n * TON, to: "0:" + "11".repeat(32), expiry: 0 }, 0);
    reader.txs = [deposit(A, 5n * TON), withdraw(A, 2n * TON, 0, "0:" + "11".repeat(32))];
    reader.balance = 3n * TON;
    // Act
    const behind = await runWatcher(opts({ pageSize: 1, maxPages: 1 }));
    const caughtUp = await runWatcher(opts({ pageSize: 1, maxPages: 5 }));
    // Assess
    expect(behind).toMatchObject({ hasMore: true, vaultBalance: null, liabilities: null });
    expect(caughtUp).toMatchObject({ hasMore: false, vaultBalance: 3n * TON, liabilities: 3n * TON });
    expect(alerts.raised.map((a) => a.key)).not.toContain("chain.undercollateral");
  });

  it("an inbound bounce raises a warning", async () => {
    const { alerts, opts } = setup([vaultTx({ kind: "bounce", bounced: true, inValue: TON })]);
    await runWatcher(opts());
    expect(alerts.raised.map((a) => [a.key, a.severity])).toEqual([["chain.bounce:inbound", "warning"]]);
  });

  it("lag: transactions older than the threshold left for the next pass", async () => {
    const old = Math.floor(NOW_MS / 1000) - 3600;
    const txs = [deposit(A, TON, { utime: old }), deposit(A, TON, { utime: old + 1 }), deposit(A, TON, { utime: old + 2 })];
    const { alerts, opts } = setup(txs);
    const r = await runWatcher(opts({ pageSize: 1, maxPages: 1 }));
    expect({ hasMore: r.hasMore, lagSeconds: r.lagSeconds }).toEqual({ hasMore: true, lagSeconds: 3599 });
    expect(alerts.raised.map((a) => a.key)).toContain("chain.lag");
  });

  it("issue 9 #3: a pass that stops at its page limit with transactions left is not caught up; one that reads to the end is, as of its start", async () => {
    const txs = [deposit(A, TON), deposit(A, TON), deposit(A, TON)];
    const { ledger, opts } = setup(txs);
    let now = NOW_MS;
    const clock = () => (now += 1000);

    const limited = await runWatcher(opts({ pageSize: 1, maxPages: 2, now: clock }));
    const afterLimited = { lastPass: await ledger.lastPassAt(), caughtUp: await ledger.lastCaughtUpAt() };
    const full = await runWatcher(opts({ pageSize: 1, maxPages: 5, now: clock }));

    expect(limited.hasMore).toBe(true);
    expect(afterLimited).toEqual({ lastPass: expect.any(Number), caughtUp: null });
    expect(full.hasMore).toBe(false);
    expect(await ledger.lastCaughtUpAt()).toBeLessThan((await ledger.lastPassAt())!); // the start of the pass, not its end
    expect(await ledger.lastCaughtUpAt()).toBeGreaterThan(afterLimited.lastPass!);
  });

  it("no lag alert when the backlog is recent", async () => {
    const fresh = Math.floor(NOW_MS / 1000) - 5;
    const { alerts, opts } = setup([deposit(A, TON, { utime: fresh }), deposit(A, TON, { utime: fresh })]);
    const r = await runWatcher(opts({ pageSize: 1, maxPages: 1 }));
    expect(r.hasMore).toBe(true);
    expect(alerts.raised.map((a) => a.key)).not.toContain("chain.lag");
  });

  it("reader failure: raises chain.reader-error, and chain.lag when the last good pass is too old; rethrows", async () => {
    const { reader, ledger, alerts, opts } = setup([]);
    await ledger.markPass(NOW_MS - 3_600_000, { caughtUpAsOf: NOW_MS - 3_600_000 });
    reader.failNext = new Error("toncenter 503");
    await expect(runWatcher(opts())).rejects.toThrow("toncenter 503");
    expect(alerts.raised.map((a) => a.key)).toEqual(["chain.reader-error", "chain.lag"]);
  });

  it("value the vault kept without a credit log is reported, not credited", async () => {
    const tx = vaultTx({ kind: "unknown", inValue: 5n * TON, from: "0:" + "33".repeat(32) });
    const { ledger, alerts, opts } = setup([tx]);
    await runWatcher(opts());
    expect(alerts.raised.map((a) => [a.key, a.severity])).toEqual([[`chain.uncredited-inflow:${tx.hash}`, "warning"]]);
    expect(await ledger.liabilities()).toBe(0n);
  });

  it("key rotation raises a warning", async () => {
    const { alerts, opts } = setup([vaultTx({ kind: "admin", inValue: 50_000_000n })]);
    await runWatcher(opts());
    expect(alerts.raised.map((a) => [a.key, a.severity])).toEqual([["chain.key-rotated", "warning"]]);
  });
});

describe("runWatcher: the vault's two-step operations (per-account and per-worker wallets)", () => {
  it("the routing halves move nothing in the ledger; the credit comes only with the log, the payment only from the approval", async () => {
    // Prepare: a deposit routed then credited, a withdrawal routed then paid, a redemption routed then paid
    const txs = [
      vaultTx({ kind: "deposit-routed", amount: 5n * TON, inValue: 5n * TON, outValue: 10_000_000n }),
      deposit(A, 5n * TON, { inValue: 7_000_000n }),
      vaultTx({ kind: "withdraw-routed", account: A, amount: 2n * TON, seqno: 0, to: W, inValue: 50_000_000n, outValue: 45_000_000n }),
      withdraw(A, 2n * TON, 0, W),
      vaultTx({ kind: "redeem-routed", worker: W, amount: TON, inValue: 50_000_000n, outValue: 45_000_000n }),
    ];
    const s = setup(txs);

    // Act
    const r = await runWatcher(s.opts());

    // Assess
    expect({ deposits: r.deposits, withdrawals: r.withdrawals, redemptions: r.redemptions, bounces: r.bounces }).toEqual({
      deposits: 1,
      withdrawals: 1,
      redemptions: 0,
      bounces: 0,
    });
    expect(await s.ledger.balance(`req:${A}`)).toEqual({ available: 3n * TON, held: 0n });
    expect(r.alerts.filter((k) => k.startsWith("chain.unmatched-outflow"))).toEqual([`chain.unmatched-outflow:withdraw:${txs[3]!.hash}`]); // nobody recorded issuing it
    expect(sumOfAccounts(s.store)).toBe(0n);
  });

  it("a routing half that sends out more than came in is an unmatched outflow", async () => {
    const tx = vaultTx({ kind: "deposit-routed", amount: TON, inValue: TON, outValue: TON + 1n });
    const s = setup([tx]);
    await runWatcher(s.opts());
    expect(s.alerts.raised.map((a) => a.key)).toEqual([`chain.unmatched-outflow:${tx.hash}`]);
  });

  it("wallet refusals are reported under their operation, credit and pay nothing; a refunded deposit may send back exactly what it names", async () => {
    // Prepare
    const refund = vaultTx({ kind: "deposit-refund", bounced: true, amount: 3n * TON, inValue: 8_000_000n, outValue: 3n * TON });
    const tooMuch = vaultTx({
      kind: "deposit-refund",
      bounced: true,
      amount: 3n * TON,
      inValue: 8_000_000n,
      outValue: 3n * TON + 8_000_001n,
    });
    const refusedW = vaultTx({ kind: "withdraw-refused", bounced: true, amount: 2n * TON, inValue: 40_000_000n });
    const refusedR = vaultTx({ kind: "redeem-refused", bounced: true, amount: TON, inValue: 40_000_000n });
    const insolvent = vaultTx({ kind: "redeem", worker: W, amount: TON, aborted: true, exitCode: 1009, inValue: 40_000_000n });
    const s = setup([refund, tooMuch, refusedW, refusedR, insolvent]);

    // Act
    const r = await runWatcher(s.opts());

    // Assess
    expect({ deposits: r.deposits, withdrawals: r.withdrawals, redemptions: r.redemptions, bounces: r.bounces }).toEqual({
      deposits: 0,
      withdrawals: 0,
      redemptions: 0,
      bounces: 5,
    });
    expect(s.alerts.raised.map((a) => [a.key, a.severity])).toEqual([
      ["chain.bounce:deposit", "warning"],
      ["chain.bounce:deposit", "warning"],
      [`chain.unmatched-outflow:${tooMuch.hash}`, "critical"],
      ["chain.bounce:withdraw", "info"],
      ["chain.bounce:redeem", "info"],
      [`chain.insolvent-refusal:${insolvent.hash}`, "critical"],
    ]);
    expect(await s.ledger.liabilities()).toBe(0n);
  });
});

describe("runWatcher: the vault's insolvency refusals are critical, one alert per transaction", () => {
  const INSOLVENT = 1009; // ERR_VAULT_INSOLVENT in contracts/vault.tact

  it("a refused approved withdrawal and refused vouchers each raise their own critical alert, naming who was not paid; nothing moves", async () => {
    // Prepare
    const withdrawal = vaultTx({
      kind: "withdraw",
      account: A,
      amount: 2n * TON,
      seqno: 0,
      aborted: true,
      exitCode: INSOLVENT,
      inValue: 40_000_000n,
    });
    const refusedVoucher = () =>
      vaultTx({ kind: "redeem", worker: W, amount: TON, due: TON, aborted: true, exitCode: INSOLVENT, inValue: 40_000_000n });
    const voucher1 = refusedVoucher();
    const voucher2 = refusedVoucher();
    const s = setup([withdrawal, voucher1, voucher2]);

    // Act
    const r = await runWatcher(s.opts());

    // Assess
    expect({ withdrawals: r.withdrawals, redemptions: r.redemptions, bounces: r.bounces }).toEqual({
      withdrawals: 0,
      redemptions: 0,
      bounces: 3,
    });
    expect(s.alerts.raised.map((a) => [a.key, a.severity])).toEqual([
      [`chain.insolvent-refusal:${withdrawal.hash}`, "critical"],
      [`chain.insolvent-refusal:${voucher1.hash}`, "critical"],
      [`chain.insolvent-refusal:${voucher2.hash}`, "critical"],
    ]);
    expect(s.alerts.raised[0]!.details).toMatchObject({
      operation: "withdraw",
      account: A,
      amount: (2n * TON).toString(),
      exitCode: INSOLVENT,
    });
    expect(s.alerts.raised[0]!.title).toContain("a withdrawal");
    expect(s.alerts.raised[1]!.details).toMatchObject({ operation: "redeem", worker: W, due: TON.toString(), exitCode: INSOLVENT });
    expect(s.alerts.raised[1]!.title).toContain("voucher");
    expect(await s.ledger.liabilities()).toBe(0n);
    expect(await s.ledger.redeemed(W)).toBe(0n);
  });

  it("a Withdraw refused at the vault's first check stays routine, insolvency code or not (a replay of a large withdrawal already paid fails there)", async () => {
    // Prepare
    const replayBig = vaultTx({
      kind: "withdraw-routed",
      account: A,
      amount: TON,
      aborted: true,
      exitCode: INSOLVENT,
      inValue: 40_000_000n,
    });
    const expired = vaultTx({ kind: "withdraw-routed", account: A, amount: TON, aborted: true, exitCode: 1002, inValue: 40_000_000n });
    const replay = vaultTx({ kind: "withdraw-refused", bounced: true, amount: TON, inValue: 40_000_000n });
    const s = setup([replayBig, expired, replay]);

    // Act
    await runWatcher(s.opts());

    // Assess
    expect(s.alerts.raised.map((a) => [a.key, a.severity])).toEqual([
      ["chain.bounce:withdraw", "info"],
      ["chain.bounce:withdraw", "info"],
      ["chain.bounce:withdraw", "info"],
    ]);
  });

  it("an approved withdrawal or voucher refused for another reason stays routine", async () => {
    // Prepare: ERR_NOT_WALLET (1013), an approval from an address that is not the wallet
    const forged = vaultTx({ kind: "redeem", worker: W, amount: TON, aborted: true, exitCode: 1013, inValue: 40_000_000n });
    const s = setup([forged]);

    // Act
    await runWatcher(s.opts());

    // Assess
    expect(s.alerts.raised.map((a) => [a.key, a.severity])).toEqual([["chain.bounce:redeem", "info"]]);
  });

  it("a bounce that reaches the vault carries no insolvency verdict, whatever exit code it shows", async () => {
    // Prepare: a wallet's refusal arrives as a bounced message; only the vault throws ERR_VAULT_INSOLVENT
    const bounced = vaultTx({
      kind: "redeem-refused",
      bounced: true,
      aborted: true,
      exitCode: INSOLVENT,
      amount: TON,
      inValue: 40_000_000n,
    });
    const s = setup([bounced]);

    // Act
    await runWatcher(s.opts());

    // Assess
    expect(s.alerts.raised.map((a) => [a.key, a.severity])).toEqual([["chain.bounce:redeem", "info"]]);
  });
});

describe("runWatcher: the vault binding is not optional", () => {
  it("a pass without the vault its reader reads (a caller that cast it away) reads and writes nothing, and throws", async () => {
    // Prepare
    const { reader, store, opts } = setup([deposit(A, 5n * TON)]);
    const { vault: _vault, ...unbound } = opts();
    // Act
    // @ts-expect-error the vault is required: a caller cannot leave the ledger unbound
    const pass = runWatcher(unbound);
    // Assess
    await expect(pass).rejects.toThrow(TypeError);
    expect(reader.calls).toBe(0);
    expect([...store.scan("chain"), ...store.scan("accounts")]).toEqual([]);
  });
});
