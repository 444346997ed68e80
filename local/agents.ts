import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import { generateKemKey } from "../core/crypto/keys";
import { loadOrCreateKey } from "../api-client/keys";
import { startAgent, type RunningAgent } from "../agent/runtime";
import { makeAttester } from "../agent/attest";
import { createBuiltinEngine, BUILTIN_DEFAULT_MODEL } from "../agent/engines/builtin";
import type { Engine } from "../agent/engines/engine";
import { createLlamaEngine, type LlamaEngine, type LlamaLoadInfo } from "../agent/engines/llama";
import { TINY_MODEL_DEFAULT_PATH, writeTinyGguf } from "../agent/engines/tiny-gguf";

export interface LocalAgentSpec {
  name: string;
  priceBps: number;
  engine?: Engine;
  models?: string[];
  capacity?: number;
  /** SHA-256 of each model's weights, attested (the policy's model allow-list is checked against it) */
  modelDigests?: Record<string, string>;
}

/**
 * Local agents: real agent code with SIMULATED (dev) attestation and the built-in
 * deterministic engine (not a language model). Worker keys persist under `home` so the
 * same workers come back after a restart; HPKE keys are new at every boot, as in a TEE.
 */
export async function startLocalAgents(apiUrl: string, home: string, specs: LocalAgentSpec[]): Promise<RunningAgent[]> {
  return Promise.all(
    specs.map((s) => {
      const signingKey = loadOrCreateKey(join(home, `${s.name}.key`));
      const kemKey = generateKemKey();
      const engine = s.engine ?? createBuiltinEngine();
      return startAgent({
        apiUrl,
        signingKey,
        kemKey,
        engine,
        models: (s.models ?? [BUILTIN_DEFAULT_MODEL]).map((model) => ({ model, priceBps: s.priceBps })),
        capacity: s.capacity ?? 4,
        attest: makeAttester({ tier: "dev", signingKey, kemKey, ...(s.modelDigests ? { modelDigests: s.modelDigests } : {}) }),
      });
    }),
  );
}

/** The name the local default serves the project's tiny random-weight GGUF under: what /v1/models shows says what it is. */
export const LOCAL_TINY_MODEL = "tiny-random-weights:text-means-nothing";

export interface ModelFileAgent {
  agent: RunningAgent;
  engine: LlamaEngine;
  info: LlamaLoadInfo;
  /** the model name requesters ask for */
  model: string;
  /** true for the project's generated tiny model (random weights) */
  tiny: boolean;
}

/**
 * A local agent on the embedded llama.cpp engine (agent/engines/llama.ts), serving `modelFile`
 * or, when none is given, the project's tiny random-weight GGUF, generated first if missing
 * (`npm run model:tiny` writes the same bytes: it is deterministic and local). The file is
 * loaded before the agent registers, and its SHA-256 is what the agent attests.
 */
export async function startModelFileAgent(
  apiUrl: string,
  home: string,
  o: { modelFile?: string; modelName?: string; name?: string; priceBps?: number; threads?: number } = {},
): Promise<ModelFileAgent> {
  const tiny = o.modelFile === undefined;
  // under this network's home (COCOON_HOME), not always ./.cocoon: a network started elsewhere wrote into the checkout
  const modelFile = o.modelFile ?? join(home, "models", basename(TINY_MODEL_DEFAULT_PATH));
  if (tiny && !existsSync(modelFile)) writeTinyGguf(modelFile);
  const engine = createLlamaEngine({
    modelFile,
    ...(o.modelName ? { modelName: o.modelName } : tiny ? { modelName: LOCAL_TINY_MODEL } : {}),
    // One thread: on a small machine llama.cpp is far faster with 1 than with 2 (agent/engines/README.md).
    threads: o.threads ?? 1,
    gpu: tiny ? false : "auto",
  });
  const info = await engine.load();
  const [agent] = await startLocalAgents(apiUrl, home, [
    {
      name: o.name ?? "agent-gguf",
      priceBps: o.priceBps ?? 10_000,
      engine,
      models: [engine.modelName],
      capacity: 1,
      modelDigests: { [engine.modelName]: info.digest },
    },
  ]);
  return { agent: agent!, engine, info, model: engine.modelName, tiny };
}
