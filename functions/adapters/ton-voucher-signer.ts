/**
 * VoucherSigner (core/payouts.ts) for callers that hold the vault's coordinator key as a NaCl
 * secret key and the vault as a @ton/core Address (the local default's sandbox vault, tests):
 * Ed25519 over the voucher cell ("cov2" | vault | payee | to | cumulative | expiry). The signing
 * itself is vault-signers.ts, the one implementation the AWS routes use too.
 */
import type { Address } from "@ton/core";
import type { VoucherSigner } from "../../core/payouts";
import { vaultVoucherSigner } from "./vault-signers";

/** `secretKey`: 64-byte Ed25519 secret key (@ton/crypto's KeyPair.secretKey: seed | public key). */
export function tonVoucherSigner(secretKey: Buffer, vault: Address): VoucherSigner {
  return vaultVoucherSigner(secretKey.subarray(0, 32), { workchain: vault.workChain, hash: vault.hash });
}
