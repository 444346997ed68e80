/**
 * The vault's transactions as the chain watcher reads them (normalizeVaultTx) and the paging of
 * its history through toncenter (VaultHistoryReader), with no TON library (issue 12): the
 * functions are written against the few members of a transaction, message, cell and slice they
 * read, which both @ton/core's objects (the sandbox: local default, tests) and ton-tx.ts's
 * lean ones (toncenter's BOCs: the chain-watcher Lambda) have. One reading for both, so the
 * rules below (issue 9 #1: a deposit only from the vault's log) are written once.
 *
 * The vault's message bodies are read by loaders that follow the Tact-generated ones
 * (contracts/build/Vault_Vault.ts loadWithdraw, loadDebitApproved, loadRedeem,
 * loadClaimApproved, loadDepositCredited) field by field: ton-vault-tx.test.ts checks them
 * against those on random bodies, well-formed and not.
 */
import { accountIdFromUint } from "../../core/chain/account";
import type { ChainReader } from "../../core/chain/ports";
import type { Cursor, VaultTx, VaultTxKind } from "../../core/chain/types";

// ---------------------------------------------------------------- what is read of a transaction

export interface AddressLike {
  toRawString(): string;
}

export interface SliceLike {
  readonly remainingBits: number;
  readonly remainingRefs: number;
  preloadUint(bits: number): number;
  loadUint(bits: number): number;
  loadUintBig(bits: number): bigint;
  skip(bits: number): unknown;
  loadCoins(): bigint;
  loadAddress(): AddressLike;
  loadRef(): CellLike;
  loadBuffer(bytes: number): Buffer;
}

export interface CellLike {
  /** a pruned branch, library cell or Merkle cell: no slice reads it */
  readonly isExotic: boolean;
  beginParse(): SliceLike;
}

export interface MessageLike {
  info: { type: "internal"; src: AddressLike; value: { coins: bigint }; bounced: boolean } | { type: "external-in" | "external-out" };
  body: CellLike;
}

export interface TransactionLike {
  lt: bigint;
  now: number;
  hash(): Buffer;
  description:
    | { type: "generic"; aborted: boolean; computePhase: { type: "vm"; exitCode: number } | { type: "skipped" } }
    | { type: "storage" | "tick-tock" | "split-prepare" | "split-install" | "merge-prepare" | "merge-install" };
  inMessage?: MessageLike | null;
  outMessages: { values(): Iterable<MessageLike> };
}

// ---------------------------------------------------------------- the vault's messages (contracts/vault.ts OPCODES)

export const VAULT_OPCODES = {
  deposit: 0x6b1f0c01,
  withdraw: 0x6b1f0c02,
  redeem: 0x6b1f0c03,
  setCoordinatorKey: 0x6b1f0c04,
  depositCredited: 0x6b1f0c81,
  creditAccount: 0x6b1f0c11,
  debit: 0x6b1f0c13,
  debitApproved: 0x6b1f0c14,
  claim: 0x6b1f0c15,
  claimApproved: 0x6b1f0c16,
} as const;

const prefix = (s: SliceLike, op: number) => {
  if (s.loadUint(32) !== op) throw new Error("Invalid prefix");
};

/** Withdraw and DebitApproved: the fields the watcher keeps (the signature is read, not kept). */
export interface WithdrawalFields {
  account: bigint;
  amount: bigint;
  to: string;
  seqno: bigint;
  expiry: bigint;
}

/** = Tact loadWithdraw: op, account:uint256, amount:coins, to:address, seqno:uint32, expiry:uint32, ^[signature:bits512] */
export function loadWithdraw(s: SliceLike): WithdrawalFields {
  prefix(s, VAULT_OPCODES.withdraw);
  const account = s.loadUintBig(256);
  const amount = s.loadCoins();
  const to = s.loadAddress().toRawString();
  const seqno = s.loadUintBig(32);
  const expiry = s.loadUintBig(32);
  s.loadRef().beginParse().loadBuffer(64);
  return { account, amount, to, seqno, expiry };
}

/** = Tact loadDebitApproved: op, amount:coins, seqno:uint32, account:uint256, to:address, expiry:uint32 */
export function loadDebitApproved(s: SliceLike): WithdrawalFields {
  prefix(s, VAULT_OPCODES.debitApproved);
  const amount = s.loadCoins();
  const seqno = s.loadUintBig(32);
  const account = s.loadUintBig(256);
  const to = s.loadAddress().toRawString();
  const expiry = s.loadUintBig(32);
  return { amount, seqno, account, to, expiry };
}

/** = Tact loadRedeem: op, worker:address, cumulative:coins, expiry:uint32, signature:bits512 */
export function loadRedeem(s: SliceLike): { worker: string; cumulative: bigint; expiry: bigint } {
  prefix(s, VAULT_OPCODES.redeem);
  const worker = s.loadAddress().toRawString();
  const cumulative = s.loadCoins();
  const expiry = s.loadUintBig(32);
  s.loadBuffer(64);
  return { worker, cumulative, expiry };
}

/** = Tact loadClaimApproved: op, due:coins, cumulative:coins, worker:address */
export function loadClaimApproved(s: SliceLike): { due: bigint; cumulative: bigint; worker: string } {
  prefix(s, VAULT_OPCODES.claimApproved);
  const due = s.loadCoins();
  const cumulative = s.loadCoins();
  const worker = s.loadAddress().toRawString();
  return { due, cumulative, worker };
}

/** What the vault logged for a credited deposit. */
export interface DepositCreditedLog {
  account: bigint;
  amount: bigint;
}

/**
 * = contracts/vault.ts parseDepositCredited: one of the vault's external-out bodies as a
 * DepositCredited log (op, account:uint256, amount:coins, nothing after); null for anything else.
 */
export function parseDepositCredited(body: CellLike): DepositCreditedLog | null {
  try {
    const s = body.beginParse();
    if (s.remainingBits < 32 || s.preloadUint(32) !== VAULT_OPCODES.depositCredited) return null;
    s.loadUint(32);
    const account = s.loadUintBig(256);
    const amount = s.loadCoins();
    if (s.remainingBits !== 0 || s.remainingRefs !== 0) return null;
    return { account, amount };
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- decoding
/**
 * The vault's DepositCredited logs in a transaction: its external-out messages that parse
 * exactly as the log. Only the vault's own code writes them (one per deposit its account wallet
 * confirmed), so nothing a sender puts in a message body can make one appear.
 */
function depositLogs(tx: TransactionLike): DepositCreditedLog[] {
  const logs: DepositCreditedLog[] = [];
  for (const m of tx.outMessages.values()) {
    if (m.info.type !== "external-out") continue;
    const log = parseDepositCredited(m.body);
    if (log) logs.push(log);
  }
  return logs;
}

/** Whether the transaction sent an internal message with this opcode (the vault routing to a wallet). */
function sent(tx: TransactionLike, op: number): boolean {
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
function bouncedKind(body: CellLike): { kind: VaultTxKind; amount: bigint } | null {
  try {
    const s = body.beginParse();
    if (s.remainingBits < 64 || s.loadUint(32) !== 0xffffffff) return null;
    switch (s.loadUint(32)) {
      case VAULT_OPCODES.creditAccount:
        s.skip(64); // queryId
        return { kind: "deposit-refund", amount: s.loadCoins() };
      case VAULT_OPCODES.debit:
        return { kind: "withdraw-refused", amount: s.loadCoins() };
      case VAULT_OPCODES.claim:
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
export function normalizeVaultTx(tx: TransactionLike): VaultTx {
  const d = tx.description;
  const generic = d.type === "generic" ? (d as Extract<TransactionLike["description"], { type: "generic" }>) : null;
  const aborted = generic ? generic.aborted : false;
  const exitCode = generic && generic.computePhase.type === "vm" ? generic.computePhase.exitCode : undefined;
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
  // Anyone can send the vault a body that is an exotic cell (a library cell, say), which no
  // slice reads: it is not a credit, and it must not throw (the watcher would stop at it for good).
  if (body.isExotic) return { ...common, kind: "unknown", amount: inValue };
  const s = body.beginParse();
  const empty = s.remainingBits === 0 && s.remainingRefs === 0;
  // Routed to the account's wallet: accepted, not credited yet (the credit comes with the log).
  const routed = !aborted && sent(tx, VAULT_OPCODES.creditAccount);
  // Not credited: the owner's top-up when accepted and nothing went out; otherwise a
  // rejected (bounced) or refunded transfer, whatever its body says.
  const topupOrBounce = (): VaultTx => ({ ...common, kind: !aborted && outValue === 0n ? "topup" : "bounce", amount: inValue });
  // The owner's signed request (Withdraw, routed) and the wallet's approval the vault paid
  // (DebitApproved) carry the same withdrawal fields.
  const withdrawal = (kind: "withdraw-routed" | "withdraw", msg: WithdrawalFields): VaultTx => ({
    ...common,
    kind,
    account: accountIdFromUint(msg.account),
    amount: msg.amount,
    seqno: Number(msg.seqno),
    expiry: Number(msg.expiry),
    to: msg.to,
  });
  if (empty) return topupOrBounce();
  if (s.remainingBits < 32) return { ...common, kind: "unknown", amount: inValue };
  const op = s.preloadUint(32);
  try {
    switch (op) {
      case 0: // a comment: a deposit when the vault routed it, else not credited
        return routed ? { ...common, kind: "deposit-routed", amount: inValue } : topupOrBounce();
      case VAULT_OPCODES.deposit: // routed, or refused (too small: aborted)
        return routed
          ? { ...common, kind: "deposit-routed", amount: inValue }
          : { ...common, kind: aborted ? "bounce" : "unknown", amount: inValue };
      case VAULT_OPCODES.withdraw:
        return withdrawal("withdraw-routed", loadWithdraw(body.beginParse()));
      case VAULT_OPCODES.debitApproved:
        return withdrawal("withdraw", loadDebitApproved(body.beginParse()));
      case VAULT_OPCODES.redeem: {
        const msg = loadRedeem(body.beginParse());
        return { ...common, kind: "redeem-routed", worker: msg.worker, amount: msg.cumulative };
      }
      case VAULT_OPCODES.claimApproved: {
        const msg = loadClaimApproved(body.beginParse());
        return { ...common, kind: "redeem", worker: msg.worker, amount: msg.cumulative };
      }
      case VAULT_OPCODES.setCoordinatorKey:
        return { ...common, kind: "admin", amount: 0n };
    }
  } catch {
    // malformed body for a known opcode: the vault rejected it too
  }
  return { ...common, kind: "unknown" as VaultTxKind, amount: inValue };
}

export function ascendingAfter(all: TransactionLike[], after: Cursor | null, limit: number) {
  const txs = all.map(normalizeVaultTx);
  const page = txs.slice(0, limit);
  const last = page[page.length - 1];
  return { txs: page, cursor: last ? { lt: last.lt, hash: last.hash } : after };
}

// ---------------------------------------------------------------- toncenter's history
/** What the reader needs of a toncenter client: TonClient (A = @ton/core Address) or toncenter-client.ts (A = TonAddress). */
export interface HistoryClient<A, T extends TransactionLike> {
  getTransactions(
    address: A,
    opts: { limit: number; lt?: string; hash?: string; to_lt?: string; inclusive?: boolean; archival?: boolean },
  ): Promise<T[]>;
  getBalance(address: A): Promise<bigint>;
}

/** ChainReader over toncenter: the vault's history, paged newest-first with (lt, hash), returned oldest-first after a cursor. */
export class VaultHistoryReader<A, T extends TransactionLike> implements ChainReader {
  constructor(
    protected readonly client: HistoryClient<A, T>,
    protected readonly vault: A,
    private readonly opts: { pageSize?: number; archival?: boolean } = {},
  ) {}

  /**
   * toncenter pages newest-first, so reaching the transactions after a cursor means walking back
   * from the newest one. The walk is done once and kept (ascending, `lo` exclusive): later pages
   * of the same pass (and of later passes on a warm instance) are served from it, and only what
   * is newer than its head is walked again. A walk cut short (rate limit, timeout) resumes where
   * it stopped, so a flood of vault transactions costs backlog/pageSize requests in all, not per page.
   */
  private cache: { lo: bigint; txs: T[] } | null = null;
  private walk: { toLt: bigint | null; from?: { lt: string; hash: string }; got: T[] } | null = null;

  private async walkDown(toLt: bigint | null): Promise<T[]> {
    const pageSize = this.opts.pageSize ?? 100;
    if (!this.walk || this.walk.toLt !== toLt) this.walk = { toLt, got: [] };
    const w = this.walk;
    for (;;) {
      const page = await this.client.getTransactions(this.vault, {
        limit: pageSize,
        ...(w.from ? { lt: w.from.lt, hash: w.from.hash, inclusive: false } : {}),
        ...(toLt !== null ? { to_lt: toLt.toString() } : {}),
        archival: this.opts.archival ?? true,
      });
      const fresh = toLt !== null ? page.filter((t) => t.lt > toLt) : page;
      w.got.push(...fresh);
      if (page.length < pageSize || fresh.length < page.length) break;
      const last = page[page.length - 1]!;
      w.from = { lt: last.lt.toString(), hash: last.hash().toString("base64") };
    }
    this.walk = null;
    return w.got.sort((a, b) => (a.lt < b.lt ? -1 : a.lt > b.lt ? 1 : 0));
  }

  async getVaultTransactions(after: Cursor | null, limit: number) {
    const lo = after ? BigInt(after.lt) : -1n;
    const c = this.cache;
    if (!c || lo < c.lo || (c.txs.length > 0 && lo > c.txs[c.txs.length - 1]!.lt) || (c.txs.length === 0 && lo !== c.lo)) {
      this.cache = { lo, txs: await this.walkDown(after ? lo : null) };
    } else {
      c.txs = c.txs.filter((t) => t.lt > lo);
      c.lo = lo;
    }
    const cache = this.cache!;
    if (cache.txs.length < limit) {
      const head = cache.txs.length > 0 ? cache.txs[cache.txs.length - 1]!.lt : lo;
      cache.txs.push(...(await this.walkDown(head < 0n ? null : head)));
    }
    return ascendingAfter(cache.txs.slice(0, limit), after, limit);
  }

  getVaultBalance(): Promise<bigint> {
    return this.client.getBalance(this.vault);
  }
}
