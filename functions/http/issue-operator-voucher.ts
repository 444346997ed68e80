import { z } from "zod";
import { Voucher, VoucherRequest } from "../../events/money";
import type { CoreDeps } from "../../core/deps";
import { issueOperatorVoucher, operatorKeyId, type PayoutDeps } from "../../core/payouts";
import { ConfigError } from "../config";
import type { DepsProvider } from "../deps";
import { lambdaTonDeps } from "../deps-ton";
import { lambdaHandler } from "./lambda";
import { defineRoute } from "./middleware";

/**
 * A coordinator-signed voucher for all the operator fees earned so far (cumulative), asked by
 * the operator's key only (COCOON_OPERATOR_KEY): redeem it at the vault like a worker's.
 */
export const route = defineRoute(
  {
    method: "POST",
    path: "/v1/operator/voucher",
    summary: "A signed payout voucher for the operator's cumulative fees (the operator's key only; redeem it at the vault)",
    auth: "signed",
    body: VoucherRequest,
    response: Voucher,
  },
  ({ deps, caller, body }) => issueOperatorVoucher(deps as CoreDeps & PayoutDeps, caller, body.payoutAddress),
);

/**
 * COCOON_OPERATOR_KEY: the operator's Ed25519 public key in hex (64 chars; not a secret). Read
 * here, by the one function that uses it; unset: the route answers 503 payouts_unavailable.
 */
const OperatorEnv = z.object({
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

let operator: { operatorKeyId?: string } | undefined;
const operatorDeps: DepsProvider = async () => ({ ...(await lambdaTonDeps()), ...(operator ??= operatorFromEnv()) });
// Signs with the vault key, like POST /v1/agents/voucher (see functions/deps-ton.ts).
export const handler = lambdaHandler(route, operatorDeps);
