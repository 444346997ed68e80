/**
 * The coordinator's vault signers (core/payouts.ts VoucherSigner, core/withdrawals.ts
 * WithdrawalSigner) over ton-cells.ts and node:crypto's Ed25519, without @ton/* (issue 12: the
 * three signing routes' bundles). One implementation for every runtime: the @ton/core-typed
 * tonVoucherSigner / tonWithdrawalSigner the local default and the tests use delegate here.
 *
 * Ed25519 is deterministic (RFC 8032): node:crypto signs the same cell hash with the same key
 * into the same 64 bytes as @ton/crypto's sign (tweetnacl); vault-signers.test.ts checks that on
 * many vectors against contracts/vault.ts signVoucher / signWithdrawal.
 */
import { sign, signingKeyFromSeed } from "../../core/crypto/keys";
import { accountIdToUint } from "../../core/chain/account";
import { payeeHexToUint } from "../../core/chain/payee";
import { InvalidPayoutAddressError, type VoucherSigner } from "../../core/payouts";
import { InvalidWithdrawalAddressError, type WithdrawalSigner } from "../../core/withdrawals";
import { parseTonAddress, rawAddress, voucherHash, withdrawalHash, type TonAddress } from "./ton-cells";

const SHAPES = 'a TON address (raw "0:<64 hex>" or user-friendly base64)';

/** A payout address as the vault will pay it; throws InvalidPayoutAddressError (400 invalid_payout_address). */
export function payoutTonAddress(address: string): TonAddress {
  try {
    return parseTonAddress(address);
  } catch {
    throw new InvalidPayoutAddressError(`payoutAddress "${address}" is not ${SHAPES}`);
  }
}

/** A withdrawal destination; throws InvalidWithdrawalAddressError (400 invalid_address). */
export function withdrawalTonAddress(address: string): TonAddress {
  try {
    return parseTonAddress(address);
  } catch {
    throw new InvalidWithdrawalAddressError(`to "${address}" is not ${SHAPES}`);
  }
}

/** `seed`: the 32-byte Ed25519 seed of the vault's coordinator key (the first half of a NaCl secret key). */
export function vaultVoucherSigner(seed: Uint8Array, vault: TonAddress): VoucherSigner {
  const key = signingKeyFromSeed(seed);
  return {
    vault: rawAddress(vault),
    payoutAddress: (a) => rawAddress(payoutTonAddress(a)),
    async sign(v) {
      const hash = voucherHash(vault, {
        payee: payeeHexToUint(v.payee),
        to: parseTonAddress(v.worker),
        cumulative: v.cumulative,
        expiry: v.expiry,
      });
      return { signature: Buffer.from(sign(key, hash)).toString("base64") };
    },
  };
}

/** The same key over withdrawals; `chainSeqno` reads the account wallet's seqno (issue 9 #3) where the chain can be read. */
/** What a withdrawal signer knows of `vault` without its key: the vault, the address rule, its seqno getter. */
export function vaultWithdrawalReads(vault: TonAddress, chainSeqno?: (account: bigint) => Promise<number>): Omit<WithdrawalSigner, "sign"> {
  return {
    vault: rawAddress(vault),
    address: (a) => rawAddress(withdrawalTonAddress(a)),
    ...(chainSeqno ? { chainSeqno: (account: string) => chainSeqno(accountIdToUint(account)) } : {}),
  };
}

export function vaultWithdrawalSigner(
  seed: Uint8Array,
  vault: TonAddress,
  chainSeqno?: (account: bigint) => Promise<number>,
): WithdrawalSigner {
  const key = signingKeyFromSeed(seed);
  return {
    ...vaultWithdrawalReads(vault, chainSeqno),
    async sign(w) {
      const hash = withdrawalHash(vault, {
        account: accountIdToUint(w.account),
        to: parseTonAddress(w.to),
        amount: w.amount,
        seqno: w.seqno,
        expiry: w.expiry,
      });
      return { signature: Buffer.from(sign(key, hash)).toString("base64") };
    },
  };
}
