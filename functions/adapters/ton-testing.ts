/**
 * Test factories for the lean TON code (ton-boc.ts, ton-tx.ts, ton-vault-tx.ts,
 * ton-wallet-v5.ts): a seeded generator (a failure reproduces from its seed) and random values
 * across their edges. Imported by tests only.
 */
import { mulberry32 } from "../../core/mulberry32";
import type { Anchor } from "../../core/receipts/anchor";

/** mulberry32: small, fast, seeded. */
export function rng(seed: number) {
  const next = mulberry32(seed);
  const int = (n: number) => Math.floor(next() * n);
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  const big = (bits: number) => (bits === 0 ? 0n : BigInt("0x" + bytes(Math.ceil(bits / 8)).toString("hex")) & ((1n << BigInt(bits)) - 1n));
  const bool = () => next() < 0.5;
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, bytes, big, bool, pick };
}
export type Rng = ReturnType<typeof rng>;

/** A random anchor (seqno, ledger range and hashes anywhere in their fields' ranges), as ton-wallet-v5's tests post them. */
export function anchor(r: Rng): Anchor {
  const h = () => r.bytes(32).toString("hex");
  return {
    seqno: r.int(2 ** 32),
    root: h(),
    firstSeq: r.int(2 ** 48),
    count: r.int(2 ** 32),
    ledgerSeqno: r.int(2 ** 48),
    ledgerHash: h(),
  };
}

/** Amounts across the whole coins range: zero, the byte-length edges, and random ones. */
export function coins(r: Rng): bigint {
  const p = r.int(5);
  if (p === 0) return 0n;
  const bytes = 1 + r.int(15);
  return p === 1 ? (1n << BigInt(bytes * 8)) - 1n : r.big(bytes * 8) | 1n;
}

/** A workchain as addresses carry them: mostly 0 and -1, sometimes any int8. */
export const workchain = (r: Rng) => (r.int(4) === 0 ? r.int(256) - 128 : r.pick([0, -1]));

/** Whether `f` throws (the refusals are compared, not their messages). */
export function throws(f: () => unknown): boolean {
  try {
    f();
    return false;
  } catch {
    return true;
  }
}

/** What `f` returns, or null where it throws. */
export function attempt<T>(f: () => T): T | null {
  try {
    return f();
  } catch {
    return null;
  }
}
