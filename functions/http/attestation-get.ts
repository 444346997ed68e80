import { ChallengeId, ChallengeView } from "../../events/api";
import { getChallenge } from "../../core/challenges";
import { CocoonError } from "../../core/errors";
import { lambdaHandler } from "./lambda";
import { defineRoute, WaitQuery } from "./middleware";

export const route = defineRoute(
  {
    method: "GET",
    path: "/v1/attestations/{id}",
    summary: "Read an attestation challenge you issued; ?wait=N long-polls up to N seconds for the worker's evidence",
    auth: "signed",
    query: WaitQuery,
    response: ChallengeView,
  },
  ({ deps, caller, query, params, signal }) => {
    const id = ChallengeId.safeParse(params.id);
    if (!id.success)
      throw new CocoonError(
        400,
        "invalid_challenge_id",
        "path parameter id must look like chl_<26 lowercase base32 chars>, as returned by POST /v1/attestations",
      );
    return getChallenge(deps, caller, id.data, query.wait, signal);
  },
);
export const handler = lambdaHandler(route);
