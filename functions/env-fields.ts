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
export const SECRET_VARIABLES = ["COCOON_COORDINATOR_SEED", "COCOON_QUOTE_KEY", "COCOON_SESSION_KEY", "COCOON_ANCHOR_SEED"] as const;
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
};
