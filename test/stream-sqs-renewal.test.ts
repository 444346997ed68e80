/**
 * A stream longer than the requester's SQS relay credentials last (session 42): the real local
 * network and agent, the SDK's own subscriber, and the SQS stand-in (test/sqs-relay-standin.ts),
 * which refuses expired credentials as SQS does. The coordinator vends account sessions that
 * last seconds here (15–60 min on AWS) through a vendor shaped as stream-sqs.test.ts's, so a
 * stream of a few seconds outlives several of them. What must hold: every chunk reaches the
 * stream live over SQS (none recovered from the stored reply), once each, in order.
 */
import { CreateQueueCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { RelayChunk, relaySenderName, type RelaySession } from "../events/relay";
import { generateSigningKey } from "../core/crypto/keys";
import { CocoonError } from "../core/errors";
import type { RelaySessionVendor } from "../core/relay-access";
import { startNetwork, type LocalNetwork } from "../local/network";
import { startLocalAgents } from "../local/agents";
import type { RunningAgent } from "../agent/runtime";
import {
  BUILTIN_DEFAULT_MODEL,
  BUILTIN_ENGINE_NAME,
  builtinPromptTokens,
  createBuiltinEngine,
  tokenDeltas,
} from "../agent/engines/builtin";
import type { Engine, EngineRequest, EngineStreamEvent } from "../agent/engines/engine";
import { CocoonClient } from "../client/sdk";
import { credentialsFor, startSqsStandIn, type SqsStandIn } from "./sqs-relay-standin";
import { collectStream, streamText } from "./helpers";

// a chunk every 100 ms, a token every 40 ms: 100 tokens stream for about 4 s
process.env.COCOON_STREAM_INTERVAL_MS = "100";
const TOKEN_MS = 40;
/** how long the requester's account sessions last here (SQS refuses them after `real`) and what the coordinator says they last */
const LIFETIME = { real: 3_000, said: 3_000 };
const SESSION = { ...LIFETIME };
/** renewed this long before they expire (by what the coordinator says): the first renewal 0.5 s after the job opens */
const RENEW_MARGIN_MS = 2_500;
/** taken off this long before they expire (the SDK's default, 5 s, is past these lifetimes): 1 s left for a receive to reach SQS */
const EXPIRY_CUT_MS = 1_000;
const PREFIX = "cocoon-test";
const REGION = "us-east-1";

let net: LocalNetwork;
let agents: RunningAgent[];
let sqs: SqsStandIn;
let admin: SQSClient;
/** every account session vended, in order */
const accountSessions: Array<{ channel: string; expiration: number }> = [];
/** set by a test: the account sessions to refuse (503), by their index among those asked for */
let refuseSession: (n: number) => boolean = () => false;
let asked = 0;

const queueName = (account: string, channel: string) => `${PREFIX}-r-${account}-${channel}`;
const sessionOf = (queueUrl: string, sessionName: string): RelaySession => ({
  transport: "sqs",
  region: REGION,
  queueUrl,
  credentials: credentialsFor(sessionName),
});
const vendor: RelaySessionVendor = {
  channelQueues: true,
  forAccount: async (account, channel) => {
    if (!channel) throw new CocoonError(400, "relay_channel_required", 'ask with {"scope":"account","channel":…}');
    if (refuseSession(asked++)) throw new CocoonError(503, "relay_unavailable", "STS is having a moment");
    const { QueueUrl } = await admin.send(
      new CreateQueueCommand({
        QueueName: queueName(account, channel),
        Attributes: { MessageRetentionPeriod: "120", VisibilityTimeout: "43200", ReceiveMessageWaitTimeSeconds: "20" },
      }),
    );
    const credentials = credentialsFor(`r-${channel}`, SESSION.real);
    accountSessions.push({ channel, expiration: credentials.expiration });
    return {
      transport: "sqs",
      region: REGION,
      queueUrl: QueueUrl!,
      credentials: { ...credentials, expiration: Date.now() + SESSION.said },
    };
  },
  forWorker: async (job) => {
    if (!job.relayChannel) throw new CocoonError(409, "relay_channel_unknown", "the requester submitted this job without a relay channel");
    return sessionOf(`${sqs.url}/123456789012/${queueName(job.requester, job.relayChannel)}`, relaySenderName(job.jobId, job.attempt));
  },
  forRequester: async () => {
    throw new CocoonError(400, "relay_scope_unsupported", "the SQS relay reads through channels");
  },
};

const newClient = async () => {
  // quietMs past the stream's length: a silent relay would be read from the coordinator and still pass
  const c = new CocoonClient({
    apiUrl: net.url,
    key: generateSigningKey(),
    allowDev: true,
    sqs: { renewMarginMs: RENEW_MARGIN_MS, retryMs: 100, expiryCutMs: EXPIRY_CUT_MS },
  });
  await c.faucet(1_000_000_000n);
  return c;
};
const longAsk = (tokens: number) => ({
  model: BUILTIN_DEFAULT_MODEL,
  messages: [{ role: "user" as const, content: "a long answer, please" }],
  maxTokens: tokens,
  tiers: ["dev" as const],
});
/** The built-in engine answering `maxTokens` words, one every TOKEN_MS: a long stream (its own answer is a short echo). */
function pacedEngine(): Engine {
  const inner = createBuiltinEngine();
  return {
    name: inner.name,
    models: () => inner.models(),
    generate: (req) => inner.generate(req),
    async *stream(req: EngineRequest): AsyncGenerator<EngineStreamEvent> {
      const text = Array.from({ length: req.maxTokens }, (_, i) => `w${i}`).join(" ");
      for (const delta of tokenDeltas(text)) {
        await new Promise((r) => setTimeout(r, TOKEN_MS));
        yield { type: "delta", text: delta };
      }
      const usage = { promptTokens: builtinPromptTokens(req.messages), completionTokens: req.maxTokens };
      yield { type: "done", result: { text, usage, finishReason: "length", engine: BUILTIN_ENGINE_NAME } };
    },
  };
}
const sentFor = (jobId: string) => sqs.sent.filter((m) => RelayChunk.parse(JSON.parse(m.body)).jobId === jobId);

beforeAll(async () => {
  sqs = await startSqsStandIn();
  const { expiration: _e, ...vendorCredentials } = credentialsFor("vendor");
  admin = new SQSClient({ region: REGION, endpoint: sqs.url, credentials: vendorCredentials });
  net = await startNetwork({ chain: false, dataDir: tempDir("cocoon-sqs-renew-") });
  (net.deps as { relaySessions?: RelaySessionVendor }).relaySessions = vendor;
  agents = await startLocalAgents(net.url, tempDir("cocoon-sqs-renew-agents-"), [{ name: "a", priceBps: 10_000, engine: pacedEngine() }]);
}, 60_000);

afterAll(async () => {
  await Promise.all((agents ?? []).map((a) => a.stop()));
  await net?.stop();
  await sqs?.close();
});

describe("session 42: a stream outlives the requester's relay credentials", () => {
  it("a stream of several credential lifetimes reads every chunk live over SQS, once each, in order, on renewed credentials", async () => {
    // Prepare
    const client = await newClient();
    const before = accountSessions.length;
    try {
      // Act
      const { events, done } = await collectStream(client.askStream(longAsk(100)));
      // Assess: the stream outlived its first credentials, and no chunk came from the stored reply
      const mine = accountSessions.slice(before);
      expect(Date.now()).toBeGreaterThan(mine[0]!.expiration);
      expect(mine.length).toBeGreaterThan(1);
      expect(done.relay).toEqual({ chunks: sentFor(done.jobId).length, recovered: 0 });
      expect(streamText(events)).toBe(done.text);
      expect(done.usage.completionTokens).toBe(100);
      expect(sqs.expired).toEqual([]);
    } finally {
      client.close();
    }
  }, 30_000);

  it("a renewal the coordinator refuses once is asked again before the credentials run out: the stream stays live", async () => {
    // Prepare: the first renewal (the second session this client asks for) is refused
    const client = await newClient();
    const first = asked;
    refuseSession = (n) => n === first + 1;
    try {
      // Act: a stream of about 3.2 s, past the credentials' 3 s
      const { events, done } = await collectStream(client.askStream(longAsk(80)));
      // Assess
      expect(done.relay).toEqual({ chunks: sentFor(done.jobId).length, recovered: 0 });
      expect(asked - first).toBeGreaterThan(2); // the refusal, then renewals that were answered
      expect(streamText(events)).toBe(done.text);
    } finally {
      refuseSession = () => false;
      client.close();
    }
  }, 30_000);

  it("credentials SQS calls expired before the coordinator said they would: the SDK renews on the refusal and reads on, missing nothing", async () => {
    // Prepare: tokens SQS refuses after 1 s, vended as lasting a minute (so no timer renews them)
    const client = await newClient();
    const expiredBefore = sqs.expired.length;
    Object.assign(SESSION, { real: 1_000, said: 60_000 });
    try {
      // Act: a stream of about 2.4 s
      const { events, done } = await collectStream(client.askStream(longAsk(60)));
      // Assess: receives were refused as expired, each time renewed, and no chunk came from the stored reply
      expect(sqs.expired.length - expiredBefore).toBeGreaterThan(0);
      expect(done.relay).toEqual({ chunks: sentFor(done.jobId).length, recovered: 0 });
      expect(streamText(events)).toBe(done.text);
    } finally {
      Object.assign(SESSION, LIFETIME);
      client.close();
    }
  }, 30_000);
});
