/** The agent's side of dispatch (docs/architecture.md §3, step 5): what a worker's poll hands out. */
import { AgentCancel, AgentChallenge, AgentJob } from "../../events/api";
import { isChallengeOpen } from "../challenges";
import type { CoreDeps } from "../deps";
import { requireWorkerSummary } from "../workers";
import { readJob } from "./items";

/** The most messages one poll hands out: SQS's batch limit. */
export const MAX_POLL_BATCH = 10;

/**
 * Long-poll this worker's queue; hand out only jobs still assigned to it at that attempt, and
 * the attestation challenges (core/challenges) still open for it, and the cancels (./cancel.ts)
 * sent to it. The queue carries three kinds: an AgentJob (no `kind`), an AgentChallenge (`kind:
 * "challenge"`) or an AgentCancel (`kind: "cancel"`), each parsed with its schema; a message that
 * is none of them is dropped (the lease check covers a lost job). A job handed out that is
 * cancelled already comes with its cancel in the same answer: SQS does not keep order, so the
 * cancel's own message may have come (and been ignored) before the job's.
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
): Promise<{ jobs: AgentJob[]; challenges: AgentChallenge[]; cancels?: AgentCancel[] }> {
  const worker = await requireWorkerSummary(deps, workerId);
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
  const cancels = new Map<string, AgentCancel>();
  const cancel = (c: AgentCancel) => cancels.set(`${c.jobId}#${c.attempt}`, c);
  for (const m of msgs) {
    await deps.queues.delete(queue, m.receiptHandle);
    const body = parseQueueBody(m.body);
    // Only a body with kind "challenge" (or "cancel") can pass AgentChallenge (AgentCancel): its
    // kind is that literal. A job is not put through a parse that must fail (a failed zod parse
    // builds its issues).
    const kind = kindOf(body);
    const challenge = kind === "challenge" ? AgentChallenge.safeParse(body) : undefined;
    if (challenge?.success) {
      if (await isChallengeOpen(deps, workerId, challenge.data)) challenges.push(challenge.data);
      continue;
    }
    // a draining worker's wake (core/workers.ts heartbeat): it has ended the wait, nothing to hand out
    if (kind === "wake") continue;
    const cancelled = kind === "cancel" ? AgentCancel.safeParse(body) : undefined;
    if (cancelled?.success) {
      // only the coordinator sends to a worker's queue; one for a job the worker no longer has is ignored by it
      cancel(cancelled.data);
      continue;
    }
    const parsed = AgentJob.safeParse(body);
    if (!parsed.success) {
      deps.log.warn("dropped a malformed message from a worker queue", { workerId, messageId: m.id });
      continue;
    }
    const j = parsed.data;
    const job = await readJob(deps.store, j.jobId);
    if (job && job.status === "assigned" && job.attempt === j.attempt && job.candidates[j.attempt]?.workerId === workerId) {
      jobs.push(j);
      if (job.cancelledAt !== undefined) cancel({ kind: "cancel", jobId: j.jobId, attempt: j.attempt });
    }
  }
  // `cancels` only when there are some: the wire's default is none (AgentWorkResponse)
  return { jobs, challenges, ...(cancels.size ? { cancels: [...cancels.values()] } : {}) };
}

const kindOf = (body: unknown) => (typeof body === "object" && body !== null ? (body as { kind?: unknown }).kind : undefined);

function parseQueueBody(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}
