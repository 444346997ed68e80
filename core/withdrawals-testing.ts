/**
 * Test factories for core/withdrawals.ts, shared by withdrawals.test.ts and withdrawals-edges.test.ts.
 * Imported by tests only.
 */
import { InvalidWithdrawalAddressError, type WithdrawalSigner } from "./withdrawals";

/** What the signer is asked to sign for one withdrawal. */
export type Signed = { account: string; to: string; amount: bigint; seqno: number; expiry: number };

/**
 * Factory: a withdrawal signer that checks addresses like the TON signer (raw form only here) and records
 * what it signed; unless `chain` is false it also plays the vault's seqno getter: `vaultSeqno`, failing
 * while `chainDown`, each read counted in `chainReads`.
 */
export function fakeSigner(o: { chain?: boolean } = {}) {
  const s = {
    vault: "0:" + "f".repeat(64),
    signed: [] as Signed[],
    vaultSeqno: 0,
    chainDown: false,
    chainReads: 0,
    address(a: string) {
      if (!/^-?\d+:[0-9a-f]{64}$/.test(a)) throw new InvalidWithdrawalAddressError(`bad address ${a}`);
      return a;
    },
    async sign(w: Signed) {
      s.signed.push(w);
      return { signature: `sig:${w.seqno}:${w.amount}:${w.expiry}` };
    },
  };
  const signer: WithdrawalSigner & typeof s = s;
  if (o.chain === false) return signer;
  signer.chainSeqno = async () => {
    s.chainReads++;
    if (s.chainDown) throw new Error("toncenter 503");
    return s.vaultSeqno;
  };
  return signer;
}
