/**
 * The relay port (docs/architecture.md §2): carries a job's sealed reply chunks from the
 * worker to the requester while the engine still generates. It sees ciphertext only, and the
 * SDK checks order, completeness and origin itself (core/crypto/reply-stream.ts), so a relay
 * is trusted for nothing but speed: what it loses, the stored reply still has.
 *
 * Adapters: core/relay-memory.ts (in-process, behind the coordinator's HTTP routes: the local
 * default) and functions/adapters/relay-iot.ts (AWS IoT Core: workers publish and requesters
 * subscribe directly, with job-scoped credentials the coordinator vends).
 */
import type { RelayChunk } from "../events/relay";
import { CocoonError } from "./errors";

export interface RelayRead {
  chunks: RelayChunk[];
  /** the position to read from next */
  next: number;
  /** end() was called and every chunk was read: nothing more will come */
  ended: boolean;
}

export interface RelayPort {
  /** Appends chunks to the job's stream; throws RelayFullError when its buffer is full. */
  publish(jobId: string, chunks: RelayChunk[]): Promise<void>;
  /** Chunks from position `from`, waiting up to `waitMs` for at least one (or the end). */
  read(jobId: string, from: number, waitMs: number, signal?: AbortSignal): Promise<RelayRead>;
  /** The job's stream from `from` on, until end(). */
  subscribe(jobId: string, o?: { from?: number; signal?: AbortSignal }): AsyncIterable<RelayChunk>;
  /** Nothing more for this job (it finished): readers drain what is buffered and stop. */
  end(jobId: string): void;
}

/** A job's relay buffer is full (too many or too large chunks): the worker stops streaming, the stored reply still carries all. */
export class RelayFullError extends CocoonError {
  constructor(message: string) {
    super(429, "relay_full", message);
  }
}

/** Where a relay wants it: `CoreDeps & WithRelay` (like the SQS session vendor, optional per deployment). */
export interface WithRelay {
  relay?: RelayPort;
}
