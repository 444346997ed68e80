/**
 * WithdrawalSigner (core/withdrawals.ts) over the vault's signing helpers: Ed25519 with the
 * coordinator's secret key over the withdrawal cell
 * ("cow1" | vault | account | to | amount | seqno | expiry). The local default passes the
 * sandbox vault's coordinator key (and the vault's withdrawSeqno getter); a deployment passes
 * the key from its configuration (a secret) and the deployed vault's address.
 */
import { Address } from "@ton/core";
import { signWithdrawal, type SignedWithdrawal } from "../../contracts/vault";
import { accountIdToUint } from "../../core/chain/account";
import { InvalidWithdrawalAddressError, type WithdrawalSigner } from "../../core/withdrawals";
import type { SignedWithdrawalView } from "../../events/withdrawals";

export function parseWithdrawalAddress(address: string): Address {
  try {
    return Address.parse(address);
  } catch {
    throw new InvalidWithdrawalAddressError(`to "${address}" is not a TON address (raw "0:<64 hex>" or user-friendly base64)`);
  }
}

/** `secretKey`: 64-byte Ed25519 secret key (@ton/crypto's KeyPair.secretKey). */
export function tonWithdrawalSigner(secretKey: Buffer, vault: Address, chainSeqno?: (account: bigint) => Promise<number>): WithdrawalSigner {
  return {
    vault: vault.toRawString(),
    address: (a) => parseWithdrawalAddress(a).toRawString(),
    async sign(w) {
      const signed = signWithdrawal(secretKey, vault, { account: accountIdToUint(w.account), to: Address.parse(w.to), amount: w.amount, seqno: w.seqno, expiry: w.expiry });
      return { signature: signed.signature.toString("base64") };
    },
    ...(chainSeqno ? { chainSeqno: (account: string) => chainSeqno(accountIdToUint(account)) } : {}),
  };
}

export class InvalidWithdrawalError extends Error {
  override readonly name = "InvalidWithdrawalError";
  readonly code = "invalid_withdrawal";
}

/** The signed withdrawal JSON (events/withdrawals.ts) → what Vault.sendWithdraw takes. */
export function withdrawalFromJson(j: SignedWithdrawalView): { vault: Address; withdrawal: SignedWithdrawal } {
  try {
    const signature = Buffer.from(j.signature, "base64");
    if (signature.length !== 64) throw new Error("signature must be 64 bytes");
    if (!/^\d+$/.test(j.amount)) throw new Error("amount must be a decimal nanoTON string");
    return {
      vault: Address.parse(j.vault),
      withdrawal: { account: accountIdToUint(j.account), to: Address.parse(j.to), amount: BigInt(j.amount), seqno: j.seqno, expiry: j.expiry, signature },
    };
  } catch (e) {
    throw new InvalidWithdrawalError(`withdrawal JSON is malformed: ${e instanceof Error ? e.message : String(e)}`);
  }
}
