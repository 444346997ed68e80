/**
 * WithdrawalSigner (core/withdrawals.ts) for callers that hold the vault's coordinator key as a
 * NaCl secret key and the vault as a @ton/core Address (the local default, with the sandbox
 * vault's withdrawSeqno getter; tests): Ed25519 over the withdrawal cell
 * ("cow1" | vault | account | to | amount | seqno | expiry), signed by vault-signers.ts, the one
 * implementation the AWS routes use too. And the signed withdrawal's JSON back into what
 * Vault.sendWithdraw takes (the CLI, the local dev routes).
 */
import { Address } from "@ton/core";
import type { SignedWithdrawal } from "../../contracts/vault";
import { accountIdToUint } from "../../core/chain/account";
import type { WithdrawalSigner } from "../../core/withdrawals";
import { SignedWithdrawalView } from "../../events/withdrawals";
import { vaultWithdrawalSigner } from "./vault-signers";

/** `secretKey`: 64-byte Ed25519 secret key (@ton/crypto's KeyPair.secretKey: seed | public key). */
export function tonWithdrawalSigner(
  secretKey: Buffer,
  vault: Address,
  chainSeqno?: (account: bigint) => Promise<number>,
): WithdrawalSigner {
  return vaultWithdrawalSigner(secretKey.subarray(0, 32), { workchain: vault.workChain, hash: vault.hash }, chainSeqno);
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
