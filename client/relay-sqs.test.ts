/**
 * The SDK's subscriber for the SQS relay (client/relay-sqs.ts). Its rules (order, repeats, the
 * sender, attempts, the loop's life, renewal, close) against an in-memory queue that hands out
 * what a test puts in it and honours aborts; its two SQS calls (signed fetch, JSON protocol)
 * against the SQS stand-in on 127.0.0.1 (local-aws-sqs behind a proxy that checks SigV4 on
 * node:crypto and reports SenderId as SQS does, test/sqs-relay-standin.ts).
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { CreateQueueCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { relaySenderName, type RelayChunk } from "../events/relay";
import { newJobId } from "../core/ids";
import { HONEST_EMPTY_RECEIVES_PER_MINUTE } from "../core/relay-sweep";
import {
  JOBS_PER_LOOP,
  loopsFor,
  MAX_LOOPS,
  MAX_RECEIVE_FAILURES,
  RECEIVE_FAILURE_PAUSE_MS,
  nodePost,
  PollHold,
  RECEIVE,
  SQS_SILENCE_MS,
  SqsRelay,
  sqsReader,
  SqsRequestError,
  type SqsMessage,
  type SqsPost,
  type SqsReader,
  type SqsRelayOptions,
  type SqsSession,
} from "./relay-sqs";
import { credentialsFor, sigV4Refusal, startSqsStandIn, type SqsStandIn } from "../test/sqs-relay-standin";

const QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/cocoon-test-r-account-channel0000000";

const sessionOf = (o: { name?: string; ms?: number; queueUrl?: string } = {}): SqsSession => ({
  transport: "sqs",
  region: "us-east-1",
  queueUrl: o.queueUrl ?? QUEUE,
  credentials: credentialsFor(o.name ?? "r-account", o.ms ?? 900_000),
});
const chunkOf = (jobId: string, seq: number, o: { attempt?: number; final?: boolean; data?: string } = {}): RelayChunk => ({
  jobId,
  attempt: o.attempt ?? 0,
  seq,
  final: o.final ?? false,
  data: o.data ?? `c${seq}a${o.attempt ?? 0}`,
});
/** A message as SQS hands it out: the chunk, sent by the worker of its job attempt unless `sender` says otherwise. */
const messageOf = (c: RelayChunk, sender: string | null = relaySenderName(c.jobId, c.attempt)): SqsMessage => ({
  body: JSON.stringify(c),
  ...(sender !== null ? { senderId: `AROAEXAMPLEROLEID:${sender}` } : {}),
});

/**
 * An in-memory queue: each receive takes up to 10 messages, or waits for some until its wait ends
 * (endWait). As on SQS, an aborted receive goes on waiting: its caller gets an AbortError at once,
 * and what it takes next is lost (`lost`).
 */
class MemoryQueue {
  private readonly messages: SqsMessage[] = [];
  /** receives waiting for a message, the oldest first (it is the one that gets the next) */
  private readonly waiters: Array<() => void> = [];
  /** the access key of each receive, in order */
  readonly receives: string[] = [];
  readonly aborted: number[] = [];
  /** messages an aborted receive took: nobody reads them */
  readonly lost: SqsMessage[] = [];
  readonly deleted: string[] = [];
  /** when each receive was made (Date.now()), in order */
  readonly receivedAt: number[] = [];
  /** receives in flight now, and the most ever in flight at once */
  inFlight = 0;
  maxInFlight = 0;
  /** receives to fail, next first */
  failures = 0;
  get waiting() {
    return this.waiters.length > 0;
  }
  /** the hold of the newest receive (whether it keeps the process alive) */
  hold: PollHold | undefined;
  readonly reader = (s: SqsSession): SqsReader => ({
    receive: (signal, hold) => {
      this.hold = hold;
      this.receives.push(s.credentials.accessKeyId);
      this.receivedAt.push(Date.now());
      if (this.failures > 0) {
        this.failures--;
        return Promise.reject(new SqsRequestError("InternalError", 500, "SQS failed"));
      }
      this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
      return new Promise<SqsMessage[]>((resolve, reject) => {
        let gone = false;
        const hand = (m: SqsMessage[]) => {
          this.inFlight--;
          if (gone) this.lost.push(...m);
          else resolve(m);
        };
        if (this.messages.length > 0) return hand(this.messages.splice(0, RECEIVE.MaxNumberOfMessages));
        this.waiters.push(() => hand(this.messages.splice(0, RECEIVE.MaxNumberOfMessages)));
        signal.addEventListener("abort", () => {
          gone = true;
          this.aborted.push(this.receives.length);
          reject(Object.assign(new Error("aborted"), { name: "AbortError" }));
        });
      });
    },
    deleteQueue: async () => {
      this.deleted.push(s.queueUrl);
    },
  });
  put(...m: SqsMessage[]) {
    this.messages.push(...m);
    while (this.messages.length > 0 && this.waiters.length > 0) this.waiters.shift()!();
  }
  /** The oldest waiting receive's wait time (20 s on SQS) ends: it answers no message. */
  endWait() {
    this.waiters.shift()?.(); // a receive waits only while the queue is empty: it takes nothing
  }
}

const relays: SqsRelay[] = [];
const relayOn = (q: MemoryQueue, o: SqsRelayOptions = {}) => {
  const r = new SqsRelay({ reader: q.reader, retryMs: 1, ...o });
  relays.push(r);
  return r;
};
afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.close()));
});

/** The next `n` chunks of a stream (fewer if it ends); the stream stays open for the next call. */
/** Factory: a job open on `r` for a minute, its session the default one. */
const openJob = (r: SqsRelay) => r.open(newJobId(Date.now()), Date.now() + 60_000, async () => sessionOf());

async function take(chunks: AsyncIterable<RelayChunk>, n: number): Promise<RelayChunk[]> {
  const it = chunks[Symbol.asyncIterator]();
  const out: RelayChunk[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}
/** Resolves when `f` holds (the loop runs on its own; no fixed sleeps). */
async function until(f: () => boolean, what: string, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
/** A reader per queue URL: each session reads the in-memory queue its URL names. */
const readerOf =
  (queues: Record<string, MemoryQueue>) =>
  (s: SqsSession): SqsReader =>
    queues[s.queueUrl]!.reader(s);
/** What a promise settled to within `ms`, or "pending" (a stream that neither yields nor ends). */
const within = <T>(p: Promise<T>, ms = 1_000): Promise<T | "pending"> =>
  Promise.race([p, new Promise<"pending">((r) => setTimeout(() => r("pending"), ms))]);
const sha256Hex = (s: string) => createHash("sha256").update(s).digest("hex");
const seqs = (cs: RelayChunk[]) => cs.map((c) => `${c.attempt}:${c.seq}`);

describe("the SQS relay subscriber: each job's stream from a queue that may reorder and repeat", () => {
  it("puts a job's chunks back in order", async () => {
    // Prepare
    const q = new MemoryQueue();
    const job = newJobId(Date.now());
    const sub = await relayOn(q).open(job, Date.now() + 60_000, async () => sessionOf());
    // Act
    q.put(messageOf(chunkOf(job, 2)), messageOf(chunkOf(job, 0)));
    q.put(messageOf(chunkOf(job, 3, { final: true })), messageOf(chunkOf(job, 1)));
    // Assess
    expect(seqs(await take(sub.chunks, 4))).toEqual(["0:0", "0:1", "0:2", "0:3"]);
  });

  it("hands on each chunk once: a repeat, before or after its turn, is dropped", async () => {
    // Prepare
    const q = new MemoryQueue();
    const job = newJobId(Date.now());
    const sub = await relayOn(q).open(job, Date.now() + 60_000, async () => sessionOf());
    // Act
    q.put(...[0, 0, 2, 1, 2, 1, 0, 3].map((s) => messageOf(chunkOf(job, s))));
    // Assess
    expect(seqs(await take(sub.chunks, 4))).toEqual(["0:0", "0:1", "0:2", "0:3"]);
    sub.close();
    expect(await take(sub.chunks, 1)).toEqual([]); // nothing more came
  });

  it("drops a chunk whose SenderId is not the worker of its job attempt, silently, while the right stream goes on", async () => {
    // Prepare: another job of this account, whose worker could send to this channel's queue
    const q = new MemoryQueue();
    const job = newJobId(Date.now());
    const other = newJobId(Date.now());
    const sub = await relayOn(q).open(job, Date.now() + 60_000, async () => sessionOf());
    const forged = (seq: number) => chunkOf(job, seq, { data: "forged" });
    // Act
    q.put(
      messageOf(forged(0), relaySenderName(other, 0)), // another job's worker speaking for this one
      messageOf(forged(0), relaySenderName(job, 1)), // the worker of another attempt of this job
      messageOf(forged(0), null), // no SenderId at all
      { body: JSON.stringify(forged(0)), senderId: relaySenderName(job, 0) }, // the name without the `<role id>:`
      messageOf(chunkOf(job, 0)),
      messageOf(forged(1), `x${relaySenderName(job, 0)}`),
      messageOf(chunkOf(job, 1, { final: true })),
    );
    // Assess
    const got = await take(sub.chunks, 2);
    expect(got).toEqual([chunkOf(job, 0), chunkOf(job, 1, { final: true })]);
  });

  it("drops chunks of a job not open here, and messages that are not chunks, without disturbing an open job", async () => {
    // Prepare
    const q = new MemoryQueue();
    const r = relayOn(q);
    const job = newJobId(Date.now());
    const done = newJobId(Date.now());
    const finished = await r.open(done, Date.now() + 60_000, async () => sessionOf());
    finished.close();
    const sub = await r.open(job, Date.now() + 60_000, async () => sessionOf());
    // Act
    q.put(
      messageOf(chunkOf(done, 0)), // a job this client finished
      messageOf(chunkOf(newJobId(Date.now()), 0)), // a job never opened here
      { body: "not json", senderId: "AROAEXAMPLEROLEID:w" },
      { body: JSON.stringify({ ...chunkOf(job, 0), seq: 4096 }), senderId: `AROAEXAMPLEROLEID:${relaySenderName(job, 0)}` }, // past MAX_REPLY_CHUNKS
      messageOf(chunkOf(job, 0)),
    );
    // Assess
    expect(await take(sub.chunks, 1)).toEqual([chunkOf(job, 0)]);
    expect(await take(finished.chunks, 1)).toEqual([]);
  });

  it("a chunk of a newer attempt starts that attempt: what waited of the older one is dropped, and its later chunks too", async () => {
    // Prepare: attempt 0 delivered chunk 0 and has chunk 2 waiting for chunk 1
    const q = new MemoryQueue();
    const job = newJobId(Date.now());
    const sub = await relayOn(q).open(job, Date.now() + 60_000, async () => sessionOf());
    q.put(messageOf(chunkOf(job, 0)), messageOf(chunkOf(job, 2)));
    expect(seqs(await take(sub.chunks, 1))).toEqual(["0:0"]);
    // Act: the failover's worker, its chunk 1 first; then the old worker's chunk 1 comes late
    q.put(messageOf(chunkOf(job, 1, { attempt: 1 })), messageOf(chunkOf(job, 1)), messageOf(chunkOf(job, 0, { attempt: 1 })));
    q.put(messageOf(chunkOf(job, 2, { attempt: 1, final: true })), messageOf(chunkOf(job, 3)));
    // Assess
    expect(seqs(await take(sub.chunks, 3))).toEqual(["1:0", "1:1", "1:2"]);
    sub.close();
    expect(await take(sub.chunks, 5)).toEqual([]); // the old worker's chunk 3 was not handed on after them
  });

  it("receives only while a job is open: the last job's close lets the poll in flight end by itself, and no other starts", async () => {
    // Prepare
    const q = new MemoryQueue();
    const r = relayOn(q);
    const a = await openJob(r);
    const b = await openJob(r);
    await until(() => q.waiting, "a long poll");
    // Act
    a.close();
    b.close();
    const afterClose = { polling: r.polling, waiting: q.waiting };
    q.endWait(); // its 20 s pass with no message
    await until(() => r.polling === 0, "the loop to stop");
    const receives = q.receives.length;
    await new Promise((w) => setTimeout(w, 20));
    // Assess
    expect(afterClose).toEqual({ polling: 1, waiting: true }); // not aborted: SQS would go on with it anyway
    expect(q.aborted).toEqual([]);
    expect(q.receives.length).toBe(receives); // no poll after it
    expect(q.waiting).toBe(false);
    // and a new job starts it again
    const c = await openJob(r);
    await until(() => q.waiting, "a new long poll");
    expect(r.polling).toBe(1);
    c.close();
  });

  it("the poll in flight keeps the process alive only while a job is open: released when the last closes, held again when one opens", async () => {
    // Prepare
    const q = new MemoryQueue();
    const r = relayOn(q);
    const a = await openJob(r);
    const b = await openJob(r);
    await until(() => q.waiting, "a long poll");
    const hold = q.hold!;
    // Act / Assess
    expect(hold.held).toBe(true);
    a.close();
    expect(hold.held).toBe(true); // b still reads
    b.close();
    expect(hold.held).toBe(false);
    const c = await openJob(r);
    expect(hold.held).toBe(true); // the same poll, now for c
    expect(q.receives).toHaveLength(1);
    c.close();
  });

  it("a job opened just after the last one closed gets the chunks the poll left running takes (an aborted poll would have taken them for nobody)", async () => {
    // Prepare: job A read and closed, its long poll still waiting at the queue
    const q = new MemoryQueue();
    const r = relayOn(q);
    const jobA = newJobId(Date.now());
    const a = await r.open(jobA, Date.now() + 60_000, async () => sessionOf());
    q.put(messageOf(chunkOf(jobA, 0, { final: true })));
    await take(a.chunks, 1);
    await until(() => q.waiting, "the next long poll");
    a.close();
    // Act: B opens and its whole answer comes in one message, taken by the poll A left
    const jobB = newJobId(Date.now());
    const b = await r.open(jobB, Date.now() + 60_000, async () => sessionOf());
    q.put(messageOf(chunkOf(jobB, 0, { final: true })));
    // Assess
    expect(await within(take(b.chunks, 1))).toEqual([chunkOf(jobB, 0, { final: true })]);
    expect(q.lost).toEqual([]);
    expect(q.aborted).toEqual([]);
    b.close();
  });

  it("a receive that fails is tried again; receives failing MAX_RECEIVE_FAILURES times in a row end the streams (the SDK then reads the job)", async () => {
    // Prepare
    const q = new MemoryQueue();
    const r = relayOn(q);
    const job = newJobId(Date.now());
    q.failures = MAX_RECEIVE_FAILURES - 1;
    const sub = await r.open(job, Date.now() + 60_000, async () => sessionOf());
    // Act: failures short of the limit, then a chunk
    q.put(messageOf(chunkOf(job, 0)));
    const first = await take(sub.chunks, 1);
    // then failures up to the limit
    q.failures = MAX_RECEIVE_FAILURES;
    q.put(messageOf(chunkOf(newJobId(Date.now()), 0))); // wakes the poll in flight
    const rest = await take(sub.chunks, 1);
    // Assess
    expect(first).toEqual([chunkOf(job, 0)]);
    expect(rest).toEqual([]); // the stream ended
    expect(r.polling).toBe(0);
    expect(r.covers(Date.now())).toBe(false); // the next job asks for a session again
  });

  it("review42 F6: after receives failed MAX_RECEIVE_FAILURES times in a row no stream opens for RECEIVE_FAILURE_PAUSE_MS, so a proxy cutting every poll stays within an honest SDK's empty receives", async () => {
    // Prepare: every receive fails (a proxy cutting the long polls); the clock is the test's
    let clock = Date.now();
    const q = new MemoryQueue();
    const r = relayOn(q, { now: () => clock });
    q.failures = MAX_RECEIVE_FAILURES;
    const sub = await r.open(newJobId(clock), clock + 60_000, async () => sessionOf());
    const ended = await take(sub.chunks, 1);
    const receives = q.receives.length;
    // Act: a job right after, one just before the pause is over, and one after
    const during = await r.open(newJobId(clock), clock + 60_000, async () => sessionOf()).catch((e: unknown) => e);
    clock += RECEIVE_FAILURE_PAUSE_MS - 1;
    const late = await r.open(newJobId(clock), clock + 60_000, async () => sessionOf()).catch((e: unknown) => e);
    clock += 1;
    const after = await r.open(newJobId(clock), clock + 60_000, async () => sessionOf());
    // Assess
    expect(ended).toEqual([]);
    expect(receives).toBe(MAX_RECEIVE_FAILURES);
    expect(String(during)).toMatch(/failed 3 times in a row/);
    expect(String(late)).toMatch(/failed 3 times in a row/);
    expect(after.chunks).toBeDefined();
    // the arithmetic: every loop's failures at most once a pause, within the honest SDK's 24 a minute
    expect((MAX_LOOPS * MAX_RECEIVE_FAILURES * 60_000) / RECEIVE_FAILURE_PAUSE_MS).toBeLessThanOrEqual(HONEST_EMPTY_RECEIVES_PER_MINUTE);
    after.close();
  });

  it("close() ends the streams and the loop, deletes the channel's queue, and refuses new jobs; a failed delete is not an error", async () => {
    // Prepare
    const q = new MemoryQueue();
    const r = new SqsRelay({
      reader: (s) => ({
        ...q.reader(s),
        deleteQueue: () =>
          q
            .reader(s)
            .deleteQueue()
            .then(() => Promise.reject(new Error("gone"))),
      }),
    });
    const sub = await openJob(r);
    await until(() => q.waiting, "a long poll");
    // Act
    await r.close();
    // Assess
    expect(q.deleted).toEqual([QUEUE]);
    expect(q.aborted).toHaveLength(1);
    expect(r.polling).toBe(0);
    expect(await take(sub.chunks, 1)).toEqual([]);
    await expect(openJob(r)).rejects.toThrow(/closed/);
  });

  it("renewal: a job whose deadline the credentials do not outlive (with the margin) gets a new session first; the loop reads on with it, for every open job", async () => {
    // Prepare: a first session that lasts 100 s
    const q = new MemoryQueue();
    const r = relayOn(q);
    const sessions = [sessionOf({ name: "r-first", ms: 100_000 }), sessionOf({ name: "r-second" })];
    let asked = 0;
    const session = async () => sessions[asked++]!;
    const short = newJobId(Date.now());
    const long = newJobId(Date.now());
    // Act
    const a = await r.open(short, Date.now() + 30_000, session);
    await until(() => q.waiting, "a long poll");
    const b = await r.open(long, Date.now() + 50_000, session); // 100 s - 60 s margin < 50 s
    q.put(messageOf(chunkOf(short, 0)), messageOf(chunkOf(long, 0)));
    // Assess
    expect(asked).toBe(2);
    expect(await take(a.chunks, 1)).toEqual([chunkOf(short, 0)]);
    expect(await take(b.chunks, 1)).toEqual([chunkOf(long, 0)]);
    await until(() => q.receives.length >= 2, "a second receive");
    expect(q.receives[0]).toBe(sessions[0]!.credentials.accessKeyId);
    expect(q.receives.at(-1)).toBe(sessions[1]!.credentials.accessKeyId);
    expect(r.covers(Date.now() + 50_000)).toBe(true);
    // a job within the second session's reach asks nothing
    await r.open(newJobId(Date.now()), Date.now() + 60_000, session);
    expect(asked).toBe(2);
  });

  it("a job longer than credentials last starts after one ask, and its credentials are renewed before they run out while it reads", async () => {
    // Prepare: the first session lasts 70 s, renewed 69.5 s before it ends (0.5 s from now); the job's deadline 10 min away
    const q = new MemoryQueue();
    const t0 = Date.now();
    const sessions = [sessionOf({ name: "r-first", ms: 70_000 }), sessionOf({ name: "r-second", ms: 900_000 })];
    let asked = 0;
    const r = relayOn(q, { renewMarginMs: 69_500 });
    const job = newJobId(t0);
    // Act
    const sub = await r.open(job, t0 + 600_000, async () => sessions[asked++]!);
    const atStart = asked;
    await until(() => asked === 2, "the renewal", 3_000);
    q.put(messageOf(chunkOf(job, 0)));
    // Assess
    expect(atStart).toBe(1); // no second ask at the start: another would last no longer
    expect(await within(take(sub.chunks, 1))).toEqual([chunkOf(job, 0)]);
    await until(() => q.receives.at(-1) === sessions[1]!.credentials.accessKeyId, "a receive on the renewed credentials");
    sub.close();
  });

  it("the first copy of a chunk that waits for an earlier one is the one handed on: a later copy with other content does not replace it", async () => {
    // Prepare
    const q = new MemoryQueue();
    const job = newJobId(Date.now());
    const sub = await relayOn(q).open(job, Date.now() + 60_000, async () => sessionOf());
    // Act: chunk 1 waits for chunk 0; a second chunk 1 (same sender, other bytes) comes while it waits
    q.put(messageOf(chunkOf(job, 1, { data: "first" })), messageOf(chunkOf(job, 1, { data: "second" })));
    q.put(messageOf(chunkOf(job, 0)));
    // Assess
    expect(await take(sub.chunks, 2)).toEqual([chunkOf(job, 0), chunkOf(job, 1, { data: "first" })]);
  });

  it("its channel: the one given (checked as RelayChannel), else a new random one per subscriber", () => {
    // Act
    const given = new SqsRelay({ channel: "my-channel_01" });
    const a = new SqsRelay();
    const b = new SqsRelay();
    // Assess
    expect(given.channel).toBe("my-channel_01");
    expect(a.channel).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(b.channel).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(a.channel).not.toBe(b.channel);
    expect(() => new SqsRelay({ channel: "no/slash" })).toThrow();
  });

  it("covers a deadline only while the credentials outlive it by more than the margin (the default 60 s, or the one given)", async () => {
    // Prepare
    const q = new MemoryQueue();
    const s = sessionOf();
    const expiration = s.credentials.expiration;
    const r = relayOn(q);
    const tight = relayOn(q, { renewMarginMs: 1_000 });
    // Act
    await r.open(newJobId(Date.now()), Date.now() + 1_000, async () => s);
    await tight.open(newJobId(Date.now()), Date.now() + 1_000, async () => s);
    // Assess
    expect(r.covers(expiration - 60_001)).toBe(true);
    expect(r.covers(expiration - 60_000)).toBe(false);
    expect(tight.covers(expiration - 1_001)).toBe(true);
    expect(tight.covers(expiration - 1_000)).toBe(false);
  });

  it("a closed subscriber asks for no session; one that arrives after close is refused and its queue deleted (the session made it)", async () => {
    // Prepare
    const q = new MemoryQueue();
    const r = relayOn(q);
    let asked = 0;
    let give: (s: SqsSession) => void = () => undefined;
    const opening = r.open(newJobId(Date.now()), Date.now() + 60_000, () => {
      asked++;
      return new Promise<SqsSession>((resolve) => (give = resolve));
    });
    // Act: close while the first job's session is on its way, then it arrives; then a job after close
    await r.close();
    give(sessionOf());
    const late = await opening.then(
      () => undefined,
      (e: unknown) => e,
    );
    const after = r.open(newJobId(Date.now()), Date.now() + 60_000, async () => {
      asked++;
      return sessionOf();
    });
    // Assess
    expect(late).toMatchObject({ message: "the relay subscriber is closed" });
    await expect(after).rejects.toThrow("the relay subscriber is closed");
    expect(asked).toBe(1);
    await until(() => q.deleted.length === 1, "the late session's queue to be deleted");
    expect(q.deleted).toEqual([QUEUE]);
    expect(q.receives).toEqual([]);
  });

  it("a job opened again replaces its stream; closing the replaced subscription leaves the new one reading", async () => {
    // Prepare
    const q = new MemoryQueue();
    const r = relayOn(q);
    const job = newJobId(Date.now());
    const old = await r.open(job, Date.now() + 60_000, async () => sessionOf());
    const again = await r.open(job, Date.now() + 60_000, async () => sessionOf());
    // Act
    old.close();
    q.put(messageOf(chunkOf(job, 0)));
    // Assess
    expect(await take(old.chunks, 1)).toEqual([]);
    expect(await within(take(again.chunks, 1))).toEqual([chunkOf(job, 0)]);
    expect(r.polling).toBe(1);
  });

  it("a session for another queue starts a second loop there; the first queue is still read for its open jobs, and their close keeps the new credentials", async () => {
    // Prepare: the first session (queue 1) lasts 100 s; the second (queue 2) 15 min
    const QUEUE2 = `${QUEUE}-2`;
    const q1 = new MemoryQueue();
    const q2 = new MemoryQueue();
    const r = relayOn(q1, { reader: readerOf({ [QUEUE]: q1, [QUEUE2]: q2 }) });
    const sessions = [sessionOf({ name: "r-first", ms: 100_000 }), sessionOf({ name: "r-second", queueUrl: QUEUE2 })];
    let asked = 0;
    const session = async () => sessions[asked++]!;
    const early = newJobId(Date.now());
    const later = newJobId(Date.now());
    // Act
    const a = await r.open(early, Date.now() + 30_000, session);
    const b = await r.open(later, Date.now() + 50_000, session); // 100 s - 60 s margin < 50 s: a new session
    q1.put(messageOf(chunkOf(early, 0)));
    q2.put(messageOf(chunkOf(later, 0)));
    // Assess
    expect(asked).toBe(2);
    expect(await within(take(a.chunks, 1))).toEqual([chunkOf(early, 0)]);
    expect(await within(take(b.chunks, 1))).toEqual([chunkOf(later, 0)]);
    expect(r.polling).toBe(2);
    // the first queue's last job closes: its loop stops, the second queue's goes on, and the next job asks nothing
    a.close();
    q1.endWait(); // the poll left in flight ends with its wait
    await until(() => r.polling === 1, "the first queue's loop to stop");
    expect(r.covers(Date.now() + 50_000)).toBe(true);
    await r.open(newJobId(Date.now()), Date.now() + 50_000, session);
    expect(asked).toBe(2);
    expect(q2.waiting).toBe(true);
  });

  it("the last job's close keeps the credentials: the next job starts on them without asking", async () => {
    // Prepare
    const q = new MemoryQueue();
    const r = relayOn(q);
    let asked = 0;
    const session = async () => (asked++, sessionOf());
    const a = await r.open(newJobId(Date.now()), Date.now() + 60_000, session);
    // Act
    a.close();
    // Assess
    expect(r.covers(Date.now() + 60_000)).toBe(true);
    await r.open(newJobId(Date.now()), Date.now() + 60_000, session);
    expect(asked).toBe(1);
  });

  it("credentials about to expire (5 s before) end the queue's reading and its jobs' streams; the next job asks for a session", async () => {
    // Prepare: a clock 5.2 s short of the credentials' expiration, so they are 0.2 s from the cut
    const q = new MemoryQueue();
    const s = sessionOf();
    const r = relayOn(q, { now: () => s.credentials.expiration - 5_200, renewMarginMs: 0 });
    const sub = await r.open(newJobId(Date.now()), Date.now() + 1_000, async () => s);
    await until(() => q.waiting, "a long poll");
    // Act
    const ended = await within(take(sub.chunks, 1), 3_000);
    // Assess
    expect(ended).toEqual([]);
    expect(r.covers(Date.now() + 1_000)).toBe(false);
    // its poll in flight is not aborted (SQS would go on with it): it ends with its wait, and no other starts
    expect(q.aborted).toEqual([]);
    q.endWait();
    await until(() => r.polling === 0, "the loop to stop");
    expect(q.receives).toHaveLength(1);
  });

  it("a chunk that the poll of an ended loop takes goes to the job opened since on a new session of the same queue", async () => {
    // Prepare: the first loop ended by its credentials' cut while its poll waits; a job opens on a new session
    const q = new MemoryQueue();
    const first = sessionOf({ name: "r-first" });
    const second = sessionOf({ name: "r-second", ms: 1_800_000 });
    let clock = first.credentials.expiration - 5_200;
    const r = relayOn(q, { now: () => clock, renewMarginMs: 0 });
    const sub = await r.open(newJobId(Date.now()), Date.now() + 1_000, async () => first);
    await until(() => q.waiting, "a long poll");
    await within(take(sub.chunks, 1), 3_000); // ended by the cut
    clock = Date.now();
    const job = newJobId(Date.now());
    const next = await r.open(job, Date.now() + 60_000, async () => second);
    // Act: the old poll is the one waiting first, and takes the chunk
    q.put(messageOf(chunkOf(job, 0)));
    // Assess
    expect(await within(take(next.chunks, 1))).toEqual([chunkOf(job, 0)]);
    expect(q.lost).toEqual([]);
  });

  it("a renewal of the same queue moves the cut to the new credentials' expiration: open jobs read on past the old one", async () => {
    // Prepare: the first credentials are 0.2 s from their cut (clock as above), the second last 15 min more
    const q = new MemoryQueue();
    const first = sessionOf({ name: "r-first" });
    const second = sessionOf({ name: "r-second", ms: 1_800_000 });
    const sessions = [first, second];
    let asked = 0;
    const r = relayOn(q, { now: () => first.credentials.expiration - 5_200, renewMarginMs: 0 });
    const job = newJobId(Date.now());
    const sub = await r.open(job, Date.now() + 1_000, async () => sessions[asked++]!);
    await r.open(newJobId(Date.now()), first.credentials.expiration + 1, async () => sessions[asked++]!);
    // Act: wait past the first credentials' cut, then a chunk
    await new Promise((w) => setTimeout(w, 600));
    q.put(messageOf(chunkOf(job, 0)));
    // Assess
    expect(asked).toBe(2);
    expect(await within(take(sub.chunks, 1))).toEqual([chunkOf(job, 0)]);
    expect(r.polling).toBe(1);
  });

  it("one receive at a time per queue, however many jobs open", async () => {
    // Prepare
    const q = new MemoryQueue();
    const r = relayOn(q);
    // Act
    for (let i = 0; i < 3; i++) await openJob(r);
    await until(() => q.waiting, "a long poll");
    q.put(messageOf(chunkOf(newJobId(Date.now()), 0)));
    await until(() => q.receives.length >= 2 && q.waiting, "the next long poll");
    // Assess
    expect(q.maxInFlight).toBe(1);
    expect(r.polling).toBe(1);
  });

  it("jobs closing and opening one after another, MAX_RECEIVE_FAILURES times and more, keep one poll reading, never aborted", async () => {
    // Prepare
    const q = new MemoryQueue();
    const r = relayOn(q);
    let sub = await openJob(r);
    await until(() => q.waiting, "a long poll");
    // Act: each time, the job closes and another opens; the poll in flight goes on for it
    for (let i = 0; i < MAX_RECEIVE_FAILURES + 1; i++) {
      sub.close();
      sub = await openJob(r);
    }
    const job = newJobId(Date.now());
    sub.close();
    const last = await r.open(job, Date.now() + 60_000, async () => sessionOf());
    q.put(messageOf(chunkOf(job, 0)));
    // Assess
    expect(await within(take(last.chunks, 1))).toEqual([chunkOf(job, 0)]);
    expect(q.aborted).toEqual([]);
    expect(q.receives.length).toBeLessThanOrEqual(2); // the first poll, and the one after it answered
    expect(r.polling).toBe(1);
    expect(r.covers(Date.now() + 60_000)).toBe(true);
  });

  it("receive loops grow with the open jobs (one per JOBS_PER_LOOP, at most MAX_LOOPS) and shrink as they close, so a busy client keeps up", async () => {
    // Prepare
    const q = new MemoryQueue();
    const r = relayOn(q);
    const open = async (n: number) => {
      const subs = [];
      for (let i = 0; i < n; i++) subs.push(await openJob(r));
      return subs;
    };
    // Act: 2.5 loops' worth of jobs, then more than MAX_LOOPS' worth
    const first = await open(Math.floor(JOBS_PER_LOOP * 2.5));
    const at3 = { polling: r.polling, inFlight: q.inFlight };
    const more = await open(JOBS_PER_LOOP * MAX_LOOPS);
    const atMax = r.polling;
    // the busy spell ends: all but one job close, and the polls in flight end with their wait
    for (const s of [...first, ...more].slice(1)) s.close();
    for (let i = 0; i < MAX_LOOPS; i++) q.endWait();
    await until(() => r.polling === 1, "the loops to shrink to one");
    // Assess
    expect(loopsFor(1)).toBe(1);
    expect(at3).toEqual({ polling: 3, inFlight: 3 });
    expect(atMax).toBe(MAX_LOOPS);
    expect(q.maxInFlight).toBe(MAX_LOOPS);
    expect(q.waiting).toBe(true); // the one left reads on
  });

  it("a failed receive is tried again after retryMs times the failures in a row", async () => {
    // Prepare
    const q = new MemoryQueue();
    q.failures = MAX_RECEIVE_FAILURES - 1;
    const r = relayOn(q, { retryMs: 100 });
    const job = newJobId(Date.now());
    // Act
    const sub = await r.open(job, Date.now() + 60_000, async () => sessionOf());
    q.put(messageOf(chunkOf(job, 0)));
    await take(sub.chunks, 1);
    // Assess: 100 ms after the first failure, 200 ms after the second
    const [t0, t1, t2] = q.receivedAt;
    expect(t1! - t0!).toBeGreaterThanOrEqual(95);
    expect(t1! - t0!).toBeLessThan(1900); // loose: a loaded 2-core CI may fire the timer late
    expect(t2! - t1!).toBeGreaterThanOrEqual(195);
  });

  it("close() after the credentials ran out (a client idle past them) asks a fresh session and deletes the queue with it, not with the expired one", async () => {
    // Prepare: a job read and closed; then the client's clock passes the credentials' end
    const q = new MemoryQueue();
    const deletedWith: string[] = [];
    const first = sessionOf({ name: "r-first", ms: 900_000 });
    const fresh = sessionOf({ name: "r-fresh", ms: 900_000 });
    let clock = Date.now();
    const r = relayOn(q, {
      now: () => clock,
      reader: (s) => ({ ...q.reader(s), deleteQueue: async () => void deletedWith.push(s.credentials.accessKeyId) }),
    });
    const sessions = [first, fresh];
    let asked = 0;
    const sub = await r.open(newJobId(clock), clock + 60_000, async () => sessions[asked++]!);
    sub.close();
    clock = first.credentials.expiration + 1;
    // Act
    await r.close();
    // Assess
    expect(asked).toBe(2);
    expect(deletedWith).toEqual([fresh.credentials.accessKeyId]);
  });

  it("close() is once: closing again deletes nothing more", async () => {
    // Prepare
    const q = new MemoryQueue();
    const r = new SqsRelay({ reader: q.reader });
    await openJob(r);
    // Act
    await r.close();
    await r.close();
    // Assess
    expect(q.deleted).toEqual([QUEUE]);
  });

  it("its expiry timer does not keep the process alive (unref): an open job adds no timer the event loop waits for", async () => {
    // Prepare
    const q = new MemoryQueue();
    const r = relayOn(q);
    const timers = () => process.getActiveResourcesInfo().filter((t) => t === "Timeout").length;
    const before = timers();
    // Act
    await openJob(r);
    // Assess
    expect(timers()).toBe(before);
  });
});

describe("the SQS relay subscriber's timers: each queue holds one expiry timer while it is read, none once done", () => {
  afterEach(() => {
    vi.useRealTimers();
  });
  const settle = () => vi.advanceTimersByTimeAsync(0);

  it("close() clears the expiry timer of every queue", async () => {
    // Prepare
    vi.useFakeTimers();
    const q = new MemoryQueue();
    const r = new SqsRelay({ reader: q.reader });
    await openJob(r);
    await settle();
    const open = vi.getTimerCount();
    // Act
    await r.close();
    await settle();
    // Assess: the expiry and the renewal timer
    expect(open).toBe(2);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a session for another queue ends the old one at once when no job reads it, else when its last job closes", async () => {
    // Prepare
    vi.useFakeTimers();
    const queues = { [QUEUE]: new MemoryQueue(), [`${QUEUE}-2`]: new MemoryQueue(), [`${QUEUE}-3`]: new MemoryQueue() };
    const r = new SqsRelay({ reader: readerOf(queues) });
    const session = (queueUrl: string, ms: number) => async () => sessionOf({ queueUrl, ms });
    const a = await r.open(newJobId(Date.now()), Date.now() + 30_000, session(QUEUE, 100_000));
    a.close();
    // Act: queue 1 has no job when queue 2 comes; queue 2 has one when queue 3 comes, closed after
    const b = await r.open(newJobId(Date.now()), Date.now() + 50_000, session(`${QUEUE}-2`, 200_000));
    await settle();
    const afterSecond = vi.getTimerCount();
    const c = await r.open(newJobId(Date.now()), Date.now() + 150_000, session(`${QUEUE}-3`, 900_000)); // queue 2 does not cover it
    await settle();
    const whileBothRead = vi.getTimerCount();
    b.close();
    await settle();
    // Assess
    // two timers a queue read: its expiry and its renewal
    expect(afterSecond).toBe(2);
    expect(whileBothRead).toBe(4);
    expect(vi.getTimerCount()).toBe(2);
    c.close();
    await r.close();
  });
});

describe("the SQS calls' answers: SQS's errors, and answers that are not SQS's (a POST stand-in)", () => {
  const answering = (status: number, body: string) => sqsReader(sessionOf(), { post: async () => ({ status, text: body }) });
  const receiveError = (reader: SqsReader) =>
    reader.receive(new AbortController().signal).then(
      () => undefined,
      (e: unknown) => e,
    );

  it("an SQS error keeps SQS's code (after the last #), the status and SQS's message, whichever case its key is in", async () => {
    // Act
    const lower = await receiveError(
      answering(400, JSON.stringify({ __type: "com.amazonaws.sqs#QueueDoesNotExist", message: "The specified queue does not exist." })),
    );
    const upper = await receiveError(
      answering(403, JSON.stringify({ __type: "com.amazon.coral.service#AccessDenied", Message: "Not yours." })),
    );
    // Assess
    expect(lower).toBeInstanceOf(SqsRequestError);
    expect(lower).toMatchObject({
      code: "QueueDoesNotExist",
      status: 400,
      message: "SQS ReceiveMessage refused (400 com.amazonaws.sqs#QueueDoesNotExist): The specified queue does not exist.",
    });
    expect(upper).toMatchObject({
      code: "AccessDenied",
      status: 403,
      message: "SQS ReceiveMessage refused (403 com.amazon.coral.service#AccessDenied): Not yours.",
    });
  });

  it("an error without SQS's shape is http_<status>, its message only the call and status", async () => {
    // Act
    const empty = answering(500, "").deleteQueue();
    const bare = receiveError(answering(503, "{}"));
    // Assess
    await expect(empty).rejects.toMatchObject({
      name: "SqsRequestError",
      code: "http_500",
      status: 500,
      message: "SQS DeleteQueue refused (500 http_500)",
    });
    expect(await bare).toMatchObject({ code: "http_503", status: 503, message: "SQS ReceiveMessage refused (503 http_503)" });
  });

  it("an answer that is not JSON, or not a list of at most 10 messages, is bad_response", async () => {
    // Act
    const html = await receiveError(answering(502, "<html>Bad Gateway</html>"));
    const notList = await receiveError(answering(200, JSON.stringify({ Messages: "none" })));
    const eleven = await receiveError(answering(200, JSON.stringify({ Messages: Array.from({ length: 11 }, () => ({ Body: "x" })) })));
    // Assess
    expect(html).toMatchObject({
      code: "bad_response",
      status: 502,
      message: "SQS ReceiveMessage answered 502 with something that is not JSON",
    });
    for (const e of [notList, eleven]) {
      expect(e).toBeInstanceOf(SqsRequestError);
      expect(e).toMatchObject({
        code: "bad_response",
        status: 200,
        message: "SQS ReceiveMessage answered something that is not a list of messages",
      });
    }
  });

  it("a message without a SenderId (no attributes, or others only) comes without one, so the relay drops it", async () => {
    // Prepare
    const reader = answering(
      200,
      JSON.stringify({
        Messages: [{ Body: "a" }, { Body: "b", Attributes: { SentTimestamp: "1" } }, { Body: "c", Attributes: { SenderId: "AROA:w" } }],
      }),
    );
    // Act
    const got = await reader.receive(new AbortController().signal);
    // Assess
    expect(got).toStrictEqual([{ body: "a" }, { body: "b" }, { body: "c", senderId: "AROA:w" }]);
  });
});

describe("the SQS calls: ReceiveMessage and DeleteQueue, SQS's JSON protocol over a signed POST", () => {
  let sqs: SqsStandIn;
  let queueUrl: string;
  beforeAll(async () => {
    sqs = await startSqsStandIn();
    const { expiration: _e, ...admin } = credentialsFor("vendor");
    const client = new SQSClient({ region: "us-east-1", endpoint: sqs.url, credentials: admin });
    queueUrl = (await client.send(new CreateQueueCommand({ QueueName: "cocoon-test-r-unit", Attributes: { VisibilityTimeout: "43200" } })))
      .QueueUrl!;
  });
  afterAll(async () => {
    await sqs?.close();
  });
  const sendAs = async (name: string, body: string) => {
    const { expiration: _e, ...c } = credentialsFor(name);
    await new SQSClient({ region: "us-east-1", endpoint: sqs.url, credentials: c }).send(
      new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }),
    );
  };

  it("ReceiveMessage is a POST to the queue URL's origin: a 20 s long poll of up to 10 messages asking for SenderId, SigV4-signed for sqs with the session token", async () => {
    // Prepare: a POST that records the request and answers an empty receive
    const session = sessionOf();
    let seen: { url: string; init: Parameters<SqsPost>[1] } | undefined;
    const postStub: SqsPost = async (url, init) => {
      seen = { url, init };
      return { status: 200, text: "{}" };
    };
    // Act
    const got = await sqsReader(session, { post: postStub }).receive(new AbortController().signal);
    // Assess
    expect(got).toEqual([]);
    expect(seen!.url).toBe("https://sqs.us-east-1.amazonaws.com/");
    const headers = seen!.init.headers as Record<string, string>;
    expect(headers).toMatchObject({
      "content-type": "application/x-amz-json-1.0",
      "x-amz-target": "AmazonSQS.ReceiveMessage",
      "x-amz-security-token": session.credentials.sessionToken,
    });
    expect(JSON.parse(String(seen!.init.body))).toEqual({
      QueueUrl: QUEUE,
      WaitTimeSeconds: 20,
      MaxNumberOfMessages: 10,
      MessageSystemAttributeNames: ["SenderId"],
    });
    expect(headers.authorization).toMatch(/Credential=ASIA[0-9A-F]+\/\d{8}\/us-east-1\/sqs\/aws4_request, SignedHeaders=[^,]*x-amz-target/);
    const check = {
      method: "POST",
      path: "/",
      headers: { ...headers, host: "sqs.us-east-1.amazonaws.com" },
      body: Buffer.from(String(seen!.init.body)),
    };
    expect(sigV4Refusal(check)).toBeUndefined();
    // (the check is a real one: it refuses the same request with another body or target)
    const other = String(seen!.init.body).replace('"WaitTimeSeconds":20', '"WaitTimeSeconds":19');
    expect(
      sigV4Refusal({ ...check, body: Buffer.from(other), headers: { ...check.headers, "x-amz-content-sha256": sha256Hex(other) } }),
    ).toBe("SignatureDoesNotMatch");
    expect(sigV4Refusal({ ...check, headers: { ...check.headers, "x-amz-target": "AmazonSQS.DeleteQueue" } })).toBe(
      "SignatureDoesNotMatch",
    );
  });

  it("reads messages with their SenderId from SQS (the stand-in); an abort ends the caller's wait, while the poll goes on at SQS and takes the next message for nobody", async () => {
    // Prepare
    const reader = sqsReader({ ...sessionOf({ queueUrl }), queueUrl });
    const abort = new AbortController();
    // Act
    const waiting = reader.receive(new AbortController().signal);
    await until(() => sqs.receiving() === 1, "the long poll at the stand-in");
    await sendAs("w-job-0", "hello");
    const got = await waiting;
    const aborted = reader.receive(abort.signal);
    await until(() => sqs.receiving() === 1, "the second long poll");
    abort.abort();
    // Assess
    expect(got).toEqual([{ body: "hello", senderId: "AROATEST:w-job-0" }]);
    await expect(aborted).rejects.toMatchObject({ name: "AbortError" });
    await until(() => sqs.abandoned() === 1, "the stand-in to see its caller gone");
    expect(sqs.receiving()).toBe(1); // as SQS: why the relay never aborts a poll it may still need (SqsRelay)
    await sendAs("w-job-0", "taken by the abandoned poll");
    await until(() => sqs.receiving() === 0, "the abandoned poll to end with the message");
    expect(sqs.lost.map((m) => m.body)).toEqual(["taken by the abandoned poll"]);
    expect(sqs.refused).toEqual([]); // signed right, as the stand-in checks it
  });

  it("an idle subscriber does not keep the process alive: a process that never calls close() exits once its last job closed", async () => {
    // Prepare
    const child = fileURLToPath(new URL("../test/fixtures/sqs-relay-idle-exit.ts", import.meta.url));
    const polls = sqs.calls.filter((c) => c.action === "ReceiveMessage").length;
    // Act: the child opens a job, lets its 20 s long poll reach the stand-in, closes the job and returns
    const p = spawn(process.execPath, ["--import", "tsx", child, queueUrl], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const started = Date.now();
    const exited = await new Promise<number | null | "hung">((resolve) => {
      const t = setTimeout(() => (p.kill(), resolve("hung")), 15_000);
      p.on("exit", (code) => (clearTimeout(t), resolve(code)));
    });
    // Assess
    expect(out).toContain("polling 1");
    expect(sqs.calls.filter((c) => c.action === "ReceiveMessage").length - polls).toBe(1);
    expect(exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(12_000); // not held until the poll's 20 s ran out
  }, 30_000);

  it("PollHold: held at first; a change of value, and only a change, is announced", () => {
    // Prepare
    const hold = new PollHold();
    const seen: boolean[] = [];
    hold.addEventListener("change", () => seen.push(hold.held));
    // Act
    const first = hold.held;
    hold.held = true;
    hold.held = false;
    hold.held = false;
    hold.held = true;
    // Assess
    expect(first).toBe(true);
    expect(seen).toEqual([false, true]);
  });

  it("nodePost's socket keeps the process alive only while its hold is held, and lets go of the hold when the call ends", async () => {
    // Prepare: a server that takes the request and answers only when told
    let answer: (() => void) | undefined;
    const server = createServer((_req, res) => (answer = () => res.end("{}")));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    const sockets = () => process.getActiveResourcesInfo().filter((x) => x === "TCPSocketWrap").length;
    const hold = new PollHold();
    // Act
    const call = nodePost(`http://127.0.0.1:${port}/`, { headers: {}, body: "{}", hold });
    await until(() => answer !== undefined, "the request at the server");
    const held = sockets();
    hold.held = false;
    const released = sockets();
    hold.held = true;
    const again = sockets();
    answer!();
    const r = await call;
    // Assess
    expect(released).toBe(held - 1);
    expect(again).toBe(held);
    expect(r).toEqual({ status: 200, text: "{}" });
    server.closeAllConnections();
    await new Promise((w) => server.close(w));
  });

  it("a connection that goes silent (no byte past the silence limit) fails the call with SqsRequestError timeout, so the loop tries again instead of waiting for good", async () => {
    // Prepare: a server that takes the request and never answers (a connection that died on the way)
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const { port } = silent.address() as AddressInfo;
    // Act
    const t0 = Date.now();
    const r = await nodePost(`http://127.0.0.1:${port}/`, { headers: {}, body: "{}", silenceMs: 200 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    // Assess
    expect(r).toMatchObject({ name: "SqsRequestError", code: "timeout" });
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(SQS_SILENCE_MS).toBeGreaterThan(RECEIVE.WaitTimeSeconds * 1000); // never cuts a long poll that is only waiting
    silent.closeAllConnections();
    await new Promise((w) => silent.close(w));
  });

  it("DeleteQueue deletes the queue; SQS's refusals come back as SqsRequestError with SQS's code", async () => {
    // Prepare
    const { expiration: _e, ...admin } = credentialsFor("vendor");
    const client = new SQSClient({ region: "us-east-1", endpoint: sqs.url, credentials: admin });
    const url = (await client.send(new CreateQueueCommand({ QueueName: "cocoon-test-r-delete" }))).QueueUrl!;
    const reader = sqsReader({ ...sessionOf(), queueUrl: url });
    // Act
    await reader.deleteQueue();
    const after = reader.receive(new AbortController().signal);
    const forged = sqsReader({ ...sessionOf({ queueUrl }), credentials: { ...credentialsFor("r-x"), secretAccessKey: "not the secret" } });
    // Assess
    expect(sqs.queueNames()).not.toContain("cocoon-test-r-delete");
    await expect(after).rejects.toMatchObject({ name: "SqsRequestError", code: "QueueDoesNotExist", status: 400 });
    await expect(forged.receive(new AbortController().signal)).rejects.toMatchObject({ code: "SignatureDoesNotMatch", status: 403 });
  });
});
