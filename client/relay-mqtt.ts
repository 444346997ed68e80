/**
 * The SDK's subscriber for the AWS relay (AWS IoT Core, "iot-mqtt" sessions; docs/architecture.md
 * §3, "Streaming"): MQTT 3.1.1 over a WebSocket to `wss://<endpoint>/mqtt`, the URL presigned with
 * AWS Signature Version 4 (service `iotdevicegateway`) by the AWS SDK's own signer.
 *
 * ONE connection and ONE subscription per account, reused across jobs (issue 12): the session is
 * account-scoped (`<prefix>/r/<account>/+/+`, functions/adapters/relay-iot.ts), so a job costs its
 * chunks' messages and no connect, subscribe or session call of its own. Each chunk goes to the
 * job named by its topic (`.../<jobId>/<workerId>`); the SDK's StreamVerifier then checks it
 * (a chunk of another job, a forged or a replayed one is refused there, not here).
 *
 * Credentials last 15–60 minutes. A job is pinned to the connection it started on, and a job only
 * starts on a connection whose credentials outlive the job's deadline (with a margin); otherwise a
 * new session is asked for and a new connection made, before the job is submitted. The old
 * connection closes when its last job is done (or when its credentials expire: its jobs then read
 * the rest of their answer from the stored reply, which the SDK checks the same way). A dropped
 * connection ends its jobs' streams the same way; the next job makes a new one. No automatic
 * reconnect: a reconnect could miss chunks (QoS 0), and a gap must be an error, never silence.
 *
 * The connection does not keep the process alive while no job reads from it (its socket and
 * keepalive timer are unref'd); CocoonClient.close() ends it.
 */
import { createHash, createHmac } from "node:crypto";
import { connect as netConnect, isIP, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { MqttClient } from "mqtt";
import { RelayChunk, type RelaySession } from "../events/relay";
import { StreamCheckFailure } from "./reply";

export type IotSession = Extract<RelaySession, { transport: "iot-mqtt" }>;

/** What askStream reads: the job's chunks as the relay delivers them. */
export interface RelaySubscription {
  chunks: AsyncIterable<RelayChunk>;
  close(): void;
}

/** RFC 3986 as SigV4 wants it (encodeURIComponent leaves !'()* alone). */
const uriEncode = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** node:crypto as the AWS signer's hash (SHA-256, or HMAC-SHA-256 when given a key); the SQS relay signs with it too. */
export class NodeSha256 {
  private h;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    const key = secret === undefined ? undefined : typeof secret === "string" ? secret : toBytes(secret);
    this.h = key === undefined ? createHash("sha256") : createHmac("sha256", key);
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.h.update(typeof data === "string" ? data : toBytes(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.h.digest()));
  }
  reset(): void {
    throw new Error("not used by the signer");
  }
}
const toBytes = (d: ArrayBuffer | ArrayBufferView) =>
  d instanceof ArrayBuffer ? new Uint8Array(d) : new Uint8Array(d.buffer, d.byteOffset, d.byteLength);

/**
 * The URL of IoT Core's MQTT-over-WebSocket endpoint, presigned (SigV4 query parameters, service
 * `iotdevicegateway`, the empty payload's hash) with the session's key; the session token is
 * appended AFTER signing, unsigned, as IoT Core requires. Signed by @smithy/signature-v4 (the AWS
 * SDK's signer), not by hand.
 */
export async function presignIotUrl(session: IotSession, o: { now?: Date; expiresIn?: number } = {}): Promise<string> {
  const { SignatureV4 } = await import("@smithy/signature-v4");
  const signer = new SignatureV4({
    service: "iotdevicegateway",
    region: session.region,
    // without the session token: the signer would sign it into the query, and IoT Core wants it left out
    credentials: { accessKeyId: session.credentials.accessKeyId, secretAccessKey: session.credentials.secretAccessKey },
    sha256: NodeSha256,
    uriEscapePath: true,
  });
  const signed = await signer.presign(
    { method: "GET", protocol: "wss:", hostname: session.endpoint, path: "/mqtt", headers: { host: session.endpoint }, query: {} },
    { signingDate: o.now ?? new Date(), expiresIn: o.expiresIn ?? 300 },
  );
  const query = Object.entries(signed.query ?? {})
    .map(([k, v]) => `${uriEncode(k)}=${uriEncode(String(v))}`)
    .concat(`X-Amz-Security-Token=${uriEncode(session.credentials.sessionToken)}`)
    .join("&");
  return `wss://${session.endpoint}/mqtt?${query}`;
}

export interface MqttRelayOptions {
  /**
   * A new connection is made for a job when the current one's credentials expire within the job's
   * deadline plus this (default 60 s).
   */
  renewMarginMs?: number;
  now?: () => number;
  /**
   * The time the connection URL's signature is dated with: AWS's, which the coordinator's follows
   * (CocoonClient: its api client's serverTime). Default: now.
   */
  awsTime?: () => number;
  /**
   * A job whose relay is silent this long is read from the coordinator (refunded? failed over
   * before its new worker's first chunk? its chunks lost?). Default 10 s: the agent flushes the
   * first token at once, then about one chunk a second.
   */
  quietMs?: number;
  /** TEST ONLY: where to connect instead of `wss://<endpoint>/mqtt` (the presigned query is kept). */
  urlOverride?: (presigned: string) => string;
  /** told of connections made and closed (tests; the CLI's progress) */
  onEvent?: (e: { type: "connect" | "close"; clientId: string; reason?: string }) => void;
}

type Item = { chunk: RelayChunk } | { error: StreamCheckFailure };

/** One job's queue of chunks on a connection. */
class JobQueue {
  private readonly items: Item[] = [];
  private wake: (() => void) | undefined;
  ended = false;
  push(i: Item) {
    if (this.ended) return;
    this.items.push(i);
    this.wake?.();
  }
  end() {
    this.ended = true;
    this.wake?.();
  }
  async *iterate(): AsyncGenerator<RelayChunk> {
    for (;;) {
      const i = this.items.shift();
      if (i) {
        if ("error" in i) throw i.error;
        yield i.chunk;
      } else if (this.ended) return;
      else await new Promise<void>((r) => (this.wake = r));
    }
  }
}

interface Conn {
  client: MqttClient;
  session: IotSession;
  /** `<prefix>/r/<account>/`: topics of this account's streams start with it */
  base: string;
  jobs: Map<string, JobQueue>;
  socket?: Socket;
  closed: boolean;
  expiry?: NodeJS.Timeout;
}

/** The SDK's one subscription per account on AWS IoT Core (module comment). */
export class MqttRelay {
  private current: Conn | undefined;
  private pending: Promise<Conn> | undefined;
  private readonly conns = new Set<Conn>();
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly o: MqttRelayOptions = {}) {
    this.now = o.now ?? Date.now;
  }

  /** connections open now (tests: one per account, whatever the number of jobs) */
  get connections(): number {
    return [...this.conns].filter((c) => !c.closed).length;
  }

  /** Whether a job with this deadline can start on the current connection without asking for a session. */
  covers(deadline: number): boolean {
    const c = this.current;
    return c !== undefined && !c.closed && c.session.credentials.expiration - (this.o.renewMarginMs ?? 60_000) > deadline;
  }

  /**
   * Reads job `jobId`'s chunks (call before the job is submitted: the broker keeps nothing for
   * late subscribers). `session` is asked only when no open connection covers `deadline`.
   */
  async open(jobId: string, deadline: number, session: () => Promise<IotSession>): Promise<RelaySubscription> {
    if (this.closed) throw new Error("the relay subscriber is closed");
    // Another job may be making a connection for an earlier deadline: wait for it, then make one more if it is too short.
    for (let tries = 0; !this.covers(deadline); tries++) {
      if (tries === 2) throw new Error("the relay credentials expire before the job's deadline");
      await (this.pending ??= session()
        .then((s) => this.connect(s))
        .finally(() => (this.pending = undefined)));
    }
    const conn = this.current!;
    const q = new JobQueue();
    conn.jobs.get(jobId)?.end();
    conn.jobs.set(jobId, q);
    this.refresh(conn);
    const c = conn;
    return {
      chunks: q.iterate(),
      close: () => {
        q.end();
        if (c.jobs.get(jobId) === q) c.jobs.delete(jobId);
        if (c !== this.current && c.jobs.size === 0) this.end(c, "retired");
        else this.refresh(c);
      },
    };
  }

  /** Ends every connection (CocoonClient.close). */
  close(): void {
    this.closed = true;
    for (const c of this.conns) this.end(c, "client closed");
    this.current = undefined;
  }

  private async connect(session: IotSession): Promise<Conn> {
    if (!session.topic.endsWith("/+/+")) throw new Error(`not an account-scoped relay session: ${session.topic}`);
    const { connectAsync } = await import("mqtt");
    const presigned = await presignIotUrl(session, { now: new Date((this.o.awsTime ?? this.now)()) });
    const url = this.o.urlOverride ? this.o.urlOverride(presigned) : presigned;
    const conn: Conn = { session, base: session.topic.slice(0, -3), jobs: new Map(), closed: false } as Conn;
    const client = await connectAsync(url, {
      protocolVersion: 4, // MQTT 3.1.1: what IoT Core meters as the tests assume (bench/cost.ts IOT_METERING)
      clientId: session.clientId,
      clean: true,
      reconnectPeriod: 0, // module comment: a reconnect could leave a gap; the next job makes a new connection
      connectTimeout: 10_000,
      keepalive: 300, // IoT Core's longest keepalive less a margin is 1,200 s; pings are not metered
      // keepalive timers that do not keep the process alive (unref'd)
      timerVariant: {
        set: ((f: () => void, ms: number) => setInterval(f, ms).unref()) as never,
        clear: ((t: NodeJS.Timeout) => clearInterval(t)) as never,
      },
      // the socket, kept so that it holds the process only while a job reads (refresh)
      wsOptions: {
        createConnection: (opts: Record<string, unknown>) => {
          const host = String(opts.host ?? "");
          const s = url.startsWith("wss:")
            ? tlsConnect({
                ...opts,
                path: undefined,
                servername: isIP(host) ? "" : ((opts.servername as string | undefined) ?? host),
              } as never)
            : netConnect({ ...opts, path: undefined } as never);
          conn.socket = s;
          return s;
        },
      } as never,
    });
    conn.client = client;
    client.on("message", (topic, payload) => this.deliver(conn, topic, payload));
    client.on("close", () => this.end(conn, "connection closed"));
    client.on("error", () => this.end(conn, "connection error"));
    // A filter the session's policy does not allow: SUBACK 0x80 (mqtt.js rejects), or IoT Core drops the connection.
    const refused = await client.subscribeAsync(session.topic, { qos: 0 }).then(
      (granted) => (!granted.length || granted.some((g) => g.qos === 128) ? "SUBACK 0x80" : undefined),
      (e: unknown) => (e instanceof Error ? e.message : String(e)),
    );
    if (refused !== undefined) {
      this.end(conn, "subscribe refused");
      throw new Error(`IoT Core refused the subscription to ${session.topic}: ${refused}`);
    }
    this.conns.add(conn);
    if (this.closed) {
      this.end(conn, "client closed");
      throw new Error("the relay subscriber is closed");
    }
    // IoT Core may drop a connection whose credentials expired: end it first, its jobs recover from the stored reply.
    conn.expiry = setTimeout(() => this.end(conn, "credentials expire"), Math.max(0, session.credentials.expiration - this.now() - 5_000));
    conn.expiry.unref();
    const old = this.current;
    this.current = conn;
    if (old) this.retire(old);
    this.o.onEvent?.({ type: "connect", clientId: session.clientId });
    this.refresh(conn);
    return conn;
  }

  /** A connection no new job starts on: it closes once its jobs are done. */
  private retire(c: Conn) {
    if (this.current === c) this.current = undefined;
    if (c.jobs.size === 0) this.end(c, "retired");
  }

  private deliver(conn: Conn, topic: string, payload: Buffer) {
    if (!topic.startsWith(conn.base)) return;
    const [jobId, worker, ...rest] = topic.slice(conn.base.length).split("/");
    const q = jobId !== undefined && worker !== undefined && rest.length === 0 ? conn.jobs.get(jobId) : undefined;
    if (!q) return; // a job of this account this process is not reading (another process's, or one finished)
    let chunk: RelayChunk;
    try {
      chunk = RelayChunk.parse(JSON.parse(payload.toString("utf8")));
    } catch {
      q.push({ error: new StreamCheckFailure("stream_tampered", `the relay delivered something that is not a chunk on ${topic}`) });
      return;
    }
    q.push({ chunk });
  }

  /** The socket holds the process only while a job reads from it. */
  private refresh(c: Conn) {
    if (c.jobs.size > 0) c.socket?.ref();
    else c.socket?.unref();
  }

  private end(c: Conn, reason: string) {
    if (c.closed) return;
    c.closed = true;
    if (c.expiry) clearTimeout(c.expiry);
    if (this.current === c) this.current = undefined;
    for (const q of c.jobs.values()) q.end();
    c.jobs.clear();
    this.conns.delete(c);
    c.client?.end(true);
    this.o.onEvent?.({ type: "close", clientId: c.session.clientId, reason });
  }
}
