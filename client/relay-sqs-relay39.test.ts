/**
 * Session 39's review of the answer relay: what the SQS subscriber (client/relay-sqs.ts) holds of
 * one job for a reader that has not taken it yet (an app that reads its stream slowly, as `cocoon
 * serve` writing to a slow client does). The worker of the job attempt (the only sender a job's
 * chunks are taken from) can send as many messages as it likes to the channel's queue while its
 * credentials last; no honest one sends more than a reply's MAX_REPLY_BYTES.
 */
import { afterEach, describe, expect, it } from "vitest";
import { relaySenderName, type RelayChunk } from "../events/relay";
import { MAX_REPLY_BYTES } from "../events/envelope";
import { newJobId } from "../core/ids";
import { SqsRelay, type SqsMessage, type SqsReader, type SqsSession } from "./relay-sqs";
import { credentialsFor } from "../test/sqs-relay-standin";

const QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/cocoon-test-r-account-channel0000000";
const session = async (): Promise<SqsSession> => ({
  transport: "sqs",
  region: "us-east-1",
  queueUrl: QUEUE,
  credentials: credentialsFor("r-account", 900_000),
});
/** The largest chunk data a RelayChunk takes (events/relay.ts: 132 KiB of base64url). */
const BIG = 132 * 1024;

/** A queue that hands out what the test put in it before the job opened, then waits (until the relay closes). */
function queue() {
  const messages: SqsMessage[] = [];
  let handed = 0;
  const reader = (): SqsReader => ({
    receive: (signal) =>
      messages.length > 0
        ? Promise.resolve(messages.splice(0, 10)).finally(() => (handed += 1))
        : new Promise((_, reject) => signal.addEventListener("abort", () => reject(new Error("aborted")))),
    deleteQueue: async () => undefined,
  });
  return { messages, reader, drained: () => messages.length === 0 && handed > 0 };
}

const relays: SqsRelay[] = [];
afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.close()));
});

async function until(f: () => boolean): Promise<void> {
  for (let i = 0; !f(); i++) {
    if (i > 2_000) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Reads everything the subscriber hands on for `messages` (already queued when the job opens). */
async function handedOn(job: string, chunks: RelayChunk[]): Promise<RelayChunk[]> {
  const q = queue();
  const r = new SqsRelay({ reader: q.reader, retryMs: 1 });
  relays.push(r);
  for (const c of chunks) q.messages.push({ body: JSON.stringify(c), senderId: `AROAEXAMPLE:${relaySenderName(job, c.attempt)}` });
  const sub = await r.open(job, Date.now() + 60_000, session);
  await until(q.drained);
  await new Promise((res) => setTimeout(res, 5)); // the last receive's messages are delivered
  sub.close();
  const got: RelayChunk[] = [];
  for await (const c of sub.chunks) got.push(c);
  return got;
}

/** The most whole BIG chunks under the cap. */
const FULL = Math.floor(MAX_REPLY_BYTES / BIG);

describe("the SQS subscriber's hold on one job's stream (relay39 #3)", () => {
  it("hands on at most MAX_REPLY_BYTES of one attempt's chunk data, in order or not, however many the worker sends", async () => {
    const job = newJobId(Date.now());
    const chunk = (seq: number): RelayChunk => ({ jobId: job, attempt: 0, seq, final: false, data: "A".repeat(BIG) });
    // 40 chunks in order (5.2 MiB), nobody reading yet, then 3 out of order past a gap
    const got = await handedOn(job, [...Array.from({ length: 40 }, (_, i) => i), 45, 44, 43].map(chunk));
    const bytes = got.reduce((n, c) => n + c.data.length, 0);
    expect(bytes).toBeLessThanOrEqual(MAX_REPLY_BYTES);
    expect(got.map((c) => c.seq)).toEqual(Array.from({ length: FULL }, (_, i) => i));
  });
});

describe("the SQS subscriber's byte bound on one job's stream (mut39)", () => {
  it("counts each attempt from zero: a failover after a first attempt near the cap is handed on whole", async () => {
    // Prepare: attempt 0 sends FULL big chunks (just under the cap), then the failover's worker does the same
    const job = newJobId(Date.now());
    const chunk = (attempt: number, seq: number): RelayChunk => ({ jobId: job, attempt, seq, final: false, data: "A".repeat(BIG) });
    const sent = [0, 1].flatMap((attempt) => Array.from({ length: FULL }, (_, seq) => chunk(attempt, seq)));
    // Act
    const got = await handedOn(job, sent);
    // Assess (killed: the count not reset when a newer attempt begins)
    expect(got.filter((c) => c.attempt === 1).map((c) => c.seq)).toEqual(Array.from({ length: FULL }, (_, i) => i));
  });

  it("hands on a stream of exactly MAX_REPLY_BYTES of data, and drops the chunk that passes it", async () => {
    // Prepare: FULL big chunks, one that brings the data to the cap exactly, one byte more
    const job = newJobId(Date.now());
    const rest = MAX_REPLY_BYTES - FULL * BIG;
    const sizes = [...Array.from({ length: FULL }, () => BIG), rest, 1];
    const sent = sizes.map((n, seq): RelayChunk => ({ jobId: job, attempt: 0, seq, final: false, data: "A".repeat(n) }));
    // Act
    const got = await handedOn(job, sent);
    // Assess (killed: `>` → `>=`)
    expect(got.map((c) => c.seq)).toEqual(Array.from({ length: FULL + 1 }, (_, i) => i));
    expect(got.reduce((n, c) => n + c.data.length, 0)).toBe(MAX_REPLY_BYTES);
  });
});
