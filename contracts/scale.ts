/**
 * The vault at scale (issue 16): creates far more requester accounts than the old single-contract
 * vault could hold (it added 2 cells per account and TON refuses an account state above
 * max_acc_state_cells = 65,536, so it stopped near 32k), and records every `every` accounts the
 * state the chain stores for the vault and for sample wallets. `checkScale` says what breaks the
 * claim "every contract's state is small and constant in the number of accounts"; it is pure, so
 * its own test can feed it the series a per-account map would give.
 *
 * Each deposit is a real first deposit through the real Vault code: a Deposit message runs the
 * vault (route), deploys the AccountWallet with its StateInit (credit), and returns to the vault
 * (confirm, count, log): three transactions per account. The cheap part is only the sender: the
 * message is injected as if from a distinct depositor address, with no wallet contract of its own
 * to run (its transaction would add nothing to the vault's or the child's state).
 *
 * Used by `npm run vault:scale` (scripts/vault-scale.ts, 40k accounts) and by
 * contracts/vault-scale.test.ts (a few hundred accounts in CI).
 */
import { createHash } from "node:crypto";
import { Address, Dictionary, toNano } from "@ton/core";
import { type Blockchain, internal } from "@ton/sandbox";
import {
  AccountWallet,
  accountWalletAddress,
  DEPOSIT_FEE,
  depositBody,
  MIN_DEPOSIT,
  PayoutWallet,
  payoutWalletAddress,
  redeemBody,
} from "./vault";
import { vaultFixture, type VaultFixture } from "./fixtures";

export interface Used {
  cells: number;
  bits: number;
}

/** The state of the contracts after `accounts` first deposits (and `workers` first redeems). */
export interface ScaleRow {
  accounts: number;
  workers: number;
  /** wall time since the run started, ms */
  elapsedMs: number;
  vault: Used;
  /** the first account's wallet and the newest one's */
  firstWallet: Used;
  lastWallet: Used;
  /** the newest payout wallet (null before the first redeem) */
  lastPayout: Used | null;
  totals: { deposited: bigint; withdrawn: bigint; paid: bigint; fees: bigint };
  /** what the run sent: sum of deposit values, the fees the vault keeps, and vouchers redeemed */
  expected: { deposited: bigint; fees: bigint; paid: bigint };
  inflight: number;
  /** the newest account wallet's recorded deposit and what its deposit credited */
  lastWalletDeposited: bigint;
  lastWalletExpected: bigint;
  /** TON's per-account limits (config param 43, or the validator's defaults) */
  limits: Used;
}

export interface ScaleOptions {
  accounts: number;
  /** record a row every `every` accounts (and after the last one) */
  every: number;
  /** one worker redeems a voucher every `workerEvery` deposits (0: no workers) */
  workerEvery?: number;
  onRow?: (row: ScaleRow) => void;
}

/** A distinct 256-bit account id and a distinct depositor address per index. */
export const accountId = (i: number): bigint => BigInt("0x" + createHash("sha256").update(`scale-account-${i}`).digest("hex"));
const addressOf = (label: string): Address => new Address(0, createHash("sha256").update(label).digest());

/** Deposit i's value: above MIN_DEPOSIT, varied (so the totals are a real sum), under 4.29 TON. */
export const depositValue = (i: number): bigint => MIN_DEPOSIT + BigInt(i % 1000) * 1_000_000n;
const VOUCHER = toNano("0.01");
const REDEEM_VALUE = toNano("0.05");

/** cells and bits of an account's state as TON counts them (what max_acc_state_cells/bits limit). */
export async function storageUsed(blockchain: Blockchain, a: Address): Promise<Used> {
  const used = (await blockchain.getContract(a)).account.account?.storageStats.used;
  if (!used) throw new Error(`no account at ${a.toString()}`);
  return { cells: Number(used.cells), bits: Number(used.bits) };
}

/**
 * max_acc_state_cells / max_acc_state_bits: config param 43 (size_limits_config_v2) when the
 * network sets it, else the validator's defaults (1 << 16 cells, (1 << 16) * 1023 bits).
 */
export function stateLimits(blockchain: Blockchain): Used {
  const params = Dictionary.loadDirect(Dictionary.Keys.Int(32), Dictionary.Values.Cell(), blockchain.config);
  const p43 = params.get(43);
  if (!p43) return { cells: 1 << 16, bits: (1 << 16) * 1023 };
  const s = p43.beginParse();
  const tag = s.loadUint(8);
  if (tag !== 0x02) throw new Error(`unexpected size limits tag ${tag}`);
  s.skip(32 + 32 + 32 + 16 + 32 + 16); // max_msg_bits, max_msg_cells, max_library_cells, max_vm_data_depth, max_ext_msg_size, max_ext_msg_depth
  return { cells: s.loadUint(32), bits: s.loadUint(32) };
}

/** One first deposit of `value` for `account` from `from`, through the vault's real code. */
export async function firstDeposit(f: VaultFixture, from: Address, account: bigint, value: bigint): Promise<void> {
  await f.blockchain.sendMessage(internal({ from, to: f.vault.address, value, bounce: true, body: depositBody(account) }));
  forgetTransactions(f.blockchain);
}

/**
 * The sandbox keeps every transaction, with its logs, for `getTransactions` (about 130 kB per
 * deposit here: the first 40k run died of a 4 GB heap after 30k accounts). Nothing here reads
 * them, and they are the emulator's history, not any contract's state.
 */
function forgetTransactions(blockchain: Blockchain): void {
  (blockchain as unknown as { transactions: unknown[] }).transactions.length = 0;
}

export async function runScale(opts: ScaleOptions): Promise<{ rows: ScaleRow[]; fixture: VaultFixture; vaultAfterDeploy: Used }> {
  const f = await vaultFixture();
  // The fixture's reserve pays CREDIT_VALUE ahead of each deposit's fee coming back; top it up so
  // a long run never depends on it (each deposit returns more than it costs, contracts/gas.json).
  await f.vault.sendTopUp(f.owner.getSender(), toNano("100"));
  const limits = stateLimits(f.blockchain);
  const vaultAfterDeploy = await storageUsed(f.blockchain, f.vault.address);
  const firstWalletAddr = await accountWalletAddress(f.vault.address, accountId(0));
  const rows: ScaleRow[] = [];
  const expected = { deposited: 0n, fees: 0n, paid: 0n };
  let workers = 0;
  let lastWorker: Address | null = null;
  const started = Date.now();

  for (let i = 0; i < opts.accounts; i++) {
    const value = depositValue(i);
    await firstDeposit(f, addressOf(`scale-depositor-${i}`), accountId(i), value);
    expected.deposited += value - DEPOSIT_FEE;
    expected.fees += DEPOSIT_FEE;
    if (opts.workerEvery && i % opts.workerEvery === opts.workerEvery - 1) {
      lastWorker = addressOf(`scale-worker-${workers}`);
      // one payee per worker, each paid to its own address
      const v = f.voucher(VOUCHER, { payee: BigInt(workers + 1), to: lastWorker });
      await f.blockchain.sendMessage(
        internal({ from: lastWorker, to: f.vault.address, value: REDEEM_VALUE, bounce: true, body: redeemBody(v) }),
      );
      forgetTransactions(f.blockchain);
      expected.paid += VOUCHER;
      workers++;
    }
    const n = i + 1;
    if (n % opts.every !== 0 && n !== opts.accounts) continue;
    const lastAddr = await accountWalletAddress(f.vault.address, accountId(i));
    const last = f.blockchain.openContract(new AccountWallet(lastAddr));
    const totals = await f.vault.getTotals();
    const row: ScaleRow = {
      accounts: n,
      workers,
      elapsedMs: Date.now() - started,
      vault: await storageUsed(f.blockchain, f.vault.address),
      firstWallet: await storageUsed(f.blockchain, firstWalletAddr),
      lastWallet: await storageUsed(f.blockchain, lastAddr),
      lastPayout: lastWorker ? await storageUsed(f.blockchain, await payoutWalletAddress(f.vault.address, BigInt(workers))) : null,
      totals: { deposited: totals.deposited, withdrawn: totals.withdrawn, paid: totals.paid, fees: totals.fees },
      expected: { ...expected },
      inflight: await f.vault.getInflight(),
      lastWalletDeposited: (await last.getState()).deposited,
      lastWalletExpected: value - DEPOSIT_FEE,
      limits,
    };
    if (lastWorker) {
      const paid = await f.blockchain.openContract(new PayoutWallet(await payoutWalletAddress(f.vault.address, BigInt(workers)))).getPaid();
      if (paid !== VOUCHER) throw new Error(`worker ${workers - 1}'s payout wallet records ${paid}, expected ${VOUCHER}`);
    }
    rows.push(row);
    opts.onRow?.(row);
  }
  return { rows, fixture: f, vaultAfterDeploy };
}

/**
 * How far the vault's bits may move, whatever the number of accounts: its five coins totals are
 * VarUInteger 16 (4-bit length + up to 15 bytes), so each may widen by at most 15 bytes.
 */
export const VAULT_BITS_SLACK = 5 * 15 * 8;

/**
 * Everything that breaks "each contract's state is small and constant in N": the vault's cells
 * change, its bits move beyond what the totals' widths allow, any wallet differs from the first
 * one recorded, a contract nears TON's limits, or the vault's totals differ from what was sent
 * (sum deposited less DEPOSIT_FEE each; fees; vouchers paid), or a deposit is left in flight.
 */
export function checkScale(vaultAfterDeploy: Used, rows: readonly ScaleRow[]): string[] {
  const out: string[] = [];
  const first = rows[0];
  if (!first) return ["no rows recorded"];
  const wallet = first.firstWallet;
  const payout = rows.find((r) => r.lastPayout)?.lastPayout ?? null;
  for (const r of rows) {
    const at = `after ${r.accounts} accounts`;
    if (r.vault.cells !== vaultAfterDeploy.cells) out.push(`${at}: vault ${r.vault.cells} cells, ${vaultAfterDeploy.cells} after deploy`);
    if (Math.abs(r.vault.bits - vaultAfterDeploy.bits) > VAULT_BITS_SLACK)
      out.push(`${at}: vault ${r.vault.bits} bits, ${vaultAfterDeploy.bits} after deploy (more than the totals' widths allow)`);
    for (const [name, w] of [
      ["first account wallet", r.firstWallet],
      ["newest account wallet", r.lastWallet],
    ] as const) {
      if (w.cells !== wallet.cells || w.bits !== wallet.bits)
        out.push(`${at}: ${name} ${w.cells}/${w.bits}, first recorded ${wallet.cells}/${wallet.bits}`);
    }
    if (payout && r.lastPayout && (r.lastPayout.cells !== payout.cells || r.lastPayout.bits !== payout.bits))
      out.push(`${at}: newest payout wallet ${r.lastPayout.cells}/${r.lastPayout.bits}, first recorded ${payout.cells}/${payout.bits}`);
    // "small": every contract at most 1 % of what TON allows one account
    for (const [name, u] of [
      ["vault", r.vault],
      ["account wallet", r.lastWallet],
    ] as const) {
      if (u.cells * 100 > r.limits.cells || u.bits * 100 > r.limits.bits)
        out.push(`${at}: ${name} ${u.cells}/${u.bits} is over 1 % of the limit ${r.limits.cells}/${r.limits.bits}`);
    }
    if (r.totals.deposited !== r.expected.deposited)
      out.push(`${at}: vault deposited ${r.totals.deposited}, sent less fees ${r.expected.deposited}`);
    if (r.totals.fees !== r.expected.fees) out.push(`${at}: vault fees ${r.totals.fees}, expected ${r.expected.fees}`);
    if (r.totals.paid !== r.expected.paid) out.push(`${at}: vault paid ${r.totals.paid}, expected ${r.expected.paid}`);
    if (r.totals.withdrawn !== 0n) out.push(`${at}: vault withdrawn ${r.totals.withdrawn}, nothing was withdrawn`);
    if (r.inflight !== 0) out.push(`${at}: ${r.inflight} deposits still in flight`);
    if (r.lastWalletDeposited !== r.lastWalletExpected)
      out.push(`${at}: newest wallet records ${r.lastWalletDeposited}, its deposit credited ${r.lastWalletExpected}`);
  }
  return out;
}

const fmt = (n: number) => n.toLocaleString("en-US");
const ton = (n: bigint) => (Number(n) / 1e9).toFixed(3);

/** One table line per row (cells/bits per contract). */
export function formatRow(r: ScaleRow): string {
  const p = r.lastPayout ? `${r.lastPayout.cells}/${fmt(r.lastPayout.bits)}` : "-";
  return [
    fmt(r.accounts).padStart(8),
    fmt(r.workers).padStart(7),
    `${(r.elapsedMs / 1000).toFixed(1)}`.padStart(8),
    `${r.vault.cells}/${fmt(r.vault.bits)}`.padStart(12),
    `${r.lastWallet.cells}/${fmt(r.lastWallet.bits)}`.padStart(12),
    p.padStart(12),
    ton(r.totals.deposited).padStart(12),
    ton(r.totals.fees).padStart(10),
  ].join(" ");
}

export const TABLE_HEADER = [
  "accounts".padStart(8),
  "workers".padStart(7),
  "wall s".padStart(8),
  "vault c/b".padStart(12),
  "wallet c/b".padStart(12),
  "payout c/b".padStart(12),
  "deposited".padStart(12),
  "fees".padStart(10),
].join(" ");
