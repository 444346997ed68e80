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
import { payeeUintToHex } from "../../core/chain/payee";
import type { ChainReader, ChainView } from "../../core/chain/ports";
import type { Cursor, VaultTx, VaultTxKind } from "../../core/chain/types";
import { memoryVaultWalk, type VaultWalk, type VaultWalkStore, type WalkPoint } from "../../core/chain/vault-walk";

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

/** A payee (uint256) as 64 lowercase hex (core/chain/payee.ts payeeHex's form). */
const payeeOf = (s: SliceLike) => payeeUintToHex(s.loadUintBig(256));

/**
 * = Tact loadRedeem (vault v2): op, payee:uint256, to:address, cumulative:coins, expiry:uint32,
 * ref(signature:bits512). `worker` is the address paid (`to`).
 */
export function loadRedeem(s: SliceLike): { payee: string; worker: string; cumulative: bigint; expiry: bigint } {
  prefix(s, VAULT_OPCODES.redeem);
  const payee = payeeOf(s);
  const worker = s.loadAddress().toRawString();
  const cumulative = s.loadCoins();
  const expiry = s.loadUintBig(32);
  s.loadRef().beginParse().loadBuffer(64);
  return { payee, worker, cumulative, expiry };
}

/** = Tact loadClaimApproved (vault v2): op, due:coins, cumulative:coins, payee:uint256, to:address */
export function loadClaimApproved(s: SliceLike): { due: bigint; cumulative: bigint; payee: string; worker: string } {
  prefix(s, VAULT_OPCODES.claimApproved);
  const due = s.loadCoins();
  const cumulative = s.loadCoins();
  const payee = payeeOf(s);
  const worker = s.loadAddress().toRawString();
  return { due, cumulative, payee, worker };
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
        return { ...common, kind: "redeem-routed", payee: msg.payee, worker: msg.worker, amount: msg.cumulative };
      }
      case VAULT_OPCODES.claimApproved: {
        const msg = loadClaimApproved(body.beginParse());
        return { ...common, kind: "redeem", payee: msg.payee, worker: msg.worker, amount: msg.cumulative, due: msg.due };
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

/** toncenter v2's getTransactions refuses a `limit` over 100 (its schema's maximum). */
export const TONCENTER_MAX_LIMIT = 100;

export interface VaultHistoryReaderOptions {
  /** transactions per toncenter request, 2 to 100 (default 100) */
  pageSize?: number;
  archival?: boolean;
  /** where the walk's progress is kept (the chain-watcher Lambda: the store); default this process only */
  walk?: VaultWalkStore;
  /**
   * The vault's state as toncenter sees it (toncenter-client.ts getContractState: `timestampt`,
   * its sync time in unix s, and the vault's last transaction): served as ChainReader.chainView.
   * The chain-watcher Lambda sets it, since toncenter can lag the chain by minutes.
   */
  chainState?: () => Promise<{ timestampt: number; lastTransaction: { lt: string } | null }>;
}

/** toncenter did not answer a page the walk read before (its newest transaction missing): nothing is served from it. */
export class VaultHistoryGapError extends Error {
  override readonly name = "VaultHistoryGapError";
  readonly code = "history_gap";
}

/** Transactions (lt, top], ascending: one page of a walk. */
interface Page<T> {
  lo: bigint;
  top: bigint;
  txs: T[];
}

const covers = <T>(p: Page<T> | null, at: bigint): p is Page<T> => p !== null && p.lo <= at && at < p.top;

/**
 * ChainReader over toncenter: the vault's history, paged newest-first with (lt, hash), returned
 * oldest-first after a cursor.
 *
 * toncenter pages newest-first, so reaching the transactions after a cursor means walking down
 * from the newest one to it. A flood of cheap vault transactions (a stranger's rejected
 * transfers) can make that walk longer than one pass may go (its request budget, its 55 s), so
 * the walk's progress is durable (core/chain/vault-walk.ts): after each request the walk's
 * boundaries and the top of the page read are written, conditionally, to the store, and any later
 * process goes on from there. Only a finished walk hands transactions to the watcher, oldest
 * page first, each page re-read by its top; the reader holds one page in memory, whatever the
 * backlog. A walk of one request (the usual pass) writes nothing.
 *
 * Crash safety: the walk is written before the process relies on it, and read back from the
 * store whenever it is needed; a page is dropped only once the watcher's saved cursor is past its
 * top, and a cursor below what was dropped starts a new walk. So a crash anywhere re-reads, never
 * skips; and the ledger credits each transaction once by its hash (core/chain/store-ledger.ts), so
 * a re-read never credits twice.
 *
 * No request asks toncenter for more than 100 transactions (TONCENTER_MAX_LIMIT): a page below
 * (lt, hash) is asked for `inclusive`, and the cursor's own row dropped here, because TonClient
 * (and toncenter-client.ts) ask for `limit + 1` when they drop it themselves, which toncenter
 * refuses at 101.
 */
export class VaultHistoryReader<A, T extends TransactionLike> implements ChainReader {
  private readonly walks: VaultWalkStore;
  private readonly pageSize: number;
  /** the last page read: served again without asking toncenter while the cursor is inside it */
  private page: Page<T> | null = null;
  /**
   * ChainReader.chainView, when `chainState` is given: toncenter's history can lag the chain by
   * minutes; the watcher vouches for no more than this (core/chain/watcher.ts).
   */
  readonly chainView?: () => Promise<ChainView>;

  constructor(
    protected readonly client: HistoryClient<A, T>,
    protected readonly vault: A,
    private readonly opts: VaultHistoryReaderOptions = {},
  ) {
    this.walks = opts.walk ?? memoryVaultWalk();
    // 2 at least: a page asked for from (lt, hash) inclusive starts with that transaction again
    this.pageSize = Math.max(2, Math.min(opts.pageSize ?? TONCENTER_MAX_LIMIT, TONCENTER_MAX_LIMIT));
    const state = opts.chainState;
    if (state)
      this.chainView = async () => {
        const s = await state();
        return { at: s.timestampt * 1000, lastLt: s.lastTransaction?.lt ?? null };
      };
  }

  async getVaultTransactions(after: Cursor | null, limit: number) {
    const cursor = after ? BigInt(after.lt) : -1n;
    const out: T[] = [];
    // A full page unless the chain shows no more: the watcher reads a short page as "caught up".
    for (let at = cursor; out.length < limit;) {
      const page = await this.pageAbove(at, cursor);
      const more = page ? page.txs.filter((t) => t.lt > at).slice(0, limit - out.length) : [];
      if (more.length === 0) break;
      out.push(...more);
      at = more[more.length - 1]!.lt;
    }
    return ascendingAfter(out, after, limit);
  }

  getVaultBalance(): Promise<bigint> {
    return this.client.getBalance(this.vault);
  }

  /** The page holding the transactions right after `at` (the cursor, or past it within this call); null when there are none. */
  private async pageAbove(at: bigint, cursor: bigint): Promise<Page<T> | null> {
    for (let again = false; ; again = true) {
      if (covers(this.page, at)) return this.page;
      const stored = await this.walks.load();
      // The stored walk serves a cursor inside it that no dropped page is above; else a new walk from here.
      const usable = !again && stored !== null && BigInt(stored.floor) <= at && at < BigInt(stored.head.lt);
      const walk = usable
        ? stored.done
          ? stored
          : await this.walkDown(stored, stored.version)
        : await this.walkDown(at, stored?.version ?? null);
      if (covers(this.page, at)) return this.page;
      if (!walk) return null;
      const top = await this.topAbove(walk, at, cursor);
      if (top) return this.readPage(top, at);
      // A walk from here found nothing; one that was stored has no page above `at` (expired): walk again.
      if (!usable) return null;
    }
  }

  /**
   * Walks down to the walk's `lo` (a new walk from `lo` when given a bigint) and returns it,
   * finished; null for a new walk that found nothing. Every request but a lone one writes the walk
   * (conditional on `expected`, the version stored) with the top of its page. The bottom page is
   * kept in memory. Throws when a request fails: what was written is where the next try resumes.
   */
  private async walkDown(start: VaultWalk | bigint, expected: number | null): Promise<VaultWalk | null> {
    let w: VaultWalk | null = typeof start === "bigint" ? null : start;
    const lo = typeof start === "bigint" ? start : BigInt(start.lo);
    let saved = typeof start !== "bigint";
    for (;;) {
      const from = w?.from;
      const rows = await this.client.getTransactions(this.vault, {
        limit: this.pageSize,
        ...(from ? { lt: from.lt, hash: from.hash, inclusive: true } : {}),
        ...(lo >= 0n ? { to_lt: lo.toString() } : {}),
        archival: this.opts.archival ?? true,
      });
      const below = from ? rows.filter((t) => t.lt < BigInt(from.lt)) : rows;
      const fresh = below.filter((t) => t.lt > lo);
      const end = rows.length < this.pageSize || fresh.length < below.length || fresh.length === 0;
      if (fresh.length === 0 && !w) return null;
      const top = fresh.length > 0 ? point(fresh[0]!) : undefined;
      const version = (expected ?? 0) + 1;
      const next: VaultWalk = w
        ? { ...w, version, from: fresh.length > 0 ? point(fresh[fresh.length - 1]!) : w.from, done: end }
        : {
            id: `${lo}.${version}`,
            version,
            lo: lo.toString(),
            head: top!,
            from: point(fresh[fresh.length - 1]!),
            done: end,
            floor: lo.toString(),
          };
      if (end && fresh.length > 0) this.page = { lo, top: fresh[0]!.lt, txs: [...fresh].reverse() };
      // A walk of one request stays in memory: a crash before it is served only repeats that request.
      if (saved || !end) {
        await this.walks.save(next, expected, top);
        [expected, saved] = [version, true];
      }
      w = next;
      if (end) return w;
    }
  }

  /**
   * The top of the lowest page above `at`. Pages the watcher's cursor has passed are dropped first
   * (the cursor is saved after the watcher processed them: never one it may still need).
   */
  private async topAbove(w: VaultWalk, at: bigint, cursor: bigint): Promise<WalkPoint | null> {
    for (let n = 16; ;) {
      const tops = await this.walks.pages(w.id, n);
      const passed = tops.filter((p) => BigInt(p.lt) <= cursor).slice(0, 99);
      if (passed.length > 0) {
        const next = { ...w, version: w.version + 1, floor: passed[passed.length - 1]!.lt };
        await this.walks.drop(next, w.version, passed);
        w = next;
        continue;
      }
      const top = tops.find((p) => BigInt(p.lt) > at);
      if (top || tops.length < n) return top ?? null;
      n *= 2; // all between the cursor and `at` (read earlier in this call): look further
    }
  }

  /** The transactions (at, top.lt] of one page of the walk, re-read from toncenter by its top. */
  private async readPage(top: WalkPoint, at: bigint): Promise<Page<T>> {
    const rows = await this.client.getTransactions(this.vault, {
      limit: this.pageSize,
      lt: top.lt,
      hash: top.hash,
      inclusive: true,
      ...(at >= 0n ? { to_lt: at.toString() } : {}),
      archival: this.opts.archival ?? true,
    });
    const first = rows[0];
    if (!first || first.lt !== BigInt(top.lt) || first.hash().toString("base64") !== top.hash) {
      throw new VaultHistoryGapError(`toncenter did not answer the page of transaction ${top.lt} from it`);
    }
    this.page = { lo: at, top: first.lt, txs: rows.filter((t) => t.lt > at).reverse() };
    return this.page;
  }
}

const point = (t: TransactionLike): WalkPoint => ({ lt: t.lt.toString(), hash: t.hash().toString("base64") });
