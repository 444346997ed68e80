/**
 * The SQS relay end to end (issue 12): the real local network (startNetwork) and a real agent,
 * the coordinator vending "sqs" sessions through a fake vendor in the place of the STS one (the
 * same queue, attributes and session names as functions/adapters/relay-sqs.ts: CreateQueue on an
 * account session with a channel, a worker session named relaySenderName), the agent sending with
 * its real publisher (agent/relay-sqs.ts, the AWS SDK) and the SDK reading with its own subscriber
 * (client/relay-sqs.ts, signed fetch), both through the SQS stand-in on 127.0.0.1
 * (test/sqs-relay-standin.ts: local-aws-sqs behind a proxy that checks SigV4 and reports SenderId
 * as SQS does).
 */
import { CreateQueueCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { RelayChunk, relaySenderName, type RelaySession } from "../events/relay";
import { generateSigningKey, type SigningKeyPair } from "../core/crypto/keys";
import { CocoonError } from "../core/errors";
import type { RelaySessionVendor } from "../core/relay-access";
import { startNetwork, type LocalNetwork } from "../local/network";
import { startLocalAgents } from "../local/agents";
import type { RunningAgent } from "../agent/runtime";
import { BUILTIN_DEFAULT_MODEL } from "../agent/engines/builtin";
import { CocoonClient } from "../client/sdk";
import { credentialsFor, startSqsStandIn, type SqsStandIn } from "./sqs-relay-standin";

import { collectStream, streamText } from "./helpers";
process.env.COCOON_STREAM_INTERVAL_MS = "1";
const PREFIX = "cocoon-test";
const REGION = "us-east-1";

let net: LocalNetwork;
let agents: RunningAgent[];
let sqs: SqsStandIn;
/** what the coordinator was asked (method and URL), in order */
const requests: string[] = [];
/** the coordinator's log lines (JSON) */
const coordinatorLog: string[] = [];
/** the account sessions vended: for which account and channel, and the queue */
const accountSessions: Array<{ account: string; channel: string; queueUrl: string }> = [];

/** The vendor's queue per channel (functions/adapters/relay-sqs.ts names it so while it fits). */
const queueName = (account: string, channel: string) => `${PREFIX}-r-${account}-${channel}`;
const sessionOf = (queueUrl: string, sessionName: string): RelaySession => ({
  transport: "sqs",
  region: REGION,
  queueUrl,
  credentials: credentialsFor(sessionName),
});
let admin: SQSClient;
const vendor: RelaySessionVendor = {
  // as the real one: the coordinator caps channels per account before it asks (session 23), which the SDK's clients stay under
  channelQueues: true,
  forAccount: async (account, channel) => {
    if (!channel) throw new CocoonError(400, "relay_channel_required", 'ask with {"scope":"account","channel":…}');
    // As the real vendor: the queue made here, chunks kept 2 minutes, a received one never seen again (nothing to delete)
    const { QueueUrl } = await admin.send(
      new CreateQueueCommand({
        QueueName: queueName(account, channel),
        Attributes: {
          MessageRetentionPeriod: "120",
          VisibilityTimeout: "43200",
          ReceiveMessageWaitTimeSeconds: "20",
          SqsManagedSseEnabled: "true",
        },
      }),
    );
    accountSessions.push({ account, channel, queueUrl: QueueUrl! });
    return sessionOf(QueueUrl!, `r-${channel}`);
  },
  // The worker may only send, to the channel its job was submitted with, under the job attempt's name; no queue is made for it.
  forWorker: async (job) => {
    if (!job.relayChannel) throw new CocoonError(409, "relay_channel_unknown", "the requester submitted this job without a relay channel");
    return sessionOf(`${sqs.url}/123456789012/${queueName(job.requester, job.relayChannel)}`, relaySenderName(job.jobId, job.attempt));
  },
  forRequester: async () => {
    throw new CocoonError(400, "relay_scope_unsupported", "the SQS relay reads through channels");
  },
};

const newClient = async (key: SigningKeyPair = generateSigningKey(), fund = true) => {
  const c = new CocoonClient({ apiUrl: net.url, key, allowDev: true });
  if (fund) await c.faucet(1_000_000_000n);
  return c;
};
const ask = (words: string) => ({
  model: BUILTIN_DEFAULT_MODEL,
  messages: [{ role: "user" as const, content: words }],
  maxTokens: 32,
  tiers: ["dev" as const],
});
const chunkIn = (body: string) => RelayChunk.parse(JSON.parse(body));
/** Waits (bounded: 5 s, then the test's own assertions say what went wrong) until `cond` holds. */
async function until(cond: () => boolean): Promise<void> {
  for (const end = Date.now() + 5_000; !cond() && Date.now() < end;) await new Promise((r) => setTimeout(r, 5));
}
/** the messages the worker sent for a job */
const sentFor = (jobId: string) => sqs.sent.filter((m) => chunkIn(m.body).jobId === jobId);
/** the coordinator's requests between two points, the agents' polls and heartbeats apart (on AWS those read SQS) */
const hotPath = (from: number, to = requests.length) =>
  requests
    .slice(from, to)
    .filter((r) => !r.startsWith("GET /v1/agent/jobs?") && r !== "GET /v1/agent/jobs" && !r.startsWith("POST /v1/agents/heartbeat"));

beforeAll(async () => {
  sqs = await startSqsStandIn();
  const { expiration: _e, ...vendorCredentials } = credentialsFor("vendor");
  admin = new SQSClient({ region: REGION, endpoint: sqs.url, credentials: vendorCredentials });
  net = await startNetwork({
    chain: false,
    dataDir: tempDir("cocoon-sqs-"),
    logSink: (line) => coordinatorLog.push(line),
  });
  (net.deps as { relaySessions?: RelaySessionVendor }).relaySessions = vendor;
  net.server.on("request", (req: { method?: string; url?: string }) => requests.push(`${req.method} ${req.url}`));
  agents = await startLocalAgents(net.url, tempDir("cocoon-sqs-agents-"), [{ name: "a", priceBps: 10_000 }]);
}, 60_000);

afterAll(async () => {
  await Promise.all((agents ?? []).map((a) => a.stop()));
  await net?.stop();
  await sqs?.close();
});

describe("issue 12: the SQS relay, the SDK's own subscriber on its channel's queue (real agent, SQS stand-in)", () => {
  it("concurrent askStream jobs read on ONE channel (one account session, one queue); each gets its own chunks over SQS, verified", async () => {
    // Prepare
    const client = await newClient();
    const before = accountSessions.length;
    // Act
    const runs = await Promise.all(
      ["the first of three streams", "a second stream at the same time", "and a third one beside them"].map((w) =>
        collectStream(client.askStream(ask(w))),
      ),
    );
    // Assess
    const mine = accountSessions.slice(before);
    expect(mine).toHaveLength(1);
    expect(mine[0]!.account).toBe(client.account);
    for (const { events, done } of runs) {
      const sent = sentFor(done.jobId);
      expect(sent.length).toBeGreaterThan(1);
      expect(new Set(sent.map((m) => m.queueUrl))).toEqual(new Set([mine[0]!.queueUrl])); // the job named the client's channel
      expect(new Set(sent.map((m) => m.sender))).toEqual(new Set([relaySenderName(done.jobId, 0)]));
      expect(done.relay).toEqual({ chunks: sent.length, recovered: 0 }); // every chunk came over SQS, none from the stored reply
      expect(streamText(events)).toBe(done.text);
      expect(requests.some((x) => x.startsWith(`GET /v1/jobs/${done.jobId}`))).toBe(false); // the final chunk ended the job
      expect(requests.some((x) => x.startsWith(`POST /v1/agent/jobs/${done.jobId}/relay`))).toBe(false); // its session came with it
      expect(done.cost).toBe((await client.job(done.jobId)).cost);
    }
    expect(new Set(runs.map((r) => r.done.text)).size).toBe(3);
    client.close();
  });

  it("ask() over SQS: the submit returns at once, the answer comes whole in one message; the job costs the coordinator exactly two requests, its submit and its result (the worker's relay session rode in the dispatch)", async () => {
    // Prepare: a client that has read a job already (its quote kept, its channel's session held)
    const client = await newClient();
    await client.ask(ask("warm up the quote and the channel"));
    const from = requests.length;
    const receives = sqs.calls.filter((c) => c.action === "ReceiveMessage").length;
    // Act
    const r = await client.ask(ask("answer me whole, but over SQS"));
    // Assess
    const hot = hotPath(from);
    expect(hot.filter((x) => /^POST \/v1\/jobs(\?|$)/.test(x))).toEqual(["POST /v1/jobs?wait=0"]);
    expect(hot.filter((x) => x.startsWith("POST /v1/agent/results"))).toHaveLength(1);
    // and nothing else: no read of the job, no new account session, and (issue 12) no worker relay session
    // (POST /v1/agent/jobs/{id}/relay): the agent sent with the session that came with the job
    expect(hot).toHaveLength(2);
    expect(hot.filter((x) => x.includes("/relay"))).toEqual([]);
    expect(sentFor(r.jobId).map((m) => m.sender)).toEqual([relaySenderName(r.jobId, 0)]);
    // the coordinator logged the job (its submit, its dispatch) but not the credentials it dispatched
    const worker = credentialsFor(relaySenderName(r.jobId, 0));
    expect(coordinatorLog.some((l) => l.includes(r.jobId))).toBe(true);
    expect(coordinatorLog.filter((l) => l.includes(worker.secretAccessKey) || l.includes(worker.sessionToken))).toEqual([]);
    const relayed = sentFor(r.jobId);
    expect(relayed).toHaveLength(1); // relayWhole
    expect(chunkIn(relayed[0]!.body)).toMatchObject({ seq: 0, final: true });
    // session 40: with the coordinator's settlement token, which the SDK checked instead of reading the job
    expect(chunkIn(relayed[0]!.body).settlement).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(r.receipt?.body.jobId).toBe(r.jobId);
    expect(r.text.length).toBeGreaterThan(0);
    expect(r.cost).toBe((await client.job(r.jobId)).cost);
    expect(sqs.calls.filter((c) => c.action === "ReceiveMessage").length - receives).toBeGreaterThanOrEqual(1);
    client.close();
  });

  it("jobs one after another on one client, as a chat sends them: each answer comes over SQS, none taken by the poll the previous job left running", async () => {
    // Prepare
    const client = await newClient();
    const lostBefore = sqs.lost.length;
    const from = requests.length;
    // Act: streamed and whole answers in turn, each job started as soon as the last one ended
    const first = await collectStream(client.askStream(ask("the first turn")));
    const second = await client.ask(ask("the second turn, answered whole"));
    const third = await collectStream(client.askStream(ask("the third turn")));
    // Assess
    expect(sqs.lost.length - lostBefore).toBe(0);
    for (const { done } of [first, third]) expect(done.relay).toEqual({ chunks: sentFor(done.jobId).length, recovered: 0 });
    expect(sentFor(second.jobId)).toHaveLength(1);
    // no answer was read from the coordinator: the relay brought each one
    for (const id of [first.done.jobId, second.jobId, third.done.jobId])
      expect(requests.slice(from).some((x) => x.startsWith(`GET /v1/jobs/${id}`))).toBe(false);
    client.close();
  });

  it("a client whose clock is 14 min ahead keeps its account session for the next job: the credentials' 15 min are read on its clock, not spent on arrival", async () => {
    // Prepare: the vendor's credentials last 15 min by the coordinator's clock; the client's own clock
    // (the SDK's and its subscriber's) reads 14 min more, so by it they had a minute left, less than
    // the renewal margin and the job's deadline: before, every job asked for another session
    const skewed = () => Date.now() + 14 * 60_000;
    const client = new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true, now: skewed });
    await client.faucet(1_000_000_000n);
    const before = accountSessions.length;
    try {
      // Act
      const first = await collectStream(client.askStream(ask("a skewed first turn")));
      const second = await collectStream(client.askStream(ask("a skewed second turn")));
      // Assess: both answers over SQS, with one account session
      for (const { done } of [first, second]) expect(done.relay).toEqual({ chunks: sentFor(done.jobId).length, recovered: 0 });
      expect(accountSessions.length - before).toBe(1);
    } finally {
      client.close(); // its subscriber must not outlive the test, failed or not (the next test counts receivers)
    }
  });

  it("a client whose clock is 20 min ahead reads its streams over SQS: its reads are signed at AWS's time (the coordinator's), not its own", async () => {
    // Prepare: SQS (and the stand-in) refuse a signature dated more than 15 min off
    const client = new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true, now: () => Date.now() + 20 * 60_000 });
    await client.faucet(1_000_000_000n);
    const refusedBefore = sqs.refused.length;
    try {
      // Act
      const { done } = await collectStream(client.askStream(ask("a turn from a clock far ahead")));
      // Assess: every chunk came over SQS, none read back from the coordinator; no read refused
      expect(done.relay).toEqual({ chunks: sentFor(done.jobId).length, recovered: 0 });
      expect(sqs.refused.slice(refusedBefore)).toEqual([]);
    } finally {
      client.close();
    }
  });

  it("a chunk for job B sent by another job's worker (its credentials reach the channel's queue) is ignored while B completes over SQS", async () => {
    // Prepare: job A done; A's worker credentials then send a forged first chunk for B, just before B's real one
    const client = await newClient();
    const a = await collectStream(client.askStream(ask("job A, whose worker will speak for B")));
    let forged: RelayChunk | undefined;
    sqs.beforeSend = async ({ bodies, sender, queueUrl }) => {
      const first = bodies.map(chunkIn).find((c) => c.seq === 0 && c.jobId !== a.done.jobId);
      if (!first || forged || sender !== relaySenderName(first.jobId, 0)) return;
      forged = { ...first, data: (first.data[0] === "A" ? "B" : "A") + first.data.slice(1) };
      const { expiration: _e, ...aWorker } = credentialsFor(relaySenderName(a.done.jobId, 0));
      await new SQSClient({ region: REGION, endpoint: sqs.url, credentials: aWorker }).send(
        new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(forged) }),
      );
      // B's real chunk waits until the SDK has received the forged one: without this the SDK could
      // take B's whole stream in one receive and stop before the forged chunk reaches it (a race,
      // not a pass: the test must show the SDK dropping it)
      await until(() => sqs.delivered.some((m) => m.sender === relaySenderName(a.done.jobId, 0) && chunkIn(m.body).jobId === first.jobId));
    };
    // Act
    const b = await collectStream(client.askStream(ask("job B, streamed while A's worker forges its first chunk")));
    sqs.beforeSend = undefined;
    // Assess
    expect(forged?.jobId).toBe(b.done.jobId);
    // the forged chunk reached the SDK (it came first), and was dropped: B's stream is its worker's, whole
    expect(sqs.delivered.some((m) => m.sender === relaySenderName(a.done.jobId, 0) && chunkIn(m.body).jobId === b.done.jobId)).toBe(true);
    expect(b.done.relay).toEqual({
      chunks: sentFor(b.done.jobId).filter((m) => m.sender === relaySenderName(b.done.jobId, 0)).length,
      recovered: 0,
    });
    expect(streamText(b.events)).toBe(b.done.text);
    client.close();
  });

  it("two clients of one account each read their own jobs' streams: a channel, and a queue, each", async () => {
    // Prepare
    const key = generateSigningKey();
    const one = await newClient(key);
    const two = await newClient(key, false);
    const before = accountSessions.length;
    // Act
    const [a, b] = await Promise.all([
      collectStream(one.askStream(ask("the first client's stream"))),
      collectStream(two.askStream(ask("the second client's stream, at the same time"))),
    ]);
    // Assess
    const sessions = accountSessions.slice(before);
    expect(sessions.map((s) => s.account)).toEqual([key.id, key.id]);
    expect(new Set(sessions.map((s) => s.channel)).size).toBe(2);
    expect(new Set(sessions.map((s) => s.queueUrl)).size).toBe(2);
    const queueOf = (jobId: string) => new Set(sentFor(jobId).map((m) => m.queueUrl));
    expect(queueOf(a.done.jobId)).not.toEqual(queueOf(b.done.jobId));
    for (const { done } of [a, b]) {
      expect(queueOf(done.jobId).size).toBe(1);
      expect(done.relay).toEqual({ chunks: sentFor(done.jobId).length, recovered: 0 });
    }
    one.close();
    two.close();
  });

  it("the SDK never deletes a message (the queue's visibility timeout outlives its retention); close() deletes its channel's queue, and the client reads on a new channel after", async () => {
    // Prepare
    const client = await newClient();
    const before = accountSessions.length;
    await collectStream(client.askStream(ask("a stream before close")));
    const queue = accountSessions[before]!.queueUrl.split("/").pop()!;
    expect(sqs.queueNames()).toContain(queue);
    // Act
    client.close();
    // Assess
    await expect.poll(() => sqs.queueNames().includes(queue)).toBe(false);
    // SQS makes no queue under a name deleted less than a minute ago: the client reads on from a new channel
    const again = await collectStream(client.askStream(ask("a stream after close")));
    expect(accountSessions.slice(before).map((s) => s.account)).toEqual([client.account, client.account]);
    expect(accountSessions.at(-1)!.channel).not.toBe(accountSessions[before]!.channel);
    expect(again.done.relay).toEqual({ chunks: sentFor(again.done.jobId).length, recovered: 0 });
    client.close();
    const requesters = sqs.calls.filter((c) => c.caller.startsWith("r-"));
    expect(requesters.length).toBeGreaterThan(0);
    expect(new Set(requesters.map((c) => c.action))).toEqual(new Set(["ReceiveMessage", "DeleteQueue"]));
    expect(sqs.calls.filter((c) => c.action.startsWith("DeleteMessage"))).toEqual([]);
    expect(sqs.refused).toEqual([]); // every call of the agent and the SDK signed right
    await expect.poll(() => sqs.receiving()).toBe(0); // no client left polling
  });

  it("a client whose account session made its queue but that read no job on it: close() deletes that queue too", async () => {
    // Prepare: ask() learns the relay (an account session: the queue is made), then fails before any job is opened
    const client = await newClient();
    const before = accountSessions.length;
    await expect(client.ask({ ...ask("no worker serves this"), model: "no-such-model" })).rejects.toThrow();
    const queue = accountSessions[before]!.queueUrl.split("/").pop()!;
    expect(sqs.queueNames()).toContain(queue);
    // Act
    client.close();
    // Assess
    await expect.poll(() => sqs.queueNames().includes(queue)).toBe(false);
  });
});
