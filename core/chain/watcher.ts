/**
 * The chain watcher: one pass pages the vault's transactions from the stored cursor, moves
 * money in the ledger exactly once per transaction hash, saves the cursor after every page
 * (so a crash at any point only makes the next pass re-read, never double-credit), and raises
 * alerts through the Alerts port:
 *   chain.bounce            an inbound bounce, a rejected/refunded inbound message, or a refusal
 *                           by an account or payout wallet (the vault keeps per-account and
 *                           per-worker state in child wallets: see VaultTxKind); routine (a
 *                           replay, nothing due), so one key per operation
 *   chain.insolvent-refusal critical, one per transaction: the vault refused to pay a withdrawal
 *                           or a voucher because paying would exceed what was deposited or what
 *                           it holds (ERR_VAULT_INSOLVENT); nothing was paid
 *   chain.unmatched-outflow  value left the vault with no matching signed withdrawal/voucher
 *   chain.undercollateral    vault balance < liabilities (requester balances + unredeemed earnings),
 *                           both as of the same last transaction (see runWatcher)
 *   chain.lag               transactions older than the threshold still unprocessed, no
 *                           successful pass for longer than the threshold, or the reader's view
 *                           of the chain (toncenter's sync time) that far behind the wall clock
 *   chain.withdrawal-after-release  a withdrawal landed whose reservation had been released as
 *                           expired: debited from the requester again (possibly into debt)
 *   chain.uncredited-inflow value the vault kept without a DepositCredited log (nobody credited)
 *   chain.key-rotated       the owner changed the coordinator key
 *   chain.reader-error      the chain could not be read this pass
 *   chain.vault-changed     critical: the configured vault is not the one the ledger belongs to
 *                           (core/chain/vault-binding.ts); the pass reads and writes nothing and
 *                           throws VaultMismatchError
 */
import { VaultExit } from "../../contracts/errors";
import type { Alert, Alerts } from "../ports";
import type { ChainLedger, ChainReader } from "./ports";
import type { Cursor, VaultTx } from "./types";
import { VaultMismatchError } from "./vault-binding";

export interface WatcherOptions {
  reader: ChainReader;
  ledger: ChainLedger;
  alerts: Alerts;
  /** ms since epoch */
  now: () => number;
  lagThresholdSeconds: number;
  /** transactions per page (default 50) */
  pageSize?: number;
  /** pages per pass (default 20); the rest is left for the next pass and counts toward lag */
  maxPages?: number;
  /**
   * The vault `reader` reads (raw "wc:hex"). Every pass first binds the ledger to it
   * (ChainLedger.bindVault) and, on a ledger bound to another vault, reads and writes nothing.
   * Required: a caller that left it out would credit another vault's history on top of the
   * ledger's (core/chain/vault-binding.ts).
   */
  vault: string;
}

export interface WatcherReport {
  processed: number;
  deposits: number;
  duplicates: number;
  withdrawals: number;
  redemptions: number;
  bounces: number;
  /** keys of the alerts raised during this pass */
  alerts: string[];
  cursor: Cursor | null;
  /**
   * the pass stopped at maxPages with transactions left: it is not "caught up", so it does not
   * count toward releasing expired withdrawals (one that landed may be among the unread ones)
   */
  hasMore: boolean;
  /** the collateral snapshot (both at one point of the vault's history); null when this pass took none (hasMore, or the chain kept moving) */
  vaultBalance: bigint | null;
  liabilities: bigint | null;
  lagSeconds: number;
}

export async function runWatcher(o: WatcherOptions): Promise<WatcherReport> {
  const pageSize = o.pageSize ?? 50;
  const maxPages = o.maxPages ?? 20;
  const report: WatcherReport = {
    processed: 0,
    deposits: 0,
    duplicates: 0,
    withdrawals: 0,
    redemptions: 0,
    bounces: 0,
    alerts: [],
    cursor: null,
    hasMore: false,
    vaultBalance: null,
    liabilities: null,
    lagSeconds: 0,
  };
  const raise = async (a: Alert) => {
    report.alerts.push(a.key);
    await o.alerts.raise(a);
  };

  // First, before anything is read or written: the ledger's chain state must be this vault's.
  // Under another vault its history would be credited on top of the old one's balances. The
  // type requires the vault; a caller that cast it away gets no unbound pass either.
  if (typeof o.vault !== "string" || o.vault === "")
    throw new TypeError("runWatcher: `vault` (the raw address the reader reads) is required");
  try {
    await o.ledger.bindVault(o.vault, o.now());
  } catch (e) {
    if (!(e instanceof VaultMismatchError)) throw e;
    await raise({
      key: "chain.vault-changed",
      severity: "critical",
      title:
        "the configured vault is not the one the coordinator's store belongs to: the watcher, withdrawals and vouchers are stopped until the vault is configured back (a new vault needs a fresh store)",
      details: { bound: e.bound, configured: e.configured },
    });
    throw e;
  }

  // What the chain shows when the pass starts is all read by the end of a pass that did not
  // stop at its page limit: that start time is what "caught up" vouches for, or the reader's
  // chain time when it is older. An indexer whose view lags (toncenter minutes behind) shows
  // nothing of a withdrawal that landed in the lag: a pass vouching for its wall-clock start
  // would let core/withdrawals release it as expired and unspent (a double spend, left to the
  // after-release debt to notice).
  const startedAt = o.now();
  let vouchedAt: number | null = startedAt;
  /** the vault's last transaction in the reader's state (chainView): a history that stops below it is behind */
  let lastLt: bigint | null = null;
  let cursor = await o.ledger.getCursor();
  report.cursor = cursor;
  let oldestPendingUtime: number | null = null;
  let pages = 0;
  /** Process pages from the cursor until the chain shows no more (or the page limit: hasMore). */
  const readToEnd = async () => {
    for (;;) {
      const { txs, cursor: next } = await o.reader.getVaultTransactions(cursor, pageSize);
      if (txs.length === 0) return;
      if (pages >= maxPages) {
        report.hasMore = true;
        oldestPendingUtime = txs[0]!.utime;
        return;
      }
      pages++;
      for (const tx of txs) await processTx(o, tx, report, raise);
      if (next) {
        await o.ledger.setCursor(next, o.now());
        cursor = next;
        report.cursor = next;
      }
      if (txs.length < pageSize) return;
    }
  };
  let collateral: { vaultBalance: bigint; liabilities: bigint } | null = null;
  try {
    if (o.reader.chainView) {
      // Unreadable: the pass still credits what it reads (deposits must not wait on it), but
      // vouches for nothing, so no withdrawal is released on it.
      const view = await o.reader.chainView().catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
      if (view instanceof Error || !Number.isFinite(view.at)) {
        vouchedAt = null;
        await raise({
          key: "chain.reader-error",
          severity: "warning",
          title: "the chain reader's view of the chain could not be read: this pass credits, but releases no expired withdrawal",
          details: { error: view instanceof Error ? view.message : `not a time: ${view.at}`, cursor },
        });
      } else {
        vouchedAt = Math.min(startedAt, view.at);
        lastLt = view.lastLt === null ? null : BigInt(view.lastLt);
        const behind = Math.floor((startedAt - view.at) / 1000);
        if (behind > o.lagThresholdSeconds) {
          await raise({
            key: "chain.lag",
            severity: "warning",
            title: "the chain reader's view (toncenter) is behind the wall clock: expired withdrawals wait for it",
            details: { readerBehindSeconds: behind, thresholdSeconds: o.lagThresholdSeconds },
          });
        }
      }
    }
    await readToEnd();
    // Collateral: the vault must hold at least what the ledger owes, compared at ONE point of
    // the vault's history. The balance is the chain's as of when it is read, the liabilities
    // the ledger's as of the transactions processed (by this pass or an overlapping one). A
    // withdrawal or redemption that lands after the last page lowers the balance before any
    // pass records it, and one an overlapping pass records after our balance read lowers the
    // liabilities without it: either way a false shortfall (a deposit the other way round).
    // So: balance, then liabilities, then nothing newer than the cursor may have appeared;
    // else read on and try again. A pass left behind (hasMore) gives no verdict: lag alerts.
    for (let tries = 0; tries < 3 && !report.hasMore; tries++) {
      const vaultBalance = await o.reader.getVaultBalance();
      const liabilities = await o.ledger.liabilities();
      if (!(await newerThan(o.reader, cursor))) {
        collateral = { vaultBalance, liabilities };
        break;
      }
      await readToEnd();
    }
  } catch (e) {
    const lastPass = await o.ledger.lastPassAt();
    await raise({
      key: "chain.reader-error",
      severity: "warning",
      title: "chain watcher pass failed; it resumes from the saved cursor",
      details: { error: e instanceof Error ? e.message : String(e), cursor },
    });
    if (lastPass !== null && (o.now() - lastPass) / 1000 > o.lagThresholdSeconds) {
      report.lagSeconds = Math.floor((o.now() - lastPass) / 1000);
      await raise({
        key: "chain.lag",
        severity: "critical",
        title: "no successful chain watcher pass within the lag threshold",
        details: { lagSeconds: report.lagSeconds },
      });
    }
    throw e;
  }

  if (collateral) {
    report.vaultBalance = collateral.vaultBalance;
    report.liabilities = collateral.liabilities;
  }
  if (report.vaultBalance !== null && report.liabilities !== null && report.vaultBalance < report.liabilities) {
    await raise({
      key: "chain.undercollateral",
      severity: "critical",
      title: "vault balance is below liabilities",
      details: {
        vaultBalance: report.vaultBalance.toString(),
        liabilities: report.liabilities.toString(),
        shortfall: (report.liabilities - report.vaultBalance).toString(),
      },
    });
  }

  if (oldestPendingUtime !== null) {
    report.lagSeconds = Math.max(0, Math.floor(o.now() / 1000) - oldestPendingUtime);
    if (report.lagSeconds > o.lagThresholdSeconds) {
      await raise({
        key: "chain.lag",
        severity: "warning",
        title: "chain watcher is behind the vault's transactions",
        details: { lagSeconds: report.lagSeconds, thresholdSeconds: o.lagThresholdSeconds, cursor: report.cursor },
      });
    }
  }
  // A history that did not reach the state's last transaction (an archival node behind the one
  // that answered the state) showed less than the chain had: the pass vouches for nothing.
  const historyBehind = lastLt !== null && (report.cursor === null || BigInt(report.cursor.lt) < lastLt);
  if (historyBehind && !report.hasMore) {
    await raise({
      key: "chain.lag",
      severity: "warning",
      title: "the chain reader's history (toncenter) stops below the vault's last transaction: expired withdrawals wait for it",
      details: { historyLt: report.cursor?.lt ?? null, lastLt: String(lastLt) },
    });
  }
  await o.ledger.markPass(o.now(), { caughtUpAsOf: report.hasMore || historyBehind ? null : vouchedAt });
  return report;
}

type Raise = (a: Alert) => Promise<void>;

/** Whether the chain shows a transaction after `cursor` (an indexer may serve the cursor's own again: not newer). */
async function newerThan(reader: ChainReader, cursor: Cursor | null): Promise<boolean> {
  // two, not one: a page may start with the cursor's own transaction again (the pagination
  // readToEnd tolerates), and a page of one would then hide the newer one behind it
  const { txs } = await reader.getVaultTransactions(cursor, 2);
  return txs.some((t) => cursor === null || BigInt(t.lt) > BigInt(cursor.lt));
}

/**
 * How a rejected, refunded or bounced transaction is reported: `chain.bounce:<label>` with the
 * operation it belonged to (a refusal by an account or payout wallet is named after the
 * operation, like a refusal by the vault itself).
 */
function bounceOf(tx: VaultTx): { label: string; severity: Alert["severity"]; title: string } {
  switch (tx.kind) {
    case "deposit-refund":
      return {
        label: "deposit",
        severity: "warning",
        title: "an account wallet could not record a deposit: the vault sent it back, nothing was credited",
      };
    case "withdraw-refused":
      return {
        label: "withdraw",
        severity: "info",
        title: "the account wallet refused a withdrawal (seqno, balance or no wallet): nothing was paid",
      };
    case "redeem-refused":
      return { label: "redeem", severity: "info", title: "the payout wallet refused a voucher (nothing due): nothing was paid" };
  }
  if (tx.bounced) return { label: "inbound", severity: "warning", title: "a message from the vault bounced back" };
  const label = tx.kind.replace(/-routed$/, "");
  return { label, severity: "info", title: "the vault rejected or refunded an inbound message" };
}

/**
 * The vault's own refusal to pay for insolvency (checkSolvent in contracts/vault.tact): its
 * second half aborted with ERR_VAULT_INSOLVENT, on a withdrawal the account wallet approved or a
 * voucher the payout wallet approved (the wallet then rolls back). Only there does the code mean
 * a payment that was due could not be made. The first half of a Withdraw checks solvency too,
 * but fails fast there on a routine replay of a large withdrawal already paid (the totals count
 * it): that stays a chain.bounce. Only the vault throws the code; a wallet's refusal reaches the
 * vault as a bounce, never with it.
 */
function isInsolventRefusal(tx: VaultTx): boolean {
  return (tx.kind === "withdraw" || tx.kind === "redeem") && tx.aborted && !tx.bounced && tx.exitCode === VaultExit.ERR_VAULT_INSOLVENT;
}

async function processTx(o: WatcherOptions, tx: VaultTx, report: WatcherReport, raise: Raise): Promise<void> {
  report.processed++;
  const at = tx.utime * 1000;
  const base = { txHash: tx.hash, lt: tx.lt, kind: tx.kind };

  if (tx.bounced || tx.aborted || tx.kind === "bounce") {
    report.bounces++;
    const b = bounceOf(tx);
    const details = {
      ...base,
      exitCode: tx.exitCode,
      from: tx.from,
      inValue: tx.inValue.toString(),
      ...(tx.kind === "deposit-refund" ? { refunded: tx.amount.toString() } : {}),
    };
    if (isInsolventRefusal(tx)) {
      // Not routine like a replay: the vault holds or has taken in less than it owes. Keyed per
      // transaction, so each refusal is seen and none hides in the 30-minute dedup of another.
      await raise({
        key: `chain.insolvent-refusal:${tx.hash}`,
        severity: "critical",
        title: `the vault refused to pay ${b.label === "redeem" ? "a worker's voucher" : "a withdrawal"} as insolvent (ERR_VAULT_INSOLVENT): paying would exceed what was deposited or what the vault holds; nothing was paid`,
        details: {
          ...details,
          operation: b.label,
          amount: tx.amount.toString(),
          ...(tx.account ? { account: tx.account } : {}),
          ...(tx.worker ? { worker: tx.worker } : {}),
          ...(tx.due !== undefined ? { due: tx.due.toString() } : {}),
        },
      });
    } else {
      await raise({ key: `chain.bounce:${b.label}`, severity: b.severity, title: b.title, details });
    }
    // A rejection sends back at most what came in; a refunded deposit also what its first
    // transaction kept (the amount the bounced credit names), never more.
    await checkOutflow(tx, tx.inValue + (tx.kind === "deposit-refund" && tx.bounced ? tx.amount : 0n), raise);
    return;
  }

  switch (tx.kind) {
    case "deposit": {
      if (!tx.account) throw new Error(`deposit ${tx.hash} has no account; the chain adapter must set it`);
      const r = await o.ledger.creditDeposit(tx.hash, tx.account, tx.amount, at);
      if (r === "applied") report.deposits++;
      else report.duplicates++;
      await checkOutflow(tx, 0n, raise);
      return;
    }
    case "withdraw": {
      if (!tx.account) throw new Error(`withdrawal ${tx.hash} has no account; the chain adapter must set it`);
      const r = await o.ledger.recordWithdrawal(
        tx.hash,
        { account: tx.account, amount: tx.amount, seqno: tx.seqno, to: tx.to, expiry: tx.expiry },
        at,
      );
      if (r.result === "applied") report.withdrawals++;
      else report.duplicates++;
      const details = { ...base, account: tx.account, amount: tx.amount.toString(), seqno: tx.seqno, to: tx.to, expiry: tx.expiry };
      if (r.match === "unmatched") {
        const issued = tx.seqno === undefined ? undefined : await o.ledger.findIssuedWithdrawal(tx.account, tx.seqno);
        await raise({
          key: `chain.unmatched-outflow:withdraw:${tx.hash}`,
          severity: "critical",
          title: "a withdrawal was paid that the coordinator did not sign (coordinator key compromised?)",
          details: { ...details, issued: issued ? { amount: issued.amount.toString(), to: issued.to, expiry: issued.expiry } : null },
        });
      } else if (r.match === "after-release") {
        await raise({
          key: `chain.withdrawal-after-release:${tx.hash}`,
          severity: "critical",
          title:
            "a withdrawal landed after its reservation was released as expired: debited from the requester again (its available balance may now be a debt)",
          details,
        });
      }
      await checkOutflow(tx, tx.amount + tx.inValue, raise);
      return;
    }
    case "redeem": {
      if (!tx.payee) throw new Error(`redemption ${tx.hash} has no payee; the chain adapter must set it`);
      const r = await o.ledger.recordRedemption(tx.hash, { payee: tx.payee, worker: tx.worker, cumulative: tx.amount, due: tx.due }, at);
      if (r.result === "applied") report.redemptions++;
      else report.duplicates++;
      // by payee: the vault's mark is per payee, whatever address the voucher named
      const issued = await o.ledger.findIssuedVoucher(tx.payee);
      // A voucher above the highest signed, or the vault's payments to the payee adding up past
      // it (a voucher paid again: a vault deployed afresh pays a cumulative from its start)
      const redeemed = await o.ledger.redeemed(tx.payee);
      if (!issued || issued.cumulative < tx.amount || issued.cumulative < redeemed) {
        await raise({
          key: `chain.unmatched-outflow:redeem:${tx.hash}`,
          severity: "critical",
          title: "a voucher was redeemed above what the coordinator signed (coordinator key compromised?)",
          details: {
            ...base,
            payee: tx.payee,
            worker: tx.worker,
            cumulative: tx.amount.toString(),
            paid: r.paid.toString(),
            redeemed: redeemed.toString(),
            issued: issued ? issued.cumulative.toString() : null,
          },
        });
      }
      await checkOutflow(tx, r.paid + tx.inValue, raise);
      return;
    }
    case "admin":
      await raise({ key: "chain.key-rotated", severity: "warning", title: "the vault owner changed the coordinator key", details: base });
      await checkOutflow(tx, 0n, raise);
      return;
    case "unknown":
      // Value the vault kept without crediting it to anyone or refunding it (e.g. a Deposit on a
      // vault deployed before the DepositCredited log): nobody is credited, someone should look.
      if (tx.inValue > 0n && tx.outValue === 0n) {
        await raise({
          key: `chain.uncredited-inflow:${tx.hash}`,
          severity: "warning",
          title: "the vault kept value it neither credited (no DepositCredited log) nor refunded",
          details: { ...base, from: tx.from, inValue: tx.inValue.toString() },
        });
      }
      await checkOutflow(tx, 0n, raise);
      return;
    case "topup":
      await checkOutflow(tx, 0n, raise);
      return;
    case "deposit-routed":
    case "withdraw-routed":
    case "redeem-routed":
      // The first half of a two-step operation: nothing moves in the ledger until the wallet
      // answers (the credit is read from the vault's log, the payment from its second
      // transaction). The vault forwards at most what came in (the credit's gas comes from
      // its own balance and is below the minimum deposit).
      await checkOutflow(tx, tx.inValue, raise);
      return;
    case "deposit-refund":
    case "withdraw-refused":
    case "redeem-refused":
      // only ever bounced messages: handled above
      return;
  }

  async function checkOutflow(t: VaultTx, allowed: bigint, r: Raise) {
    if (t.outValue > allowed) {
      await r({
        key: `chain.unmatched-outflow:${t.hash}`,
        severity: "critical",
        title: "value left the vault that no withdrawal or voucher explains",
        details: { txHash: t.hash, lt: t.lt, kind: t.kind, outValue: t.outValue.toString(), allowed: allowed.toString() },
      });
    }
  }
}
