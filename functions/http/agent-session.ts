import { CocoonError } from "../../core/errors";
import type { CoreDeps } from "../../core/deps";
import { AgentSessionResponse, createAgentSession, type StsSessionVendor } from "../adapters/sts-session";
import { lambdaHandler } from "./lambda";
import { defineRoute } from "./middleware";

type WithSessions = CoreDeps & { sessions?: Pick<StsSessionVendor, "vend"> };

/**
 * Short-lived SQS credentials for the calling worker, scoped to its own queue, so the agent
 * long-polls SQS directly (the cheap idle path). Networks without SQS (the local default)
 * answer 404 sessions_unavailable and the agent keeps the HTTP long-poll.
 */
export const route = defineRoute(
  {
    method: "POST",
    path: "/v1/agents/session",
    summary: "Short-lived credentials to long-poll the calling worker's own SQS queue directly",
    auth: "signed",
    response: AgentSessionResponse,
  },
  async ({ deps, caller }) => {
    const sessions = (deps as WithSessions).sessions;
    if (!sessions) {
      throw new CocoonError(404, "sessions_unavailable", "this network has no SQS transport; poll GET /v1/agent/jobs instead");
    }
    return createAgentSession({ store: deps.store, queues: deps.queues, sessions }, caller);
  },
);
export const handler = lambdaHandler(route);
