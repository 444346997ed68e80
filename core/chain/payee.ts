/**
 * Payee ids on chain. The vault keeps its voucher high-water mark per payee
 * (`PayoutWallet(vault, payee)`, contracts/vault.tact), not per payout address, so many workers
 * may share one address and nobody can take another's. The on-chain payee is a uint256 the
 * coordinator derives from its own payee id (a worker's key id, or OPERATOR_PAYEE_ID): SHA-256
 * over a domain tag and the id, so any id fits and two ids never meet (collision resistance).
 * The chain watcher maps a redemption's payee back to the id through the issued-voucher record
 * (core/chain/store-ledger.ts issuedVoucherKey), never by inverting this.
 */
import { createHash } from "node:crypto";

const DOMAIN = "cocoon/v1/payee\0";

/** The 64 lowercase hex digits of `payeeId`'s on-chain payee. */
export function payeeHex(payeeId: string): string {
  return createHash("sha256").update(DOMAIN).update(payeeId, "utf8").digest("hex");
}

export const payeeUint = (payeeId: string): bigint => BigInt("0x" + payeeHex(payeeId));

/** A payee's 64 hex digits as the vault's uint256; throws on anything else. */
export function payeeHexToUint(hex: string): bigint {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`a payee is 64 lowercase hex digits, got "${hex}"`);
  return BigInt("0x" + hex);
}

/** The hex form of an on-chain payee (as parsed from a Redeem), as payeeHex writes it. */
export const payeeUintToHex = (payee: bigint): string => payee.toString(16).padStart(64, "0");
