/**
 * The in-process relay: one bounded buffer per job, kept until the job's stream ended and a
 * short grace passed, or until it sat idle too long; the oldest job is dropped first when
 * there are too many. Readers long-poll it by position, so a requester that subscribes late
 * (after the worker's first chunks) still gets the stream from its start.
 */
import type { RelayChunk } from "../events/relay";
import type { Clock } from "./ports";
import { RelayFullError, type RelayPort, type RelayRead } from "./relay";

export interface MemoryRelayOptions {
  /** chunks per job at most (default 4096, a reply's limit) */
  maxChunksPerJob?: number;
  /** base64url bytes per job at most (default 4 MiB) */
  maxBytesPerJob?: number;
  /** jobs buffered at once at most; the least recently used goes first (default 10,000) */
  maxJobs?: number;
  /**
   * base64url bytes buffered across all jobs at most; the least recently used jobs go first
   * (default 256 MiB). maxJobs × maxBytesPerJob is 40 GiB: a requester that is also a worker
   * could fill its own jobs' buffers until the process ran out of memory.
   */
  maxTotalBytes?: number;
  /** a job's buffer is dropped this long after its last chunk or read (default 10 min) */
  idleMs?: number;
  /** and this long after end() (default 30 s: a reader still draining finishes) */
  endedGraceMs?: number;
  clock?: Clock;
}

interface JobStream {
  /** the position of chunks[0]: what buffers of this job dropped before this one held */
  base: number;
  chunks: RelayChunk[];
  bytes: number;
  ended: boolean;
  touched: number;
  waiters: Set<() => void>;
}

export interface MemoryRelay extends RelayPort {
  /** jobs buffered now (tests, metrics) */
  size(): number;
  /** base64url bytes buffered now, all jobs (tests, metrics) */
  bytes(): number;
  /** every chunk buffered now, for the privacy scan (tests) */
  dump(): RelayChunk[];
  /** chunks published since start (bench: relay messages per streamed job) */
  readonly published: number;
  /** drops what outlived idleMs / endedGraceMs now (a timer does it too) */
  sweep(): void;
}

export function createMemoryRelay(o: MemoryRelayOptions = {}): MemoryRelay {
  const maxChunks = o.maxChunksPerJob ?? 4096;
  const maxBytes = o.maxBytesPerJob ?? 4 * 1024 * 1024;
  const maxJobs = o.maxJobs ?? 10_000;
  const maxTotal = o.maxTotalBytes ?? 256 * 1024 * 1024;
  const idleMs = o.idleMs ?? 10 * 60_000;
  const graceMs = o.endedGraceMs ?? 30_000;
  const now = () => (o.clock ?? { now: Date.now }).now();
  // A Map keeps insertion order: re-inserting on touch makes the first entry the least recently used.
  const jobs = new Map<string, JobStream>();
  /**
   * Relay39 #2: where each job whose buffer was dropped with chunks in it stands (its next
   * position), so that the worker's next publish makes a buffer that goes on from there. Made
   * afresh at 0, its chunks took the positions of those dropped: a reader part-way through read
   * a later chunk at the position it asked for, which the SDK takes for a relay that skipped
   * chunks (stream_gap), failing an honest job. Ids and numbers only, as many as maxJobs, kept idleMs.
   */
  const dropped = new Map<string, { next: number; at: number }>();
  let published = 0;
  let total = 0;

  const sweep = () => {
    const t = now();
    for (const [id, s] of jobs) {
      if (t - s.touched > (s.ended ? graceMs : idleMs)) drop(id, s);
    }
    for (const [id, d] of dropped) if (t - d.at > idleMs) dropped.delete(id);
    while (jobs.size > maxJobs) {
      const [id, s] = jobs.entries().next().value as [string, JobStream];
      drop(id, s);
    }
  };
  const drop = (id: string, s: JobStream) => {
    jobs.delete(id);
    const next = s.base + s.chunks.length;
    if (next > 0 && !s.ended) {
      dropped.delete(id);
      dropped.set(id, { next, at: now() });
      if (dropped.size > maxJobs) dropped.delete(dropped.keys().next().value!);
    }
    total -= s.bytes;
    s.ended = true;
    wake(s);
  };
  const wake = (s: JobStream) => {
    const ws = [...s.waiters];
    s.waiters.clear();
    for (const w of ws) w();
  };
  const get = (jobId: string, create: boolean): JobStream | undefined => {
    let s = jobs.get(jobId);
    if (!s && create) {
      s = { base: dropped.get(jobId)?.next ?? 0, chunks: [], bytes: 0, ended: false, touched: now(), waiters: new Set() };
      dropped.delete(jobId);
      jobs.set(jobId, s);
      if (jobs.size > maxJobs) sweep();
    } else if (s) {
      jobs.delete(jobId);
      jobs.set(jobId, s);
      s.touched = now();
    }
    return s;
  };
  const timer = setInterval(sweep, Math.min(idleMs, graceMs, 60_000));
  timer.unref();

  const take = (s: JobStream | undefined, from: number): RelayRead | undefined => {
    if (!s) return undefined;
    const end = s.base + s.chunks.length;
    // before the base: dropped, never handed out again (the reader takes the rest from the stored reply)
    if (from < s.base) return s.ended ? { chunks: [], next: from, ended: true } : undefined;
    if (from < end) return { chunks: s.chunks.slice(from - s.base), next: end, ended: false };
    if (s.ended) return { chunks: [], next: end, ended: true };
    return undefined;
  };

  const relay: MemoryRelay = {
    get published() {
      return published;
    },
    size: () => jobs.size,
    bytes: () => total,
    sweep,
    dump: () => [...jobs.values()].flatMap((s) => s.chunks),
    async publish(jobId, chunks) {
      const s = get(jobId, true)!;
      if (s.ended) throw new RelayFullError(`the stream of job ${jobId} has ended`);
      // a final chunk's receipt counts too: its measurement and signature strings have no cap of their own
      const bytes = chunks.reduce((n, c) => n + c.data.length + (c.receipt ? JSON.stringify(c.receipt).length : 0), 0);
      if (s.chunks.length + chunks.length > maxChunks || s.bytes + bytes > maxBytes) {
        throw new RelayFullError(
          `job ${jobId}'s relay buffer is full (${maxChunks} chunks / ${maxBytes} bytes); the result carries the whole reply`,
        );
      }
      // Room across all jobs: the least recently used others go (ended ones are usually first).
      for (const [id, other] of jobs) {
        if (total + bytes <= maxTotal) break;
        if (other !== s) drop(id, other);
      }
      if (total + bytes > maxTotal) throw new RelayFullError(`the relay is full (${maxTotal} bytes); the result carries the whole reply`);
      s.chunks.push(...chunks);
      s.bytes += bytes;
      total += bytes;
      published += chunks.length;
      wake(s);
    },
    async read(jobId, from, waitMs, signal) {
      const deadline = now() + waitMs;
      for (;;) {
        const s = get(jobId, false);
        const got = take(s, from);
        if (got) return got;
        const left = deadline - now();
        if (left <= 0 || signal?.aborted) return { chunks: [], next: from, ended: false };
        // Wait on the job's buffer (made now if the worker has not published yet, so its first chunk wakes us).
        const stream = s ?? get(jobId, true)!;
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(t);
            stream.waiters.delete(done);
            signal?.removeEventListener("abort", done);
            resolve();
          };
          const t = setTimeout(done, left);
          stream.waiters.add(done);
          signal?.addEventListener("abort", done, { once: true });
        });
      }
    },
    async *subscribe(jobId, so = {}) {
      let from = so.from ?? 0;
      for (;;) {
        if (so.signal?.aborted) return;
        const r = await relay.read(jobId, from, 20_000, so.signal);
        yield* r.chunks;
        from = r.next;
        if (r.ended) return;
      }
    },
    end(jobId) {
      const s = jobs.get(jobId);
      if (!s || s.ended) return;
      s.ended = true;
      s.touched = now();
      wake(s);
    },
  };
  return relay;
}
