/**
 * Review, session 29: a refusal by the vault (ERR_VAULT_INSOLVENT where it pays) reaches the wallet as a
 * bounce, and a bounce is not bounceable: TON credits its value and then takes the wallet's storage fees,
 * debt included, out of the balance before any code runs. A wallet that had spent its 0.002 TON reserve
 * (≈ 4 months idle: an account wallet's storage costs ≈ 0.006 TON a year) and owed more than the bounce
 * carried (≈ 0.007 TON for a withdrawal sent with the least value the vault accepts: 1.5 to 2 years idle)
 * never ran its rollback (skipped, no gas): the account stayed debited
 * (withdrawn raised, seqno spent) or the worker's mark stayed raised, and nothing was paid. Anyone may relay
 * a signed withdrawal or voucher, with the least value the vault accepts.
 * Now a wallet keeps its debt and its reserve from the value before it approves (so a bounce finds the debt
 * paid from the balance) and refuses an approval whose remaining value cannot carry the rest
 * (ERR_LOW_VALUE at the wallet: the message bounces to the vault, nothing to undo).
 */
import { beforeEach, describe, expect, it } from "vitest";
import { Address, type Cell, toNano, type Transaction } from "@ton/core";
import { flattenTransaction } from "@ton/test-utils";
import { vaultFixture, type VaultFixture } from "./fixtures";
import { AccountWallet, accountWalletAddress, PayoutWallet, payoutWalletAddress, redeemBody, VaultExit, withdrawBody } from "./vault";

const YEAR = 365 * 86400;
const GAS = toNano("0.05");

function exitOf(tx: Transaction) {
  const flat = flattenTransaction(tx);
  return { exitCode: flat.exitCode, aborted: flat.aborted ?? false };
}

/** Lowest value the vault accepts for `body` (not refused with ERR_LOW_VALUE), found by bisection. */
async function minimumValue(f: VaultFixture, body: Cell): Promise<bigint> {
  let lo = toNano("0.005");
  let hi = GAS;
  while (hi - lo > 1000n) {
    const mid = (lo + hi) / 2n;
    const snap = f.blockchain.snapshot();
    const res = await f.stranger.send({ to: f.vault.address, value: mid, body });
    await f.blockchain.loadFrom(snap);
    if (flattenTransaction(res.transactions[1]!).exitCode === VaultExit.ERR_LOW_VALUE) lo = mid;
    else hi = mid;
  }
  return hi;
}

/**
 * Sends `body` from the stranger with `value`; once `wallet` has answered, the vault can no longer pay
 * (its balance drops below the amount: the documented under-collateral premise), so the payment is refused.
 */
async function sendRefusedAtPayment(f: VaultFixture, value: bigint, body: Cell, wallet: Address): Promise<Transaction[]> {
  const txs: Transaction[] = [];
  const iter = await f.blockchain.sendMessageIter({
    info: {
      type: "internal",
      ihrDisabled: true,
      bounce: true,
      bounced: false,
      src: f.stranger.address,
      dest: f.vault.address,
      value: { coins: value },
      ihrFee: 0n,
      forwardFee: 0n,
      createdLt: 0n,
      createdAt: f.blockchain.now!,
    },
    body,
  });
  let walletAnswered = false;
  for await (const tx of iter) {
    txs.push(tx);
    if (!walletAnswered && flattenTransaction(tx).on?.equals(wallet)) {
      walletAnswered = true;
      (await f.blockchain.getContract(f.vault.address)).balance = toNano("0.5");
    }
  }
  return txs;
}

const on = (txs: Transaction[], a: Address) => txs.filter((t) => flattenTransaction(t).on?.equals(a));

describe("a refused payment is rolled back even when the wallet owes storage", () => {
  let f: VaultFixture;
  beforeEach(async () => {
    f = await vaultFixture();
    await f.vault.sendDeposit(f.requester.getSender(), toNano("5"), f.account);
    await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("1")));
  });

  it("withdrawal relayed with the least value, account wallet owing nothing: approved, refused by the vault (ERR_VAULT_INSOLVENT), rolled back", async () => {
    const wallet = await accountWalletAddress(f.vault.address, f.account);
    const state = () => f.blockchain.openContract(new AccountWallet(wallet)).getState();
    const min = await minimumValue(f, withdrawBody(f.withdrawal(toNano("1"))));
    const before = await state();
    const totals = await f.vault.getTotals();

    const txs = await sendRefusedAtPayment(f, min, withdrawBody(f.withdrawal(toNano("1"))), wallet);

    expect(exitOf(on(txs, f.vault.address)[1]!)).toEqual({ exitCode: VaultExit.ERR_VAULT_INSOLVENT, aborted: true });
    expect(flattenTransaction(on(txs, wallet)[1]!)).toMatchObject({ inMessageBounced: true, success: true });
    expect(await state()).toEqual(before);
    expect(await f.vault.getTotals()).toEqual(totals);
  });

  it("withdrawal relayed with the least value, account wallet idle 2 years: refused at the wallet (ERR_LOW_VALUE), never debited for nothing", async () => {
    const wallet = await accountWalletAddress(f.vault.address, f.account);
    const state = () => f.blockchain.openContract(new AccountWallet(wallet)).getState();
    const min = await minimumValue(f, withdrawBody(f.withdrawal(toNano("1"))));
    f.blockchain.now = f.blockchain.now! + 2 * YEAR;
    const before = await state();
    const totals = await f.vault.getTotals();

    const txs = await sendRefusedAtPayment(f, min, withdrawBody(f.withdrawal(toNano("1"))), wallet);

    expect(exitOf(on(txs, wallet)[0]!)).toEqual({ exitCode: VaultExit.ERR_LOW_VALUE, aborted: true });
    expect(await state(), "the account is not debited").toEqual(before);
    expect(await f.vault.getTotals()).toEqual(totals);
  });

  it("withdrawal with the coordinator's value, account wallet idle 2 years: approved, refused by the vault (ERR_VAULT_INSOLVENT), rolled back", async () => {
    const wallet = await accountWalletAddress(f.vault.address, f.account);
    const state = () => f.blockchain.openContract(new AccountWallet(wallet)).getState();
    f.blockchain.now = f.blockchain.now! + 2 * YEAR;
    const before = await state();
    const totals = await f.vault.getTotals();

    const txs = await sendRefusedAtPayment(f, GAS, withdrawBody(f.withdrawal(toNano("1"))), wallet);

    expect(exitOf(on(txs, f.vault.address)[1]!)).toEqual({ exitCode: VaultExit.ERR_VAULT_INSOLVENT, aborted: true });
    const rollback = on(txs, wallet)[1]!;
    expect(flattenTransaction(rollback)).toMatchObject({ inMessageBounced: true, success: true });
    expect(await state(), "withdrawn and seqno rolled back: the same withdrawal can be sent again").toEqual(before);
    expect(await f.vault.getTotals()).toEqual(totals);
  });

  it("voucher relayed with the least value, payout wallet idle 3 years: refused at the wallet (ERR_LOW_VALUE) or rolled back, the mark never raised for nothing", async () => {
    const wallet = await payoutWalletAddress(f.vault.address, f.payee);
    const paid = () => f.blockchain.openContract(new PayoutWallet(wallet)).getPaid();
    const min = await minimumValue(f, redeemBody(f.voucher(toNano("2"))));
    f.blockchain.now = f.blockchain.now! + 3 * YEAR;
    const totals = await f.vault.getTotals();

    const txs = await sendRefusedAtPayment(f, min, redeemBody(f.voucher(toNano("2"))), wallet);

    const walletTxs = on(txs, wallet);
    const refusedAtWallet = exitOf(walletTxs[0]!).exitCode === VaultExit.ERR_LOW_VALUE;
    if (!refusedAtWallet) expect(flattenTransaction(walletTxs[1]!)).toMatchObject({ inMessageBounced: true, success: true });
    expect(await paid(), "the worker's mark is where it was").toBe(toNano("1"));
    expect(await f.vault.getTotals()).toEqual(totals);
  });

  it("voucher with the worker's usual value, payout wallet idle 3 years: approved, refused by the vault, rolled back", async () => {
    const wallet = await payoutWalletAddress(f.vault.address, f.payee);
    const paid = () => f.blockchain.openContract(new PayoutWallet(wallet)).getPaid();
    f.blockchain.now = f.blockchain.now! + 3 * YEAR;

    const txs = await sendRefusedAtPayment(f, GAS, redeemBody(f.voucher(toNano("2"))), wallet);

    expect(exitOf(on(txs, f.vault.address)[1]!)).toEqual({ exitCode: VaultExit.ERR_VAULT_INSOLVENT, aborted: true });
    expect(flattenTransaction(on(txs, wallet)[1]!)).toMatchObject({ inMessageBounced: true, success: true });
    expect(await paid()).toBe(toNano("1"));
  });
});

describe("the wallet's check does not refuse what the vault accepts (wallets owing nothing)", () => {
  it("a first voucher (deploys the payout wallet) and a withdrawal, each sent with the least value the vault accepts, pay", async () => {
    const f = await vaultFixture();
    await f.vault.sendDeposit(f.requester.getSender(), toNano("5"), f.account);
    const voucher = redeemBody(f.voucher(toNano("1")));
    const withdrawal = withdrawBody(f.withdrawal(toNano("1")));
    const minRedeem = await minimumValue(f, voucher);
    const minWithdraw = await minimumValue(f, withdrawal);

    await f.stranger.send({ to: f.vault.address, value: minRedeem, body: voucher });
    await f.stranger.send({ to: f.vault.address, value: minWithdraw, body: withdrawal });

    expect(await f.vault.getPaid(f.payee)).toBe(toNano("1"));
    expect(await f.vault.getWithdrawSeqno(f.account)).toBe(1);
    expect(await f.vault.getTotals()).toMatchObject({ withdrawn: toNano("1"), paid: toNano("1") });
  });
});
