import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { createBuiltinEngine } from "../agent/engines/builtin";
import type { RunningAgent } from "../agent/runtime";
import { CocoonClient, type StreamEvent } from "../client/sdk";
import { generateSigningKey } from "../core/crypto/keys";
import { b64u } from "../core/crypto/encoding";
import { verifyReceipt } from "../core/crypto/receipt";
import type { CancelJobResponse, JobView } from "../events/api";
import { startLocalAgents } from "../local/agents";
import { startNetwork, type LocalNetwork } from "../local/network";
import { pollUntil } from "./helpers";

/**
 * Cancel, end to end on the real local network (real handlers over LMDB, a real agent with the
 * builtin engine at a slow pace, the SDK): a requester who aborts a running job stops the GPU
 * and pays only for what was generated. Before cancel existed the job ran its 64 tokens (~6 s)
 * and was billed for all of them.
 */

const SLOW = "slow-echo";
const MS_PER_TOKEN = 100;
const MAX_TOKENS = 64;
/** A prompt whose echo is longer than MAX_TOKENS: uncancelled, the job runs MAX_TOKENS × MS_PER_TOKEN. */
const PROMPT =
  "Tell me about the capital of France, its river, its bridges, its museums, its parks, its food and its long history. ".repeat(2);

let net: LocalNetwork;
let agents: RunningAgent[];
let sdk: CocoonClient;
const cancels: Array<{ jobId: string; ok: boolean; answer?: CancelJobResponse }> = [];

beforeAll(async () => {
  net = await startNetwork({ chain: false });
  agents = await startLocalAgents(net.url, tempDir("cocoon-cancel-e2e-"), [
    { name: "slow", priceBps: 10_000, engine: createBuiltinEngine({ models: [SLOW], delayMsPerToken: MS_PER_TOKEN }), models: [SLOW] },
  ]);
  sdk = new CocoonClient({
    apiUrl: net.url,
    key: generateSigningKey(),
    allowDev: true,
    onCancel: (jobId, r) => cancels.push({ jobId, ok: r.ok, ...(r.ok ? { answer: r.answer } : {}) }),
  });
  await sdk.faucet(50_000_000_000n);
}, 60_000);

afterAll(async () => {
  await Promise.all((agents ?? []).map((a) => a.stop()));
  await net?.stop();
});

const ended = (jobId: string) =>
  pollUntil(
    `job ${jobId} to end`,
    async () => {
      const j = await sdk.job(jobId);
      return j.status === "completed" || j.status === "refunded" ? j : undefined;
    },
    10_000,
    20,
  );

/** The job's bill, checked as a requester would: the receipt verifies and bills under the hold. */
function expectBilledForWhatWasGenerated(job: JobView, streamedTokens: number) {
  expect(job.status).toBe("completed");
  expect(job.cancelledAt).toBeGreaterThan(0);
  const receipt = job.receipt!;
  expect(verifyReceipt(receipt, b64u.decode(job.workerId!))).toBe(true);
  const usage = receipt.body.usage;
  // the pieces the worker streamed before it heard of the cancel: what we read, and a few more in flight
  expect(usage.completionTokens).toBeGreaterThanOrEqual(streamedTokens);
  expect(usage.completionTokens).toBeLessThan(MAX_TOKENS / 2);
  // the prompt as the engine counted it (its own re-ask), not zero and not the hold's bound
  expect(usage.promptTokens).toBeGreaterThan(0);
  expect(BigInt(job.cost!)).toBeLessThan(BigInt(job.maxCost));
  // the worker stopped at the cancel, not at its 64th token (~6.4 s)
  expect(job.updatedAt - job.cancelledAt!).toBeLessThan(2_000);
}

describe("cancel on the real local network", () => {
  it("askStream: an abort after three deltas stops the worker; the job is billed for the tokens generated, the rest of the hold comes back", async () => {
    // Prepare
    const before = (await sdk.balance()).available;
    const ac = new AbortController();
    let jobId: string | undefined;
    let read = 0;
    // Act
    const t0 = Date.now();
    try {
      for await (const ev of sdk.askStream({
        model: SLOW,
        messages: [{ role: "user", content: PROMPT }],
        maxTokens: MAX_TOKENS,
        signal: ac.signal,
      }) as AsyncIterable<StreamEvent>) {
        if (ev.type !== "delta" || !ev.text) continue;
        jobId ??= ev.jobId;
        if (++read === 3) ac.abort();
      }
    } catch (e) {
      expect((e as Error).name).toBe("AbortError");
    }
    await sdk.settleCancels();
    const job = await ended(jobId!);
    // Assess
    expect(cancels.find((c) => c.jobId === jobId)).toMatchObject({ ok: true, answer: { cancelled: true, status: "assigned" } });
    expectBilledForWhatWasGenerated(job, read);
    expect(job.updatedAt - t0).toBeLessThan((MAX_TOKENS * MS_PER_TOKEN) / 2);
    const after = (await sdk.balance()).available;
    expect(BigInt(before) - BigInt(after)).toBe(BigInt(job.cost!));
  }, 30_000);

  it("ask (not streamed): an abort a second in cancels it the same way", async () => {
    // Prepare
    const ac = new AbortController();
    const seen = cancels.length;
    // Act
    const asked = sdk
      .ask({ model: SLOW, messages: [{ role: "user", content: PROMPT }], maxTokens: MAX_TOKENS, signal: ac.signal })
      .catch((e: Error) => e);
    setTimeout(() => ac.abort(), 1_000);
    const r = await asked;
    await sdk.settleCancels();
    // Assess
    expect((r as Error).name).toBe("AbortError");
    const c = cancels.slice(seen);
    expect(c).toHaveLength(1);
    const job = await ended(c[0]!.jobId);
    expectBilledForWhatWasGenerated(job, 1);
  }, 30_000);

  it("a cancel after the job ended changes nothing and says so", async () => {
    // Prepare
    const done = await sdk.ask({ model: SLOW, messages: [{ role: "user", content: "hi" }], maxTokens: 2 });
    const before = await sdk.job(done.jobId);
    // Act
    const r = await sdk.cancel(done.jobId);
    // Assess
    expect(r).toEqual({ jobId: done.jobId, status: "completed", cancelled: false });
    const after = await sdk.job(done.jobId);
    expect(after).toEqual(before);
  }, 30_000);

  it("another account cannot cancel a job it does not own (refused as a read of it is, and the job runs on)", async () => {
    // Prepare
    const other = new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true });
    const ac = new AbortController();
    let jobId: string | undefined;
    const stream = (async () => {
      for await (const ev of sdk.askStream({
        model: SLOW,
        messages: [{ role: "user", content: "count to three" }],
        maxTokens: 8,
        signal: ac.signal,
      })) {
        if (ev.type === "delta") jobId ??= ev.jobId;
      }
    })();
    await pollUntil("the first delta", () => jobId, 10_000, 10);
    // Act
    const refused = await other.cancel(jobId!).catch((e: { status?: number; code?: string }) => e);
    await stream;
    // Assess
    expect(refused).toMatchObject({ status: 403, code: "not_your_job" });
    const job = await sdk.job(jobId!);
    expect(job.status).toBe("completed");
    expect(job.cancelledAt).toBeUndefined();
  }, 30_000);
});
