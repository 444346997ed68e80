/**
 * The vault's history as toncenter pages it, checked to be one chain (session 40, Known limits:
 * the watcher trusted one toncenter for the vault's history, unchecked). toncenter-client.ts
 * already refuses a row of another account; this wraps it for the chain watcher's
 * VaultHistoryReader (ton-vault-tx.ts HistoryClient) and refuses, with a
 * ToncenterChainBreakError naming the break, an answer whose transactions do not link up:
 *
 *   within a page   each transaction's prev_trans_lt / prev_trans_hash (read from its BOC, which
 *                   its hash covers) must be the next row's (lt, hash): toncenter pages newest first
 *   at its top      a page asked from (lt, hash) starts with that transaction (inclusive), or with
 *                   the one before it, as this client saw it linked earlier (not inclusive)
 *   at its bottom   a page that stopped short above `to_lt` must reach it: its oldest transaction's
 *                   predecessor is at or below `to_lt`, and is the transaction this client saw
 *                   there when it saw one (an answer that leaves out a withdrawal would otherwise
 *                   get its reservation released as expired)
 *
 * What this does not give: a proof. An endpoint that forges a whole chain (its top included) or
 * forks it below the cursor passes; that is what the quorum (toncenter-quorum.ts) is for. It
 * makes a broken or sloppy endpoint fail loudly, and a hostile one lie consistently.
 *
 * A refusal throws before the reader returns anything of the page: the watcher credits nothing
 * of it, vouches for nothing (no withdrawal released), and raises chain.reader-error with this
 * message (core/chain/watcher.ts).
 */
import type { HistoryClient } from "./ton-vault-tx";
import type { TonAddress } from "./ton-cells";
import type { Transaction } from "./ton-tx";
import { ToncenterError } from "./toncenter-rpc";

/** toncenter's answer is not one chain of the vault's transactions: nothing of it is used. */
export class ToncenterChainBreakError extends ToncenterError {
  override readonly name = "ToncenterChainBreakError";
  readonly code = "chain_break";
}

interface Link {
  lt: bigint;
  /** hex */
  hash: string;
}

/** How many transactions' links are remembered between pages (a pass reads at most maxPages × 50 = 1000). */
const REMEMBERED = 4096;

/** A transaction's predecessor as its BOC writes it (prev_trans_lt, prev_trans_hash: ton-tx.ts loadTransaction reads them). */
const prevOf = (tx: Transaction): Link => ({ lt: tx.prevTransactionLt, hash: tx.prevTransactionHash.toString(16).padStart(64, "0") });
const linkOf = (tx: Transaction): Link => ({ lt: tx.lt, hash: tx.hash().toString("hex") });
const same = (a: Link, b: Link) => a.lt === b.lt && a.hash === b.hash;
const show = (l: Link) => `${l.lt}:${l.hash.slice(0, 16)}`;

type Opts = Parameters<HistoryClient<TonAddress, Transaction>["getTransactions"]>[1];

export class ChainCheckedHistory implements HistoryClient<TonAddress, Transaction> {
  /** hex hash → predecessor, of the transactions answered so far (oldest forgotten first) */
  private readonly prev = new Map<string, Link>();
  /** lt → hex hash, of the same */
  private readonly byLt = new Map<bigint, string>();

  constructor(private readonly client: HistoryClient<TonAddress, Transaction>) {}

  getBalance(address: TonAddress): Promise<bigint> {
    return this.client.getBalance(address);
  }

  async getTransactions(address: TonAddress, opts: Opts): Promise<Transaction[]> {
    const txs = await this.client.getTransactions(address, opts);
    const links = txs.map(linkOf);
    const prevs = txs.map(prevOf);
    const refuse = (why: string): never => {
      throw new ToncenterChainBreakError(`toncenter's history of the vault is not one chain: ${why}`);
    };
    for (let i = 0; i + 1 < txs.length; i++) {
      if (!same(prevs[i]!, links[i + 1]!))
        refuse(`transaction ${show(links[i]!)} follows ${show(prevs[i]!)}, but the next row is ${show(links[i + 1]!)}`);
    }
    if (opts.lt && opts.hash && txs.length > 0) {
      const anchor: Link = { lt: BigInt(opts.lt), hash: Buffer.from(opts.hash, "base64").toString("hex") };
      const known = this.prev.get(anchor.hash);
      const top = links[0]!;
      const fits = same(top, anchor) || (known !== undefined ? same(top, known) : top.lt < anchor.lt);
      if (!fits) refuse(`a page asked from ${show(anchor)} starts at ${show(top)}`);
    }
    if (opts.to_lt !== undefined && txs.length > 0 && txs.length < opts.limit) {
      const floor = BigInt(opts.to_lt);
      const below = prevs[prevs.length - 1]!;
      const seen = this.byLt.get(floor);
      if (below.lt > floor) refuse(`a page down to lt ${floor} stops at ${show(links[links.length - 1]!)}, which follows ${show(below)}`);
      if (below.lt === floor && seen !== undefined && seen !== below.hash)
        refuse(`transaction ${show(links[links.length - 1]!)} follows ${show(below)}, but lt ${floor} was ${seen.slice(0, 16)}`);
    }
    txs.forEach((_, i) => this.remember(links[i]!, prevs[i]!));
    return txs;
  }

  private remember(tx: Link, prev: Link) {
    this.prev.delete(tx.hash);
    this.prev.set(tx.hash, prev);
    this.byLt.delete(tx.lt);
    this.byLt.set(tx.lt, tx.hash);
    if (this.prev.size > REMEMBERED) this.prev.delete(this.prev.keys().next().value!);
    if (this.byLt.size > REMEMBERED) this.byLt.delete(this.byLt.keys().next().value!);
  }
}
