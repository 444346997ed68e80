/**
 * core/chain/watcher.ts, alert by alert (issue 14, mutation-checked): each alert's key,
 * severity, title and details, and the exact bound that raises it (lag thresholds to the
 * second, what an outflow may be for each kind of transaction), duplicates counted for every
 * kind, transaction times handed to the ledger, and a transaction the adapter could not
 * attribute refused loudly. watcher.test.ts covers the money moved and the flows.
 */
import { describe, expect, it } from "vitest";
import type { Alert } from "../ports";
import { createMemoryStore } from "../../local/memory-store";
import { collectingAlerts } from "./dedup";
import { accountId, deposit, redeem, SCRIPTED_VAULT, ScriptedReader, vaultTx, withdraw, workerAddress } from "./fixtures";
import { StoreChainLedger } from "./store-ledger";
import type { VaultTx } from "./types";
import { runWatcher, type WatcherOptions } from "./watcher";

const TON = 1_000_000_000n;
const NOW_MS = 1_750_000_100_000;
const A = accountId(11);
const W = workerAddress(11);
const TO = "0:" + "11".repeat(32);

/** Factory: a watcher over a memory store, a scripted vault history and collected alerts. */
function setup(txs: VaultTx[] = [], o: { now?: number; threshold?: number } = {}) {
  const store = createMemoryStore();
  const ledger = new StoreChainLedger(store);
  const reader = new ScriptedReader(txs);
  reader.balance = 1_000n * TON;
  const alerts = collectingAlerts();
  const opts = (p: Partial<WatcherOptions> = {}): WatcherOptions => ({
    reader,
    vault: SCRIPTED_VAULT,
    ledger,
    alerts,
    now: () => o.now ?? NOW_MS,
    lagThresholdSeconds: o.threshold ?? 600,
    ...p,
  });
  const only = (prefix: string): Alert[] => alerts.raised.filter((a) => a.key.startsWith(prefix));
  return { store, ledger, reader, alerts, opts, only };
}

describe("reader failures and lag", () => {
  it("a failing read: chain.reader-error (warning) with the error and the cursor; the pass rethrows", async () => {
    const s = setup([deposit(A, TON)]);
    await runWatcher(s.opts());
    const cursor = await s.ledger.getCursor();
    s.reader.failNext = new Error("toncenter 502");
    await expect(runWatcher(s.opts())).rejects.toThrow("toncenter 502");
    expect(s.only("chain.reader-error")).toEqual([
      {
        key: "chain.reader-error",
        severity: "warning",
        title: "chain watcher pass failed; it resumes from the saved cursor",
        details: { error: "toncenter 502", cursor },
      },
    ]);
    expect(s.only("chain.lag")).toEqual([]); // the last good pass is recent
  });

  it("a failing read with no pass ever: no lag alert (nothing to measure from)", async () => {
    const s = setup();
    s.reader.failNext = new Error("down");
    await expect(runWatcher(s.opts())).rejects.toThrow("down");
    expect(s.only("chain.lag")).toEqual([]);
  });

  it("the last good pass exactly the threshold ago is not late; one second more is chain.lag (critical) with the seconds", async () => {
    const s = setup();
    await runWatcher(s.opts({ now: () => NOW_MS }));
    s.reader.failNext = new Error("down");
    await expect(runWatcher(s.opts({ now: () => NOW_MS + 600_000 }))).rejects.toThrow();
    expect(s.only("chain.lag")).toEqual([]);
    s.reader.failNext = new Error("down");
    const late = await runWatcher(s.opts({ now: () => NOW_MS + 601_500 })).catch((e) => e);
    expect(late).toBeInstanceOf(Error);
    expect(s.only("chain.lag")).toEqual([
      {
        key: "chain.lag",
        severity: "critical",
        title: "no successful chain watcher pass within the lag threshold",
        details: { lagSeconds: 601 },
      },
    ]);
  });

  it("a backlog exactly the threshold old is not late; one second older is chain.lag (warning) with the lag, threshold and cursor", async () => {
    const nowS = NOW_MS / 1000;
    const on = setup([deposit(A, TON), deposit(A, TON, { utime: nowS - 600 })]);
    const r0 = await runWatcher(on.opts({ pageSize: 1, maxPages: 1 }));
    expect([r0.hasMore, r0.lagSeconds, on.only("chain.lag")]).toEqual([true, 600, []]);
    const over = setup([deposit(A, TON), deposit(A, TON, { utime: nowS - 601 })]);
    const r1 = await runWatcher(over.opts({ pageSize: 1, maxPages: 1 }));
    expect(over.only("chain.lag")).toEqual([
      {
        key: "chain.lag",
        severity: "warning",
        title: "chain watcher is behind the vault's transactions",
        details: { lagSeconds: 601, thresholdSeconds: 600, cursor: r1.cursor },
      },
    ]);
  });

  it("undercollateral names balance, liabilities and the shortfall", async () => {
    const s = setup([deposit(A, 5n * TON)]);
    s.reader.balance = 3n * TON;
    await runWatcher(s.opts());
    expect(s.only("chain.undercollateral")).toEqual([
      {
        key: "chain.undercollateral",
        severity: "critical",
        title: "vault balance is below liabilities",
        details: { vaultBalance: String(3n * TON), liabilities: String(5n * TON), shortfall: String(2n * TON) },
      },
    ]);
  });
});

describe("bounces and refusals", () => {
  it.each([
    [
      "deposit-refund",
      { bounced: true, amount: 7n },
      "chain.bounce:deposit",
      "warning",
      "an account wallet could not record a deposit: the vault sent it back, nothing was credited",
      { refunded: "7" },
    ],
    [
      "withdraw-refused",
      { bounced: true },
      "chain.bounce:withdraw",
      "info",
      "the account wallet refused a withdrawal (seqno, balance or no wallet): nothing was paid",
      {},
    ],
    [
      "redeem-refused",
      { bounced: true },
      "chain.bounce:redeem",
      "info",
      "the payout wallet refused a voucher (nothing due): nothing was paid",
      {},
    ],
    ["deposit", { bounced: true }, "chain.bounce:inbound", "warning", "a message from the vault bounced back", {}],
    ["withdraw-routed", { aborted: true }, "chain.bounce:withdraw", "info", "the vault rejected or refunded an inbound message", {}],
    ["bounce", {}, "chain.bounce:bounce", "info", "the vault rejected or refunded an inbound message", {}],
    ["topup", { aborted: true }, "chain.bounce:topup", "info", "the vault rejected or refunded an inbound message", {}],
  ] as const)("%s: chain.bounce", async (kind, p, key, severity, title, extra) => {
    const tx = vaultTx({ kind, inValue: 5n, exitCode: 41, from: "0:" + "22".repeat(32), ...p });
    const s = setup([tx]);
    const r = await runWatcher(s.opts());
    expect(r.bounces).toBe(1);
    expect(s.alerts.raised).toEqual([
      {
        key,
        severity,
        title,
        details: { txHash: tx.hash, lt: tx.lt, kind, exitCode: 41, from: "0:" + "22".repeat(32), inValue: "5", ...extra },
      },
    ]);
  });

  it("a bounce may send back what came in; a refunded deposit also the amount it names; never more", async () => {
    const ok = setup([
      vaultTx({ kind: "deposit-refund", bounced: true, inValue: 5n, amount: 7n, outValue: 12n }),
      vaultTx({ kind: "bounce", inValue: 5n, outValue: 5n }),
    ]);
    await runWatcher(ok.opts());
    expect(ok.only("chain.unmatched-outflow")).toEqual([]);
    const more = vaultTx({ kind: "deposit-refund", bounced: true, inValue: 5n, amount: 7n, outValue: 13n });
    const notRefund = vaultTx({ kind: "withdraw-refused", bounced: true, inValue: 5n, amount: 7n, outValue: 12n }); // only a deposit refund adds its amount
    const bad = setup([more, notRefund]);
    await runWatcher(bad.opts());
    expect(bad.only("chain.unmatched-outflow")).toEqual([
      {
        key: `chain.unmatched-outflow:${more.hash}`,
        severity: "critical",
        title: "value left the vault that no withdrawal or voucher explains",
        details: { txHash: more.hash, lt: more.lt, kind: "deposit-refund", outValue: "13", allowed: "12" },
      },
      {
        key: `chain.unmatched-outflow:${notRefund.hash}`,
        severity: "critical",
        title: "value left the vault that no withdrawal or voucher explains",
        details: { txHash: notRefund.hash, lt: notRefund.lt, kind: "withdraw-refused", outValue: "12", allowed: "5" },
      },
    ]);
  });

  it("an aborted deposit-refund that was not itself a bounce may send back only what came in", async () => {
    const tx = vaultTx({ kind: "deposit-refund", aborted: true, inValue: 5n, amount: 7n, outValue: 6n });
    const s = setup([tx]);
    await runWatcher(s.opts());
    expect(s.only("chain.unmatched-outflow").map((a) => a.details)).toEqual([
      { txHash: tx.hash, lt: tx.lt, kind: "deposit-refund", outValue: "6", allowed: "5" },
    ]);
  });
});

describe("money transactions", () => {
  it("a deposit is booked at its transaction's time", async () => {
    const tx = deposit(A, TON, { utime: 1_750_000_050 });
    const s = setup([tx]);
    await runWatcher(s.opts());
    expect(s.store.scan("ledger")).toContainEqual(expect.objectContaining({ kind: "deposit", at: 1_750_000_050_000 }));
  });

  it("a deposit, withdrawal or redemption the adapter could not attribute stops the pass, naming the transaction", async () => {
    for (const [tx, what] of [
      [deposit(A, TON, { account: undefined }), "deposit"],
      [withdraw(A, TON, 0, TO, { account: undefined }), "withdrawal"],
      [redeem(W, TON, TON, { payee: undefined }), "redemption"],
    ] as const) {
      const s = setup([tx]);
      await expect(runWatcher(s.opts())).rejects.toThrow(
        `${what} ${tx.hash} has no ${what === "redemption" ? "payee" : "account"}; the chain adapter must set it`,
      );
    }
  });

  it("withdrawals and redemptions read again count as duplicates", async () => {
    const s = setup([deposit(A, 5n * TON), withdraw(A, TON, 0, TO), redeem(W, TON, TON)]);
    const first = await runWatcher(s.opts());
    await s.store.transact([{ op: "delete", table: "chain", key: { pk: "cursor", sk: "cursor" } }]);
    const again = await runWatcher(s.opts());
    expect([first.withdrawals, first.redemptions, first.duplicates]).toEqual([1, 1, 0]);
    expect([again.withdrawals, again.redemptions, again.deposits, again.duplicates]).toEqual([0, 0, 0, 3]);
  });

  it("a withdrawal nobody signed: the alert says what the coordinator did sign for that seqno, or null", async () => {
    const s = setup();
    await s.ledger.recordIssuedWithdrawal({ account: A, seqno: 0, amount: TON, to: TO, expiry: 99 }, 0);
    const forged = withdraw(A, 3n * TON, 0, TO, { expiry: 100 });
    const noSeqno = withdraw(A, TON, 0, TO, { seqno: undefined });
    s.reader.txs = [deposit(A, 10n * TON), forged, noSeqno];
    await runWatcher(s.opts());
    const unmatched = s.only("chain.unmatched-outflow:withdraw");
    expect(unmatched[0]).toEqual({
      key: `chain.unmatched-outflow:withdraw:${forged.hash}`,
      severity: "critical",
      title: "a withdrawal was paid that the coordinator did not sign (coordinator key compromised?)",
      details: {
        txHash: forged.hash,
        lt: forged.lt,
        kind: "withdraw",
        account: A,
        amount: String(3n * TON),
        seqno: 0,
        to: TO,
        expiry: 100,
        issued: { amount: String(TON), to: TO, expiry: 99 },
      },
    });
    expect(unmatched[1]!.details).toMatchObject({ seqno: undefined, issued: null });
  });

  it("a redemption above what was signed: critical, with what was signed", async () => {
    const s = setup([redeem(W, 5n * TON, 5n * TON)]);
    await s.ledger.recordIssuedVoucher({ workerId: "w1", payee: W, worker: W, cumulative: 2n * TON, expiry: 9 }, 0);
    await runWatcher(s.opts());
    const tx = s.reader.txs[0]!;
    expect(s.only("chain.unmatched-outflow:redeem")).toEqual([
      {
        key: `chain.unmatched-outflow:redeem:${tx.hash}`,
        severity: "critical",
        title: "a voucher was redeemed above what the coordinator signed (coordinator key compromised?)",
        details: {
          txHash: tx.hash,
          lt: tx.lt,
          kind: "redeem",
          payee: W,
          cumulative: String(5n * TON),
          paid: String(5n * TON),
          redeemed: String(5n * TON),
          issued: String(2n * TON),
        },
      },
    ]);
  });

  it("a voucher paid again (what the vault paid the address adds up past what was signed): critical, with the sum", async () => {
    // Prepare: the 2 TON voucher paid in full, then paid in full again (a vault deployed afresh: its payout wallet at 0)
    const s = setup([redeem(W, 2n * TON, 2n * TON, { due: 2n * TON }), redeem(W, 2n * TON, 2n * TON, { due: 2n * TON })]);
    await s.ledger.recordIssuedVoucher({ workerId: "w1", payee: W, worker: W, cumulative: 2n * TON, expiry: 9 }, 0);

    // Act
    await runWatcher(s.opts());

    // Assess: the second one only, naming what the address was paid in all
    const again = s.reader.txs[1]!;
    expect(s.alerts.raised.map((a) => a.key)).toEqual([`chain.unmatched-outflow:redeem:${again.hash}`]);
    expect(s.alerts.raised[0]!.details).toMatchObject({ paid: String(2n * TON), redeemed: String(4n * TON), issued: String(2n * TON) });
  });

  it("a redemption exactly at what was signed raises nothing", async () => {
    const s = setup([redeem(W, 2n * TON, 2n * TON)]);
    await s.ledger.recordIssuedVoucher({ workerId: "w1", payee: W, worker: W, cumulative: 2n * TON, expiry: 9 }, 0);
    await runWatcher(s.opts());
    expect(s.alerts.raised).toEqual([]);
  });
});

describe("other transactions", () => {
  it("key rotation: chain.key-rotated (warning) naming the transaction", async () => {
    const tx = vaultTx({ kind: "admin" });
    const s = setup([tx]);
    await runWatcher(s.opts());
    expect(s.alerts.raised).toEqual([
      {
        key: "chain.key-rotated",
        severity: "warning",
        title: "the vault owner changed the coordinator key",
        details: { txHash: tx.hash, lt: tx.lt, kind: "admin" },
      },
    ]);
  });

  it("unknown value kept: chain.uncredited-inflow only when value came in and none went out", async () => {
    const kept = vaultTx({ kind: "unknown", inValue: 9n, from: "0:" + "33".repeat(32) });
    const s = setup([kept, vaultTx({ kind: "unknown", inValue: 0n }), vaultTx({ kind: "unknown", inValue: 9n, outValue: 1n })]);
    await runWatcher(s.opts());
    expect(s.only("chain.uncredited-inflow")).toEqual([
      {
        key: `chain.uncredited-inflow:${kept.hash}`,
        severity: "warning",
        title: "the vault kept value it neither credited (no DepositCredited log) nor refunded",
        details: { txHash: kept.hash, lt: kept.lt, kind: "unknown", from: "0:" + "33".repeat(32), inValue: "9" },
      },
    ]);
  });

  it.each(["topup", "admin", "unknown", "deposit"] as const)("%s may send nothing out", async (kind) => {
    const tx = kind === "deposit" ? deposit(A, TON, { outValue: 1n }) : vaultTx({ kind, inValue: 5n, outValue: 1n });
    const s = setup([tx]);
    await runWatcher(s.opts());
    expect(s.only("chain.unmatched-outflow").map((a) => a.details)).toEqual([
      { txHash: tx.hash, lt: tx.lt, kind, outValue: "1", allowed: "0" },
    ]);
  });

  it.each(["deposit-routed", "withdraw-routed", "redeem-routed"] as const)("%s may forward what came in, not more", async (kind) => {
    const fine = vaultTx({ kind, inValue: 5n, outValue: 5n });
    const over = vaultTx({ kind, inValue: 5n, outValue: 6n });
    const s = setup([fine, over]);
    await runWatcher(s.opts());
    expect(s.only("chain.unmatched-outflow").map((a) => a.key)).toEqual([`chain.unmatched-outflow:${over.hash}`]);
  });

  it("refusal kinds that did not bounce move nothing and raise nothing", async () => {
    const s = setup([
      vaultTx({ kind: "withdraw-refused", outValue: 0n }),
      vaultTx({ kind: "redeem-refused" }),
      vaultTx({ kind: "deposit-refund" }),
    ]);
    const r = await runWatcher(s.opts());
    expect([r.processed, r.bounces, s.alerts.raised]).toEqual([3, 0, []]);
  });
});
