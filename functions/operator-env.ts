/**
 * COCOON_OPERATOR_KEY: the operator's Ed25519 public key in hex (64 chars; not a secret), the one
 * key the operator routes answer (POST /v1/operator/voucher, GET /v1/operator/status). Unset: they
 * answer 503 payouts_unavailable. A module of its own, like env-fields.ts, so the stack checks
 * it at deploy (stacks/Cocoon.ts) without bundling a handler, and both handlers read it the same way.
 */
import { z } from "zod";
import { operatorKeyId } from "../core/payouts";
import { ConfigError } from "./config";
import type { DepsProvider } from "./deps";

export const OperatorEnv = z.object({
  COCOON_OPERATOR_KEY: z
    .string()
    .regex(/^[0-9a-f]{64}$/, "must be 64 lower-case hex chars (the operator's 32-byte Ed25519 public key)")
    .optional()
    .or(z.literal("").transform(() => undefined)),
});

/** The operator's key id from the environment; throws ConfigError (at cold start) when it is malformed. */
export function operatorFromEnv(env: Record<string, string | undefined> = process.env): { operatorKeyId?: string } {
  const parsed = OperatorEnv.safeParse(env);
  if (!parsed.success)
    throw new ConfigError(
      "COCOON_OPERATOR_KEY",
      `environment variable COCOON_OPERATOR_KEY ${parsed.error.issues[0]!.message}; set it in the deploying shell and redeploy`,
    );
  const hex = parsed.data.COCOON_OPERATOR_KEY;
  return hex ? { operatorKeyId: operatorKeyId(hex) } : {};
}

/** `base`'s deps plus the operator's key id, read from the environment once per container. */
export function withOperator(base: DepsProvider): DepsProvider {
  let operator: { operatorKeyId?: string } | undefined;
  return async () => ({ ...(await base()), ...(operator ??= operatorFromEnv()) });
}
