/**
 * The drain (agent/runtime.ts drain(), what SIGTERM runs) without waiting out the poll in
 * flight. It waited for that long-poll to answer, up to 20 s even when idle: the poll cannot be
 * aborted, since the jobs of an answer nobody reads would be lost until their lease ran out. It
 * now tells the coordinator it is draining (HeartbeatRequest.draining), which wakes the poll
 * (events/api.ts AgentWake), and polls on until two polls in a row bring no job, so a wake that
 * took a poll's only slot leaves no job behind.
 */
import { afterEach, describe, expect, it } from "vitest";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import type { AgentJob } from "../events/api";
import { startNetwork } from "../local/network";
import { MODEL, pollUntil } from "../test/helpers";
import { makeAttester } from "./attest";
import { gatedEngine, sealedJob } from "./job-testing";
import { startAgent, type AgentOptions } from "./runtime";
import type { JobSource, WorkBatch } from "./sources/job-source";

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
});

async function network(): Promise<string> {
  const net = await startNetwork({ chain: false });
  cleanup.push(() => net.stop());
  return net.url;
}

/** A dev agent on `apiUrl` with an open engine; `o` overrides. */
async function agent(apiUrl: string, o: Partial<AgentOptions> = {}) {
  const signingKey = generateSigningKey();
  const kemKey = generateKemKey();
  const engine = gatedEngine();
  engine.open();
  const a = await startAgent({
    apiUrl,
    signingKey,
    kemKey,
    engine,
    models: [{ model: MODEL }],
    attest: makeAttester({ tier: "dev", signingKey, kemKey }),
    backoff: { baseMs: 50, capMs: 400 },
    resultRetryMs: 1_000,
    ...o,
  });
  cleanup.push(() => a.stop());
  return { a, engine, signingKey, kemKey };
}

describe("agent runtime: a drain does not wait out the poll in flight", () => {
  it("an idle agent's drain ends in a few seconds, not at the end of its 20 s long-poll", async () => {
    // Prepare: the local network (the HTTP long-poll), the default wait of 20 s, a poll in flight
    const { a } = await agent(await network(), { pollWaitSeconds: 20 });
    await new Promise((r) => setTimeout(r, 500));
    // Act
    const t0 = Date.now();
    await a.drain();
    const seconds = (Date.now() - t0) / 1000;
    // Assess: the wake, then two empty polls of 1 s
    expect(seconds).toBeLessThan(6);
  }, 40_000);

  it("a job behind the wake, which took the last poll's only slot, is still taken and run", async () => {
    // Prepare: a source whose poll in flight answers (woken) with job A once the drain begins;
    // the next poll brings only the wake (nothing for the agent), the one after it job B, then nothing
    const url = await network();
    let answer: ((b: WorkBatch) => void) | undefined;
    const script: { after?: AgentJob[][] } = {};
    const source: JobSource = {
      next: () => {
        if (!script.after) return new Promise<WorkBatch>((r) => (answer = r));
        return Promise.resolve({ jobs: script.after.shift() ?? [], challenges: [] });
      },
    };
    const { a, engine, signingKey, kemKey } = await agent(url, { jobSource: source, capacity: 2 });
    const jobA = sealedJob(signingKey.id, kemKey);
    const jobB = sealedJob(signingKey.id, kemKey);
    await pollUntil("a poll in flight", () => (answer ? true : undefined), 5_000);
    script.after = [[] /* the wake */, [jobB]];
    // Act
    const draining = a.drain();
    answer!({ jobs: [jobA], challenges: [] });
    await draining;
    // Assess
    expect(engine.calls).toHaveLength(2);
    expect(a.stats.jobs + a.stats.failed).toBe(2);
  });
});
