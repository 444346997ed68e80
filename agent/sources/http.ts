import { AgentChallenge, type AgentJob } from "../../events/api";
import type { ApiClient } from "../../client/api";
import type { JobSource, WorkBatch } from "./job-source";

/** HTTP long-poll of GET /v1/agent/jobs?wait=N: jobs and attestation challenges. */
export function createHttpJobSource(api: ApiClient): JobSource {
  return {
    async next(waitSeconds): Promise<WorkBatch> {
      const r = await api.get<{ jobs: AgentJob[]; challenges?: unknown[] }>(`/v1/agent/jobs?wait=${Math.max(0, Math.min(20, Math.floor(waitSeconds)))}`);
      // An older coordinator answers { jobs } only; a malformed challenge is skipped, never the batch.
      const challenges = (r.challenges ?? []).flatMap((c) => {
        const p = AgentChallenge.safeParse(c);
        return p.success ? [p.data] : [];
      });
      return { jobs: r.jobs, challenges };
    },
  };
}
