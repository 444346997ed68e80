import type { AgentJob } from "../../events/api";
import type { ApiClient } from "../../client/api";
import type { JobSource } from "./job-source";

/** HTTP long-poll of GET /v1/agent/jobs?wait=N. */
export function createHttpJobSource(api: ApiClient): JobSource {
  return {
    async next(waitSeconds) {
      const r = await api.get<{ jobs: AgentJob[] }>(`/v1/agent/jobs?wait=${Math.max(0, Math.min(20, Math.floor(waitSeconds)))}`);
      return r.jobs;
    },
  };
}
