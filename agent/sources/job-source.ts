import type { AgentChallenge, AgentJob } from "../../events/api";

/** What one poll of the worker's queue brought: jobs to run and attestation challenges to answer. */
export interface WorkBatch {
  jobs: AgentJob[];
  challenges: AgentChallenge[];
}

/**
 * Where an agent gets its work: its own SQS queue (cloud) or the HTTP long-poll (local
 * default, fallback). A plain array is accepted from older sources and means jobs only.
 */
export interface JobSource {
  next(waitSeconds: number): Promise<WorkBatch | AgentJob[]>;
}

/** Normalizes what a JobSource returned. */
export const asWorkBatch = (r: WorkBatch | AgentJob[]): WorkBatch =>
  Array.isArray(r) ? { jobs: r, challenges: [] } : { jobs: r.jobs, challenges: r.challenges ?? [] };
