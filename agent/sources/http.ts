import { z } from "zod";
import { AgentCancel, AgentChallenge, AgentJob, AgentWorkResponse } from "../../events/api";
import { API, ApiError, type ApiClient } from "../../api-client/api";
import { POLL_GRACE_MS, type JobSource, type WorkBatch } from "./job-source";

export interface HttpJobSourceOptions {
  /** Called with each item of a poll that is not a valid AgentJob, AgentChallenge or AgentCancel (it is skipped). */
  onInvalid?: (info: { kind: "job" | "challenge" | "cancel"; reason: string }) => void;
  /** How long past its wait a poll may go unanswered (default POLL_GRACE_MS); shorter in tests, which would wait the 10 s otherwise. */
  graceMs?: number;
}

/** The route's answer with its items left for one-by-one parsing. */
const Batch = AgentWorkResponse.extend({
  jobs: z.array(z.unknown()),
  challenges: z.array(z.unknown()).default([]),
  cancels: z.array(z.unknown()).default([]),
});

const reasonOf = (e: z.ZodError) => e.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");

/**
 * HTTP long-poll of GET /v1/agent/jobs?wait=N: jobs, attestation challenges and cancels. Each
 * item is parsed with the element schemas of the route's answer (AgentWorkResponse: AgentJob,
 * AgentChallenge, AgentCancel), one by one, so a malformed item is skipped and reported, never
 * the batch (the SQS source does the same per message). An older coordinator answers { jobs } only.
 */
export function createHttpJobSource(api: Pick<ApiClient, "requestJson">, o: HttpJobSourceOptions = {}): JobSource {
  return {
    async next(waitSeconds): Promise<WorkBatch> {
      const wait = Math.max(0, Math.min(20, Math.floor(waitSeconds)));
      const answer = await api.requestJson(
        API.pollJobs.method,
        `${API.pollJobs.path}?wait=${wait}`,
        undefined,
        {},
        AbortSignal.timeout(wait * 1000 + (o.graceMs ?? POLL_GRACE_MS)),
      );
      const batch = Batch.safeParse(answer);
      if (!batch.success)
        throw new ApiError(
          0,
          "bad_response",
          `the API's answer to GET ${API.pollJobs.path} does not match its schema (${reasonOf(batch.error)})`,
        );
      const each = <T>(items: unknown[], schema: z.ZodType<T>, kind: "job" | "challenge" | "cancel"): T[] =>
        items.flatMap((item) => {
          const p = schema.safeParse(item);
          if (!p.success) o.onInvalid?.({ kind, reason: reasonOf(p.error) });
          return p.success ? [p.data] : [];
        });
      return {
        jobs: each(batch.data.jobs, AgentJob, "job"),
        challenges: each(batch.data.challenges, AgentChallenge, "challenge"),
        cancels: each(batch.data.cancels, AgentCancel, "cancel"),
      };
    },
  };
}
