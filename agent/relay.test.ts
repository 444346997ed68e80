/**
 * issue 12: the agent publishes with the relay session that came with its job (AgentJob.relay)
 * while its credentials have DISPATCHED_SESSION_MARGIN_MS left, asking the coordinator nothing
 * for the job; absent, expiring, or refused by the relay, it asks POST /v1/agent/jobs/{id}/relay.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiClient } from "../api-client/api";
import { generateSigningKey } from "../core/crypto/keys";
import type { RelayChunk, RelaySession } from "../events/relay";
import type { AgentLog } from "./execute";
import { createRelayPublisher, DISPATCHED_SESSION_MARGIN_MS, isAuthRefusal, type PubSubSession } from "./relay";

const NOW = Date.parse("2026-01-05T00:00:00Z");
const JOB = "job-1";

/** Factory: an SQS session whose access key names where it came from. */
const sqsSession = (accessKeyId: string, expiration = NOW + 900_000): RelaySession => ({
  transport: "sqs",
  region: "us-east-1",
  queueUrl: "https://sqs.us-east-1.amazonaws.com/123456789012/cocoon-test-r-chan",
  credentials: { accessKeyId, secretAccessKey: `secret-of-${accessKeyId}`, sessionToken: "token", expiration },
});

const chunk = (seq: number, final = false): RelayChunk => ({ jobId: JOB, attempt: 0, seq, final, data: "AAAA" });

/** Factory: an API client whose calls are recorded; the relay route answers `routeSession`. */
function fakeApi(routeSession: RelaySession = sqsSession("from-route")) {
  const calls: string[] = [];
  const api = new ApiClient("http://127.0.0.1:9", generateSigningKey());
  api.request = (async (route: { path: string }) => {
    calls.push(route.path);
    if (route.path === "/v1/agent/jobs/{id}/relay") return routeSession;
    throw new Error(`stub: no answer for ${route.path}`);
  }) as typeof api.request;
  return { api, calls };
}

/** Factory: a pub/sub publisher recording which credentials sent which chunks; `refuse` throws for a session it names. */
function fakePublisher(refuse?: (s: PubSubSession) => unknown) {
  const sent: Array<{ key: string; seqs: number[] }> = [];
  const external = async (s: PubSubSession, chunks: RelayChunk[]) => {
    const e = refuse?.(s);
    if (e) throw e;
    sent.push({ key: s.credentials.accessKeyId, seqs: chunks.map((c) => c.seq) });
  };
  return { external, sent };
}

function recordingLog() {
  const lines: Array<{ msg: string; data?: Record<string, unknown> }> = [];
  const log: AgentLog = {
    info: (msg, data) => lines.push({ msg, ...(data ? { data } : {}) }),
    warn: (msg, data) => lines.push({ msg, ...(data ? { data } : {}) }),
  };
  return { log, lines };
}

/** Publishes chunks 0..n-1 (the last final) and waits for them to reach the relay. */
async function publishAll(p: ReturnType<typeof createRelayPublisher>, n = 2) {
  for (let i = 0; i < n; i++) p.publish(chunk(i, i === n - 1));
  await p.flush();
}

describe("issue 12: the agent's relay session from the dispatch", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it("a dispatched session with time left: every chunk goes out with it and the coordinator is asked nothing", async () => {
    // Prepare
    const { api, calls } = fakeApi();
    const { external, sent } = fakePublisher();
    const { log, lines } = recordingLog();
    // Act
    const p = createRelayPublisher({ api, jobId: JOB, attempt: 0, log, external, now: () => NOW, dispatched: sqsSession("dispatched") });
    await publishAll(p);
    // Assess
    expect(await p.pubsub()).toBe(true);
    expect(sent.flatMap((s) => s.seqs)).toEqual([0, 1]);
    expect(new Set(sent.map((s) => s.key))).toEqual(new Set(["dispatched"]));
    expect(calls).toEqual([]);
    expect(p.published).toBe(2);
    expect(lines).toEqual([]);
  });

  it("no dispatched session: the agent asks the relay route once and publishes with its answer", async () => {
    // Prepare
    const { api, calls } = fakeApi();
    const { external, sent } = fakePublisher();
    // Act
    const p = createRelayPublisher({ api, jobId: JOB, attempt: 0, log: recordingLog().log, external, now: () => NOW });
    await publishAll(p);
    // Assess
    expect(calls).toEqual(["/v1/agent/jobs/{id}/relay"]);
    expect(new Set(sent.map((s) => s.key))).toEqual(new Set(["from-route"]));
    expect(p.published).toBe(2);
  });

  it("a dispatched session with no more than the margin left is not used: the route is asked; one just past the margin is used", async () => {
    // Prepare
    const expiring = fakeApi();
    const fresh = fakeApi();
    const a = fakePublisher();
    const b = fakePublisher();
    const log = recordingLog().log;
    // Act
    const p = createRelayPublisher({
      ...{ api: expiring.api, jobId: JOB, attempt: 0, log, external: a.external, now: () => NOW },
      dispatched: sqsSession("dispatched", NOW + DISPATCHED_SESSION_MARGIN_MS),
    });
    const q = createRelayPublisher({
      ...{ api: fresh.api, jobId: JOB, attempt: 0, log, external: b.external, now: () => NOW },
      dispatched: sqsSession("dispatched", NOW + DISPATCHED_SESSION_MARGIN_MS + 1),
    });
    await Promise.all([publishAll(p), publishAll(q)]);
    // Assess
    expect(expiring.calls).toEqual(["/v1/agent/jobs/{id}/relay"]);
    expect(new Set(a.sent.map((s) => s.key))).toEqual(new Set(["from-route"]));
    expect(fresh.calls).toEqual([]);
    expect(new Set(b.sent.map((s) => s.key))).toEqual(new Set(["dispatched"]));
  });

  it.each([
    ["ahead", -10 * 60_000],
    ["behind", 10 * 60_000],
  ])("an agent clock 10 min %s: the sessions' expiry is read on its own clock (by the api client's offset)", async (_, offset) => {
    // Prepare: the dispatched session has 5 min left by the coordinator's clock; ours reads NOW − offset
    const { api, calls } = fakeApi(sqsSession("from-route", NOW + 900_000));
    api.localTime = (serverMs) => serverMs - offset; // as the api client does once it learnt the offset
    const expirations: Array<{ key: string; expiration: number }> = [];
    const external = async (s: PubSubSession) =>
      void expirations.push({ key: s.credentials.accessKeyId, expiration: s.credentials.expiration });
    const log = recordingLog().log;
    // Act
    const p = createRelayPublisher({
      api,
      jobId: JOB,
      attempt: 0,
      log,
      external,
      now: () => NOW - offset,
      dispatched: sqsSession("dispatched", NOW + 300_000),
    });
    await publishAll(p);
    // Assess: used (5 min left, not 15 or none), its expiry on our clock
    expect(calls).toEqual([]);
    expect(expirations[0]).toEqual({ key: "dispatched", expiration: NOW - offset + 300_000 });
  });

  it("a session from the route has its expiry moved onto the agent's clock", async () => {
    const { api } = fakeApi(sqsSession("from-route", NOW + 900_000));
    api.localTime = (serverMs) => serverMs - 600_000;
    const expirations: number[] = [];
    const external = async (s: PubSubSession) => void expirations.push(s.credentials.expiration);
    const p = createRelayPublisher({ api, jobId: JOB, attempt: 0, log: recordingLog().log, external, now: () => NOW - 600_000 });
    await publishAll(p);
    expect(expirations[0]).toBe(NOW - 600_000 + 900_000);
  });

  it("the built-in IoT Core publisher dates its signatures by the coordinator's time (AWS's), not the agent's clock", async () => {
    // Prepare: the agent's clock 20 min ahead; its api client learnt the coordinator's time
    const { api } = fakeApi();
    api.serverTime = () => NOW;
    const dates: string[] = [];
    vi.stubGlobal("fetch", async (_url: string, init: { headers: Record<string, string> }) => {
      dates.push(init.headers["x-amz-date"]!);
      return new Response(null, { status: 200 });
    });
    const iot: RelaySession = {
      transport: "iot-mqtt",
      endpoint: "abc123-ats.iot.us-east-1.amazonaws.com",
      region: "us-east-1",
      topic: "cocoon/r/acct/job-1/w",
      clientId: "c",
      credentials: { accessKeyId: "iot", secretAccessKey: "s", sessionToken: "t", expiration: Date.now() + 900_000 },
    };
    // Act
    const p = createRelayPublisher({ api, jobId: JOB, attempt: 0, log: recordingLog().log, now: () => NOW + 1_200_000, dispatched: iot });
    await publishAll(p);
    // Assess
    expect(dates.length).toBeGreaterThan(0);
    expect(new Set(dates)).toEqual(new Set([new Date(NOW).toISOString().replace(/[-:]|\.\d{3}/g, "")]));
  });

  it("a dispatched session the relay refuses (credentials): the route is asked and the same chunks go out with its session; no log holds a credential", async () => {
    // Prepare
    const { api, calls } = fakeApi();
    const denied = Object.assign(new Error("Access to the resource is denied."), {
      name: "AccessDenied",
      $metadata: { httpStatusCode: 403 },
    });
    const { external, sent } = fakePublisher((s) => (s.credentials.accessKeyId === "dispatched" ? denied : undefined));
    const { log, lines } = recordingLog();
    // Act
    const p = createRelayPublisher({ api, jobId: JOB, attempt: 0, log, external, now: () => NOW, dispatched: sqsSession("dispatched") });
    await publishAll(p, 3);
    // Assess
    expect(calls).toEqual(["/v1/agent/jobs/{id}/relay"]);
    expect(sent.flatMap((s) => s.seqs)).toEqual([0, 1, 2]);
    expect(new Set(sent.map((s) => s.key))).toEqual(new Set(["from-route"]));
    expect(p.stopped).toBe(false);
    expect(lines.map((l) => l.msg)).toEqual(["relay refused the dispatched session; asking the coordinator for one"]);
    expect(JSON.stringify(lines)).not.toMatch(/secret-of|token/);
  });

  it("a dispatched session's publish failing for another reason stops streaming, as any relay failure does, without asking the route", async () => {
    // Prepare
    const { api, calls } = fakeApi();
    const { external, sent } = fakePublisher(() => new Error("SQS refused 1 of 2 chunks: InternalError"));
    const { log, lines } = recordingLog();
    // Act
    const p = createRelayPublisher({ api, jobId: JOB, attempt: 0, log, external, now: () => NOW, dispatched: sqsSession("dispatched") });
    await publishAll(p);
    // Assess
    expect(p.stopped).toBe(true);
    expect(sent).toEqual([]);
    expect(calls).toEqual([]);
    expect(lines.map((l) => l.msg)).toEqual(["relay publish failed; streaming stops for this job"]);
  });

  it("isAuthRefusal: credentials refused or expired, by SDK error name, HTTP status or the built-in publishers' messages; not other failures", () => {
    const named = (name: string) => Object.assign(new Error("x"), { name });
    expect(isAuthRefusal(named("ExpiredToken"))).toBe(true);
    expect(isAuthRefusal(named("InvalidClientTokenId"))).toBe(true);
    expect(isAuthRefusal(Object.assign(new Error("x"), { $metadata: { httpStatusCode: 403 } }))).toBe(true);
    expect(isAuthRefusal(new Error("the relay credentials expired"))).toBe(true);
    expect(isAuthRefusal(new Error("IoT Core refused the publish: HTTP 403"))).toBe(true);
    expect(isAuthRefusal(new Error("IoT Core refused the publish: HTTP 413"))).toBe(false);
    expect(isAuthRefusal(named("QueueDoesNotExist"))).toBe(false);
    expect(isAuthRefusal(Object.assign(new Error("x"), { $metadata: { httpStatusCode: 500 } }))).toBe(false);
    expect(isAuthRefusal("AccessDenied")).toBe(false);
  });
});
