import { ChallengeRequest, ChallengeResponse } from "../../events/api";
import { createChallenge } from "../../core/challenges";
import { lambdaHandler } from "./lambda";
import { defineRoute } from "./middleware";

export const route = defineRoute(
  {
    method: "POST",
    path: "/v1/attestations",
    summary: "Ask a worker for fresh evidence bound to the requester's own 32-byte nonce; read the answer with GET /v1/attestations/{id}",
    auth: "signed",
    body: ChallengeRequest,
    response: ChallengeResponse,
    status: 202,
  },
  ({ deps, caller, body }) => createChallenge(deps, caller, body),
);
export const handler = lambdaHandler(route);
