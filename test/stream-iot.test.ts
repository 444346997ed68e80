/**
 * The AWS-shaped streaming path with FAKES at the two transports (no AWS, no network beyond
 * 127.0.0.1): the coordinator vends "iot-mqtt" sessions (a fake vendor in the place of
 * functions/adapters/relay-iot.ts's STS one), the agent publishes through its real IoT publisher
 * (agent/relay-iot.ts, SigV4-signed HTTPS) whose fetch lands in an in-memory broker, and the SDK
 * reads through a custom `relaySubscriber` on that broker (the option kept for custom transports;
 * the SDK's own MQTT subscriber over a real broker: test/stream-mqtt.test.ts). What is real: the
 * session routes, the agent's publishing, the topics, the SDK's checks.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import type { RelayChunk, RelaySession } from "../events/relay";
import { generateSigningKey } from "../core/crypto/keys";
import type { RelaySessionVendor } from "../core/relay-access";
import { startNetwork, type LocalNetwork } from "../local/network";
import { startLocalAgents } from "../local/agents";
import type { RunningAgent } from "../agent/runtime";
import { BUILTIN_DEFAULT_MODEL } from "../agent/engines/builtin";
import { CocoonClient, type RelaySubscription, type StreamEvent } from "../client/sdk";

process.env.COCOON_STREAM_INTERVAL_MS = "1";
const ENDPOINT = "fake-iot.local";
const PREFIX = "cocoon-test";

/** FAKE broker: topic → subscribers; MQTT's single-level wildcard `+` at the end of a filter. */
const subscribers = new Set<{ filter: string; push: (c: RelayChunk) => void }>();
const published: Array<{ topic: string; chunk: RelayChunk; auth: string }> = [];
const matches = (filter: string, topic: string) =>
  filter.endsWith("/+") ? topic.startsWith(filter.slice(0, -1)) && !topic.slice(filter.length - 1).includes("/") : filter === topic;

const realFetch = globalThis.fetch;
const fakeVendor: RelaySessionVendor = {
  async forWorker(job, workerId) {
    return session(`${PREFIX}/r/${job.requester}/${job.jobId}/${workerId}`, job.jobId);
  },
  async forRequester(jobId, requester) {
    return session(`${PREFIX}/r/${requester}/${jobId}/+`, jobId);
  },
  async forAccount(requester) {
    return session(`${PREFIX}/r/${requester}/+/+`, requester);
  },
};
const session = (topic: string, jobId: string): RelaySession => ({
  transport: "iot-mqtt",
  endpoint: ENDPOINT,
  region: "us-east-1",
  topic,
  clientId: `${PREFIX}-r-${jobId}`,
  credentials: { accessKeyId: "ASIAFAKE", secretAccessKey: "fake", sessionToken: "fake-token", expiration: Date.now() + 600_000 },
});

/** FAKE MQTT subscription on the fake broker. */
async function subscribe(s: Extract<RelaySession, { transport: "iot-mqtt" }>): Promise<RelaySubscription> {
  const queue: RelayChunk[] = [];
  let wake: (() => void) | undefined;
  let closed = false;
  const sub = { filter: s.topic, push: (c: RelayChunk) => (queue.push(c), wake?.()) };
  subscribers.add(sub);
  return {
    chunks: (async function* () {
      while (!closed) {
        if (queue.length) yield queue.shift()!;
        else await new Promise<void>((r) => (wake = r));
      }
    })(),
    close() {
      closed = true;
      subscribers.delete(sub);
      wake?.();
    },
  };
}

let net: LocalNetwork;
let agents: RunningAgent[];
let client: CocoonClient;

beforeAll(async () => {
  // The agent's IoT publisher POSTs to https://<endpoint>/topics/<topic>: those land in the fake broker.
  globalThis.fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
    if (url.host !== ENDPOINT) return realFetch(input, init);
    const topic = decodeURIComponent(url.pathname.slice("/topics/".length));
    const chunk = JSON.parse(String(init!.body)) as RelayChunk;
    published.push({ topic, chunk, auth: (init!.headers as Record<string, string>).authorization ?? "" });
    for (const s of subscribers) if (matches(s.filter, topic)) s.push(chunk);
    return new Response("{}", { status: 200 });
  }) as typeof fetch;
  net = await startNetwork({ chain: false, dataDir: tempDir("cocoon-iot-") });
  (net.deps as { relaySessions?: RelaySessionVendor }).relaySessions = fakeVendor;
  agents = await startLocalAgents(net.url, tempDir("cocoon-iot-agents-"), [{ name: "a", priceBps: 10_000 }]);
  client = new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true, relaySubscriber: subscribe });
  await client.faucet(10_000_000_000n);
}, 60_000);

afterAll(async () => {
  await Promise.all((agents ?? []).map((a) => a.stop()));
  await net?.stop();
  globalThis.fetch = realFetch;
});

describe("streaming over a pub/sub relay (AWS IoT Core's shape, fake transports)", () => {
  it("the agent publishes SigV4-signed chunks to the job's own topic under the requester's account; the SDK streams them, verified", async () => {
    // Act
    const events: StreamEvent[] = [];
    for await (const ev of client.askStream({
      model: BUILTIN_DEFAULT_MODEL,
      messages: [{ role: "user", content: "stream this over the pub/sub relay, word by word" }],
      maxTokens: 48,
      tiers: ["dev"],
    }))
      events.push(ev);
    // Assess
    const done = events.at(-1)!;
    if (done.type !== "done") throw new Error("no done");
    const mine = published.filter((p) => p.chunk.jobId === done.jobId);
    expect(mine.length).toBeGreaterThan(1);
    expect(new Set(mine.map((p) => p.topic))).toEqual(new Set([`${PREFIX}/r/${client.account}/${done.jobId}/${done.workerId}`]));
    expect(mine.every((p) => p.auth.startsWith("AWS4-HMAC-SHA256 Credential=ASIAFAKE/"))).toBe(true);
    expect(done.relay.chunks).toBe(mine.length);
    expect(done.relay.recovered).toBe(0);
    expect(
      events
        .filter((e) => e.type === "delta")
        .map((e) => (e.type === "delta" ? e.text : ""))
        .join(""),
    ).toBe(done.text);
    expect(net.relay && "dump" in net.relay ? (net.relay as { dump(): unknown[] }).dump() : []).toEqual([]); // nothing went through the coordinator's own relay
  });

  it("when the SDK's own subscriber cannot connect the SDK still answers, whole and verified (the stored reply)", async () => {
    // Prepare: nothing listens on 127.0.0.1:9 (the broker is unreachable)
    const plain = new CocoonClient({
      apiUrl: net.url,
      key: generateSigningKey(),
      allowDev: true,
      mqtt: { urlOverride: (u) => `ws://127.0.0.1:9/mqtt${new URL(u).search}` },
    });
    await plain.faucet(1_000_000_000n);
    // Act
    const events: StreamEvent[] = [];
    for await (const ev of plain.askStream({
      model: BUILTIN_DEFAULT_MODEL,
      messages: [{ role: "user", content: "no subscriber here" }],
      maxTokens: 16,
      tiers: ["dev"],
    }))
      events.push(ev);
    // Assess
    const done = events.at(-1)!;
    if (done.type !== "done") throw new Error("no done");
    expect(done.relay.chunks).toBe(0);
    expect(done.relay.recovered).toBeGreaterThan(0);
    expect(
      events
        .filter((e) => e.type === "delta")
        .map((e) => (e.type === "delta" ? e.text : ""))
        .join(""),
    ).toBe(done.text);
  });
});
