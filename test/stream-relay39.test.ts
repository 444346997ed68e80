/**
 * Session 39's review of the answer relay, end to end over the local network (relay39 #2): the
 * in-process relay drops a job's buffer mid-stream (its total's least recently used, here after
 * another job's bytes), and the worker's next chunks make it again. askStream must go on and end
 * with the whole verified answer (the rest from the stored reply, which the receipt covers), not
 * a StreamIntegrityError blaming an honest worker for chunks the relay numbered anew.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import type { RelayChunk } from "../events/relay";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import { createMemoryRelay } from "../core/relay-memory";
import type { RelayPort } from "../core/relay";
import { startNetwork, type LocalNetwork } from "../local/network";
import { startAgent, type RunningAgent } from "../agent/runtime";
import { makeAttester } from "../agent/attest";
import { createBuiltinEngine, BUILTIN_DEFAULT_MODEL } from "../agent/engines/builtin";
import { CocoonClient, type StreamEvent } from "../client/sdk";
import { agentLogTo } from "./helpers";

// Small chunks, so a short answer makes several relay messages.
process.env.COCOON_STREAM_INTERVAL_MS = "1";

const TOTAL = 200_000;
const JUNK = "job_01jdqv6x7s9k2m4n8p0r3t5wzz";

/**
 * The in-process relay, small, with another job's bytes pushed in right after each real job's
 * first publish: the real job's buffer, then the least recently used, is dropped.
 */
function evictingRelay(): RelayPort & { afterDrop: Map<string, number>; published: Map<string, number> } {
  const inner = createMemoryRelay({ maxTotalBytes: TOTAL });
  /** chunks published after the drop, and in all, by job */
  const afterDrop = new Map<string, number>();
  const published = new Map<string, number>();
  return {
    afterDrop,
    published,
    async publish(jobId: string, chunks: RelayChunk[]) {
      await inner.publish(jobId, chunks);
      published.set(jobId, (published.get(jobId) ?? 0) + chunks.length);
      const n = afterDrop.get(jobId);
      if (n === undefined) {
        await inner.publish(JUNK, [{ jobId: JUNK, attempt: 0, seq: 0, final: false, data: "A".repeat(TOTAL - 10) }]);
        if (inner.dump().some((c) => c.jobId === jobId)) throw new Error("the job's buffer was not dropped");
        afterDrop.set(jobId, 0);
      } else afterDrop.set(jobId, n + chunks.length);
    },
    read: inner.read.bind(inner),
    subscribe: inner.subscribe.bind(inner),
    end: inner.end.bind(inner),
  };
}

let net: LocalNetwork;
let relay: ReturnType<typeof evictingRelay>;
let agent: RunningAgent;
let client: CocoonClient;

beforeAll(async () => {
  relay = evictingRelay();
  net = await startNetwork({ relay, chain: false, dataDir: tempDir("cocoon-stream-relay39-") });
  const signingKey = generateSigningKey();
  const kemKey = generateKemKey();
  agent = await startAgent({
    apiUrl: net.url,
    signingKey,
    kemKey,
    engine: createBuiltinEngine({ delayMsPerToken: 2 }),
    models: [{ model: BUILTIN_DEFAULT_MODEL, priceBps: 10_000 }],
    capacity: 1,
    attest: makeAttester({ tier: "dev", signingKey, kemKey }),
    log: agentLogTo([]),
  });
  client = new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true });
  await client.faucet(50_000_000_000n);
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await net?.stop();
});

describe("a relay buffer dropped mid-stream (relay39 #2)", () => {
  it("askStream ends with the whole verified answer, shown once, the rest taken from the stored reply", async () => {
    const events: StreamEvent[] = [];
    let error: unknown;
    try {
      for await (const ev of client.askStream({
        model: BUILTIN_DEFAULT_MODEL,
        messages: [{ role: "user", content: "please count the streamed words one by one until the answer needs many chunks" }],
        maxTokens: 64,
        tiers: ["dev"],
      }))
        events.push(ev);
    } catch (e) {
      error = e;
    }
    expect(error).toBeUndefined();
    const done = events.at(-1);
    if (done?.type !== "done") throw new Error("the stream did not end with done");
    expect(relay.afterDrop.get(done.jobId)).toBeGreaterThan(1); // the worker went on publishing into a new buffer
    expect(events.map((e) => (e.type === "delta" ? (e.text ?? "") : "")).join("")).toBe(done.text);
    // every chunk shown once: from the relay, or (those the reader had not read when they were dropped) from the stored reply
    expect(done.relay.chunks + done.relay.recovered).toBe(relay.published.get(done.jobId));
  }, 20_000);
});
