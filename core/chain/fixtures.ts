/** Factories for chain watcher tests: real-shaped VaultTx values and a scripted ChainReader. */
import type { ChainReader } from "./ports";
import type { Cursor, VaultTx } from "./types";

let seq = 0;
const hex = (n: number, len = 64) => n.toString(16).padStart(len, "0");

/** A 32-byte Ed25519-looking public key as a base64url account id. */
export const accountId = (n: number) => Buffer.from(hex(n + 1), "hex").toString("base64url");
export const workerAddress = (n: number) => `0:${hex(0xabc000 + n)}`;

/** The vault a scripted history belongs to (raw "wc:hex"): what each watcher pass binds its ledger to. */
export const SCRIPTED_VAULT = `0:${"5c".repeat(32)}`;

export function vaultTx(p: Partial<VaultTx> & Pick<VaultTx, "kind">): VaultTx {
  seq++;
  return {
    hash: p.hash ?? createHashLike(seq),
    lt: p.lt ?? String(1_000_000 * seq),
    utime: p.utime ?? 1_750_000_000 + seq,
    amount: 0n,
    inValue: 0n,
    outValue: 0n,
    aborted: false,
    bounced: false,
    ...p,
  };
}

function createHashLike(n: number) {
  return hex(n * 2654435761, 64);
}

export const deposit = (account: string, amount: bigint, p: Partial<VaultTx> = {}) =>
  vaultTx({ kind: "deposit", account, amount, inValue: amount, ...p });
export const withdraw = (account: string, amount: bigint, seqno: number, to: string, p: Partial<VaultTx> = {}) =>
  vaultTx({ kind: "withdraw", account, amount, seqno, to, inValue: 50_000_000n, outValue: amount + 45_000_000n, ...p });
/** A redemption the vault paid to `payee` (its on-chain id: opaque to the watcher, any string here). */
export const redeem = (payee: string, cumulative: bigint, paid: bigint, p: Partial<VaultTx> = {}) =>
  vaultTx({ kind: "redeem", payee, amount: cumulative, inValue: 50_000_000n, outValue: paid + 45_000_000n, ...p });

/** Serves a fixed history with the ChainReader contract; counts calls. */
export class ScriptedReader implements ChainReader {
  calls = 0;
  balance = 0n;
  failNext: Error | null = null;
  /** serve the first page again on the next call regardless of the cursor */
  repeatFirstPageOnce = false;
  constructor(public txs: VaultTx[] = []) {}
  async getVaultTransactions(after: Cursor | null, limit: number) {
    this.calls++;
    if (this.failNext) {
      const e = this.failNext;
      this.failNext = null;
      throw e;
    }
    let start = 0;
    if (this.repeatFirstPageOnce) this.repeatFirstPageOnce = false;
    else if (after)
      start =
        this.txs.findIndex((t) => BigInt(t.lt) > BigInt(after.lt)) < 0
          ? this.txs.length
          : this.txs.findIndex((t) => BigInt(t.lt) > BigInt(after.lt));
    const page = this.txs.slice(start, start + limit);
    const last = page[page.length - 1];
    return { txs: page, cursor: last ? { lt: last.lt, hash: last.hash } : after };
  }
  async getVaultBalance() {
    return this.balance;
  }
}
