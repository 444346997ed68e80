/**
 * The SDK's subscriber for the SQS relay (client/relay-sqs.ts). Its rules (order, repeats, the
 * sender, attempts, the loop's life, renewal, close) against an in-memory queue that hands out
 * what a test puts in it and honours aborts; its two SQS calls (signed fetch, JSON protocol)
 * against the SQS stand-in on 127.0.0.1 (local-aws-sqs behind a proxy that checks SigV4 on
 * node:crypto and reports SenderId as SQS does, test/sqs-relay-standin.ts).
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { CreateQueueCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { relaySenderName, type RelayChunk } from "../events/relay";
import { newJobId } from "../core/ids";
import {
  MAX_RECEIVE_FAILURES,
  RECEIVE,
  SqsRelay,
  sqsReader,
  SqsRequestError,
  type SqsMessage,
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

/** An in-memory queue: each receive takes up to 10 messages, or waits for some until aborted. */
class MemoryQueue {
  private readonly messages: SqsMessage[] = [];
  private waiter: ((m: SqsMessage[]) => void) | undefined;
  /** the access key of each receive, in order */
  readonly receives: string[] = [];
  readonly aborted: number[] = [];
  readonly deleted: string[] = [];
  /** receives to fail, next first */
  failures = 0;
  get waiting() {
    return this.waiter !== undefined;
  }
  readonly reader = (s: SqsSession): SqsReader => ({
    receive: (signal) => {
      this.receives.push(s.credentials.accessKeyId);
      if (this.failures > 0) {
        this.failures--;
        return Promise.reject(new SqsRequestError("InternalError", 500, "SQS failed"));
      }
      return new Promise((resolve, reject) => {
        const hand = (m: SqsMessage[]) => {
          this.waiter = undefined;
          resolve(m);
        };
        if (this.messages.length > 0) return hand(this.messages.splice(0, RECEIVE.MaxNumberOfMessages));
        this.waiter = () => hand(this.messages.splice(0, RECEIVE.MaxNumberOfMessages));
        signal.addEventListener("abort", () => {
          this.waiter = undefined;
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
    this.waiter?.([]);
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

  it("receives only while a job is open: the last job's close aborts the long poll in flight and no other starts", async () => {
    // Prepare
    const q = new MemoryQueue();
    const r = relayOn(q);
    const a = await r.open(newJobId(Date.now()), Date.now() + 60_000, async () => sessionOf());
    const b = await r.open(newJobId(Date.now()), Date.now() + 60_000, async () => sessionOf());
    await until(() => q.waiting, "a long poll");
    // Act
    a.close();
    const stillPolling = { polling: r.polling, aborted: q.aborted.length };
    b.close();
    await until(() => r.polling === 0, "the loop to stop");
    const receives = q.receives.length;
    await new Promise((w) => setTimeout(w, 20));
    // Assess
    expect(stillPolling).toEqual({ polling: 1, aborted: 0 }); // one job still open: the poll goes on
    expect(q.aborted).toEqual([receives]);
    expect(q.receives.length).toBe(receives);
    expect(q.waiting).toBe(false);
    // and a new job starts it again
    const c = await r.open(newJobId(Date.now()), Date.now() + 60_000, async () => sessionOf());
    await until(() => q.waiting, "a new long poll");
    expect(r.polling).toBe(1);
    c.close();
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
    const sub = await r.open(newJobId(Date.now()), Date.now() + 60_000, async () => sessionOf());
    await until(() => q.waiting, "a long poll");
    // Act
    await r.close();
    // Assess
    expect(q.deleted).toEqual([QUEUE]);
    expect(q.aborted).toHaveLength(1);
    expect(r.polling).toBe(0);
    expect(await take(sub.chunks, 1)).toEqual([]);
    await expect(r.open(newJobId(Date.now()), Date.now() + 60_000, async () => sessionOf())).rejects.toThrow(/closed/);
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

  it("refuses a job its credentials cannot cover even after renewing", async () => {
    // Prepare
    const q = new MemoryQueue();
    // Act
    const open = relayOn(q).open(newJobId(Date.now()), Date.now() + 120_000, async () => sessionOf({ ms: 100_000 }));
    // Assess
    await expect(open).rejects.toThrow(/expire before the job's deadline/);
  });
});

describe("the SQS calls: ReceiveMessage and DeleteQueue, SQS's JSON protocol over signed fetch", () => {
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
    // Prepare: a fetch that records the request and answers an empty receive
    const session = sessionOf();
    let seen: { url: string; init: RequestInit } | undefined;
    const fetchStub = (async (url: string, init: RequestInit) => {
      seen = { url, init };
      return new Response("{}", { status: 200 });
    }) as unknown as typeof fetch;
    // Act
    const got = await sqsReader(session, { fetch: fetchStub }).receive(new AbortController().signal);
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

  it("reads messages with their SenderId from SQS (the stand-in), and an abort ends the poll in flight", async () => {
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
    await until(() => sqs.receiving() === 0, "the poll to end at the stand-in");
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
