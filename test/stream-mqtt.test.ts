/**
 * The AWS streaming path end to end with the SDK's OWN subscriber (client/relay-mqtt.ts) over a
 * real MQTT broker on WebSocket (aedes + ws on 127.0.0.1, test/mqtt-broker.ts), issue 12: the
 * coordinator vends "iot-mqtt" sessions (a fake vendor in the place of the STS one, same topics
 * and scopes as functions/adapters/relay-iot.ts), the agent publishes through its real IoT
 * publisher (agent/relay-iot.ts, SigV4-signed HTTPS) whose requests this test hands to the broker,
 * and the SDK reads over MQTT: one connection and one subscription per account.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import type { RelayChunk, RelaySession } from "../events/relay";
import { generateSigningKey } from "../core/crypto/keys";
import type { RelaySessionVendor } from "../core/relay-access";
import { startNetwork, type LocalNetwork } from "../local/network";
import { startLocalAgents } from "../local/agents";
import type { RunningAgent } from "../agent/runtime";
import { BUILTIN_DEFAULT_MODEL } from "../agent/engines/builtin";
import { API, ApiError } from "../api-client/api";
import { CocoonClient, JobRefundedError, StreamIntegrityError, VerificationError, type StreamEvent } from "../client/sdk";
import type { ResultRequest } from "../events/api";
import { b64u } from "../core/crypto/encoding";
import { readJob } from "../core/jobs/items";
import { settlementOf } from "../core/jobs/settlement-token";
import { jobCost } from "../core/pricing";
import { signReceipt } from "../core/crypto/receipt";
import { collectStream, streamText } from "./helpers";
import { startTestBroker, type TestBroker } from "./mqtt-broker";

process.env.COCOON_STREAM_INTERVAL_MS = "1";
const ENDPOINT = "fake-iot.local";
const PREFIX = "cocoon-test";

let net: LocalNetwork;
let agents: RunningAgent[];
let broker: TestBroker;
const realFetch = globalThis.fetch;
/** what the coordinator was asked (method and URL), in order */
const requests: string[] = [];
/** account sessions vended, and how long the next one lasts (then 900 s again) */
let accountSessions = 0;
let nextAccountSessionMs: number | undefined;
/** what the agent published, as it published it (before any rewrite below) */
const published: Array<{
  topic: string;
  chunk: RelayChunk;
  /** how many HTTP requests the coordinator had received by then */ requestsBefore: number;
}> = [];
/** rewrites a publish on its way to the broker (a relay that tampers); undefined: pass it on; "drop": lose it */
let rewrite: ((topic: string, chunk: RelayChunk) => RelayChunk | "drop" | undefined) | undefined;

const session = (topic: string, clientId: string, ms = 600_000): RelaySession => ({
  transport: "iot-mqtt",
  endpoint: ENDPOINT,
  region: "us-east-1",
  topic,
  clientId,
  credentials: { accessKeyId: "ASIAFAKE", secretAccessKey: "fake", sessionToken: "fake-token", expiration: Date.now() + ms },
});
const vendor: RelaySessionVendor = {
  forWorker: async (job, workerId) => session(`${PREFIX}/r/${job.requester}/${job.jobId}/${workerId}`, `${PREFIX}-w`),
  forRequester: async (jobId, requester) => session(`${PREFIX}/r/${requester}/${jobId}/+`, `${PREFIX}-r-${jobId}`),
  forAccount: async (requester) => {
    accountSessions++;
    const ms = nextAccountSessionMs ?? 900_000;
    nextAccountSessionMs = undefined;
    return session(`${PREFIX}/r/${requester}/+/+`, `${PREFIX}-r-${requester}-${randomBytes(6).toString("hex")}`, ms);
  },
};

const newClient = async (o: { mqtt?: boolean; quietMs?: number } = {}) => {
  const c = new CocoonClient({
    apiUrl: net.url,
    key: generateSigningKey(),
    allowDev: true,
    ...(o.mqtt === false ? {} : { mqtt: { urlOverride: (u: string) => broker.urlFor(u), ...(o.quietMs ? { quietMs: o.quietMs } : {}) } }),
  });
  await c.faucet(1_000_000_000n);
  return c;
};
const ask = (words: string, extra: { timeoutMs?: number } = {}) => ({
  model: BUILTIN_DEFAULT_MODEL,
  messages: [{ role: "user" as const, content: words }],
  maxTokens: 32,
  tiers: ["dev" as const],
  ...extra,
});

beforeAll(async () => {
  broker = await startTestBroker();
  // The agent's IoT publisher POSTs to https://<endpoint>/topics/<topic>: the test hands each to the broker.
  globalThis.fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
    if (url.host !== ENDPOINT) return realFetch(input, init);
    const topic = decodeURIComponent(url.pathname.slice("/topics/".length));
    const chunk = JSON.parse(String(init!.body)) as RelayChunk;
    published.push({ topic, chunk, requestsBefore: requests.length });
    const out = rewrite?.(topic, chunk) ?? chunk;
    if (out !== "drop") await broker.publish(topic, JSON.stringify(out));
    return new Response("{}", { status: 200 });
  }) as typeof fetch;
  net = await startNetwork({ chain: false, dataDir: tempDir("cocoon-mqtt-") });
  (net.deps as { relaySessions?: RelaySessionVendor }).relaySessions = vendor;
  net.server.on("request", (req: { method?: string; url?: string }) => requests.push(`${req.method} ${req.url}`));
  agents = await startLocalAgents(net.url, tempDir("cocoon-mqtt-agents-"), [{ name: "a", priceBps: 10_000 }]);
}, 60_000);

afterAll(async () => {
  await Promise.all((agents ?? []).map((a) => a.stop()));
  await net?.stop();
  await broker?.close();
  globalThis.fetch = realFetch;
});

describe("issue 12: the SDK's own MQTT subscriber, one connection per account (real broker over WebSocket)", () => {
  it("several concurrent askStream jobs share ONE connection and ONE subscription; each gets only its own chunks, verified", async () => {
    // Prepare
    const client = await newClient();
    const before = { connects: broker.connects.length, subs: broker.subscriptions.length, sessions: accountSessions };
    // Act
    const runs = await Promise.all(
      ["the first of three streams", "a second stream at the same time", "and a third one beside them"].map((w) =>
        collectStream(client.askStream(ask(w))),
      ),
    );
    // Assess
    expect(accountSessions - before.sessions).toBe(1);
    expect(broker.connects.length - before.connects).toBe(1);
    expect(broker.subscriptions.slice(before.subs)).toEqual([`${PREFIX}/r/${client.account}/+/+`]);
    for (const { events, done } of runs) {
      const mine = published.filter((p) => p.chunk.jobId === done.jobId);
      expect(mine.length).toBeGreaterThan(1);
      expect(done.relay).toEqual({ chunks: mine.length, recovered: 0 }); // every chunk came over MQTT, none from the stored reply
      expect(streamText(events)).toBe(done.text);
      // issue 12: two requests a job: after the final chunk the job is not read (its receipt ends it)
      expect(requests.some((x) => x.startsWith(`GET /v1/jobs/${done.jobId}`))).toBe(false);
      expect(done.cost).toBe((await client.job(done.jobId)).cost); // the bill the SDK gave is the one the coordinator charged
    }
    expect(new Set(runs.map((r) => r.done.text)).size).toBe(3);
    client.close();
  });

  it("a chunk forged on the account's topic is refused by the SDK's checks (stream_tampered), its text never shown", async () => {
    // Prepare: the relay alters the second chunk of the next job
    const client = await newClient();
    rewrite = (_topic, c) => (c.seq === 1 ? { ...c, data: (c.data[0] === "A" ? "B" : "A") + c.data.slice(1) } : undefined);
    const shown: StreamEvent[] = [];
    // Act
    const run = (async () => {
      for await (const ev of client.askStream(ask("forge the second chunk of this answer please"))) shown.push(ev);
    })();
    // Assess
    await expect(run).rejects.toMatchObject({ name: "StreamIntegrityError", code: "stream_tampered" });
    expect(shown.filter((e) => e.type === "delta").length).toBeLessThanOrEqual(1); // chunk 0's text at most
    rewrite = undefined;
    client.close();
  });

  it("another job's chunk published on this job's topic is refused (stream_cross_job)", async () => {
    // Prepare: a real chunk of another job, put in place of this job's second chunk
    const client = await newClient();
    const other = await collectStream(client.askStream(ask("another job whose chunk will be replayed")));
    const foreign = published.find((p) => p.chunk.jobId === other.done.jobId && p.chunk.seq === 1)!.chunk;
    rewrite = (_topic, c) => (c.seq === 1 && c.jobId !== foreign.jobId ? foreign : undefined);
    // Act
    const run = collectStream(client.askStream(ask("a foreign chunk lands in this stream")));
    // Assess
    await expect(run).rejects.toBeInstanceOf(StreamIntegrityError);
    await expect(run).rejects.toMatchObject({ code: "stream_cross_job" });
    rewrite = undefined;
    client.close();
  });

  it("a relay that goes silent (every chunk lost) does not hang the stream: the job is read after the quiet spell and the answer recovered from the stored reply", async () => {
    // Prepare: the broker never gets this job's chunks
    const client = await newClient({ quietMs: 300 });
    rewrite = () => "drop";
    const from = requests.length;
    // Act
    const { events, done } = await collectStream(client.askStream(ask("nothing of this reaches the broker")));
    // Assess
    expect(done.relay.chunks).toBe(0);
    expect(done.relay.recovered).toBeGreaterThan(0);
    expect(streamText(events)).toBe(done.text);
    expect(requests.slice(from).some((x) => x.startsWith(`GET /v1/jobs/${done.jobId}?wait=0`))).toBe(true); // the quiet spell's read
    rewrite = undefined;
    client.close();
  });

  it("ask() takes the whole answer over the relay in one message: the submit returns at once (no wait), the answer verified", async () => {
    // Prepare
    const client = await newClient();
    const from = requests.length;
    // Act
    const r = await client.ask(ask("answer me whole, but over the relay"));
    // Assess
    const mine = requests.slice(from);
    const submits = mine.filter((x) => /^POST \/v1\/jobs(\?|$)/.test(x));
    expect(submits).toHaveLength(1);
    expect(new URL(submits[0]!.slice(5), "http://x").searchParams.get("wait") ?? "0").toBe("0");
    // the whole answer in one relay message (relayWhole), where a stream of it publishes a chunk every millisecond here
    const relayed = published.filter((p) => p.chunk.jobId === r.jobId);
    expect(relayed).toHaveLength(1);
    expect(relayed[0]!.chunk).toMatchObject({ seq: 0, final: true });
    expect(relayed[0]!.chunk.receipt).toBeDefined();
    expect(r.receipt?.body.jobId).toBe(r.jobId);
    expect(r.text.length).toBeGreaterThan(0);
    expect(r).not.toHaveProperty("relay");
    // issue 12: the job is never read (its final chunk, with the receipt, ends it); no long-poll of the relay's HTTP routes
    expect(mine.filter((x) => x.startsWith(`GET /v1/jobs/${r.jobId}`))).toEqual([]);
    expect(mine.some((x) => x.includes("/chunks"))).toBe(false);
    // the final chunk went out only once the coordinator had the worker's result: it is the SDK's word that the job was billed
    expect(requests.slice(from, relayed[0]!.requestsBefore).some((x) => x.startsWith("POST /v1/agent/results"))).toBe(true);
    expect(r.cost).toBe((await client.job(r.jobId)).cost);
    client.close();
  });

  it.each([
    [
      "without the coordinator's bill (an agent from before issue 12's last step)",
      (c: RelayChunk): RelayChunk => ({ ...c, billed: undefined }),
    ],
    ["with a bill that is not the receipt's (a relay that changed it)", (c: RelayChunk): RelayChunk => ({ ...c, billed: "1" })],
  ])("a final chunk %s: the job is read once and the coordinator's own bill, checked, is the one reported", async (_what, change) => {
    // Prepare
    const client = await newClient();
    rewrite = (_topic, chunk) => (chunk.final ? change(chunk) : undefined);
    const from = requests.length;
    // Act
    const r = await client.ask(ask("a bill to check"));
    // Assess
    expect(requests.slice(from).filter((x) => x.startsWith(`GET /v1/jobs/${r.jobId}`))).toHaveLength(1);
    const stored = await client.job(r.jobId);
    expect(r.cost).toBe(stored.cost);
    expect(r.cost).not.toBe("1");
    rewrite = undefined;
    client.close();
  });

  it("a final chunk whose receipt, signed by the worker, names another model than asked: ask() refuses it (model_mismatch)", async () => {
    // Prepare: the worker's own key signs a receipt for a cheaper model on the relayed final chunk
    const client = await newClient();
    const worker = agents[0]!.api.key;
    rewrite = (_topic, chunk) =>
      chunk.final && chunk.receipt
        ? { ...chunk, receipt: signReceipt({ ...chunk.receipt.body, model: "cheap/model-0.5b" }, worker) }
        : undefined;
    try {
      // Act
      const err = await client.ask(ask("which model answers?")).catch((e: unknown) => e);
      // Assess
      expect(err).toBeInstanceOf(VerificationError);
      expect(err).toMatchObject({ code: "model_mismatch" });
    } finally {
      rewrite = undefined;
      client.close();
    }
  });

  it("credentials that would expire within a job's deadline: a new session and connection before submit; the old connection closes", async () => {
    // Prepare: a first account session that lasts 100 s (a job needs it to last 60 s past its deadline)
    nextAccountSessionMs = 100_000;
    const client = await newClient();
    const before = { connects: broker.connects.length, sessions: accountSessions };
    await expect.poll(() => broker.connected()).toBe(0); // the clients of the tests above are gone
    // Act
    const first = await collectStream(client.askStream(ask("a short job", { timeoutMs: 30_000 })));
    const second = await collectStream(client.askStream(ask("a job with a longer deadline", { timeoutMs: 50_000 })));
    // Assess
    expect(accountSessions - before.sessions).toBe(2);
    expect(broker.connects.length - before.connects).toBe(2);
    expect(first.done.relay.recovered).toBe(0);
    expect(second.done.relay.recovered).toBe(0);
    await expect.poll(() => broker.connected()).toBe(1); // the first connection closed once it had no job
    client.close();
  });

  it("the HTTP relay (no vendor: the local default) is as it was: ask() waits on the submit, scope account answers http", async () => {
    // Prepare
    const deps = net.deps as { relaySessions?: RelaySessionVendor };
    delete deps.relaySessions;
    try {
      const client = await newClient({ mqtt: false });
      const from = requests.length;
      // Act
      const s = await client.api.request(API.relaySession, {
        params: { id: "job_00000000000000000000000000" },
        body: { scope: "account" },
      });
      const r = await client.ask(ask("answer me on the local default"));
      // Assess
      expect(s).toEqual({ transport: "http" });
      expect(r.text.length).toBeGreaterThan(0);
      const submit = requests.slice(from).find((x) => /^POST \/v1\/jobs(\?|$)/.test(x))!;
      expect(new URL(submit.slice(5), "http://x").searchParams.get("wait")).toBe("20");
    } finally {
      deps.relaySessions = vendor;
    }
  });
});

describe("session 41: a waited submit's answer is the coordinator's own word", () => {
  it("the HTTP relay: ask()'s submit answers with the completed job (no settle key, none needed): its bill taken as answered, the job never read", async () => {
    // Prepare: no vendor, so the HTTP relay (the local default): ask() submits with ?wait
    const deps = net.deps as { relaySessions?: RelaySessionVendor };
    delete deps.relaySessions;
    try {
      const client = await newClient({ mqtt: false });
      const from = requests.length;
      // Act
      const r = await client.ask(ask("answer me on the submit itself"));
      // Assess: one submit (waited), answered by the coordinator itself over its API (not relayed
      // by a worker): the SDK took its view, checked the receipt and bill, and read nothing more
      const asked = requests.slice(from);
      expect(asked.filter((x) => /^POST \/v1\/jobs\?wait=/.test(x))).toHaveLength(1);
      expect(asked.filter((x) => x.startsWith(`GET /v1/jobs/${r.jobId}`))).toEqual([]);
      expect(r.cost).toBe((await client.job(r.jobId)).cost);
      client.close();
    } finally {
      deps.relaySessions = vendor;
    }
  });
});

describe("session 40: a relayed final chunk ends ask() only with the coordinator's settlement token", () => {
  /** The coordinator's genuine settlement token for these fields (its quote key: only a test can make one here). */
  const coordinatorToken = (requester: string, s: { jobId: string; attempt: number; replyHash: string; cost: string }) =>
    settlementOf(net.deps.config, { jobId: s.jobId, requester }, s.attempt, s.replyHash, s.cost).settlement;

  it("an honest worker relays the token it was answered with: ask() ends on its final chunk, the job never read", async () => {
    // Prepare
    const client = await newClient();
    const from = requests.length;
    // Act
    const r = await client.ask(ask("an honest answer, settled"));
    // Assess
    const final = published.find((p) => p.chunk.jobId === r.jobId && p.chunk.final)!.chunk;
    expect(final.settlement).toBe(
      coordinatorToken(client.account, { jobId: r.jobId, attempt: 0, replyHash: final.receipt!.body.replyHash, cost: final.billed! }),
    );
    expect(requests.slice(from).filter((x) => x.startsWith(`GET /v1/jobs/${r.jobId}`))).toEqual([]);
    expect(r.cost).toBe((await client.job(r.jobId)).cost);
    client.close();
  });

  it.each([
    ["without a token (an agent from before session 40)", () => undefined],
    ["with a forged token", () => b64u.encode(randomBytes(32))],
    [
      "with the coordinator's token for another attempt of the job",
      (c: RelayChunk, requester: string) =>
        coordinatorToken(requester, { jobId: c.jobId, attempt: c.attempt + 1, replyHash: c.receipt!.body.replyHash, cost: c.billed! }),
    ],
    [
      "with the coordinator's token for another job of ours",
      (c: RelayChunk, requester: string) =>
        coordinatorToken(requester, {
          jobId: "job_00000000000000000000000000",
          attempt: c.attempt,
          replyHash: c.receipt!.body.replyHash,
          cost: c.billed!,
        }),
    ],
  ])(
    "a final chunk %s: its bill is not taken, the job is read once and the ledger's bill reported",
    async (_what, token: (c: RelayChunk, requester: string) => string | undefined) => {
      // Prepare
      const client = await newClient();
      rewrite = (_topic, chunk) => (chunk.final ? { ...chunk, settlement: token(chunk, client.account) } : undefined);
      const from = requests.length;
      try {
        // Act
        const r = await client.ask(ask("a settlement to check"));
        // Assess
        expect(requests.slice(from).filter((x) => x.startsWith(`GET /v1/jobs/${r.jobId}`))).toHaveLength(1);
        expect(r.cost).toBe((await client.job(r.jobId)).cost);
      } finally {
        rewrite = undefined;
        client.close();
      }
    },
  );

  it("a retried result post answered as a duplicate relays the same token: ask() ends on the final chunk, the job never read", async () => {
    // Prepare: the coordinator takes the agent's first result post but its answer is lost (the
    // connection dropped): the agent posts the result again and is answered duplicate: true
    const client = await newClient();
    const agent = agents[0]!;
    const send = agent.api.requestJson.bind(agent.api);
    const answers: Array<{ duplicate?: boolean }> = [];
    let lost = false;
    agent.api.requestJson = async (method, path, body, headers, signal) => {
      const r = await send(method, path, body, headers, signal);
      if (path !== API.postResult.path || (body as ResultRequest).kind !== "completed") return r;
      answers.push(r as { duplicate?: boolean });
      if (lost) return r;
      lost = true;
      throw new ApiError(0, "unreachable", "the connection dropped after the post went out");
    };
    const from = requests.length;
    try {
      // Act
      const r = await client.ask(ask("an answer posted twice"));
      // Assess: the second answer was a duplicate, its token relayed and taken: no read of the job
      expect(answers.map((a) => a.duplicate)).toEqual([false, true]);
      const final = published.find((p) => p.chunk.jobId === r.jobId && p.chunk.final)!.chunk;
      expect(final.settlement).toBe(
        coordinatorToken(client.account, { jobId: r.jobId, attempt: 0, replyHash: final.receipt!.body.replyHash, cost: final.billed! }),
      );
      expect(requests.slice(from).filter((x) => x.startsWith(`GET /v1/jobs/${r.jobId}`))).toEqual([]);
      expect(r.cost).toBe((await client.job(r.jobId)).cost);
    } finally {
      agent.api.requestJson = send;
      client.close();
    }
  });

  it("a worker that never posts its result relays its genuine answer at the right price: ask() reads the job and reports its refund", async () => {
    // Prepare: the agent's result post is swapped for a failure report (the ledger refunds the job);
    // the agent is answered as if the coordinator had taken its result at the right price, and
    // relays that bill with a token of its own making
    const client = await newClient();
    const agent = agents[0]!;
    const send = agent.api.requestJson.bind(agent.api);
    agent.api.requestJson = async (method, path, body, headers, signal) => {
      const r = body as ResultRequest;
      if (path !== API.postResult.path || r.kind !== "completed") return send(method, path, body, headers, signal);
      await send(method, path, { kind: "failed", jobId: r.jobId, attempt: r.attempt, code: "engine_error" }, headers, signal);
      const job = (await readJob(net.deps.store, r.jobId))!;
      const raw = jobCost(
        { ...net.deps.config.pricing, ...job.weights },
        BigInt(job.candidates[r.attempt]!.pricePerToken),
        r.receipt.body.usage,
      );
      const cost = (raw < BigInt(job.maxCost) ? raw : BigInt(job.maxCost)).toString();
      return { status: "completed", cost, duplicate: false, settlement: b64u.encode(randomBytes(32)) };
    };
    try {
      // Act
      const err = await client.ask(ask("an answer the ledger never took")).catch((e: unknown) => e);
      // Assess: the relayed final chunk was the worker's genuine answer at the right price, not what ask() reports
      const final = published.filter((p) => p.chunk.final).at(-1)!.chunk;
      expect(final.billed).toBeDefined();
      expect(err).toBeInstanceOf(JobRefundedError);
      expect(err).toMatchObject({ code: "job_failed" });
      expect((await client.job(final.jobId)).status).toBe("refunded");
    } finally {
      agent.api.requestJson = send;
      client.close();
    }
  });
});
