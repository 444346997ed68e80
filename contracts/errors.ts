/**
 * The exit codes of the vault and its wallets (AccountWallet, PayoutWallet) by name. Mirrors the
 * constants in contracts/vault.tact (the Tact wrapper exports them too; contracts/vault.test.ts
 * checks that both agree).
 */
export const VaultExit = {
  ERR_BAD_SIGNATURE: 1001, // signature does not verify under the current coordinator key
  ERR_EXPIRED: 1002, // now() > expiry
  ERR_NOTHING_TO_PAY: 1003, // voucher cumulative <= what the payee was already paid (replayed or older voucher)
  ERR_OVER_BALANCE: 1004, // withdrawal above the account's deposited - withdrawn
  ERR_NOT_OWNER: 1005, // owner-only operation from someone else
  ERR_UNATTRIBUTED: 1006, // value that names no account (bounced)
  ERR_BAD_SEQNO: 1007, // withdrawal seqno is not the account's next one (replay)
  ERR_DEPOSIT_TOO_SMALL: 1008, // deposit below MIN_DEPOSIT
  ERR_VAULT_INSOLVENT: 1009, // payout would exceed total deposits or the vault balance
  ERR_BAD_AMOUNT: 1010, // zero withdrawal
  ERR_BAD_DESTINATION: 1011, // payout to the vault itself or outside the basechain (workchain 0)
  ERR_NOT_VAULT: 1012, // a wallet message that did not come from its vault
  ERR_NOT_WALLET: 1013, // a wallet's answer from an address that is not the wallet it names
  ERR_UNKNOWN_DEPOSIT: 1014, // a credit confirmation for no deposit in flight
  ERR_LOW_VALUE: 1015, // a Withdraw or Redeem without the value its three transactions need (vault), or a debit / claim whose value cannot pay the wallet's storage debt and still carry the rest (wallet)
  ERR_WRONG_NETWORK: 1016, // a Withdraw or Redeem on a chain whose global id is not the vault's `network` (its init data)
} as const;

export type VaultExitName = keyof typeof VaultExit;

export function vaultExitName(code: number): VaultExitName | undefined {
  return (Object.keys(VaultExit) as VaultExitName[]).find((k) => VaultExit[k] === code);
}
