import type { AgentCancel, AgentChallenge, AgentJob } from "../../events/api";

/**
 * What one poll of the worker's queue brought: jobs to run, attestation challenges to answer,
 * and requesters' cancels of jobs this worker was given.
 */
export interface WorkBatch {
  jobs: AgentJob[];
  challenges: AgentChallenge[];
  /** Absent from older sources (none). */
  cancels?: AgentCancel[];
}

/**
 * Where an agent gets its work: its own SQS queue (cloud) or the HTTP long-poll (local
 * default, fallback). A plain array is accepted from older sources and means jobs only.
 */
export interface JobSource {
  next(waitSeconds: number): Promise<WorkBatch | AgentJob[]>;
}

/**
 * How long past its wait a long-poll may go unanswered before it is given up: a connection the
 * server (or a NAT, a load balancer) took and went silent on would otherwise hold the poll, and
 * the agent with it, for ever.
 */
export const POLL_GRACE_MS = 10_000;

/** Normalizes what a JobSource returned. */
export const asWorkBatch = (r: WorkBatch | AgentJob[]): Required<WorkBatch> =>
  Array.isArray(r) ? { jobs: r, challenges: [], cancels: [] } : { jobs: r.jobs, challenges: r.challenges ?? [], cancels: r.cancels ?? [] };
