import { BalanceView, FaucetRequest } from "../../events/api";
import { applyMovement, faucetMovement } from "../../core/ledger";
import { getAccount } from "../../core/jobs/read";
import { CocoonError } from "../../core/errors";
import { lambdaHandler } from "./lambda";
import { defineRoute, OptionalIdempotencyHeaders } from "./middleware";

const MAX_FAUCET = 1_000_000_000_000n; // 1,000 TON of play money per call

/** DEV ONLY: credits play money. Disabled unless the deployment turns it on (the local default does). */
export const route = defineRoute(
  {
    method: "POST",
    path: "/v1/account/faucet",
    summary: "DEV ONLY: credit play nanoTON to the caller (local default)",
    auth: "signed",
    replay: "idempotent",
    body: FaucetRequest,
    headers: OptionalIdempotencyHeaders,
    response: BalanceView,
  },
  async ({ deps, caller, requestNonce, body, headers }) => {
    if (!deps.config.faucet)
      throw new CocoonError(403, "faucet_disabled", "the dev faucet is off on this network: deposit TON to the vault instead");
    if (body.amount <= 0n || body.amount > MAX_FAUCET)
      throw new CocoonError(400, "invalid_amount", `amount must be between 1 and ${MAX_FAUCET} nanoTON`);
    // Keyed by the Idempotency-Key, else by the signed request's own nonce: a replay credits nothing (issue 9 #10).
    const id = `${caller}:${headers["idempotency-key"] ?? `n:${requestNonce}`}`;
    await applyMovement(deps.store, faucetMovement(id, caller, body.amount, deps.clock.now()));
    return getAccount(deps, caller);
  },
);
export const handler = lambdaHandler(route);
