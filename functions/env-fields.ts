/**
 * Environment fields that more than one function's config reads, one schema each: the
 * toncenter endpoint and the contracts' TON addresses. Checked when the config is read, so a
 * mistyped address or a plain-http endpoint fails the deploy's first cold start by name
 * instead of the first deposit, payout or anchor.
 */
import { z } from "zod";
import { parseTonAddress } from "./adapters/ton-cells";

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

/**
 * The toncenter JSON-RPC URL. https only, except on loopback (a local stand-in): the chain
 * watcher credits the deposits toncenter reports and the API key travels in a header, so a
 * plain-http hop could forge deposits or read the key.
 */
export const tonEndpointField = z
  .string()
  .url({ message: "must be the toncenter JSON-RPC URL", abort: true })
  .refine((s) => {
    const u = new URL(s);
    return u.protocol === "https:" || (u.protocol === "http:" && LOOPBACK_HOSTS.has(u.hostname));
  }, "must be an https:// URL (http:// only on 127.0.0.1 or localhost)");

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
