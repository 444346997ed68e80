/**
 * Streaming through the network (issue 11): sealed chunks from the agent through the relay
 * to askStream. A relay that drops, repeats, reorders, cuts short, alters or swaps in another
 * job's chunk is noticed by the SDK (a named StreamIntegrityError, or for a relay that merely
 * stops early the rest taken from the receipt-covered stored reply); the first chunk reaches
 * the requester while the engine still generates; no plaintext in the store, queues, relay or logs.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import type { RelayChunk } from "../events/relay";
import { b64u } from "../core/crypto/encoding";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import { createMemoryRelay, type MemoryRelay } from "../core/relay-memory";
import type { RelayPort } from "../core/relay";
import { startNetwork, type LocalNetwork } from "../local/network";
import { startAgent, type RunningAgent } from "../agent/runtime";
import { makeAttester } from "../agent/attest";
import { createBuiltinEngine, BUILTIN_DEFAULT_MODEL } from "../agent/engines/builtin";
import type { Engine, EngineRequest, EngineStreamEvent } from "../agent/engines/engine";
import { CocoonClient, StreamIntegrityError, type StreamEvent } from "../client/sdk";
import { agentLogTo, randomCanary } from "./helpers";
import { dirSources, expectNoCanary, lineSources, scanForCanary, storeSources } from "./canary";

// Small chunks, so a short answer makes several relay messages (read by the agent at each job).
process.env.COCOON_STREAM_INTERVAL_MS = "1";

type Fault = (chunks: RelayChunk[], jobId: string) => RelayChunk[];

/**
 * The in-process relay with a fault between the worker's publish and the buffer the requester
 * reads: what a dishonest coordinator or a broken relay could do to the chunks it carries.
 */
function faultyRelay(inner: MemoryRelay): RelayPort & { fault: Fault | undefined; seen: Map<string, RelayChunk[]> } {
  const seen = new Map<string, RelayChunk[]>();
  const r = {
    fault: undefined as Fault | undefined,
    seen,
    async publish(jobId: string, chunks: RelayChunk[]) {
      seen.set(jobId, [...(seen.get(jobId) ?? []), ...chunks]);
      const out = r.fault ? r.fault(chunks, jobId) : chunks;
      if (out.length) await inner.publish(jobId, out);
    },
    read: inner.read.bind(inner),
    subscribe: inner.subscribe.bind(inner),
    end: inner.end.bind(inner),
  };
  return r;
}

/** An engine that emits one token every `ms`, and notes when its generation ended. */
function pacedEngine(ms: number): Engine & { endedAt: number[] } {
  const inner = createBuiltinEngine({ delayMsPerToken: ms });
  const endedAt: number[] = [];
  return {
    ...inner,
    name: inner.name,
    models: () => inner.models(),
    generate: (req) => inner.generate(req),
    async *stream(req: EngineRequest): AsyncGenerator<EngineStreamEvent> {
      for await (const ev of inner.stream!(req)) {
        if (ev.type === "done") endedAt.push(Date.now());
        yield ev;
      }
    },
    endedAt,
  };
}

async function startStreamingAgent(apiUrl: string, engine: Engine, log: string[]): Promise<RunningAgent> {
  const signingKey = generateSigningKey();
  const kemKey = generateKemKey();
  return startAgent({
    apiUrl,
    signingKey,
    kemKey,
    engine,
    models: [{ model: BUILTIN_DEFAULT_MODEL, priceBps: 10_000 }],
    capacity: 4,
    attest: makeAttester({ tier: "dev", signingKey, kemKey }),
    log: agentLogTo(log),
  });
}

/** Consumes a stream: the events until it ended, and the error it ended with (if any). */
async function drain(stream: AsyncIterable<StreamEvent>): Promise<{ events: Array<StreamEvent & { at: number }>; error?: unknown }> {
  const events: Array<StreamEvent & { at: number }> = [];
  try {
    for await (const ev of stream) events.push({ ...ev, at: Date.now() });
    return { events };
  } catch (error) {
    return { events, error };
  }
}

const shownText = (events: StreamEvent[]) => events.map((e) => (e.type === "delta" ? (e.text ?? "") : "")).join("");
const PROMPT = "please count the streamed words one by one until the answer is long enough to need many chunks";

let net: LocalNetwork;
let relay: ReturnType<typeof faultyRelay>;
let memory: MemoryRelay;
let engine: ReturnType<typeof pacedEngine>;
let agent: RunningAgent;
let client: CocoonClient;
const coordinatorLogs: string[] = [];
const agentLogs: string[] = [];
const sent: string[] = [];

beforeAll(async () => {
  memory = createMemoryRelay();
  relay = faultyRelay(memory);
  net = await startNetwork({
    logSink: (l) => coordinatorLogs.push(l),
    relay,
    chain: false,
    dataDir: tempDir("cocoon-stream-"),
  });
  const send = net.queues.send.bind(net.queues);
  net.queues.send = async (q, body, opts) => {
    sent.push(JSON.stringify(body));
    return send(q, body, opts);
  };
  engine = pacedEngine(5);
  agent = await startStreamingAgent(net.url, engine, agentLogs);
  client = new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true });
  await client.faucet(50_000_000_000n);
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await net?.stop();
});

const ask = (content = PROMPT) =>
  client.askStream({ model: BUILTIN_DEFAULT_MODEL, messages: [{ role: "user", content }], maxTokens: 64, tiers: ["dev"] });

describe("askStream through the local network", () => {
  it("an honest relay: verified deltas in order, then done with receipt, usage and the exact bill; the text equals ask()'s", async () => {
    // Prepare
    relay.fault = undefined;
    // Act
    const { events, error } = await drain(ask());
    const whole = await client.ask({
      model: BUILTIN_DEFAULT_MODEL,
      messages: [{ role: "user", content: PROMPT }],
      maxTokens: 64,
      tiers: ["dev"],
    });
    // Assess
    expect(error).toBeUndefined();
    const done = events.at(-1)!;
    if (done.type !== "done") throw new Error("the stream did not end with done");
    const deltas = events.filter((e) => e.type === "delta");
    expect(deltas.length).toBeGreaterThan(2);
    expect(shownText(events)).toBe(done.text);
    expect(done.text).toBe(whole.text);
    expect(done.usage).toEqual(whole.usage);
    expect(done.receipt.body.jobId).toBe(done.jobId);
    expect(BigInt(done.cost)).toBeGreaterThan(0n);
    expect(done.relay.recovered).toBe(0);
    expect(done.relay.chunks).toBe(relay.seen.get(done.jobId)!.length);
  });

  it("the first delta arrives while the engine is still generating (an engine taking 40 ms a token)", async () => {
    // Prepare
    relay.fault = undefined;
    const slow = pacedEngine(40);
    const log: string[] = [];
    const slowAgent = await startStreamingAgent(net.url, slow, log);
    await agent.stop(); // only the slow one gets the job
    try {
      // Act
      const { events, error } = await drain(ask("tell a long story about relays and chunks and tokens"));
      // Assess
      expect(error).toBeUndefined();
      const first = events.find((e) => e.type === "delta")!;
      const done = events.at(-1)!;
      expect(slow.endedAt).toHaveLength(1);
      expect(first.at).toBeLessThan(slow.endedAt[0]! - 200);
      expect(done.type).toBe("done");
    } finally {
      await slowAgent.stop();
      agent = await startStreamingAgent(net.url, engine, agentLogs);
    }
  }, 30_000);

  const faults: Array<[string, string, Fault]> = [
    ["drops a chunk", "stream_gap", (cs) => cs.filter((c) => c.seq !== 1)],
    ["repeats a chunk", "stream_duplicate", (cs) => cs.flatMap((c) => (c.seq === 1 ? [c, c] : [c]))],
    ["alters a chunk", "stream_tampered", (cs) => cs.map((c) => (c.seq === 1 ? { ...c, data: flip(c.data) } : c))],
    [
      "marks a middle chunk final (a cut disguised as the end)",
      "stream_tampered",
      (cs) => cs.map((c) => (c.seq === 1 ? { ...c, final: true } : c)),
    ],
  ];
  it.each(faults)("a relay that %s is detected (%s); only text before the fault was shown", async (_what, code, fault) => {
    // Prepare
    relay.fault = fault;
    // Act
    const { events, error } = await drain(ask());
    relay.fault = undefined;
    // Assess
    expect(error).toBeInstanceOf(StreamIntegrityError);
    expect((error as StreamIntegrityError).code).toBe(code);
    expect(events.some((e) => e.type === "done")).toBe(false);
    const honest = await honestText();
    expect(honest.startsWith(shownText(events))).toBe(true);
  });

  it("a relay that reorders two chunks is detected (stream_reordered)", async () => {
    // Prepare: hold chunk 1 back and deliver it after chunk 2
    let held: RelayChunk | undefined;
    relay.fault = (cs) =>
      cs.flatMap((c) => {
        if (c.seq === 1) return ((held = c), []);
        if (c.seq === 2 && held) return [c, held];
        return [c];
      });
    // Act
    const { events, error } = await drain(ask());
    relay.fault = undefined;
    // Assess
    expect((error as StreamIntegrityError).code).toBe("stream_reordered");
    expect(events.some((e) => e.type === "done")).toBe(false);
  });

  it("a relay that swaps in a chunk of another job is detected: as it is (stream_cross_job) or relabelled as ours (stream_tampered)", async () => {
    // Prepare: an earlier job's chunks, kept by the relay
    relay.fault = undefined;
    const other = await drain(ask("another job entirely, with its own answer"));
    const otherId = (other.events.at(-1) as { jobId: string }).jobId;
    const foreign = relay.seen.get(otherId)!.find((c) => c.seq === 1)!;
    // Act
    relay.fault = (cs) => cs.map((c) => (c.seq === 1 ? foreign : c));
    const asIs = await drain(ask());
    relay.fault = (cs) => cs.map((c) => (c.seq === 1 ? { ...foreign, jobId: c.jobId, attempt: c.attempt } : c));
    const relabelled = await drain(ask());
    relay.fault = undefined;
    // Assess
    expect((asIs.error as StreamIntegrityError).code).toBe("stream_cross_job");
    expect((relabelled.error as StreamIntegrityError).code).toBe("stream_tampered");
  });

  it("a relay that stops before the end (truncation) never ends the stream short: the rest comes from the receipt-covered stored reply, and says so", async () => {
    // Prepare: the relay keeps nothing from chunk 2 on
    relay.fault = (cs) => cs.filter((c) => c.seq < 2);
    // Act
    const { events, error } = await drain(ask());
    relay.fault = undefined;
    // Assess
    expect(error).toBeUndefined();
    const done = events.at(-1)!;
    if (done.type !== "done") throw new Error("no done");
    expect(done.relay.chunks).toBe(2);
    expect(done.relay.recovered).toBeGreaterThan(0);
    expect(shownText(events)).toBe(done.text);
    expect(done.text).toBe(await honestText());
  });

  it("a relay that starts a stream of its own (an opener the worker did not sign) is refused before any text", async () => {
    // Prepare: the relay replaces the opener's signature
    relay.fault = (cs) => cs.map((c) => (c.opener ? { ...c, opener: { ...c.opener, sig: b64u.encode(new Uint8Array(64).fill(7)) } } : c));
    // Act
    const { events, error } = await drain(ask());
    relay.fault = undefined;
    // Assess
    expect((error as StreamIntegrityError).code).toBe("stream_tampered");
    expect(events).toHaveLength(0);
  });

  it("no plaintext chunk in the store, the queues, the relay or the logs (canary in every encoding), with a positive control", async () => {
    // Prepare
    relay.fault = undefined;
    const canary = randomCanary();
    // Act
    const { events, error } = await drain(ask(`say ${canary} and keep talking for a while`));
    // Assess: the answer echoes the canary, so plaintext existed at both ends
    expect(error).toBeUndefined();
    expect(shownText(events)).toContain(canary);
    const relayed = memory.dump().map((c) => JSON.stringify(c));
    expect(relayed.length).toBeGreaterThan(2);
    const sources = () => [
      ...storeSources(net.store as never),
      ...dirSources(net.dataDir),
      ...lineSources("queue message", sent),
      ...lineSources("relay message", relayed),
      ...lineSources("coordinator log", coordinatorLogs),
      ...lineSources("agent log", agentLogs),
    ];
    expectNoCanary(canary, sources());
    // positive control: the same scan finds the canary once a relay message carries it in clear
    relayed.push(JSON.stringify({ data: b64u.encode(new TextEncoder().encode(`say ${canary}`)) }));
    expect(scanForCanary(canary, sources()).length).toBeGreaterThan(0);
  });
});

/** The answer of the builtin engine to PROMPT, asked unstreamed (deterministic). */
async function honestText(): Promise<string> {
  return (await client.ask({ model: BUILTIN_DEFAULT_MODEL, messages: [{ role: "user", content: PROMPT }], maxTokens: 64, tiers: ["dev"] }))
    .text;
}

function flip(data: string): string {
  const b = b64u.decode(data);
  b[0]! ^= 1;
  return b64u.encode(b);
}
