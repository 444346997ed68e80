/**
 * The agent's relay publisher (agent/relay.ts) at its edges: the exact requests it makes of the
 * coordinator (route, params, body), "this coordinator is HTTP-relay only" learnt once per API
 * client, the built-in publishers chosen by a session's transport, each fallback and its log
 * line, batching and counting, and isAuthRefusal on every error shape it may meet (AWS SDK
 * errors by name, Code or $metadata.httpStatusCode; the built-in publishers' messages; ApiError).
 * Adapter unit tests: the API client and the built-in publishers are fakes.
 */
import { describe, expect, it, vi } from "vitest";
import { ApiError, type ApiClient } from "../api-client/api";
import type { RelayChunk, RelaySession } from "../events/relay";
import type { AgentLog } from "./execute";
import { createRelayPublisher, DISPATCHED_SESSION_MARGIN_MS, isAuthRefusal, type PubSubSession } from "./relay";

/** What the built-in publishers (mocked below) were made with and sent. */
const builtins = vi.hoisted(() => ({
  sqsMade: 0,
  iotMade: [] as Array<{ now?: () => Date }>,
  sent: [] as Array<{ via: "sqs" | "iot"; key: string; seqs: number[] }>,
}));
vi.mock("./relay-sqs", () => ({
  createSqsRelayPublisher: () => {
    builtins.sqsMade++;
    return async (s: PubSubSession, chunks: RelayChunk[]) =>
      void builtins.sent.push({ via: "sqs", key: s.credentials.accessKeyId, seqs: chunks.map((c) => c.seq) });
  },
}));
vi.mock("./relay-iot", () => ({
  createIotRelayPublisher: (o: { now?: () => Date }) => {
    builtins.iotMade.push(o);
    return async (s: PubSubSession, chunks: RelayChunk[]) =>
      void builtins.sent.push({ via: "iot", key: s.credentials.accessKeyId, seqs: chunks.map((c) => c.seq) });
  },
}));

const NOW = Date.parse("2026-01-05T00:00:00Z");
const JOB = "job_01jdqv6x7s9k2m4n8p0r3t5w00";
const RELAY_PATH = "/v1/agent/jobs/{id}/relay";
const CHUNKS_PATH = "/v1/agent/jobs/{id}/chunks";
const UNAVAILABLE = "relay unavailable; answering without streaming";
const FAILED = "relay publish failed; streaming stops for this job";
const REFUSED = "relay refused the dispatched session; asking the coordinator for one";

const HTTP: RelaySession = { transport: "http" };

/** Factory: an SQS session whose access key names where it came from. */
const sqsSession = (accessKeyId: string, expiration = NOW + 900_000): PubSubSession => ({
  transport: "sqs",
  region: "us-east-1",
  queueUrl: "https://sqs.us-east-1.amazonaws.com/123456789012/cocoon-test-r-chan",
  credentials: { accessKeyId, secretAccessKey: `secret-of-${accessKeyId}`, sessionToken: "token", expiration },
});

/** Factory: an IoT Core session whose access key names where it came from. */
const iotSession = (accessKeyId: string, expiration = NOW + 900_000): PubSubSession => ({
  transport: "iot-mqtt",
  endpoint: "abc123-ats.iot.us-east-1.amazonaws.com",
  region: "us-east-1",
  topic: `cocoon/r/acct/${JOB}/w`,
  clientId: "c",
  credentials: { accessKeyId, secretAccessKey: `secret-of-${accessKeyId}`, sessionToken: "token", expiration },
});

const chunk = (seq: number): RelayChunk => ({ jobId: JOB, attempt: 3, seq, final: false, data: "AAAA" });

/** Factory: an AWS SDK-like error (a name, maybe a Code and an HTTP status). */
const awsError = (name: string, extra: Record<string, unknown> = {}) => Object.assign(new Error("x"), { name, ...extra });

interface Call {
  path: string;
  params?: unknown;
  body?: unknown;
}

/**
 * Factory: an API client recording each request (route path, params, body). The relay route
 * answers `relay()` (default: the HTTP relay), the chunks route `chunks()` (default: accepted).
 * Its clock: the coordinator's is `offsetMs` ahead of ours.
 */
function fakeApi(o: { relay?: () => Promise<RelaySession>; chunks?: () => Promise<unknown>; offsetMs?: number } = {}) {
  const calls: Call[] = [];
  const offset = o.offsetMs ?? 0;
  const fake = {
    request: async (route: { path: string }, opts: { params?: unknown; body?: unknown } = {}) => {
      calls.push({ path: route.path, ...opts });
      if (route.path === RELAY_PATH) return (o.relay ?? (async () => HTTP))();
      if (route.path === CHUNKS_PATH) return (o.chunks ?? (async () => ({})))();
      throw new Error(`fake: no answer for ${route.path}`);
    },
    serverTime: () => NOW + offset,
    localTime: (serverMs: number) => serverMs - offset,
  };
  return { api: fake as unknown as ApiClient, calls };
}

/** Factory: an external publisher recording which credentials sent which chunks (also tries); `refuse` throws for a session it names. */
function fakePublisher(refuse?: (s: PubSubSession) => unknown) {
  const sent: Array<{ key: string; seqs: number[]; expiration: number }> = [];
  const tried: string[] = [];
  const external = async (s: PubSubSession, chunks: RelayChunk[]) => {
    tried.push(s.credentials.accessKeyId);
    const e = refuse?.(s);
    if (e) throw e;
    sent.push({ key: s.credentials.accessKeyId, seqs: chunks.map((c) => c.seq), expiration: s.credentials.expiration });
  };
  return { external, sent, tried };
}

/** Factory: a log keeping every line with its fields. */
function recordingLog() {
  const lines: Array<{ msg: string; data?: Record<string, unknown> }> = [];
  const log: AgentLog = {
    info: (msg, data) => lines.push({ msg, ...(data ? { data } : {}) }),
    warn: (msg, data) => lines.push({ msg, ...(data ? { data } : {}) }),
  };
  return { log, lines };
}

type Options = Parameters<typeof createRelayPublisher>[0];
/** Factory: a publisher for JOB, attempt 3, on our clock at NOW unless told. */
const publisher = (o: Partial<Options> & Pick<Options, "api" | "log">) =>
  createRelayPublisher({ jobId: JOB, attempt: 3, now: () => NOW, ...o });

/** Publishes chunks `from`..`from+n-1` and waits for them to reach the relay (or streaming to stop). */
async function publishAll(p: ReturnType<typeof createRelayPublisher>, n = 2, from = 0) {
  for (let i = from; i < from + n; i++) p.publish(chunk(i));
  await p.flush();
}

describe("isAuthRefusal: the relay refused the credentials (ask for fresh ones), not the chunks", () => {
  it.each<[string, unknown]>([
    ["an HTTP 401 in the SDK's $metadata (no name)", { $metadata: { httpStatusCode: 401 } }],
    ["an HTTP 403 in the SDK's $metadata (no name)", { $metadata: { httpStatusCode: 403 } }],
    ["AccessDenied", awsError("AccessDenied")],
    ["AccessDeniedException", awsError("AccessDeniedException")],
    ["ExpiredToken", awsError("ExpiredToken")],
    ["ExpiredTokenException", awsError("ExpiredTokenException")],
    ["InvalidClientTokenId", awsError("InvalidClientTokenId")],
    ["InvalidSecurity", awsError("InvalidSecurity")],
    ["SignatureDoesNotMatch", awsError("SignatureDoesNotMatch")],
    ["UnrecognizedClientException", awsError("UnrecognizedClientException")],
    ["InvalidToken", awsError("InvalidToken")],
    ["UnauthorizedException", awsError("UnauthorizedException")],
    ["Unauthorised (British spelling)", awsError("Unauthorised")],
    ["ForbiddenException", awsError("ForbiddenException")],
    ["a name in any case", awsError("accessdenied")],
    ["a Code naming it under a generic name", awsError("SQSServiceException", { Code: "ExpiredToken" })],
    ["a Code alone (a plain object)", { Code: "InvalidClientTokenId" }],
    ["the built-in publishers' expiry check", new Error("the relay credentials expired")],
    ["IoT Core's HTTP 401", new Error("IoT Core refused the publish: HTTP 401")],
    ["IoT Core's HTTP 403", new Error("IoT Core refused the publish: HTTP 403")],
  ])("true: %s", (_, e) => {
    // Act / Assess
    expect(isAuthRefusal(e)).toBe(true);
  });

  it.each<[string, unknown]>([
    ["undefined", undefined],
    ["null", null],
    ["0", 0],
    ["an empty string", ""],
    ["a string naming a refusal", "AccessDenied"],
    ["the number 403", 403],
    ["a function whose name is a refusal's", function AccessDenied() {}],
    ["a plain object with nothing", {}],
    ["$metadata without a status", { $metadata: {} }],
    ["HTTP 500 in $metadata", awsError("InternalError", { $metadata: { httpStatusCode: 500 } })],
    ["HTTP 400 in $metadata", awsError("InvalidParameterValue", { $metadata: { httpStatusCode: 400 } })],
    ["a status as a string", { $metadata: { httpStatusCode: "403" } }],
    ["QueueDoesNotExist", awsError("QueueDoesNotExist")],
    ["an SQS Code that is no refusal", awsError("SQSServiceException", { Code: "AWS.SimpleQueueService.NonExistentQueue" })],
    ["ThrottlingException", awsError("ThrottlingException")],
    ["a name that is not a string", { name: ["AccessDenied"] }],
    ["a Code that is not a string", { name: "SQSServiceException", Code: ["ExpiredToken"] }],
    ["a message that is not a string", { message: ["the relay credentials expired"] }],
    ["IoT Core's HTTP 413", new Error("IoT Core refused the publish: HTTP 413")],
    ["IoT Core's HTTP 400", new Error("IoT Core refused the publish: HTTP 400")],
    ["IoT Core's HTTP 402", new Error("IoT Core refused the publish: HTTP 402")],
    ["a longer status starting 403", new Error("IoT Core refused the publish: HTTP 4031")],
    ["SQS refusing chunks", new Error("SQS refused 1 of 2 chunks: InternalError")],
    ["the coordinator's own refusal (ApiError: its status is not read)", new ApiError(403, "forbidden", "not this agent's job")],
  ])("false: %s", (_, e) => {
    // Act / Assess
    expect(isAuthRefusal(e)).toBe(false);
  });
});

describe("the requests made of the coordinator", () => {
  it("asks the relay route at once, before any chunk, with the job's id and attempt", () => {
    // Prepare
    const { api, calls } = fakeApi();
    // Act
    publisher({ api, log: recordingLog().log });
    // Assess
    expect(calls).toEqual([{ path: RELAY_PATH, params: { id: JOB }, body: { attempt: 3 } }]);
  });

  it("over the HTTP relay: each batch is one POST of the chunks route with the job's id and the chunks, in order", async () => {
    // Prepare
    const { api, calls } = fakeApi();
    const { log, lines } = recordingLog();
    const p = publisher({ api, log });
    // Act
    await publishAll(p, 2);
    await publishAll(p, 1, 2);
    // Assess
    expect(calls).toEqual([
      { path: RELAY_PATH, params: { id: JOB }, body: { attempt: 3 } },
      { path: CHUNKS_PATH, params: { id: JOB }, body: { chunks: [chunk(0), chunk(1)] } },
      { path: CHUNKS_PATH, params: { id: JOB }, body: { chunks: [chunk(2)] } },
    ]);
    expect([p.published, p.messages, p.stopped]).toEqual([3, 2, false]);
    expect(await p.pubsub()).toBe(false);
    expect(lines).toEqual([]);
  });

  it("a dispatched HTTP session whose chunks route answers a bare HTTP 401: stops, without asking for a relay session", async () => {
    // Prepare: the API client's error for an answer without an error body (a gateway's 401)
    const { api, calls } = fakeApi({ chunks: () => Promise.reject(new ApiError(401, "http_error", "HTTP 401")) });
    const { log, lines } = recordingLog();
    const p = publisher({ api, log, dispatched: HTTP });
    // Act
    await publishAll(p, 1);
    // Assess: an HTTP session carries no credentials, so nothing to ask again for
    expect(calls.map((c) => c.path)).toEqual([CHUNKS_PATH]);
    expect(lines).toEqual([{ msg: FAILED, data: { jobId: JOB, code: "http_error" } }]);
  });

  it("a dispatched HTTP session: the chunks route, and the relay route is never asked", async () => {
    // Prepare
    const { api, calls } = fakeApi({ relay: async () => sqsSession("from-route") });
    const { external, tried } = fakePublisher();
    // Act
    const p = publisher({ api, log: recordingLog().log, external, dispatched: HTTP });
    await publishAll(p, 1);
    // Assess
    expect(calls).toEqual([{ path: CHUNKS_PATH, params: { id: JOB }, body: { chunks: [chunk(0)] } }]);
    expect(tried).toEqual([]);
    expect(await p.pubsub()).toBe(false);
  });

  it("a pub/sub session: the chunks go to the publisher, never to the chunks route", async () => {
    // Prepare
    const { api, calls } = fakeApi({ relay: async () => sqsSession("from-route") });
    const { external, sent } = fakePublisher();
    // Act
    const p = publisher({ api, log: recordingLog().log, external });
    await publishAll(p, 2);
    // Assess
    expect(calls.map((c) => c.path)).toEqual([RELAY_PATH]);
    expect(sent.map((s) => [s.key, s.seqs])).toEqual([["from-route", [0, 1]]]);
    expect([p.published, p.messages]).toEqual([2, 1]);
    expect(await p.pubsub()).toBe(true);
  });
});

describe('"this coordinator is HTTP-relay only" is learnt once per API client', () => {
  it("after an HTTP answer, the next job on the same client asks nothing and posts to the chunks route; another client asks", async () => {
    // Prepare
    const { api, calls } = fakeApi();
    const other = fakeApi();
    const log = recordingLog().log;
    await publishAll(publisher({ api, log }), 1);
    calls.length = 0;
    // Act
    const second = publisher({ api, log, jobId: "job-2" });
    await publishAll(second, 1);
    publisher({ api: other.api, log });
    // Assess
    expect(calls).toEqual([{ path: CHUNKS_PATH, params: { id: "job-2" }, body: { chunks: [chunk(0)] } }]);
    expect(await second.pubsub()).toBe(false);
    expect(other.calls.map((c) => c.path)).toEqual([RELAY_PATH]);
  });

  it("a pub/sub answer is not learnt: each job asks, and publishes with its own session", async () => {
    // Prepare
    let n = 0;
    const { api, calls } = fakeApi({ relay: async () => sqsSession(`route-${++n}`) });
    const { external, sent } = fakePublisher();
    const log = recordingLog().log;
    // Act
    await publishAll(publisher({ api, log, external }), 1);
    const second = publisher({ api, log, external, jobId: "job-2" });
    await publishAll(second, 1);
    // Assess
    expect(calls).toEqual([
      { path: RELAY_PATH, params: { id: JOB }, body: { attempt: 3 } },
      { path: RELAY_PATH, params: { id: "job-2" }, body: { attempt: 3 } },
    ]);
    expect(sent.map((s) => s.key)).toEqual(["route-1", "route-2"]);
    expect(await second.pubsub()).toBe(true);
  });

  it("a failed ask is not learnt: the next job asks again", async () => {
    // Prepare
    let fail = true;
    const { api, calls } = fakeApi({
      relay: async () => {
        if (fail) throw new Error("ECONNRESET");
        return HTTP;
      },
    });
    const log = recordingLog().log;
    await publishAll(publisher({ api, log }), 1);
    fail = false;
    // Act
    await publishAll(publisher({ api, log, jobId: "job-2" }), 1);
    // Assess
    expect(calls.map((c) => [c.path, c.params])).toEqual([
      [RELAY_PATH, { id: JOB }],
      [RELAY_PATH, { id: "job-2" }],
      [CHUNKS_PATH, { id: "job-2" }],
    ]);
  });
});

describe("fallbacks and their log lines", () => {
  it.each<[string, unknown, string]>([
    ["an ApiError: its code", new ApiError(503, "relay_unavailable", "no relay"), "relay_unavailable"],
    ["any other error: 'error'", new Error("ECONNRESET"), "error"],
  ])("the relay route failing (%s): one warning, the job answers whole, nothing is posted", async (_, error, code) => {
    // Prepare
    const { api, calls } = fakeApi({ relay: () => Promise.reject(error) });
    const { external, tried } = fakePublisher();
    const { log, lines } = recordingLog();
    // Act
    const p = publisher({ api, log, external });
    await publishAll(p, 3);
    p.publish(chunk(3));
    await p.flush();
    // Assess
    expect(lines).toEqual([{ msg: UNAVAILABLE, data: { jobId: JOB, code } }]);
    expect([p.published, p.messages, p.stopped]).toEqual([0, 0, true]);
    expect(await p.pubsub()).toBe(false);
    expect(calls.map((c) => c.path)).toEqual([RELAY_PATH]);
    expect(tried).toEqual([]);
  });

  it("the chunks route failing with an ApiError: one warning with its code; streaming stops, later chunks are not posted", async () => {
    // Prepare
    const { api, calls } = fakeApi({ chunks: () => Promise.reject(new ApiError(409, "stream_closed", "closed")) });
    const { log, lines } = recordingLog();
    const p = publisher({ api, log });
    // Act
    await publishAll(p, 2);
    p.publish(chunk(2));
    await p.flush();
    // Assess
    expect(lines).toEqual([{ msg: FAILED, data: { jobId: JOB, code: "stream_closed" } }]);
    expect([p.published, p.messages, p.stopped]).toEqual([0, 0, true]);
    expect(calls.map((c) => c.path)).toEqual([RELAY_PATH, CHUNKS_PATH]);
  });

  it("a publisher failing after a batch landed: the landed one is counted, the warning says 'error', nothing more is tried", async () => {
    // Prepare
    let landed = 0;
    const { api } = fakeApi({ relay: async () => sqsSession("from-route") });
    const { external, tried } = fakePublisher(() => (landed++ >= 1 ? new Error("SQS refused 1 of 2 chunks: InternalError") : undefined));
    const { log, lines } = recordingLog();
    const p = publisher({ api, log, external });
    // Act
    await publishAll(p, 2);
    await publishAll(p, 2, 2);
    await publishAll(p, 1, 4);
    // Assess
    expect([p.published, p.messages, p.stopped]).toEqual([2, 1, true]);
    expect(tried).toEqual(["from-route", "from-route"]);
    expect(lines).toEqual([{ msg: FAILED, data: { jobId: JOB, code: "error" } }]);
  });

  it("a session from the route refused for its credentials: streaming stops; no second ask (only a dispatched session gets another go)", async () => {
    // Prepare
    const { api, calls } = fakeApi({ relay: async () => sqsSession("from-route") });
    const { external, tried } = fakePublisher(() => awsError("AccessDenied", { $metadata: { httpStatusCode: 403 } }));
    const { log, lines } = recordingLog();
    // Act
    const p = publisher({ api, log, external });
    await publishAll(p, 2);
    // Assess
    expect(tried).toEqual(["from-route"]);
    expect(calls.map((c) => c.path)).toEqual([RELAY_PATH]);
    expect(lines).toEqual([{ msg: FAILED, data: { jobId: JOB, code: "error" } }]);
    expect(p.stopped).toBe(true);
  });

  it("a dispatched session refused: one warning naming the job, the same batch goes again with the route's session, and so do later ones", async () => {
    // Prepare
    const { api, calls } = fakeApi({ relay: async () => sqsSession("from-route") });
    const { external, sent, tried } = fakePublisher((s) =>
      s.credentials.accessKeyId === "dispatched" ? awsError("ExpiredToken") : undefined,
    );
    const { log, lines } = recordingLog();
    const p = publisher({ api, log, external, dispatched: sqsSession("dispatched") });
    // Act
    await publishAll(p, 2);
    await publishAll(p, 1, 2);
    // Assess
    expect(calls).toEqual([{ path: RELAY_PATH, params: { id: JOB }, body: { attempt: 3 } }]);
    expect(tried).toEqual(["dispatched", "from-route", "from-route"]);
    expect(sent.map((s) => [s.key, s.seqs])).toEqual([
      ["from-route", [0, 1]],
      ["from-route", [2]],
    ]);
    expect([p.published, p.messages, p.stopped]).toEqual([3, 2, false]);
    expect(lines).toEqual([{ msg: REFUSED, data: { jobId: JOB } }]);
  });

  it("a dispatched session refused and the route failing: both warnings, streaming stops quietly (no publish-failed line)", async () => {
    // Prepare
    const { api } = fakeApi({ relay: () => Promise.reject(new ApiError(503, "relay_unavailable", "no relay")) });
    const { external, tried } = fakePublisher(() => awsError("AccessDenied"));
    const { log, lines } = recordingLog();
    const p = publisher({ api, log, external, dispatched: sqsSession("dispatched") });
    // Act
    await publishAll(p, 2);
    // Assess
    expect(lines).toEqual([
      { msg: REFUSED, data: { jobId: JOB } },
      { msg: UNAVAILABLE, data: { jobId: JOB, code: "relay_unavailable" } },
    ]);
    expect(tried).toEqual(["dispatched"]);
    expect([p.published, p.messages, p.stopped]).toEqual([0, 0, true]);
    expect(await p.pubsub()).toBe(false);
  });

  it("a dispatched session refused and the route's refused too: streaming stops after that one more go", async () => {
    // Prepare
    const { api } = fakeApi({ relay: async () => sqsSession("from-route") });
    const { external, tried } = fakePublisher(() => awsError("AccessDenied"));
    const { log, lines } = recordingLog();
    const p = publisher({ api, log, external, dispatched: sqsSession("dispatched") });
    // Act
    await publishAll(p, 2);
    // Assess
    expect(tried).toEqual(["dispatched", "from-route"]);
    expect(lines).toEqual([
      { msg: REFUSED, data: { jobId: JOB } },
      { msg: FAILED, data: { jobId: JOB, code: "error" } },
    ]);
    expect(p.stopped).toBe(true);
  });
});

describe("which session is used when", () => {
  it("a dispatched session's expiry is read on our clock: 30 s past the margin by the coordinator's, 30 s short by ours, it is not used", async () => {
    // Prepare: the coordinator's clock is 60 s ahead of ours
    const { api, calls } = fakeApi({ relay: async () => sqsSession("from-route", NOW + 60_000 + 900_000), offsetMs: 60_000 });
    const { external, sent } = fakePublisher();
    // Act
    const p = publisher({
      api,
      log: recordingLog().log,
      external,
      dispatched: sqsSession("dispatched", NOW + DISPATCHED_SESSION_MARGIN_MS + 30_000),
    });
    await publishAll(p, 1);
    // Assess: the route's session, its expiry on our clock
    expect(calls.map((c) => c.path)).toEqual([RELAY_PATH]);
    expect(sent).toEqual([{ key: "from-route", seqs: [0], expiration: NOW + 900_000 }]);
  });

  it("a dispatched session is handed to the publisher with its expiry on our clock", async () => {
    // Prepare: the coordinator's clock is 60 s behind ours
    const { api, calls } = fakeApi({ offsetMs: -60_000 });
    const { external, sent } = fakePublisher();
    // Act
    const p = publisher({ api, log: recordingLog().log, external, dispatched: sqsSession("dispatched", NOW + 300_000) });
    await publishAll(p, 1);
    // Assess
    expect(calls).toEqual([]);
    expect(sent).toEqual([{ key: "dispatched", seqs: [0], expiration: NOW + 360_000 }]);
  });

  it("a dispatched session with exactly the margin left is not used; with a millisecond more it is", async () => {
    // Prepare
    const edge = fakeApi({ relay: async () => sqsSession("from-route") });
    const past = fakeApi({ relay: async () => sqsSession("from-route") });
    const a = fakePublisher();
    const b = fakePublisher();
    const log = recordingLog().log;
    // Act
    await publishAll(
      publisher({ api: edge.api, log, external: a.external, dispatched: sqsSession("dispatched", NOW + DISPATCHED_SESSION_MARGIN_MS) }),
      1,
    );
    await publishAll(
      publisher({ api: past.api, log, external: b.external, dispatched: sqsSession("dispatched", NOW + DISPATCHED_SESSION_MARGIN_MS + 1) }),
      1,
    );
    // Assess
    expect([edge.calls.length, a.sent.map((s) => s.key)]).toEqual([1, ["from-route"]]);
    expect([past.calls.length, b.sent.map((s) => s.key)]).toEqual([0, ["dispatched"]]);
  });

  it("a dispatched session that runs into the margin during the job: later batches use the route's session", async () => {
    // Prepare
    let t = NOW;
    const { api, calls } = fakeApi({ relay: async () => sqsSession("from-route") });
    const { external, sent } = fakePublisher();
    const p = publisher({ api, log: recordingLog().log, external, now: () => t, dispatched: sqsSession("dispatched", NOW + 120_000) });
    // Act
    await publishAll(p, 1);
    t = NOW + 120_000 - DISPATCHED_SESSION_MARGIN_MS;
    await publishAll(p, 1, 1);
    // Assess
    expect(sent.map((s) => [s.key, s.seqs])).toEqual([
      ["dispatched", [0]],
      ["from-route", [1]],
    ]);
    expect(calls.map((c) => c.path)).toEqual([RELAY_PATH]);
  });

  it("a dispatched session with no external publisher given: the built-in one for its transport", async () => {
    // Prepare
    const { api } = fakeApi();
    const sentBefore = builtins.sent.length;
    // Act
    await publishAll(publisher({ api, log: recordingLog().log, dispatched: sqsSession("sqs-1") }), 1);
    await publishAll(publisher({ api, log: recordingLog().log, dispatched: sqsSession("sqs-2") }), 1);
    await publishAll(publisher({ api, log: recordingLog().log, dispatched: iotSession("iot-1") }), 1);
    // Assess
    expect(builtins.sent.slice(sentBefore)).toEqual([
      { via: "sqs", key: "sqs-1", seqs: [0] },
      { via: "sqs", key: "sqs-2", seqs: [0] },
      { via: "iot", key: "iot-1", seqs: [0] },
    ]);
  });

  it("an external publisher given: the built-in ones are not used", async () => {
    // Prepare
    const { api } = fakeApi();
    const { external, sent } = fakePublisher();
    const sentBefore = builtins.sent.length;
    // Act
    await publishAll(publisher({ api, log: recordingLog().log, external, dispatched: sqsSession("sqs-x") }), 1);
    await publishAll(publisher({ api, log: recordingLog().log, external, dispatched: iotSession("iot-x") }), 1);
    // Assess
    expect(sent.map((s) => s.key)).toEqual(["sqs-x", "iot-x"]);
    expect(builtins.sent.length).toBe(sentBefore);
  });

  it("the built-in SQS publisher is made once for all jobs; the IoT one once per API client, dated by its coordinator's time", async () => {
    // Prepare: two clients, the second's coordinator 5 min ahead
    const one = fakeApi();
    const two = fakeApi({ offsetMs: 300_000 });
    const log = recordingLog().log;
    const iotBefore = builtins.iotMade.length;
    // Act
    for (const api of [one.api, one.api, two.api, two.api]) {
      await publishAll(publisher({ api, log, dispatched: sqsSession("sqs") }), 1);
      await publishAll(publisher({ api, log, dispatched: iotSession("iot") }), 1);
    }
    // Assess
    expect(builtins.sqsMade).toBe(1);
    const made = builtins.iotMade.slice(iotBefore);
    expect(made.map((m) => m.now?.().toISOString())).toEqual([new Date(NOW).toISOString(), new Date(NOW + 300_000).toISOString()]);
  });
});

describe("batching and counting", () => {
  it("chunks queued together go out at most 64 to a post, in order", async () => {
    // Prepare
    const { api, calls } = fakeApi();
    const p = publisher({ api, log: recordingLog().log });
    // Act
    await publishAll(p, 130);
    // Assess
    const posts = calls.filter((c) => c.path === CHUNKS_PATH).map((c) => (c.body as { chunks: RelayChunk[] }).chunks.map((k) => k.seq));
    expect(posts.map((s) => s.length)).toEqual([64, 64, 2]);
    expect(posts.flat()).toEqual(Array.from({ length: 130 }, (_, i) => i));
    expect([p.published, p.messages]).toEqual([130, 3]);
  });

  it("chunks queued while a post is in flight go out together in the next one", async () => {
    // Prepare
    let release = () => {};
    const seqs: number[][] = [];
    const external = async (_s: PubSubSession, chunks: RelayChunk[]) => {
      seqs.push(chunks.map((c) => c.seq));
      if (seqs.length === 1) await new Promise<void>((r) => (release = r));
    };
    const { api } = fakeApi();
    const p = publisher({ api, log: recordingLog().log, external, dispatched: sqsSession("dispatched") });
    // Act
    p.publish(chunk(0));
    await vi.waitFor(() => expect(seqs).toHaveLength(1));
    p.publish(chunk(1));
    p.publish(chunk(2));
    release();
    await p.flush();
    // Assess
    expect(seqs).toEqual([[0], [1, 2]]);
    expect([p.published, p.messages]).toEqual([3, 2]);
  });

  it("a chunk queued at any moment around the end of a round is posted (none is left behind)", async () => {
    // Prepare: for each depth d, a second chunk is queued d microtasks after the first post landed
    const runs = Array.from({ length: 24 }, (_, d) => {
      const { api } = fakeApi();
      const p = publisher({
        api,
        log: recordingLog().log,
        dispatched: sqsSession("dispatched"),
        external: async (_s, chunks) => {
          if (chunks[0]!.seq !== 0) return;
          let tick = Promise.resolve();
          for (let i = 0; i < d; i++) tick = tick.then(() => undefined);
          void tick.then(() => p.publish(chunk(1)));
        },
      });
      return p;
    });
    // Act
    for (const p of runs) p.publish(chunk(0));
    await new Promise((r) => setTimeout(r, 20));
    for (const p of runs) await p.flush();
    // Assess
    expect(runs.map((p) => p.published)).toEqual(runs.map(() => 2));
  });
});
