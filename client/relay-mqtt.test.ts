/**
 * The SDK's subscriber for the AWS relay (client/relay-mqtt.ts) against a real MQTT broker over
 * WebSocket on 127.0.0.1 (aedes + ws, test/mqtt-broker.ts). SigV4 is IoT Core's to check: here the
 * presigned URL is recomputed independently (node:crypto, AWS's documented algorithm) and its
 * shape checked; the round trips are MQTT 3.1.1 for real.
 */
import { spawn } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { RelayChunk } from "../events/relay";
import { newJobId } from "../core/ids";
import { MqttRelay, presignIotUrl, type IotSession, type MqttRelayOptions } from "./relay-mqtt";
import { startTestBroker, type TestBroker } from "../test/mqtt-broker";

const PREFIX = "cocoon-test";
const ACCOUNT = "QWNjb3VudEtleUZvclRoZVJlbGF5U3Vic2NyaWJlcjA";
const WORKER = "V29ya2VyS2V5Rm9yVGhlUmVsYXlTdWJzY3JpYmVyMDA";
const FILTER = `${PREFIX}/r/${ACCOUNT}/+/+`;

const sessionOf = (o: Partial<IotSession["credentials"]> & { clientId?: string } = {}): IotSession => ({
  transport: "iot-mqtt",
  endpoint: "abc123-ats.iot.us-east-1.amazonaws.com",
  region: "us-east-1",
  topic: FILTER,
  clientId: o.clientId ?? `${PREFIX}-r-${ACCOUNT}-${Math.random().toString(16).slice(2, 14)}`,
  credentials: {
    accessKeyId: o.accessKeyId ?? "ASIAEXAMPLE",
    secretAccessKey: o.secretAccessKey ?? "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    sessionToken: o.sessionToken ?? "IQoJb3JpZ2luX2VjE+/token==",
    expiration: o.expiration ?? Date.now() + 900_000,
  },
});
const chunkOf = (jobId: string, seq: number, final = false): RelayChunk => ({ jobId, attempt: 0, seq, final, data: `c${seq}` });
const topicOf = (jobId: string, worker = WORKER) => `${PREFIX}/r/${ACCOUNT}/${jobId}/${worker}`;

async function take(chunks: AsyncIterable<RelayChunk>, n: number): Promise<RelayChunk[]> {
  const out: RelayChunk[] = [];
  if (n === 0) return out;
  for await (const c of chunks) if (out.push(c) >= n) break;
  return out;
}

/** Resolves when `f` holds (the broker and the client are separate event sources; no fixed sleeps). */
async function until(f: () => boolean, what: string, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

let broker: TestBroker;
let relays: MqttRelay[] = [];
const relay = (o: MqttRelayOptions = {}) => {
  const r = new MqttRelay({ urlOverride: (u) => broker.urlFor(u), ...o });
  relays.push(r);
  return r;
};

beforeAll(async () => {
  broker = await startTestBroker();
});
afterAll(async () => {
  await broker?.close();
});
beforeEach(() => {
  for (const r of relays) r.close();
  relays = [];
  broker.allowFilter(() => true);
});

describe("the presigned URL (SigV4, service iotdevicegateway)", () => {
  /** AWS's documented algorithm for IoT Core's WebSocket URL, on node:crypto: independent of the signer under test. */
  function expectedSignature(url: URL, secret: string, region: string): string {
    const q = [...url.searchParams].filter(([k]) => k !== "X-Amz-Signature" && k !== "X-Amz-Security-Token");
    const enc = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    const canonicalQuery = q
      .map(([k, v]) => `${enc(k)}=${enc(v)}`)
      .sort()
      .join("&");
    const canonical = ["GET", "/mqtt", canonicalQuery, `host:${url.host}`, "", "host", createHash("sha256").update("").digest("hex")].join(
      "\n",
    );
    const amzDate = url.searchParams.get("X-Amz-Date")!;
    const scope = `${amzDate.slice(0, 8)}/${region}/iotdevicegateway/aws4_request`;
    const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, createHash("sha256").update(canonical).digest("hex")].join("\n");
    const h = (k: string | Buffer, d: string) => createHmac("sha256", k).update(d).digest();
    const key = h(h(h(h(`AWS4${secret}`, amzDate.slice(0, 8)), region), "iotdevicegateway"), "aws4_request");
    return createHmac("sha256", key).update(toSign).digest("hex");
  }

  it("is wss://<endpoint>/mqtt with SigV4 query parameters, signed as AWS documents it, the session token appended unsigned", async () => {
    // Prepare
    const s = sessionOf();
    const now = new Date(Date.UTC(2026, 11, 2, 12, 34, 56));
    // Act
    const url = new URL(await presignIotUrl(s, { now }));
    // Assess
    expect(`${url.protocol}//${url.host}${url.pathname}`).toBe(`wss://${s.endpoint}/mqtt`);
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
      "X-Amz-Credential": "ASIAEXAMPLE/20261202/us-east-1/iotdevicegateway/aws4_request",
      "X-Amz-Date": "20261202T123456Z",
      "X-Amz-SignedHeaders": "host",
      "X-Amz-Security-Token": s.credentials.sessionToken,
    });
    expect(url.search).toMatch(/&X-Amz-Security-Token=[^&]+$/); // last, after the signature
    expect(url.search).toContain("IQoJb3JpZ2luX2VjE%2B%2Ftoken%3D%3D"); // percent-encoded once
    expect(url.searchParams.get("X-Amz-Signature")).toBe(expectedSignature(url, s.credentials.secretAccessKey, "us-east-1"));
  });

  it("the independent check above is itself right: AWS's documented signing-key example", () => {
    // AWS General Reference, "Examples of how to derive a signing key for Signature Version 4"
    const h = (k: string | Buffer, d: string) => createHmac("sha256", k).update(d).digest();
    const key = h(h(h(h("AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215"), "us-east-1"), "iam"), "aws4_request");
    expect(key.toString("hex")).toBe("f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
  });

  it("the signature changes with the secret, the key id, the time and the region, and not with the session token", async () => {
    const now = new Date(Date.UTC(2026, 11, 2, 12, 0, 0));
    const sig = async (s: IotSession, at = now) => new URL(await presignIotUrl(s, { now: at })).searchParams.get("X-Amz-Signature");
    const base = await sig(sessionOf());
    expect(await sig(sessionOf({ secretAccessKey: "another-secret" }))).not.toBe(base);
    expect(await sig(sessionOf({ accessKeyId: "ASIAOTHER" }))).not.toBe(base);
    expect(await sig(sessionOf(), new Date(now.getTime() + 1000))).not.toBe(base);
    expect(await sig({ ...sessionOf(), region: "eu-west-1" })).not.toBe(base);
    expect(await sig(sessionOf({ sessionToken: "another-token" }))).toBe(base);
  });
});

describe("one MQTT connection per account over WebSocket (aedes on 127.0.0.1)", () => {
  it("several jobs share ONE connection and ONE subscription; each job gets only its own chunks, in order", async () => {
    // Prepare
    const r = relay();
    let sessions = 0;
    const session = () => (sessions++, Promise.resolve(sessionOf()));
    const jobs = [newJobId(Date.now()), newJobId(Date.now()), newJobId(Date.now())];
    const before = { connects: broker.connects.length, subs: broker.subscriptions.length };
    const deadline = Date.now() + 120_000;
    // Act
    const subs = await Promise.all(jobs.map((j) => r.open(j, deadline, session)));
    const reads = subs.map((s) => take(s.chunks, 3));
    for (let seq = 0; seq < 3; seq++) for (const j of jobs) await broker.publish(topicOf(j), JSON.stringify(chunkOf(j, seq, seq === 2)));
    await broker.publish(topicOf(newJobId(Date.now())), JSON.stringify(chunkOf(jobs[0]!, 9))); // a job this client does not read
    const got = await Promise.all(reads);
    // Assess
    expect(sessions).toBe(1);
    expect(r.connections).toBe(1);
    expect(broker.connects.length - before.connects).toBe(1);
    expect(broker.subscriptions.slice(before.subs)).toEqual([FILTER]);
    got.forEach((cs, i) => expect(cs.map((c) => [c.jobId, c.seq])).toEqual([0, 1, 2].map((seq) => [jobs[i], seq])));
    expect(broker.upgrades.at(-1)).toMatch(
      /^\/mqtt\?X-Amz-Algorithm=AWS4-HMAC-SHA256&.*&X-Amz-Signature=[0-9a-f]{64}&X-Amz-Security-Token=/,
    );
  });

  it("the connection URL is dated by awsTime (the coordinator's clock), not by now: AWS refuses a signature minutes off", async () => {
    // Prepare: our clock 20 min ahead of AWS's
    const aws = Date.now();
    const urls: string[] = [];
    const r = relay({ now: () => aws + 20 * 60_000, awsTime: () => aws, urlOverride: (u) => (urls.push(u), broker.urlFor(u)) });
    // Act: the session's expiry on our clock, as the SDK hands it over (sessionOnLocalClock)
    const ours = aws + 20 * 60_000;
    await r.open(newJobId(Date.now()), ours + 120_000, () => Promise.resolve(sessionOf({ expiration: ours + 900_000 })));
    // Assess
    const amzDate = new URL(urls[0]!).searchParams.get("X-Amz-Date");
    expect(amzDate).toBe(new Date(aws).toISOString().replace(/[-:]|\.\d{3}/g, ""));
  });

  it("a payload that is not a chunk ends that job's stream with stream_tampered, and only that job's", async () => {
    // Prepare
    const r = relay();
    const [a, b] = [newJobId(Date.now()), newJobId(Date.now())];
    const deadline = Date.now() + 120_000;
    const sa = await r.open(a, deadline, () => Promise.resolve(sessionOf()));
    const sb = await r.open(b, deadline, () => Promise.reject(new Error("one connection: not asked")));
    // Act
    await broker.publish(topicOf(a), "{not json");
    await broker.publish(topicOf(b), JSON.stringify(chunkOf(b, 0)));
    // Assess
    await expect(take(sa.chunks, 1)).rejects.toMatchObject({ code: "stream_tampered" });
    expect((await take(sb.chunks, 1))[0]).toMatchObject({ jobId: b, seq: 0 });
  });

  it("a job whose deadline the credentials would not outlive gets a new connection with a new session; the old one closes when its last job is done", async () => {
    // Prepare: credentials that expire in 200 s, then 300 s (a job needs them to last 60 s past its deadline)
    const events: string[] = [];
    const r = relay({ onEvent: (e) => events.push(`${e.type} ${e.reason ?? ""}`.trim()) });
    const issued: IotSession[] = [];
    const session = () => {
      const s = sessionOf({ accessKeyId: `ASIA${issued.length}`, expiration: Date.now() + (issued.length ? 300_000 : 200_000) });
      issued.push(s);
      return Promise.resolve(s);
    };
    const [early, late] = [newJobId(Date.now()), newJobId(Date.now())];
    const subEarly = await r.open(early, Date.now() + 60_000, session);
    // Act: a job whose deadline is within the margin of the first credentials' expiry
    const subLate = await r.open(late, Date.now() + 150_000, session);
    // Assess
    expect(issued.map((s) => s.credentials.accessKeyId)).toEqual(["ASIA0", "ASIA1"]);
    expect(r.connections).toBe(2); // the early job still reads from its own connection
    expect(new URL(broker.urlFor(`wss://x${broker.upgrades.at(-1)!}`)).searchParams.get("X-Amz-Credential")).toMatch(/^ASIA1\//);
    await broker.publish(topicOf(early), JSON.stringify(chunkOf(early, 0, true)));
    await broker.publish(topicOf(late), JSON.stringify(chunkOf(late, 0)));
    expect((await take(subEarly.chunks, 1))[0]!.jobId).toBe(early); // once: the new connection does not deliver the early job's chunks
    expect((await take(subLate.chunks, 1))[0]!.jobId).toBe(late);
    subEarly.close();
    expect(r.connections).toBe(1);
    expect(events).toEqual(["connect", "connect", "close retired"]);
    await until(() => broker.connected() === 1, "the old connection to close at the broker");
  });

  it("credentials that expire close the connection: its jobs' streams end (the SDK then reads the stored reply)", async () => {
    // Prepare: credentials that expire in 5.5 s (the connection ends 5 s before)
    const r = relay();
    const sub = await r.open(newJobId(Date.now()), Date.now() - 60_000, () =>
      Promise.resolve(sessionOf({ expiration: Date.now() + 5_500 })),
    );
    // Act
    const ended = await take(sub.chunks, 0).then(async () => {
      for await (const _ of sub.chunks) void _;
      return true;
    });
    // Assess
    expect(ended).toBe(true);
    expect(r.connections).toBe(0);
  });

  it("a dropped connection ends its jobs' streams; the next job connects anew", async () => {
    // Prepare
    const r = relay();
    let sessions = 0;
    const session = () => (sessions++, Promise.resolve(sessionOf()));
    const deadline = Date.now() + 120_000;
    const sub = await r.open(newJobId(Date.now()), deadline, session);
    // Act
    broker.dropAll();
    const chunks = await take(sub.chunks, 5).catch((e: unknown) => e);
    const next = await r.open(newJobId(Date.now()), deadline, session);
    // Assess
    expect(chunks).toEqual([]);
    expect(sessions).toBe(2);
    expect(r.connections).toBe(1);
    next.close();
  });

  it("a subscription the broker refuses (the session's policy) fails the open; nothing is left connected", async () => {
    // Prepare
    broker.allowFilter(() => false);
    const r = relay();
    // Act
    const opened = r.open(newJobId(Date.now()), Date.now() + 60_000, () => Promise.resolve(sessionOf()));
    // Assess
    await expect(opened).rejects.toThrow(/refused the subscription/);
    expect(r.connections).toBe(0);
  });

  it("an idle connection does not keep the process alive: a process that never calls close() exits by itself", async () => {
    // Prepare
    const child = fileURLToPath(new URL("../test/fixtures/relay-idle-exit.ts", import.meta.url));
    const port = new URL(broker.urlFor("wss://x/mqtt")).port;
    const connects = broker.connects.length;
    // Act: the child opens a connection, reads one job, closes that job and returns (it never calls close())
    const p = spawn(process.execPath, ["--import", "tsx", child, port], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const exited = await new Promise<number | null | "hung">((resolve) => {
      const t = setTimeout(() => (p.kill(), resolve("hung")), 30_000);
      p.on("exit", (code) => (clearTimeout(t), resolve(code)));
    });
    // Assess
    expect(out).toContain("connected 1");
    expect(broker.connects.length - connects).toBe(1);
    expect(exited).toBe(0);
  }, 40_000);

  it("close() ends the connection and refuses new jobs", async () => {
    // Prepare
    const r = relay();
    const sub = await r.open(newJobId(Date.now()), Date.now() + 60_000, () => Promise.resolve(sessionOf()));
    // Act
    r.close();
    // Assess
    expect(await take(sub.chunks, 1)).toEqual([]);
    await expect(r.open(newJobId(Date.now()), Date.now() + 60_000, () => Promise.resolve(sessionOf()))).rejects.toThrow(/closed/);
    expect(r.connections).toBe(0);
  });
});
