/** The agent's side of dispatch (docs/architecture.md §3, step 5): what a worker's poll hands out. */
import { AgentChallenge, AgentJob } from "../../events/api";
import { isChallengeOpen } from "../challenges";
import type { CoreDeps } from "../deps";
import { requireWorker } from "../workers";
import { jobKey, type JobItem } from "./items";

/** The most messages one poll hands out: SQS's batch limit. */
export const MAX_POLL_BATCH = 10;

/**
 * Long-poll this worker's queue; hand out only jobs still assigned to it at that attempt, and
 * the attestation challenges (core/challenges) still open for it. The queue carries both
 * kinds: an AgentJob (no `kind`) or an AgentChallenge (`kind: "challenge"`), each parsed with
 * its schema; a message that is neither is dropped (the lease check covers a lost job).
 *
 * At most `max` messages; by default as many as the worker registered it runs at once (its
 * capacity), up to SQS's 10: a busy worker takes what waits for it in fewer polls (issue 12:
 * each poll is a signed request to verify), and a worker that runs one job at a time is not
 * handed several to hold.
 */
export async function pollJobs(
  deps: CoreDeps,
  workerId: string,
  waitSeconds: number,
  max?: number,
  signal?: AbortSignal,
): Promise<{ jobs: AgentJob[]; challenges: AgentChallenge[] }> {
  const worker = await requireWorker(deps, workerId);
  const queue = `worker-${workerId}` as const;
  const msgs = await deps.queues.receive(queue, {
    max: max ?? Math.min(MAX_POLL_BATCH, Math.max(1, Math.floor(worker.capacity) || 1)),
    waitSeconds: Math.min(waitSeconds, deps.config.maxWaitSeconds),
    visibilitySeconds: 30,
    // the agent went away: the long-poll ends with nothing taken (what it would have taken stays queued)
    ...(signal ? { signal } : {}),
  });
  const jobs: AgentJob[] = [];
  const challenges: AgentChallenge[] = [];
  for (const m of msgs) {
    await deps.queues.delete(queue, m.receiptHandle);
    const body = parseQueueBody(m.body);
    // Only a body with kind "challenge" can pass AgentChallenge (its kind is that literal): a
    // job is not put through a parse that must fail (a failed zod parse builds its issues).
    const challenge = isChallengeKind(body) ? AgentChallenge.safeParse(body) : undefined;
    if (challenge?.success) {
      if (await isChallengeOpen(deps, workerId, challenge.data)) challenges.push(challenge.data);
      continue;
    }
    const parsed = AgentJob.safeParse(body);
    if (!parsed.success) {
      deps.log.warn("dropped a malformed message from a worker queue", { workerId, messageId: m.id });
      continue;
    }
    const j = parsed.data;
    const job = await deps.store.get<JobItem>("jobs", jobKey(j.jobId));
    if (job && job.status === "assigned" && job.attempt === j.attempt && job.candidates[j.attempt]?.workerId === workerId) jobs.push(j);
  }
  return { jobs, challenges };
}

const isChallengeKind = (body: unknown) => typeof body === "object" && body !== null && (body as { kind?: unknown }).kind === "challenge";

function parseQueueBody(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}
