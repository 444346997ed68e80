import { enforceRateLimit } from "../../core/attestation/rate-limit";
import { CocoonError, NotAWorkerError } from "../../core/errors";
import type { CoreDeps } from "../../core/deps";
import type { Queues, Store } from "../../core/ports";
import { AgentSessionResponse } from "../../events/api";
// a type only: the STS adapter and its SDK client load when the first session is vended (issue 12: cold import)
import type { StsSessionVendor } from "../adapters/sts-session";
import { lambdaHandler } from "./lambda";
import { defineRoute } from "./middleware";

type WithSessions = CoreDeps & { sessions?: Pick<StsSessionVendor, "vend"> };

/**
 * The use case behind POST /v1/agents/session, for an already authenticated worker id:
 * the worker must be registered; its queue is made sure to exist (registration creates it,
 * but a queue removed by hand would otherwise fail every receive); then credentials are vended.
 */
export async function createAgentSession(
  deps: { store: Store; queues: Queues; sessions: Pick<StsSessionVendor, "vend"> },
  workerId: string,
): Promise<AgentSessionResponse> {
  const worker = await deps.store.get("workers", { pk: workerId, sk: "worker" });
  if (!worker) {
    throw new NotAWorkerError(workerId);
  }
  await deps.queues.ensure(`worker-${workerId}`);
  return deps.sessions.vend(workerId);
}

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
    // Before the worker is read or STS asked: AssumeRole is limited per AWS account, for every agent at once.
    enforceRateLimit(deps.store, deps.config.rateLimits, "agent_session", caller, deps.clock.now());
    return createAgentSession({ store: deps.store, queues: deps.queues, sessions }, caller);
  },
);
export const handler = lambdaHandler(route);
