import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { createBuiltinEngine } from "../agent/engines/builtin";
import type { Engine } from "../agent/engines/engine";
import type { RunningAgent } from "../agent/runtime";
import { CocoonClient } from "../client/sdk";
import { generateSigningKey } from "../core/crypto/keys";
import { b64u } from "../core/crypto/encoding";
import { verifyReceipt } from "../core/crypto/receipt";
import { startLocalAgents } from "../local/agents";
import { startNetwork, type LocalNetwork } from "../local/network";
import { pollUntil } from "./helpers";

/**
 * tokenize42: a requester's cancel during an embedding call, end to end on the local network. An
 * embedding is one call whose whole work is the prompt's; the agent stopped it and failed the job
 * "cancelled" (refunded in full) though the engine had done the work. It now lets the call
 * finish within the lease and posts it billed: the coordinator takes a cancelled job's completed
 * result of prompt tokens and 0 completion tokens.
 */

const MODEL = "slow-embed";
const EMBED_MS = 1_500;
const PROMPT_TOKENS = 5;

let net: LocalNetwork;
let agents: RunningAgent[];
let sdk: CocoonClient;
const cancels: string[] = [];

/** The builtin engine's chat, and embeddings that take EMBED_MS and count PROMPT_TOKENS. */
function slowEmbedder(): Engine {
  const builtin = createBuiltinEngine({ models: [MODEL] });
  return {
    name: "slow-embed",
    models: () => builtin.models(),
    generate: (req) => builtin.generate(req),
    capabilities: async (model) => ({ ...(await builtin.capabilities!(model)), embeddings: true }),
    embed: (req) =>
      new Promise((resolve, reject) => {
        const t = setTimeout(
          () => resolve({ vectors: req.input.map(() => [0.25, 0.5]), usage: { promptTokens: PROMPT_TOKENS }, engine: "slow-embed" }),
          EMBED_MS,
        );
        req.signal?.addEventListener("abort", () => (clearTimeout(t), reject(new Error("aborted"))), { once: true });
      }),
  };
}

beforeAll(async () => {
  net = await startNetwork({ chain: false });
  agents = await startLocalAgents(net.url, tempDir("cocoon-cancel-embed-e2e-"), [
    { name: "embedder", priceBps: 10_000, engine: slowEmbedder(), models: [MODEL] },
  ]);
  sdk = new CocoonClient({
    apiUrl: net.url,
    key: generateSigningKey(),
    allowDev: true,
    onCancel: (jobId) => void cancels.push(jobId),
  });
  await sdk.faucet(50_000_000_000n);
}, 60_000);

afterAll(async () => {
  await Promise.all((agents ?? []).map((a) => a.stop()));
  await net?.stop();
});

describe("a cancel during an embedding call, on the real local network", () => {
  it("the call finishes and the job completes billed at the engine's count (prompt tokens, 0 completion), not refunded", async () => {
    // Prepare
    const ac = new AbortController();
    // Act: aborted while the engine embeds
    const asked = sdk.embed({ model: MODEL, input: ["hello there"], signal: ac.signal }).catch((e: Error) => e);
    setTimeout(() => ac.abort(), 500);
    const r = await asked;
    await sdk.settleCancels();
    // Assess: the requester stopped waiting; the job ended completed with the engine's count, billed
    expect((r as Error).name).toBe("AbortError");
    expect(cancels).toHaveLength(1);
    const job = await pollUntil(
      "the job to end",
      async () => {
        const j = await sdk.job(cancels[0]!);
        return j.status === "completed" || j.status === "refunded" ? j : undefined;
      },
      15_000,
      20,
    );
    expect(job.status).toBe("completed");
    expect(job.cancelledAt).toBeGreaterThan(0);
    expect(job.receipt!.body.usage).toEqual({ promptTokens: PROMPT_TOKENS, completionTokens: 0 });
    expect(verifyReceipt(job.receipt!, b64u.decode(job.workerId!))).toBe(true);
    expect(BigInt(job.cost!)).toBeGreaterThan(0n);
  }, 30_000);
});
