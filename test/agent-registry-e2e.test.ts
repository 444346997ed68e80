/**
 * issue 15: the agent runs a job only while its own reading of the policy registry lists the
 * weights it serves for the job's model (agent/attest.ts policyRefusal, asked by
 * agent/runtime.ts before each job). The coordinator here reads no registry, so only the
 * agent's own check stands between the job and the delisted weights.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeAttester } from "../agent/attest";
import { createBuiltinEngine } from "../agent/engines/builtin";
import { startAgent } from "../agent/runtime";
import { CocoonClient } from "../client/sdk";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import { DEV_IMAGE_DIGEST, PolicyCache, type PolicyReading } from "../core/policy-registry";
import { startNetwork, type LocalNetwork } from "../local/network";
import { agentLogTo, pollUntil } from "./helpers";

const LISTED = "1a".repeat(32);
const OTHER = "2b".repeat(32);

/** A fresh reading of a registry listing the dev image and the weights LISTED only. */
const registry = () =>
  new PolicyCache(
    {
      read: async (): Promise<PolicyReading> => ({
        version: 7,
        updatedAt: 1,
        readAt: Date.now() / 1000,
        policy: {
          coordinatorKey: "11".repeat(32),
          fees: { pricePerToken: 100n, promptBps: 2_500, completionBps: 10_000, operatorFeeBps: 0 },
          images: [DEV_IMAGE_DIGEST],
          models: { [LISTED]: 0n },
        },
      }),
    },
    { refreshSeconds: 1, maxAgeSeconds: 60, now: Date.now },
  );

describe("issue 15: the agent checks the served weights against its own reading of the registry", () => {
  let net: LocalNetwork;
  beforeAll(async () => {
    net = await startNetwork({ chain: false });
  }, 60_000);
  afterAll(async () => {
    await net.stop();
  });

  /** A dev agent serving `model` with `digest` attested for it, reading the registry above. */
  async function agent(model: string, digest: string, lines: string[]) {
    const signingKey = generateSigningKey();
    const kemKey = generateKemKey();
    return startAgent({
      apiUrl: net.url,
      signingKey,
      kemKey,
      engine: createBuiltinEngine({ models: [model] }),
      models: [{ model, priceBps: 10_000 }],
      attest: makeAttester({ tier: "dev", signingKey, kemKey, modelDigests: { [model]: digest } }),
      log: agentLogTo(lines),
      policy: { registry: registry(), image: DEV_IMAGE_DIGEST, modelDigests: { [model]: digest } },
    });
  }

  it("weights the registry does not list: the job is left to its lease (never run); listed weights: it is answered", async () => {
    // Prepare
    const refusedLines: string[] = [];
    const servedLines: string[] = [];
    const refusing = await agent("weights/delisted", OTHER, refusedLines);
    const serving = await agent("weights/listed", LISTED, servedLines);
    const client = new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true });
    await client.faucet(1_000_000_000n);
    const ask = (model: string, timeoutMs: number) =>
      client.ask({ model, messages: [{ role: "user", content: "hi" }], maxTokens: 8, tiers: ["dev"], timeoutMs });

    // Act
    const left = ask("weights/delisted", 5_000).catch((e: Error) => e);
    const refusal = await pollUntil(
      "the agent's refusal in its log",
      () => refusedLines.find((l) => l.includes("job left to its lease") && l.includes(`digest ${OTHER}`)),
      10_000,
      50,
    );
    const answered = await ask("weights/listed", 20_000);

    // Assess
    expect(refusal).toBeDefined();
    expect(refusing.stats.jobs).toBe(0);
    expect(answered.text.length).toBeGreaterThan(0);
    expect(serving.stats.jobs).toBe(1);
    await left;
    await Promise.all([refusing.stop(), serving.stop()]);
  }, 60_000);
});
