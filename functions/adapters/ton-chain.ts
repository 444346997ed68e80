/**
 * TON adapter for the chain watcher and the coordinator's payouts.
 *   - normalizeVaultTx: @ton/core Transaction -> VaultTx (decodes the vault's message bodies and
 *     logs; the vault's per-account and per-worker state lives in child wallets, whose answers
 *     reach the vault as messages the watcher reads on the vault's own history)
 *   - TonClientChainReader: ChainReader over @ton/ton's TonClient (toncenter), paging the
 *     vault's history newest-first with (lt, hash) and returning it oldest-first after a cursor
 *   - SandboxChainReader: ChainReader over a @ton/sandbox Blockchain (local default, tests, bench)
 *   - sendWithdrawal / sendVoucher, voucher JSON (the agent receives vouchers over HTTP)
 */
import { Address, type Cell, type Sender, type Transaction, type TupleItem, type TupleReader, toNano } from "@ton/core";
import { type DebitApproved, loadClaimApproved, loadDebitApproved, loadRedeem, loadWithdraw } from "../../contracts/build/Vault_Vault";
import {
  accountWalletAddress,
  type DepositCreditedLog,
  OPCODES,
  parseDepositCredited,
  signVoucher,
  signWithdrawal,
  type SignedVoucher,
  type SignedWithdrawal,
} from "../../contracts/vault";
import { accountIdFromUint } from "../../core/chain/account";
import type { ChainReader } from "../../core/chain/ports";
import type { Cursor, VaultTx, VaultTxKind } from "../../core/chain/types";
import { Voucher } from "../../events/money";

export const WITHDRAW_GAS = toNano("0.05");
export const REDEEM_GAS = toNano("0.05");

// ---------------------------------------------------------------- decoding
/**
 * The vault's DepositCredited logs in a transaction: its external-out messages that parse
 * exactly as the log (contracts/vault.ts parseDepositCredited). Only the vault's own code
 * writes them (one per deposit its account wallet confirmed), so nothing a sender puts in a
 * message body can make one appear.
 */
function depositLogs(tx: Transaction): DepositCreditedLog[] {
  const logs: DepositCreditedLog[] = [];
  for (const m of tx.outMessages.values()) {
    if (m.info.type !== "external-out") continue;
    const log = parseDepositCredited(m.body);
    if (log) logs.push(log);
  }
  return logs;
}

/** Whether the transaction sent an internal message with this opcode (the vault routing to a wallet). */
function sent(tx: Transaction, op: number): boolean {
  for (const m of tx.outMessages.values()) {
    if (m.info.type !== "internal") continue;
    const s = m.body.beginParse();
    if (s.remainingBits >= 32 && s.preloadUint(32) === op) return true;
  }
  return false;
}

/**
 * What a bounced message of the vault's was: the body of a bounce is 0xffffffff and the first
 * 256 bits of the vault's own message, so the opcode and the leading fields (the amount, which
 * the vault puts first for this reason) are the vault's, not a sender's.
 */
function bouncedKind(body: Cell): { kind: VaultTxKind; amount: bigint } | null {
  try {
    const s = body.beginParse();
    if (s.remainingBits < 64 || s.loadUint(32) !== 0xffffffff) return null;
    switch (s.loadUint(32)) {
      case OPCODES.creditAccount:
        s.skip(64); // queryId
        return { kind: "deposit-refund", amount: s.loadCoins() };
      case OPCODES.debit:
        return { kind: "withdraw-refused", amount: s.loadCoins() };
      case OPCODES.claim:
        return { kind: "redeem-refused", amount: s.loadCoins() };
    }
  } catch {
    // too short to be one of the vault's messages
  }
  return null;
}

/**
 * Turns one of the vault's transactions into the watcher's shape.
 *
 * The vault keeps per-account and per-worker state in child wallets, so each operation spans two
 * of its transactions (core/chain/types.ts VaultTxKind): a deposit is routed to the account's
 * wallet, and credited only in the transaction where the wallet's confirmation arrives and the
 * vault emits its DepositCredited log. A deposit is read ONLY from that log, never from an
 * inbound body: the vault decides what it credits (a comment is a deposit only as one 576-bit
 * cell without refs, anything else from a stranger is refunded), and a looser reading here once
 * credited refunded transfers (issue 9 #1). An aborted transaction, or one that sent value
 * out, is never a credit, whatever it logged. Withdrawals and redemptions are read from the
 * wallet's approval the vault acted on (DebitApproved, ClaimApproved: the vault aborts unless
 * they come from the wallet that (vault, owner) derives), in the transaction that paid.
 */
export function normalizeVaultTx(tx: Transaction): VaultTx {
  const d = tx.description;
  const aborted = d.type === "generic" ? d.aborted : false;
  const exitCode = d.type === "generic" && d.computePhase.type === "vm" ? d.computePhase.exitCode : undefined;
  let outValue = 0n;
  for (const m of tx.outMessages.values()) if (m.info.type === "internal") outValue += m.info.value.coins;
  const base = { hash: tx.hash().toString("hex"), lt: tx.lt.toString(), utime: tx.now, aborted, outValue, exitCode };

  const inMsg = tx.inMessage;
  if (!inMsg || inMsg.info.type !== "internal") {
    return { ...base, kind: "unknown", amount: 0n, inValue: 0n, bounced: false };
  }
  const info = inMsg.info;
  const inValue = info.value.coins;
  const from = info.src.toRawString();
  const common = { ...base, inValue, from, bounced: info.bounced };
  if (info.bounced) {
    const b = bouncedKind(inMsg.body);
    return b ? { ...common, ...b } : { ...common, kind: "bounce", amount: inValue };
  }

  const logs = depositLogs(tx);
  if (logs.length > 0) {
    // The contract logs exactly one credit per transaction and pays nothing out with it.
    if (aborted || outValue > 0n || logs.length !== 1) return { ...common, kind: "unknown", amount: inValue };
    return { ...common, kind: "deposit", account: accountIdFromUint(logs[0]!.account), amount: logs[0]!.amount };
  }

  const body = inMsg.body;
  const s = body.beginParse();
  const empty = s.remainingBits === 0 && s.remainingRefs === 0;
  // Routed to the account's wallet: accepted, not credited yet (the credit comes with the log).
  const routed = !aborted && sent(tx, OPCODES.creditAccount);
  // Not credited: the owner's top-up when accepted and nothing went out; otherwise a
  // rejected (bounced) or refunded transfer, whatever its body says.
  const topupOrBounce = (): VaultTx => ({ ...common, kind: !aborted && outValue === 0n ? "topup" : "bounce", amount: inValue });
  // The owner's signed request (Withdraw, routed) and the wallet's approval the vault paid
  // (DebitApproved) carry the same withdrawal fields.
  const withdrawal = (kind: "withdraw-routed" | "withdraw", msg: Omit<DebitApproved, "$$type">): VaultTx => ({
    ...common,
    kind,
    account: accountIdFromUint(msg.account),
    amount: msg.amount,
    seqno: Number(msg.seqno),
    expiry: Number(msg.expiry),
    to: msg.to.toRawString(),
  });
  if (empty) return topupOrBounce();
  if (s.remainingBits < 32) return { ...common, kind: "unknown", amount: inValue };
  const op = s.preloadUint(32);
  try {
    switch (op) {
      case 0: // a comment: a deposit when the vault routed it, else not credited
        return routed ? { ...common, kind: "deposit-routed", amount: inValue } : topupOrBounce();
      case OPCODES.deposit: // routed, or refused (too small: aborted)
        return routed
          ? { ...common, kind: "deposit-routed", amount: inValue }
          : { ...common, kind: aborted ? "bounce" : "unknown", amount: inValue };
      case OPCODES.withdraw:
        return withdrawal("withdraw-routed", loadWithdraw(body.beginParse()));
      case OPCODES.debitApproved:
        return withdrawal("withdraw", loadDebitApproved(body.beginParse()));
      case OPCODES.redeem: {
        const msg = loadRedeem(body.beginParse());
        return { ...common, kind: "redeem-routed", worker: msg.worker.toRawString(), amount: msg.cumulative };
      }
      case OPCODES.claimApproved: {
        const msg = loadClaimApproved(body.beginParse());
        return { ...common, kind: "redeem", worker: msg.worker.toRawString(), amount: msg.cumulative };
      }
      case OPCODES.setCoordinatorKey:
        return { ...common, kind: "admin", amount: 0n };
    }
  } catch {
    // malformed body for a known opcode: the vault rejected it too
  }
  return { ...common, kind: "unknown" as VaultTxKind, amount: inValue };
}

function ascendingAfter(all: Transaction[], after: Cursor | null, limit: number) {
  const txs = all.map(normalizeVaultTx);
  const page = txs.slice(0, limit);
  const last = page[page.length - 1];
  return { txs: page, cursor: last ? { lt: last.lt, hash: last.hash } : after };
}

// ---------------------------------------------------------------- TonClient (toncenter)
/** The part of @ton/ton's TonClient the reader uses (so tests can fake it). */
export interface TonClientLike {
  getTransactions(
    address: Address,
    opts: { limit: number; lt?: string; hash?: string; to_lt?: string; inclusive?: boolean; archival?: boolean },
  ): Promise<Transaction[]>;
  getBalance(address: Address): Promise<bigint>;
  /** toncenter runGetMethod; throws when the get-method exits non-zero */
  runMethod(address: Address, name: string, stack?: TupleItem[]): Promise<{ stack: TupleReader }>;
  /** toncenter getAddressInformation: whether a contract (an account wallet) is deployed */
  getContractState(address: Address): Promise<{ state: "active" | "uninitialized" | "frozen" }>;
}

/**
 * The seqno of `account`'s next withdrawal through toncenter: the `seqno` get-method of the
 * account's wallet, whose address derives offline from (vault, account) (contracts/vault.ts).
 * An account that never deposited has no wallet (uninitialized): 0. Anything else that cannot be
 * read (frozen wallet, network error) throws: the caller releases nothing on an unreadable seqno.
 * The AWS coordinator's WithdrawalSigner.chainSeqno (core/withdrawals.ts): a seqno below it is
 * never issued, and one below it is never released as expired. The local default reads the same
 * getter from the sandbox.
 */
export function tonClientWithdrawSeqno(
  client: Pick<TonClientLike, "runMethod" | "getContractState">,
  vault: Address,
): (account: bigint) => Promise<number> {
  return async (account) => {
    const wallet = await accountWalletAddress(vault, account);
    const { state } = await client.getContractState(wallet);
    if (state === "uninitialized") return 0;
    if (state !== "active") throw new Error(`the account wallet ${wallet.toRawString()} is ${state}: its seqno cannot be read`);
    const { stack } = await client.runMethod(wallet, "seqno");
    return stack.readNumber();
  };
}

export class TonClientChainReader implements ChainReader {
  constructor(
    private readonly client: TonClientLike,
    private readonly vault: Address,
    private readonly opts: { pageSize?: number; archival?: boolean } = {},
  ) {}

  /**
   * toncenter pages newest-first; we walk back from the newest transaction to the cursor
   * (to_lt bounds the walk), then return the oldest `limit` of them.
   */
  async getVaultTransactions(after: Cursor | null, limit: number) {
    const pageSize = this.opts.pageSize ?? 100;
    const newer: Transaction[] = [];
    let from: { lt: string; hash: string } | undefined;
    for (;;) {
      const page = await this.client.getTransactions(this.vault, {
        limit: pageSize,
        ...(from ? { lt: from.lt, hash: from.hash, inclusive: false } : {}),
        ...(after ? { to_lt: after.lt } : {}),
        archival: this.opts.archival ?? true,
      });
      const fresh = after ? page.filter((t) => t.lt > BigInt(after.lt)) : page;
      newer.push(...fresh);
      if (page.length < pageSize || fresh.length < page.length) break;
      const last = page[page.length - 1]!;
      from = { lt: last.lt.toString(), hash: last.hash().toString("base64") };
    }
    newer.sort((a, b) => (a.lt < b.lt ? -1 : a.lt > b.lt ? 1 : 0));
    return ascendingAfter(newer, after, limit);
  }

  getVaultBalance(): Promise<bigint> {
    return this.client.getBalance(this.vault);
  }

  /** The account wallet's seqno (see tonClientWithdrawSeqno). */
  getWithdrawSeqno(account: bigint): Promise<number> {
    return tonClientWithdrawSeqno(this.client, this.vault)(account);
  }
}

// ---------------------------------------------------------------- sandbox
/** The part of @ton/sandbox's Blockchain the reader uses. */
export interface SandboxLike {
  getContract(address: Address): Promise<{ balance: bigint }>;
}

/**
 * ChainReader over a sandbox Blockchain. The sandbox keeps every transaction it executed in
 * an internal array (its own getTransactions reverses that array in place and compares hashes
 * by identity, so it is not used); transactions are read from there, or from `record()` when
 * a caller prefers to feed them explicitly.
 */
export class SandboxChainReader implements ChainReader {
  private readonly recorded: Transaction[] = [];
  private readonly vaultHash: bigint;

  constructor(
    private readonly blockchain: SandboxLike,
    private readonly vault: Address,
    private readonly opts: { source?: "sandbox" | "recorded" } = {},
  ) {
    this.vaultHash = BigInt("0x" + vault.hash.toString("hex"));
  }

  /** Feed transactions (e.g. SendMessageResult.transactions) when source is "recorded". */
  record(txs: Transaction[]): void {
    for (const t of txs) if (t.address === this.vaultHash) this.recorded.push(t);
  }

  private history(): Transaction[] {
    const all =
      this.opts.source === "recorded"
        ? this.recorded
        : ((this.blockchain as unknown as { transactions?: Transaction[] }).transactions ?? []);
    return all.filter((t) => t.address === this.vaultHash).sort((a, b) => (a.lt < b.lt ? -1 : a.lt > b.lt ? 1 : 0));
  }

  async getVaultTransactions(after: Cursor | null, limit: number) {
    const h = this.history();
    let start = 0;
    if (after) {
      const lt = BigInt(after.lt);
      start = h.findIndex((t) => t.lt > lt);
      if (start < 0) start = h.length;
    }
    return ascendingAfter(h.slice(start, start + limit), after, limit);
  }

  async getVaultBalance(): Promise<bigint> {
    return (await this.blockchain.getContract(this.vault)).balance;
  }
}

// ---------------------------------------------------------------- payouts
/** Anything with the wrapper's send methods: client.open(vault) or blockchain.openContract(vault). */
export interface VaultSender {
  sendWithdraw(via: Sender, value: bigint, w: SignedWithdrawal): Promise<unknown>;
  sendRedeem(via: Sender, value: bigint, v: SignedVoucher): Promise<unknown>;
}

export function sendWithdrawal<V extends Pick<VaultSender, "sendWithdraw">>(
  vault: V,
  via: Sender,
  w: SignedWithdrawal,
  value = WITHDRAW_GAS,
): ReturnType<V["sendWithdraw"]> {
  return vault.sendWithdraw(via, value, w) as ReturnType<V["sendWithdraw"]>;
}

export function sendVoucher<V extends Pick<VaultSender, "sendRedeem">>(
  vault: V,
  via: Sender,
  v: SignedVoucher,
  value = REDEEM_GAS,
): ReturnType<V["sendRedeem"]> {
  return vault.sendRedeem(via, value, v) as ReturnType<V["sendRedeem"]>;
}

export { signVoucher, signWithdrawal };

/** A voucher as JSON (events/money.ts `Voucher`, what the coordinator hands to the agent). */
export function voucherToJson(vault: Address, v: SignedVoucher): Voucher {
  return {
    vault: vault.toRawString(),
    worker: v.worker.toRawString(),
    cumulative: v.cumulative.toString(),
    expiry: v.expiry,
    signature: v.signature.toString("base64"),
  };
}

export class InvalidVoucherError extends Error {
  override readonly name = "InvalidVoucherError";
  readonly code = "invalid_voucher";
}

/** Voucher JSON → what Vault.sendRedeem takes: the shape by its events/ schema, the addresses by @ton/core. */
export function voucherFromJson(j: unknown): { vault: Address; voucher: SignedVoucher } {
  const r = Voucher.safeParse(j);
  if (!r.success)
    throw new InvalidVoucherError(
      `voucher JSON is malformed: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  const v = r.data;
  try {
    return {
      vault: Address.parse(v.vault),
      voucher: {
        worker: Address.parse(v.worker),
        cumulative: BigInt(v.cumulative),
        expiry: v.expiry,
        signature: Buffer.from(v.signature, "base64"),
      },
    };
  } catch (e) {
    throw new InvalidVoucherError(`voucher JSON is malformed: ${e instanceof Error ? e.message : String(e)}`);
  }
}
