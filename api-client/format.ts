/**
 * TON amounts for people: text in, nanoTON bigint out, and back. The conversion is @ton/core's
 * (exact decimal arithmetic on strings and bigints); no amount ever passes through a float.
 */
import { Address, fromNano, toNano } from "@ton/core";
import { ApiError } from "./api";

/** nanoTON (bigint or its decimal string) → "1.5 TON". */
export function formatTon(nano: string | bigint): string {
  return `${fromNano(BigInt(nano))} TON`;
}

/**
 * "5", "0.25", "12.000000001" TON → nanoTON, exactly. Only plain decimals: toNano itself would
 * also take "-1", ".5" or a JS number (a float), which an amount typed by a person never is.
 */
export function parseTon(text: string, o: { positive?: boolean } = {}): bigint {
  const t = text.trim();
  if (!/^\d+(?:\.\d{1,9})?$/.test(t))
    throw new ApiError(0, "invalid_amount", `"${text}" is not an amount of TON (e.g. 5 or 0.25, at most 9 decimals)`);
  const nano = toNano(t);
  // said here in TON, as it was typed, rather than by the coordinator in nanoTON
  if (o.positive && nano === 0n)
    throw new ApiError(0, "invalid_amount", `the amount must be more than 0 TON (e.g. 5 or 0.25), got "${text}"`);
  return nano;
}

/**
 * A friendly address flagged test-only (as testnet wallets show theirs). The flag changes only
 * the text: the vault pays the account it names on whatever network it runs. A testnet wallet's
 * address is often not the same wallet on mainnet (wallet v5 addresses include the network), so
 * TON sent there on mainnet may reach no wallet its owner controls.
 */
export function isTestOnlyAddress(text: string): boolean {
  try {
    return Address.isFriendly(text) && Address.parseFriendly(text).isTestOnly;
  } catch {
    return false; // no address at all: the coordinator refuses it with its own code
  }
}
