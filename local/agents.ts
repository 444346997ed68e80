import { join } from "node:path";
import { generateKemKey } from "../core/crypto/keys";
import { loadOrCreateKey } from "../api-client/keys";
import { startAgent, type RunningAgent } from "../agent/runtime";
import { makeAttester } from "../agent/attest";
import { createBuiltinEngine, BUILTIN_DEFAULT_MODEL } from "../agent/engines/builtin";
import type { Engine } from "../agent/engines/engine";

export interface LocalAgentSpec {
  name: string;
  priceBps: number;
  engine?: Engine;
  models?: string[];
  capacity?: number;
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
        attest: makeAttester({ tier: "dev", signingKey, kemKey }),
      });
    }),
  );
}
