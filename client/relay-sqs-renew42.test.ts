/**
 * Session 42: the SQS relay subscriber's renewal of a long stream's credentials (client/relay-sqs.ts
 * arm), against an in-memory queue. The end to end cases (a refused renewal, credentials SQS calls
 * expired early) are test/stream-sqs-renewal.test.ts.
 */
import { afterEach, describe, expect, it } from "vitest";
import { relaySenderName, type RelayChunk } from "../events/relay";
import { newJobId } from "../core/ids";
import { RECEIVE, SqsRelay, SqsRequestError, type SqsMessage, type SqsReader, type SqsSession } from "./relay-sqs";
import { credentialsFor } from "../test/sqs-relay-standin";

const QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/cocoon-test-r-account-channel0000000";
const sessionOf = (name: string, ms = 900_000): SqsSession => ({
  transport: "sqs",
  region: "us-east-1",
  queueUrl: QUEUE,
  credentials: credentialsFor(name, ms),
});
const chunkOf = (jobId: string, seq: number): RelayChunk => ({ jobId, attempt: 0, seq, final: false, data: `c${seq}` });
const messageOf = (c: RelayChunk): SqsMessage => ({
  body: JSON.stringify(c),
  senderId: `AROAEXAMPLEROLEID:${relaySenderName(c.jobId, c.attempt)}`,
});

/** A queue: receives wait for messages (an aborted one rejects); `refuse` fails the receives of the access keys it names, as expired. */
class Queue {
  private readonly messages: SqsMessage[] = [];
  private readonly waiters: Array<() => void> = [];
  /** the access key of each receive, in order */
  readonly receives: string[] = [];
  readonly refuse = new Set<string>();
  readonly reader = (s: SqsSession): SqsReader => ({
    receive: (signal) => {
      this.receives.push(s.credentials.accessKeyId);
      if (this.refuse.has(s.credentials.accessKeyId))
        return Promise.reject(new SqsRequestError("ExpiredTokenException", 403, "The security token included in the request is expired"));
      return new Promise<SqsMessage[]>((resolve, reject) => {
        const hand = () => resolve(this.messages.splice(0, RECEIVE.MaxNumberOfMessages));
        if (this.messages.length > 0) return hand();
        this.waiters.push(hand);
        signal.addEventListener("abort", () => reject(Object.assign(new Error("aborted"), { name: "AbortError" })));
      });
    },
    deleteQueue: async () => undefined,
  });
  put(m: SqsMessage) {
    this.messages.push(m);
    this.waiters.shift()?.();
  }
}

const relays: SqsRelay[] = [];
afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.close()));
});
async function until(f: () => boolean, what: string, ms = 3_000): Promise<void> {
  for (const end = Date.now() + ms; !f(); await new Promise((r) => setTimeout(r, 2)))
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
}
/** The stream's next chunk, or "ended", or "pending" after `ms`. */
const nextOf = async (chunks: AsyncIterable<RelayChunk>, ms = 1_000) =>
  Promise.race([
    chunks[Symbol.asyncIterator]()
      .next()
      .then((r) => (r.done ? "ended" : r.value)),
    new Promise<"pending">((r) => setTimeout(() => r("pending"), ms)),
  ]);

describe("session 42: a long stream's relay credentials are renewed, not dropped", () => {
  it("credentials at their cut with no renewal made yet (its timer came late: a process that slept) are renewed there, and the stream reads on", async () => {
    // Prepare: a clock 5.2 s short of the first credentials' expiration and no margin, so the cut
    // (0.2 s away) comes before the renewal timer (5.2 s away) would
    const q = new Queue();
    const first = sessionOf("r-first");
    const sessions = [first, sessionOf("r-second", 1_800_000)];
    let asked = 0;
    const r = new SqsRelay({ reader: q.reader, retryMs: 1, now: () => first.credentials.expiration - 5_200, renewMarginMs: 0 });
    relays.push(r);
    const job = newJobId(Date.now());
    const sub = await r.open(job, Date.now() + 60_000, async () => sessions[asked++]!);
    // Act: past the cut, then a chunk
    await new Promise((w) => setTimeout(w, 600));
    q.put(messageOf(chunkOf(job, 0)));
    // Assess
    expect(asked).toBe(2);
    expect(await nextOf(sub.chunks)).toEqual(chunkOf(job, 0));
    await until(() => q.receives.at(-1) === sessions[1]!.credentials.accessKeyId, "a receive on the renewed credentials");
  });

  it("a receive SQS refuses as expired renews the credentials first: the next receive is on the new ones, and the stream goes on", async () => {
    // Prepare: credentials our clock thinks good for 15 min, which SQS calls expired
    const q = new Queue();
    const sessions = [sessionOf("r-early"), sessionOf("r-renewed")];
    q.refuse.add(sessions[0]!.credentials.accessKeyId);
    let asked = 0;
    const r = new SqsRelay({ reader: q.reader, retryMs: 1 });
    relays.push(r);
    const job = newJobId(Date.now());
    // Act
    const sub = await r.open(job, Date.now() + 60_000, async () => sessions[asked++]!);
    q.put(messageOf(chunkOf(job, 0)));
    // Assess
    expect(await nextOf(sub.chunks)).toEqual(chunkOf(job, 0));
    expect(asked).toBe(2);
    expect(q.receives.slice(0, 2)).toEqual(sessions.map((s) => s.credentials.accessKeyId));
  });

  it("a renewal refused every time is asked again until the cut, then the stream ends (its job reads the stored reply)", async () => {
    // Prepare: credentials 1 s from their cut, renewed from now on, every ask refused
    const q = new Queue();
    const first = sessionOf("r-first");
    let asked = 0;
    const r = new SqsRelay({
      reader: q.reader,
      retryMs: 50,
      now: () => first.credentials.expiration - 6_000,
      renewMarginMs: 6_000,
    });
    relays.push(r);
    const sub = await r.open(newJobId(Date.now()), Date.now() + 60_000, async () => {
      if (asked++ === 0) return first;
      throw new Error("the coordinator is down");
    });
    // Act
    const ended = await nextOf(sub.chunks, 3_000);
    // Assess: asked again and again (50 ms, 100 ms, 150 ms… apart) within the second, then ended
    expect(ended).toBe("ended");
    expect(asked).toBeGreaterThan(3);
    const at = asked;
    await new Promise((w) => setTimeout(w, 300));
    expect(asked).toBe(at); // and no more once it has ended
  });

  it("renewed credentials that expire within the cut all the same are no renewal: the stream ends, asking a bounded number of times", async () => {
    // Prepare: every session asked for is a new one 4 s from expiring by this clock, so past the cut (5 s)
    const q = new Queue();
    let asked = 0;
    const clock = Date.now() + 894_800;
    const r = new SqsRelay({ reader: q.reader, retryMs: 50, now: () => clock, renewMarginMs: 0 });
    relays.push(r);
    const sub = await r.open(newJobId(Date.now()), Date.now() + 60_000, async () => {
      asked++;
      return { ...sessionOf("r-short"), credentials: { ...credentialsFor("r-short"), expiration: clock + 4_000 } };
    });
    // Act
    const ended = await nextOf(sub.chunks, 3_000);
    // Assess
    expect(ended).toBe("ended");
    const at = asked;
    expect(at).toBeLessThan(10);
    await new Promise((w) => setTimeout(w, 300));
    expect(asked).toBe(at);
  });
});
