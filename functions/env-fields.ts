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

/**
 * The secrets the deploying shell hands the functions. Each comes either as its value (the
 * variable itself: local runs and dev stages) or, on AWS, as the name of an SSM SecureString
 * parameter that holds it (`<variable>_PARAM`), read once per container at cold start
 * (functions/secrets.ts), so the value is in no function's configuration and in no
 * CloudFormation template.
 */
export const SECRET_VARIABLES = [
  "COCOON_COORDINATOR_SEED",
  "COCOON_QUOTE_KEY",
  "COCOON_SESSION_KEY",
  "COCOON_ANCHOR_SEED",
  // the toncenter API key (the withdrawal routes, the chain watcher, the anchorer) and the alert
  // bot's token (the chain watcher): not custody keys, but anyone with ReadOnlyAccess reads a
  // Lambda environment, and with them spends the key's quota or reads and forges the alerts
  "COCOON_TON_API_KEY",
  "COCOON_TELEGRAM_BOT_TOKEN",
] as const;
export type SecretVariable = (typeof SECRET_VARIABLES)[number];
/** The variable that names the SSM parameter holding `variable`'s value. */
export const paramVariable = <V extends SecretVariable>(variable: V): `${V}_PARAM` => `${variable}_PARAM`;

const hex32 = (what: string) => z.string().regex(/^[0-9a-f]{64}$/, `must be 64 lower-case hex chars (${what})`);
const hmacKey = () => hex32("a 32-byte HMAC key: openssl rand -hex 32");
/** One schema per secret, whether it comes from the environment or from its SSM parameter. */
export const SECRET_FIELDS: Record<SecretVariable, z.ZodString> = {
  COCOON_COORDINATOR_SEED: hex32("a 32-byte Ed25519 seed"),
  COCOON_QUOTE_KEY: hmacKey(),
  COCOON_SESSION_KEY: hmacKey(),
  COCOON_ANCHOR_SEED: hex32("the anchoring wallet's Ed25519 seed"),
  // Sent as the X-API-Key header: a value with a space, a line break or a non-ASCII character
  // would make every call throw, and fetch's error would quote the header's value into the logs.
  COCOON_TON_API_KEY: z
    .string()
    .regex(
      /^[\x21-\x7e]+$/,
      "must be the toncenter API key: printable ASCII without spaces or line breaks (it is sent as the X-API-Key header)",
    ),
  // In the path of every Bot API call (/bot<token>/sendMessage): a '/', '?' or space would send the alert elsewhere.
  COCOON_TELEGRAM_BOT_TOKEN: z
    .string()
    .regex(
      /^\d+:[A-Za-z0-9_-]+$/,
      "must be a Telegram bot token as @BotFather gives it: <bot id>:<secret> (digits, ':', then letters, digits, '_' and '-')",
    ),
};
