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
import { SignedWithdrawalView } from "../../events/withdrawals";

export function parseWithdrawalAddress(address: string): Address {
  try {
    return Address.parse(address);
  } catch {
    throw new InvalidWithdrawalAddressError(`to "${address}" is not a TON address (raw "0:<64 hex>" or user-friendly base64)`);
  }
}

/** `secretKey`: 64-byte Ed25519 secret key (@ton/crypto's KeyPair.secretKey). */
export function tonWithdrawalSigner(
  secretKey: Buffer,
  vault: Address,
  chainSeqno?: (account: bigint) => Promise<number>,
): WithdrawalSigner {
  return {
    vault: vault.toRawString(),
    address: (a) => parseWithdrawalAddress(a).toRawString(),
    async sign(w) {
      const signed = signWithdrawal(secretKey, vault, {
        account: accountIdToUint(w.account),
        to: Address.parse(w.to),
        amount: w.amount,
        seqno: w.seqno,
        expiry: w.expiry,
      });
      return { signature: signed.signature.toString("base64") };
    },
    ...(chainSeqno ? { chainSeqno: (account: string) => chainSeqno(accountIdToUint(account)) } : {}),
  };
}

export class InvalidWithdrawalError extends Error {
  override readonly name = "InvalidWithdrawalError";
  readonly code = "invalid_withdrawal";
}

/** The signed withdrawal JSON → what Vault.sendWithdraw takes: the shape by its events/ schema, the addresses by @ton/core. */
export function withdrawalFromJson(j: unknown): { vault: Address; withdrawal: SignedWithdrawal } {
  const r = SignedWithdrawalView.safeParse(j);
  if (!r.success)
    throw new InvalidWithdrawalError(
      `withdrawal JSON is malformed: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  const w = r.data;
  try {
    return {
      vault: Address.parse(w.vault),
      withdrawal: {
        account: accountIdToUint(w.account),
        to: Address.parse(w.to),
        amount: BigInt(w.amount),
        seqno: w.seqno,
        expiry: w.expiry,
        signature: Buffer.from(w.signature, "base64"),
      },
    };
  } catch (e) {
    throw new InvalidWithdrawalError(`withdrawal JSON is malformed: ${e instanceof Error ? e.message : String(e)}`);
  }
}
