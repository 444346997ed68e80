import type { AgentJob } from "../../events/api";

/** Where an agent gets its jobs: its own SQS queue (cloud) or the HTTP long-poll (local default, fallback). */
export interface JobSource {
  next(waitSeconds: number): Promise<AgentJob[]>;
}
