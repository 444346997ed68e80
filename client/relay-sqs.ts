/**
 * The SDK's subscriber for the SQS relay (issue 12; docs/architecture.md §3, "Streaming"): one
 * standard queue per requester channel, a channel being one CocoonClient (a random name it makes
 * up, RelayChannel). The coordinator's account session (POST /v1/jobs/{id}/relay with
 * `{"scope":"account","channel":C}`, functions/adapters/relay-sqs.ts) creates the queue and vends
 * credentials that may receive from it and delete it; each job submitted with `relay: {channel}`
 * has its worker send its sealed chunks there, one message each (agent/relay-sqs.ts), under a role
 * session named for the job attempt (relaySenderName), which SQS reports as the SenderId.
 *
 * Receive loops per channel, running only while a job is open: one per JOBS_PER_LOOP open jobs
 * (at most MAX_LOOPS), each a long poll (20 s, up to 10 messages) at a time. When the last job
 * closes, a poll in flight is NOT aborted but left to end by itself (at most 20 s; no other
 * starts): SQS goes on with a long poll whose caller went away, and the first messages that reach
 * the queue meanwhile (the next job's chunks, or its whole answer) would go to nobody and stay
 * invisible for the visibility timeout (aws/aws-sdk-js#2350). Left to run, it hands them to a job
 * opened meanwhile, and no longer keeps the process alive (PollHold). Only close() aborts it (the
 * queue is then deleted, so nothing can be lost). Messages are never deleted: the queue's
 * visibility timeout (12 h) outlives its retention (120 s), so a received message never comes
 * back, and a DeleteMessage per chunk would be a paid request for nothing.
 *
 * What a message must be to reach a job's stream: a RelayChunk (zod), of a job open here, sent
 * by the sender named for that job and attempt (SenderId `<role id>:<relaySenderName>`). Any
 * worker of this account's jobs holds credentials to this channel's queue; one that speaks for a
 * job it does not hold is dropped silently, and never ends that job. Then, per job, the chunks
 * are put back in order (a standard queue may reorder and repeat): seq 0, 1, 2… of the newest
 * attempt; a repeat is dropped; a chunk of a newer attempt (a failover) starts that attempt and
 * drops what waited of the older one. The SDK's StreamVerifier then checks each chunk as it
 * does on every relay (sealed to our reply key, opened by a worker we encrypted to).
 *
 * Credentials last 15–60 minutes. A job only starts on credentials that outlive its deadline
 * (with a margin), else a new account session is asked for before the job is submitted; a new
 * session of the same queue replaces the loop's credentials in place (the queue, and so every
 * open job's messages, stay the same). While jobs are open the credentials are renewed before
 * they expire, asked again when a renewal fails, and at once when SQS refuses them as expired (a
 * clock or timer running late): the messages wait in the queue meanwhile, and each job's stream
 * drops repeats, so nothing is lost or shown twice. A loop whose receives keep failing, or whose
 * credentials could not be renewed in time, ends its jobs' streams: the SDK then reads their
 * answers from the coordinator, checked the same way.
 *
 * No AWS SDK here: the SDK's package bundles its dependencies and carries no @aws-sdk
 * (scripts/build-client-package.ts), so the two calls (ReceiveMessage, DeleteQueue) are SQS's
 * JSON protocol over node:http(s) (nodePost), signed by @smithy/signature-v4 (the AWS SDK's own signer), at the
 * queue URL's origin. close() ends the loops and, best effort, deletes the channel's queue.
 */
import { randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { z } from "zod";
import { RelayChannel } from "../events/common";
import { RelayChunk, relaySenderName, type RelaySession } from "../events/relay";
import { MAX_REPLY_BYTES } from "../events/envelope";
import { NodeSha256, type RelaySubscription } from "./relay-mqtt";

export type SqsSession = Extract<RelaySession, { transport: "sqs" }>;

/** A new channel: 16 base64url characters (96 random bits), so two clients of one account never share a queue. */
export const newRelayChannel = (): string => RelayChannel.parse(randomBytes(12).toString("base64url"));

/** One message as the relay reads it: its body and SQS's SenderId attribute. */
export interface SqsMessage {
  body: string;
  senderId?: string;
}

/**
 * Whether a long poll in flight keeps the process alive: while a job reads it, yes; once none
 * does, no. The poll goes on either way (module comment); a process with nothing else to do exits.
 */
export class PollHold extends EventTarget {
  private value = true;
  get held(): boolean {
    return this.value;
  }
  set held(v: boolean) {
    if (v === this.value) return;
    this.value = v;
    this.dispatchEvent(new Event("change"));
  }
}

/** The two SQS calls the subscriber makes, for one session (sqsReader; tests pass a stand-in). */
export interface SqsReader {
  /** ReceiveMessage: a long poll (20 s, ≤ 10 messages, with SenderId); `signal` aborts it; `hold` says whether it keeps the process alive. */
  receive(signal: AbortSignal, hold?: PollHold): Promise<SqsMessage[]>;
  /** DeleteQueue (the channel's queue, when the client closes). */
  deleteQueue(): Promise<void>;
}

/** SQS refused a call, or answered something that is not SQS's. `code`: SQS's error type (QueueDoesNotExist, ExpiredToken…). */
export class SqsRequestError extends Error {
  override readonly name = "SqsRequestError";
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The long poll: SQS's most (20 s), and its most messages per receive (10). */
export const RECEIVE = { WaitTimeSeconds: 20, MaxNumberOfMessages: 10, MessageSystemAttributeNames: ["SenderId"] } as const;

const ReceiveResponse = z.object({
  Messages: z
    .array(z.object({ Body: z.string(), Attributes: z.record(z.string(), z.string()).optional() }))
    .max(RECEIVE.MaxNumberOfMessages)
    .optional(),
});
/** SQS's JSON error: `__type` like `com.amazonaws.sqs#QueueDoesNotExist`. */
const ErrorResponse = z.object({ __type: z.string().optional(), message: z.string().optional(), Message: z.string().optional() });

/** One POST as the reader sends it (sqsReader's `post`; tests record or answer it). */
export type SqsPost = (
  url: string,
  init: { headers: Record<string, string>; body: string; signal?: AbortSignal; hold?: PollHold; silenceMs?: number },
) => Promise<{ status: number; text: string }>;

/**
 * How long a call may go without a byte from SQS: a long poll's 20 s and as much again. Only a
 * connection that died silently (a NAT's timeout, a laptop's sleep) gets there; without it the
 * receive loop would wait on it for good and every open job would fall back to the coordinator.
 */
export const SQS_SILENCE_MS = 40_000;

/**
 * The POST on node:http(s), not fetch: its socket can be unref'd while `hold` is not held, so a
 * long poll left running after the last job (module comment) does not keep the process alive.
 */
export const nodePost: SqsPost = (url, init) =>
  new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = (u.protocol === "https:" ? httpsRequest : httpRequest)(
      u,
      {
        method: "POST",
        headers: { ...init.headers, "content-length": String(Buffer.byteLength(init.body)) },
        timeout: init.silenceMs ?? SQS_SILENCE_MS,
        ...(init.signal ? { signal: init.signal } : {}),
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on("data", (d: Buffer) => parts.push(d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new SqsRequestError("timeout", 0, `no answer from SQS in ${init.silenceMs ?? SQS_SILENCE_MS} ms`)));
    const hold = init.hold;
    if (hold) {
      const apply = () => {
        if (hold.held) req.socket?.ref();
        else req.socket?.unref();
      };
      req.on("socket", apply);
      hold.addEventListener("change", apply);
      req.on("close", () => hold.removeEventListener("change", apply));
    }
    req.end(init.body);
  });

/**
 * The SQS calls for one session: JSON protocol (`x-amz-target: AmazonSQS.<Action>`), POST to the
 * queue URL's origin, SigV4 (service `sqs`) with the session's credentials and token.
 */
export function sqsReader(s: SqsSession, o: { post?: SqsPost; awsTime?: () => number } = {}): SqsReader {
  const origin = new URL(s.queueUrl);
  // one signer per session (its credentials do not change), made on the first call
  let signer: Promise<import("@smithy/signature-v4").SignatureV4> | undefined;
  const signerOf = () =>
    (signer ??= import("@smithy/signature-v4").then(({ SignatureV4 }) => {
      const { accessKeyId, secretAccessKey, sessionToken } = s.credentials;
      return new SignatureV4({
        service: "sqs",
        region: s.region,
        credentials: { accessKeyId, secretAccessKey, sessionToken },
        sha256: NodeSha256,
        uriEscapePath: true,
      });
    }));
  async function call(action: string, body: Record<string, unknown>, signal?: AbortSignal, hold?: PollHold): Promise<unknown> {
    const payload = JSON.stringify(body);
    const signed = await (
      await signerOf()
    ).sign(
      {
        method: "POST",
        protocol: origin.protocol,
        hostname: origin.hostname,
        ...(origin.port ? { port: Number(origin.port) } : {}),
        path: "/",
        query: {},
        headers: { host: origin.host, "content-type": "application/x-amz-json-1.0", "x-amz-target": `AmazonSQS.${action}` },
        body: payload,
      },
      { signingDate: new Date((o.awsTime ?? Date.now)()) },
    );
    const r = await (o.post ?? nodePost)(`${origin.origin}/`, {
      headers: signed.headers,
      body: payload,
      ...(signal ? { signal } : {}),
      ...(hold ? { hold } : {}),
    });
    const text = r.text;
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      throw new SqsRequestError("bad_response", r.status, `SQS ${action} answered ${r.status} with something that is not JSON`);
    }
    if (r.status < 200 || r.status > 299) {
      const e = ErrorResponse.safeParse(json);
      const type = (e.success ? e.data.__type : undefined) ?? `http_${r.status}`;
      const msg = e.success ? (e.data.message ?? e.data.Message) : undefined;
      throw new SqsRequestError(
        type.slice(type.lastIndexOf("#") + 1),
        r.status,
        `SQS ${action} refused (${r.status} ${type})${msg ? `: ${msg}` : ""}`,
      );
    }
    return json;
  }
  return {
    async receive(signal, hold) {
      const r = ReceiveResponse.safeParse(await call("ReceiveMessage", { QueueUrl: s.queueUrl, ...RECEIVE }, signal, hold));
      if (!r.success)
        throw new SqsRequestError("bad_response", 200, "SQS ReceiveMessage answered something that is not a list of messages");
      return (r.data.Messages ?? []).map((m) => ({
        body: m.Body,
        ...(m.Attributes?.SenderId !== undefined ? { senderId: m.Attributes.SenderId } : {}),
      }));
    },
    async deleteQueue() {
      await call("DeleteQueue", { QueueUrl: s.queueUrl });
    },
  };
}

export interface SqsRelayOptions {
  /** this subscriber's channel (default: a new random one, newRelayChannel) */
  channel?: string;
  /** A job starts on the current credentials only when they expire later than its deadline plus this (default 60 s). */
  renewMarginMs?: number;
  now?: () => number;
  /**
   * The time signatures are dated with: AWS's, which the coordinator's follows (CocoonClient: its
   * api client's serverTime). SQS refuses a signature more than 15 min off. Default: now.
   */
  awsTime?: () => number;
  /** A job whose relay is silent this long is read from the coordinator (CocoonClient; default 10 s, as over MQTT). */
  quietMs?: number;
  /**
   * A failed receive is tried again after this times the failures in a row (default 1 s), up to
   * MAX_RECEIVE_FAILURES; a failed renewal of open jobs' credentials after this times its tries.
   */
  retryMs?: number;
  /**
   * TEST ONLY: credentials are taken off this long before they expire (default EXPIRY_CUT_MS), so
   * that a test's credentials may last a few seconds, not the cut and more (AWS's last 15–60 min).
   */
  expiryCutMs?: number;
  /** TEST ONLY: the SQS calls for a session (default sqsReader: a signed POST to the queue's origin). */
  reader?: (s: SqsSession) => SqsReader;
}

/**
 * Receive loops per queue: one per JOBS_PER_LOOP open jobs, at most MAX_LOOPS. A loop takes at
 * most 10 messages a round trip; at about a chunk a second per streamed job one loop keeps up
 * with a few dozen jobs, and a backlog past the queue's 120 s retention would be dropped.
 */
export const JOBS_PER_LOOP = 20;
export const MAX_LOOPS = 8;
export const loopsFor = (jobs: number) => (jobs === 0 ? 0 : Math.min(MAX_LOOPS, Math.ceil(jobs / JOBS_PER_LOOP)));

/** Receives that fail in a row before the loop ends its jobs' streams (they then read the stored replies). */
export const MAX_RECEIVE_FAILURES = 3;

/**
 * After receives failed MAX_RECEIVE_FAILURES times in a row the channel opens no stream for this
 * long: its jobs go without a channel and are read from the coordinator (review42 F6). A failed
 * receive may still be an empty receive at SQS, billed to the operator and counted by the relay
 * sweep (core/relay-sweep.ts, 120 a minute at most): a proxy that cuts long polls after ~2 s
 * leaves SQS to finish each one. Without a pause the next job reopened the loops at once, and
 * MAX_LOOPS loops × MAX_RECEIVE_FAILURES receives came back every 2+1+2+2+2 = 9 s (the retry
 * waits 1 s and 2 s), 8 × 3 × 60 / 9 = 160 a minute, and more where the cut comes sooner. With
 * the pause each round of at most 8 × 3 = 24 receives takes a minute at least: 24 a minute at
 * most, the honest SDK's own most (HONEST_EMPTY_RECEIVES_PER_MINUTE), a fifth of the bound.
 */
export const RECEIVE_FAILURE_PAUSE_MS = 60_000;

/** Credentials are taken off this long before they expire (a receive signed with them still reaches SQS in time). */
const EXPIRY_CUT_MS = 5_000;

/** SQS's codes for temporary credentials past their expiration (JSON protocol, and the query protocol's). */
const EXPIRED_CODES = new Set(["ExpiredTokenException", "ExpiredToken"]);

/**
 * One job's stream as the queue delivers it, put back in order (module comment). Bounded: it
 * takes each seq of the attempt it reads once, and at most MAX_REPLY_BYTES of their data, what
 * a whole reply weighs at most; a worker that sends more is no honest one, and what it sends
 * past that is dropped (the stored reply has an honest answer).
 */
class JobStream {
  private attempt = -1;
  /** the seq handed on next */
  private next = 0;
  /** chunks of `attempt` that came before an earlier one */
  private readonly early = new Map<number, RelayChunk>();
  /**
   * The data of every chunk of `attempt` taken, waiting or handed on: relay39 #3, the chunks in
   * order counted too (before, only those waiting were), since `ready` holds them until the app
   * reads its stream, and a worker could send MAX_REPLY_CHUNKS chunks of 132 KiB (over 500 MB).
   */
  private bytes = 0;
  private readonly ready: RelayChunk[] = [];
  private wake: (() => void) | undefined;
  ended = false;

  take(c: RelayChunk): void {
    if (this.ended || c.attempt < this.attempt) return; // an older attempt's, after a newer one began
    if (c.attempt > this.attempt) {
      // a failover: the new worker starts over; what waited of the old stream will never be shown
      this.attempt = c.attempt;
      this.next = 0;
      this.early.clear();
      this.bytes = 0;
    }
    if (c.seq < this.next || this.early.has(c.seq)) return; // a repeat (SQS delivers at least once)
    if (this.bytes + c.data.length > MAX_REPLY_BYTES) return; // dropped: the stored reply has an honest answer
    this.early.set(c.seq, c);
    this.bytes += c.data.length;
    for (let n = this.early.get(this.next); n; n = this.early.get(this.next)) {
      this.early.delete(this.next++);
      this.ready.push(n);
    }
    this.wake?.();
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  async *iterate(): AsyncGenerator<RelayChunk> {
    for (;;) {
      const c = this.ready.shift();
      if (c) yield c;
      else if (this.ended) return;
      else await new Promise<void>((r) => (this.wake = r));
    }
  }
}

interface Conn {
  /** the newest session of this queue: its credentials sign the next receive */
  session: SqsSession;
  reader: SqsReader;
  jobs: Map<string, JobStream>;
  closed: boolean;
  /** receive loops running (loopsFor its open jobs) */
  loops: number;
  /** aborts the receives in flight (close() only) */
  abort: AbortController;
  /** whether the receive in flight keeps the process alive: while a job is open */
  hold: PollHold;
  expiry?: NodeJS.Timeout;
  /** renews the credentials before they expire while jobs are open */
  renewal?: NodeJS.Timeout;
}

/** The SDK's one reader per channel on Amazon SQS (module comment). */
export class SqsRelay {
  readonly channel: string;
  private current: Conn | undefined;
  private pending: Promise<Conn> | undefined;
  private readonly conns = new Set<Conn>();
  /** every queue read, with the newest session's calls (close deletes them) */
  private readonly queues = new Map<string, SqsReader>();
  /** the newest session of each queue read (close() asks a fresh one when they have run out) */
  private readonly sessions = new Map<string, SqsSession>();
  /** the newest way to ask for an account session of this channel (open's `session`) */
  private session: (() => Promise<SqsSession>) | undefined;
  private closed = false;
  /** no stream opens before this (RECEIVE_FAILURE_PAUSE_MS after receives failed MAX_RECEIVE_FAILURES times in a row) */
  private pausedUntil = 0;
  private readonly now: () => number;
  private readonly cutMs: number;

  constructor(private readonly o: SqsRelayOptions = {}) {
    this.channel = o.channel === undefined ? newRelayChannel() : RelayChannel.parse(o.channel);
    this.now = o.now ?? Date.now;
    this.cutMs = o.expiryCutMs ?? EXPIRY_CUT_MS;
  }

  private readerOf(s: SqsSession): SqsReader {
    return this.o.reader ? this.o.reader(s) : sqsReader(s, { awsTime: this.o.awsTime ?? this.now });
  }

  /** receive loops running now (tests: none while no job is open) */
  get polling(): number {
    return [...this.conns].reduce((n, c) => n + c.loops, 0);
  }

  /** Whether a job with this deadline can start on the current credentials without asking for a session. */
  covers(deadline: number): boolean {
    const c = this.current;
    return c !== undefined && !c.closed && c.session.credentials.expiration - (this.o.renewMarginMs ?? 60_000) > deadline;
  }

  /**
   * Reads job `jobId`'s chunks (call before the job is submitted with this channel). `session`
   * (an account session of this channel) is asked only when the current credentials do not
   * outlive `deadline`.
   */
  async open(jobId: string, deadline: number, session: () => Promise<SqsSession>): Promise<RelaySubscription> {
    if (this.closed) throw new Error("the relay subscriber is closed");
    if (this.now() < this.pausedUntil)
      throw new Error(`the relay's receives failed ${MAX_RECEIVE_FAILURES} times in a row: no stream until the pause is over`);
    this.session = session;
    // Another job may be renewing for an earlier deadline: wait for it, then renew once more if
    // it is too short. A session this call asked for itself that still does not cover the
    // deadline (a job longer than credentials last) is as good as any: the job starts on it,
    // and the credentials are renewed while jobs are open (arm).
    for (let tries = 0; !this.covers(deadline) && tries < 2; tries++) {
      const mine = this.pending === undefined;
      await this.renew(session);
      if (mine) break;
    }
    const conn = this.current;
    if (!conn || conn.closed) throw new Error("the relay credentials expire before the job's deadline");
    const stream = new JobStream();
    conn.jobs.get(jobId)?.end();
    conn.jobs.set(jobId, stream);
    conn.hold.held = true;
    this.poll(conn);
    return {
      chunks: stream.iterate(),
      close: () => {
        stream.end();
        if (conn.jobs.get(jobId) === stream) conn.jobs.delete(jobId);
        if (conn.jobs.size > 0) return;
        // No job left: the poll in flight is left to end by itself (module comment), not holding the process, then the loop stops.
        conn.hold.held = false;
        if (conn !== this.current) this.end(conn);
      },
    };
  }

  /**
   * Ends every loop, aborting the polls in flight, and, best effort, deletes the channel's queue
   * (CocoonClient.close): with a new session when the newest credentials have run out (a client
   * idle past them), else the delete would be refused and the queue left behind.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const c of [...this.conns]) {
      this.end(c);
      c.abort.abort(); // what an aborted poll goes on to take at SQS is lost with the queue anyway
    }
    this.current = undefined;
    const stale = [...this.sessions.values()].some((x) => x.credentials.expiration - this.cutMs <= this.now());
    if (stale && this.session) {
      const fresh = await this.session().catch(() => undefined);
      if (fresh) {
        this.sessions.set(fresh.queueUrl, fresh);
        this.queues.set(fresh.queueUrl, this.readerOf(fresh));
      }
    }
    const readers = [...this.queues.values()];
    this.queues.clear();
    await Promise.all(readers.map((r) => r.deleteQueue().catch(() => undefined)));
  }

  /** Asks for a session (one at a time: a second caller waits for the first) and takes it. */
  private renew(session: () => Promise<SqsSession>): Promise<Conn> {
    return (this.pending ??= session()
      .then((s) => this.adopt(s))
      .finally(() => (this.pending = undefined)));
  }

  /** Takes a new session: the current queue's new credentials, or a new queue (the old one is read until its jobs are done). */
  private adopt(s: SqsSession): Conn {
    const reader = this.readerOf(s);
    if (this.closed) {
      void reader.deleteQueue().catch(() => undefined); // the session made the queue: do not leave it behind
      throw new Error("the relay subscriber is closed");
    }
    this.queues.set(s.queueUrl, reader);
    this.sessions.set(s.queueUrl, s);
    const cur = this.current;
    if (cur && !cur.closed && cur.session.queueUrl === s.queueUrl) {
      cur.session = s;
      cur.reader = reader;
      this.arm(cur);
      return cur;
    }
    const conn: Conn = { session: s, reader, jobs: new Map(), closed: false, loops: 0, abort: new AbortController(), hold: new PollHold() };
    this.conns.add(conn);
    this.current = conn;
    this.arm(conn);
    if (cur && cur.jobs.size === 0) this.end(cur);
    return conn;
  }

  /**
   * While jobs are open on the current queue, its credentials are renewed renewMarginMs before
   * they expire (a job may last longer than they do). A renewal refused or failed is asked again
   * (retryMs times the tries) until they are about to expire; then one last ask (it also catches a
   * renewal whose timer came late, a process that slept), and only if that fails too does the
   * queue's reading end: its jobs read the rest from the coordinator.
   */
  private arm(c: Conn) {
    if (c.expiry) clearTimeout(c.expiry);
    const left = c.session.credentials.expiration - this.now();
    c.expiry = setTimeout(() => void this.expire(c), Math.max(0, left - this.cutMs));
    c.expiry.unref();
    this.renewLater(c, Math.max(0, left - (this.o.renewMarginMs ?? 60_000)), 0);
  }

  private renewLater(c: Conn, ms: number, tries: number) {
    if (c.renewal) clearTimeout(c.renewal);
    c.renewal = setTimeout(() => void this.renewOpen(c, tries), ms);
    c.renewal.unref();
  }

  /**
   * Renews the credentials of `c`, the current queue, while it has jobs: true once it reads on
   * new ones that outlive the cut (adopt re-armed its timers), else a next try is timed.
   */
  private async renewOpen(c: Conn, tries: number): Promise<boolean> {
    if (c.closed || c !== this.current || c.jobs.size === 0 || !this.session) return false;
    const was = c.session;
    await this.renew(this.session).catch(() => undefined);
    if (c.closed) return false;
    if (c.session !== was && c.session.credentials.expiration - this.cutMs > this.now()) return true;
    if (c === this.current) this.renewLater(c, (this.o.retryMs ?? 1_000) * (tries + 1), tries + 1);
    return false;
  }

  private async expire(c: Conn) {
    if (c.closed) return;
    if (!(await this.renewOpen(c, 0))) this.end(c);
  }

  /** Starts receive loops on `c` until it has as many as its open jobs want (loopsFor). */
  private poll(c: Conn) {
    while (!c.closed && c.loops < loopsFor(c.jobs.size)) {
      c.loops++;
      void this.receiveWhileOpen(c);
    }
  }

  private async receiveWhileOpen(c: Conn): Promise<void> {
    let failures = 0;
    try {
      // A loop more than the open jobs want stops; `loops` falls in the same turn as this check
      // fails (finally), so the next loop to check sees it, and poll() never counts a stopping loop.
      while (!c.closed && c.loops <= loopsFor(c.jobs.size)) {
        let messages: SqsMessage[];
        try {
          messages = await c.reader.receive(c.abort.signal, c.hold);
          failures = 0;
        } catch (e) {
          if (c.abort.signal.aborted) continue; // closed: the loop's condition decides
          if (++failures >= MAX_RECEIVE_FAILURES) {
            this.pausedUntil = this.now() + RECEIVE_FAILURE_PAUSE_MS;
            this.end(c);
            return;
          }
          // Credentials SQS calls expired before our clock said so (a clock or a timer running
          // late): renewed before the next try, which then reads on with the new ones.
          if (e instanceof SqsRequestError && EXPIRED_CODES.has(e.code)) await this.renewOpen(c, 0);
          // The messages wait in the queue meanwhile (retention 120 s): nothing is lost by waiting.
          await new Promise((r) => setTimeout(r, (this.o.retryMs ?? 1_000) * failures).unref());
          continue;
        }
        for (const m of messages) this.deliver(c, m);
      }
    } finally {
      c.loops--;
    }
  }

  private deliver(c: Conn, m: SqsMessage) {
    let chunk: RelayChunk;
    try {
      chunk = RelayChunk.parse(JSON.parse(m.body));
    } catch {
      return; // not a chunk: it names no job, so no stream to end over it
    }
    // A poll of a loop that has ended (its credentials expired) may end with chunks of a job opened
    // since, on a new session of the same queue: they are that job's.
    const now = this.current?.session.queueUrl === c.session.queueUrl ? this.current : undefined;
    const stream = c.jobs.get(chunk.jobId) ?? now?.jobs.get(chunk.jobId);
    if (!stream) return; // a job this client does not read (finished, or never ours)
    // Only the worker dispatched for this job attempt speaks for it (module comment).
    if (!m.senderId?.endsWith(`:${relaySenderName(chunk.jobId, chunk.attempt)}`)) return;
    stream.take(chunk);
  }

  private end(c: Conn) {
    if (c.closed) return;
    c.closed = true;
    if (c.expiry) clearTimeout(c.expiry);
    if (c.renewal) clearTimeout(c.renewal);
    if (this.current === c) this.current = undefined;
    for (const s of c.jobs.values()) s.end();
    c.jobs.clear();
    c.hold.held = false;
    // the poll in flight, if any, is left to end by itself (module comment); close() aborts it
    this.conns.delete(c);
  }
}
