/**
 * The simulation's chain: a vault with the rules of contracts/vault.tact that matter to the
 * ledger (per-account deposited / withdrawn / next seqno, paid per payout address, withdrawn +
 * paid never above deposited, the coordinator's Ed25519 signature on every withdrawal and
 * voucher, expiries), its transaction history as the ChainReader port serves it to the real
 * watcher (core/chain/watcher.ts), and the coordinator's signers. The reader can fail and can
 * lag behind the chain (an indexer), as toncenter does.
 *
 * Deposits follow the sharded vault's two transactions (contracts/README.md): the Deposit is
 * routed to the account's wallet ("deposit-routed": nothing credited), then the vault credits
 * value − the deposit fee in the transaction where the wallet's confirmation arrives ("deposit",
 * read from its log: `amount` is the net credit, `inValue` the wallet's returned credit value),
 * or, when the wallet cannot record it, sends value − fee back ("deposit-refund", a bounce).
 * An indexer that lags can show the first without the second. Withdrawals and redemptions stay
 * one transaction each here (their ledger effect is read from the paying transaction alone).
 * No gas is modelled: the credit value comes back in full.
 */
import { createHash } from "node:crypto";
import { sign, verifySignature, type SigningKeyPair } from "../../core/crypto/keys";
import type { ChainReader } from "../../core/chain/ports";
import type { Cursor, VaultTx } from "../../core/chain/types";
import { InvalidPayoutAddressError, type VoucherSigner } from "../../core/payouts";
import { InvalidWithdrawalAddressError, type WithdrawalSigner } from "../../core/withdrawals";
import type { Voucher } from "../../events/money";
import type { SignedWithdrawalView } from "../../events/withdrawals";
import type { Prng } from "./prng";
import { SimFault } from "./queues";

const RAW_ADDRESS = /^0:[0-9a-f]{64}$/;
export const rawAddress = (seed: string) => `0:${createHash("sha256").update(seed).digest("hex")}`;

const withdrawalMessage = (vault: string, w: { account: string; to: string; amount: bigint; seqno: number; expiry: number }) =>
  `cow1|${vault}|${w.account}|${w.to}|${w.amount}|${w.seqno}|${w.expiry}`;
const voucherMessage = (vault: string, v: { payee: string; worker: string; cumulative: bigint; expiry: number }) =>
  `cov2|${vault}|${v.payee}|${v.worker}|${v.cumulative}|${v.expiry}`;

/** The vault's deposit rules (DEPOSIT_FEE, MIN_DEPOSIT, CREDIT_VALUE of vault.tact), scaled to the simulation's amounts. */
export interface SimDepositRules {
  fee: bigint;
  min: bigint;
  creditValue: bigint;
  /** 1 in `refundOneIn` credits fails at the account's wallet (frozen), decided by the transaction's hash, not the run's PRNG */
  refundOneIn: number;
}

export const SIM_DEPOSIT_RULES: SimDepositRules = { fee: 2_500n, min: 10_000n, creditValue: 1_000n, refundOneIn: 20 };

interface VaultAccount {
  deposited: bigint;
  withdrawn: bigint;
  seqno: number;
}

export class SimVault {
  readonly txs: VaultTx[] = [];
  /** the vault's balance after each transaction (what a reader that has seen i+1 transactions reports) */
  private readonly balances: bigint[] = [];
  balance = 0n;
  readonly accounts = new Map<string, VaultAccount>();
  /** what the vault paid each payee (64 hex), to whichever address: vault v2's mark is per payee */
  readonly paid = new Map<string, bigint>();
  totalDeposited = 0n;
  totalOut = 0n;
  /** the deposit fees the vault kept (the owner's income: not owed to anyone) */
  fees = 0n;
  private lt = 1000n;

  constructor(
    readonly address: string,
    private readonly coordinatorPublicKey: Uint8Array,
    private readonly now: () => number,
    readonly rules: SimDepositRules = SIM_DEPOSIT_RULES,
  ) {}

  private account(id: string): VaultAccount {
    let a = this.accounts.get(id);
    if (!a) this.accounts.set(id, (a = { deposited: 0n, withdrawn: 0n, seqno: 0 }));
    return a;
  }

  private record(p: Partial<VaultTx> & Pick<VaultTx, "kind">): VaultTx {
    this.lt += 1000n;
    const tx: VaultTx = {
      hash: createHash("sha256").update(`${this.address}:${this.lt}`).digest("hex"),
      lt: this.lt.toString(),
      utime: Math.floor(this.now() / 1000),
      amount: 0n,
      inValue: 0n,
      outValue: 0n,
      aborted: false,
      bounced: false,
      ...p,
    };
    this.txs.push(tx);
    this.balances.push(this.balance);
    return tx;
  }

  /**
   * A Deposit of `value` from `from`: refused below the minimum (bounced, nothing kept), else
   * routed (the first transaction, returned as `routed`) and then credited value − fee or, when
   * the account's wallet cannot record it, refunded value − fee (`settled`).
   */
  deposit(
    account: string,
    value: bigint,
    from = rawAddress(`depositor:${account}`),
  ): { routed: VaultTx; settled?: VaultTx; credited: bigint } {
    const { fee, min, creditValue, refundOneIn } = this.rules;
    if (value < min)
      return { routed: this.record({ kind: "bounce", amount: value, inValue: value, aborted: true, exitCode: 1008, from }), credited: 0n };
    const wallet = rawAddress(`wallet:${this.address}:${account}`);
    const net = value - fee;
    this.fees += fee;
    this.balance += value - creditValue;
    const routed = this.record({ kind: "deposit-routed", amount: value, inValue: value, outValue: creditValue, from });
    if (parseInt(routed.hash.slice(0, 8), 16) % refundOneIn === 0) {
      this.balance += creditValue - net;
      const settled = this.record({
        kind: "deposit-refund",
        amount: net,
        inValue: creditValue,
        outValue: net,
        bounced: true,
        from: wallet,
      });
      return { routed, settled, credited: 0n };
    }
    const a = this.account(account);
    a.deposited += net;
    this.totalDeposited += net;
    this.balance += creditValue;
    return { routed, settled: this.record({ kind: "deposit", account, amount: net, inValue: creditValue, from: wallet }), credited: net };
  }

  /** What the vault owes its accounts and workers: its balance less the owner's fee income (no gas is modelled). */
  owed(): bigint {
    return this.balance - this.fees;
  }

  /** A Withdraw message: pays when signed by the coordinator, at the account's next seqno, before expiry, within what it deposited. */
  withdraw(w: SignedWithdrawalView): { tx: VaultTx; paid: boolean; why?: string } {
    const amount = BigInt(w.amount);
    const a = this.account(w.account);
    const nowS = Math.floor(this.now() / 1000);
    const sigOk =
      w.vault === this.address &&
      verifySignature(this.coordinatorPublicKey, withdrawalMessage(this.address, { ...w, amount }), Buffer.from(w.signature, "base64"));
    const why = !sigOk
      ? "bad signature"
      : w.seqno !== a.seqno
        ? `seqno ${w.seqno} is not the account's next (${a.seqno})`
        : w.expiry < nowS
          ? "expired"
          : a.withdrawn + amount > a.deposited
            ? "more than the account deposited"
            : this.totalOut + amount > this.totalDeposited
              ? "more than the vault holds for accounts"
              : undefined;
    if (why) return { tx: this.record({ kind: "withdraw", account: w.account, amount, aborted: true, exitCode: 100 }), paid: false, why };
    a.withdrawn += amount;
    a.seqno++;
    this.totalOut += amount;
    this.balance -= amount;
    return {
      tx: this.record({ kind: "withdraw", account: w.account, amount, seqno: w.seqno, to: w.to, expiry: w.expiry, outValue: amount }),
      paid: true,
    };
  }

  /** A Redeem message: pays cumulative − what the payee was already paid, to the voucher's address, when signed and not expired. */
  redeem(v: Voucher): { tx: VaultTx; paid: bigint; why?: string } {
    const cumulative = BigInt(v.cumulative);
    const nowS = Math.floor(this.now() / 1000);
    const sigOk =
      v.vault === this.address &&
      verifySignature(this.coordinatorPublicKey, voucherMessage(this.address, { ...v, cumulative }), Buffer.from(v.signature, "base64"));
    const before = this.paid.get(v.payee) ?? 0n;
    const pay = cumulative > before ? cumulative - before : 0n;
    const why = !sigOk
      ? "bad signature"
      : v.expiry < nowS
        ? "expired"
        : this.totalOut + pay > this.totalDeposited
          ? "more than the vault holds"
          : undefined;
    if (why)
      return {
        tx: this.record({ kind: "redeem", payee: v.payee, worker: v.worker, amount: cumulative, aborted: true, exitCode: 101 }),
        paid: 0n,
        why,
      };
    // nothing due (a voucher redeemed again, or one below what the address was paid): the payout
    // wallet refuses it, a bounce back to the vault (contracts/README.md), nothing paid
    if (pay === 0n)
      return {
        tx: this.record({ kind: "redeem-refused", payee: v.payee, worker: v.worker, amount: cumulative, bounced: true }),
        paid: 0n,
        why: "nothing due",
      };
    this.paid.set(v.payee, before + pay);
    this.totalOut += pay;
    this.balance -= pay;
    // the paying transaction names what it paid (the payout wallet's due), as the chain adapter reads it
    return {
      tx: this.record({ kind: "redeem", payee: v.payee, worker: v.worker, amount: cumulative, outValue: pay, due: pay }),
      paid: pay,
    };
  }

  seqno(account: string): number {
    return this.accounts.get(account)?.seqno ?? 0;
  }

  balanceAfter(count: number): bigint {
    return count === 0 ? 0n : this.balances[count - 1]!;
  }
}

/**
 * The ChainReader port over the simulated vault: an indexer that may lag (`visible`), fail, and
 * serve a page again from the cursor's own transaction (pagination that overlaps at the
 * boundary), so the watcher must be idempotent per transaction.
 */
export class SimReader implements ChainReader {
  /** how many of the vault's transactions the indexer shows */
  visible = 0;
  faults = true;
  constructor(
    private readonly vault: SimVault,
    private readonly rng: Prng,
    private readonly failRate: number,
    private readonly repeatRate: number,
  ) {}

  async getVaultTransactions(after: Cursor | null, limit: number): Promise<{ txs: VaultTx[]; cursor: Cursor | null }> {
    if (this.faults && this.rng.chance(this.failRate)) throw new SimFault("injected: the chain indexer did not answer");
    const shown = this.vault.txs.slice(0, this.visible);
    let from = after ? shown.findIndex((t) => BigInt(t.lt) > BigInt(after.lt)) : 0;
    if (this.faults && from > 0 && this.rng.chance(this.repeatRate)) from--;
    const page = from < 0 ? [] : shown.slice(from, from + limit);
    const last = page.at(-1);
    return { txs: page.map((t) => ({ ...t })), cursor: last ? { lt: last.lt, hash: last.hash } : after };
  }

  async getVaultBalance(): Promise<bigint> {
    return this.vault.balanceAfter(this.visible);
  }
}

/** The coordinator's signers over its simulated key; `chainSeqno` reads the vault (and may fail). */
export function simSigners(o: { vault: SimVault; key: SigningKeyPair; rng: Prng; seqnoFailRate: number; faults: () => boolean }): {
  withdrawalSigner: WithdrawalSigner;
  voucherSigner: VoucherSigner;
} {
  const sig = (msg: string) => Buffer.from(sign(o.key, msg)).toString("base64");
  return {
    withdrawalSigner: {
      vault: o.vault.address,
      address(to) {
        if (!RAW_ADDRESS.test(to)) throw new InvalidWithdrawalAddressError(`to "${to}" is not a raw basechain address`);
        return to;
      },
      async sign(w) {
        return { signature: sig(withdrawalMessage(o.vault.address, w)) };
      },
      async chainSeqno(account) {
        if (o.faults() && o.rng.chance(o.seqnoFailRate)) throw new SimFault("injected: the vault's seqno getter did not answer");
        return o.vault.seqno(account);
      },
    },
    voucherSigner: {
      vault: o.vault.address,
      payoutAddress(a) {
        if (!RAW_ADDRESS.test(a)) throw new InvalidPayoutAddressError(`payoutAddress "${a}" is not a raw basechain address`);
        return a;
      },
      async sign(v) {
        return { signature: sig(voucherMessage(o.vault.address, v)) };
      },
    },
  };
}
