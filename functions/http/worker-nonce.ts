import { NonceResponse } from "../../events/api";
import { issueRegistrationNonce } from "../../core/workers";
import { lambdaHandler } from "./lambda";
import { defineRoute } from "./middleware";

export const route = defineRoute(
  {
    method: "POST",
    path: "/v1/agents/nonce",
    summary: "A fresh nonce the worker's attestation must bind (5 minutes, single use)",
    auth: "signed",
    response: NonceResponse,
  },
  ({ deps, caller }) => issueRegistrationNonce(deps, caller),
);
export const handler = lambdaHandler(route);
