import { AgentPollResponse } from "../../events/api";
import { pollJobs } from "../../core/jobs";
import { defineRoute, lambdaHandler, WaitQuery } from "./middleware";

export const route = defineRoute(
  { method: "GET", path: "/v1/agent/jobs", summary: "Long-poll the jobs dispatched to the calling worker (HTTP fallback of the SQS job source)", auth: "signed", query: WaitQuery, response: AgentPollResponse },
  async ({ deps, caller, query }) => ({ jobs: await pollJobs(deps, caller, query.wait) }),
);
export const handler = lambdaHandler(route);
