import { ChallengeAnswerRequest, ChallengeAnswerResponse } from "../../events/api";
import { answerChallenge } from "../../core/challenges";
import { lambdaHandler } from "./lambda";
import { defineRoute } from "./middleware";

export const route = defineRoute(
  {
    method: "POST",
    path: "/v1/agent/attestations",
    summary: "A worker's evidence for an attestation challenge from its queue (bound to the challenge's nonce)",
    auth: "signed",
    body: ChallengeAnswerRequest,
    response: ChallengeAnswerResponse,
  },
  ({ deps, caller, body }) => answerChallenge(deps, caller, body),
);
export const handler = lambdaHandler(route);
