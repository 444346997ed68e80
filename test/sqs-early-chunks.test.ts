/**
 * over the SQS relay the SDK keeps a job's chunks that came before an earlier one
 * (JobStream.early) until the gap fills. A malicious worker (the one dispatched for the job, so
 * its SenderId passes) sends seq 1..4095 at 132 KiB each and never seq 0: the requester's
 * process (cocoon serve, for all its requests) holds ~512 MiB per such job, 128 times what any
 * reply may weigh (MAX_REPLY_BYTES, 4 MiB). Checked by behaviour: what the stream hands on
 * once seq 0 comes is what was kept.
 */
import { afterEach, describe, expect, it } from "vitest";
import { newJobId } from "../core/ids";
import { MAX_REPLY_BYTES } from "../events/envelope";
import { relaySenderName, type RelayChunk } from "../events/relay";
import { RECEIVE, SqsRelay, type SqsMessage, type SqsReader, type SqsSession } from "../client/relay-sqs";
import { credentialsFor } from "./sqs-relay-standin";

const QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/cocoon-test-r-account-channel0000000";
const session = (): SqsSession => ({
  transport: "sqs",
  region: "us-east-1",
  queueUrl: QUEUE,
  credentials: credentialsFor("r-account", 900_000),
});

/** An in-memory queue: receives take up to 10 messages or wait for some. */
class MemoryQueue {
  private readonly messages: SqsMessage[] = [];
  private readonly waiters: Array<() => void> = [];
  readonly reader = (): SqsReader => ({
    receive: (signal) =>
      new Promise<SqsMessage[]>((resolve, reject) => {
        const hand = () => resolve(this.messages.splice(0, RECEIVE.MaxNumberOfMessages));
        if (this.messages.length > 0) return hand();
        this.waiters.push(hand);
        signal.addEventListener("abort", () => reject(Object.assign(new Error("aborted"), { name: "AbortError" })));
      }),
    deleteQueue: async () => {},
  });
  put(...m: SqsMessage[]) {
    this.messages.push(...m);
    while (this.messages.length > 0 && this.waiters.length > 0) this.waiters.shift()!();
  }
  get empty() {
    return this.messages.length === 0;
  }
}

const relays: SqsRelay[] = [];
afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.close()));
});

describe("the SQS subscriber keeps no more of a job's early chunks than a reply can weigh", () => {
  it("100 chunks of 132 KiB ahead of a missing seq 0 are not all kept", async () => {
    const q = new MemoryQueue();
    const r = new SqsRelay({ reader: q.reader, retryMs: 1 });
    relays.push(r);
    const job = newJobId(Date.now());
    const sub = await r.open(job, Date.now() + 60_000, async () => session());
    const big = "A".repeat(132 * 1024);
    const msg = (seq: number): SqsMessage => {
      const c: RelayChunk = { jobId: job, attempt: 0, seq, final: false, data: seq === 0 ? "AAAA" : big };
      return { body: JSON.stringify(c), senderId: `AROAEXAMPLEROLEID:${relaySenderName(job, 0)}` };
    };

    for (let s = 1; s <= 100; s++) q.put(msg(s));
    const end = Date.now() + 5_000;
    while (!q.empty && Date.now() < end) await new Promise((res) => setTimeout(res, 5));
    q.put(msg(0));

    // what the stream hands on now: seq 0 and every early chunk that was kept
    const it = sub.chunks[Symbol.asyncIterator]();
    let bytes = 0;
    for (;;) {
      const next = await Promise.race([it.next(), new Promise<"idle">((res) => setTimeout(() => res("idle"), 300))]);
      if (next === "idle" || next.done) break;
      bytes += next.value.data.length;
    }
    sub.close();
    expect(bytes).toBeLessThanOrEqual(MAX_REPLY_BYTES); // the old code kept all 100: 13.2 MiB
  }, 20_000);
});
