/**
 * VoucherSigner (core/payouts.ts) over the vault's signing helpers: Ed25519 with the
 * coordinator's secret key over the voucher cell ("cov1" | vault | worker | cumulative | expiry).
 * The local default passes the sandbox vault's coordinator key; a deployment passes the key
 * from its configuration (a secret) and the deployed vault's address.
 */
import { Address } from "@ton/core";
import { signVoucher } from "../../contracts/vault";
import { InvalidPayoutAddressError, type VoucherSigner } from "../../core/payouts";

export function parsePayoutAddress(address: string): Address {
  try {
    return Address.parse(address);
  } catch {
    throw new InvalidPayoutAddressError(`payoutAddress "${address}" is not a TON address (raw "0:<64 hex>" or user-friendly base64)`);
  }
}

/** `secretKey`: 64-byte Ed25519 secret key (@ton/crypto's KeyPair.secretKey). */
export function tonVoucherSigner(secretKey: Buffer, vault: Address): VoucherSigner {
  return {
    vault: vault.toRawString(),
    payoutAddress: (a) => parsePayoutAddress(a).toRawString(),
    async sign(v) {
      const signed = signVoucher(secretKey, vault, { worker: Address.parse(v.worker), cumulative: v.cumulative, expiry: v.expiry });
      return { signature: signed.signature.toString("base64") };
    },
  };
}
