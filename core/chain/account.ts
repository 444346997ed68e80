/**
 * Requester account ids: base64url (no padding) of the 32-byte Ed25519 public key. On chain the
 * same 32 bytes are the uint256 `account` of Deposit/Withdraw and the hex of "deposit:<hex64>".
 */
export class InvalidAccountIdError extends Error {
  override readonly name = "InvalidAccountIdError";
  readonly code = "invalid_account_id";
}

export function accountIdToHex(accountId: string): string {
  const bytes = Buffer.from(accountId, "base64url");
  if (bytes.length !== 32 || bytes.toString("base64url") !== accountId) {
    throw new InvalidAccountIdError(`account id must be base64url of a 32-byte Ed25519 public key, got "${accountId}"`);
  }
  return bytes.toString("hex");
}

export function accountIdFromHex(hex: string): string {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new InvalidAccountIdError(`expected 64 lowercase hex digits, got "${hex}"`);
  return Buffer.from(hex, "hex").toString("base64url");
}

export const accountIdToUint = (accountId: string): bigint => BigInt("0x" + accountIdToHex(accountId));
export const accountIdFromUint = (n: bigint): string => accountIdFromHex(n.toString(16).padStart(64, "0"));

/** The wallet comment that attributes a plain transfer to this account. */
export const depositCommentFor = (accountId: string): string => `deposit:${accountIdToHex(accountId)}`;
