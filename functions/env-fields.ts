/**
 * The contracts' TON addresses as the functions' configs read them, one schema (the toncenter
 * endpoint is events/common.ts TonEndpoint). Checked when the config is read, so a mistyped
 * address fails the deploy's first cold start by name instead of the first deposit, payout or anchor.
 */
import { z } from "zod";
import { parseTonAddress } from "./adapters/ton-cells";

/** A contract's TON address, raw (`0:<64 hex>`) or user-friendly with a valid checksum. */
export const tonAddressField = (what: string) =>
  z.string().refine((s) => {
    try {
      parseTonAddress(s);
      return true;
    } catch {
      return false;
    }
  }, `must be ${what} TON address (raw 0:<64 hex>, or user-friendly with a valid checksum)`);
