import { routeStandIn, type StandInAnswer } from "../api-client/stand-in-testing";
import type { Voucher } from "../events/money";
import { main } from "./cli";

/**
 * Test factory: `cocoon-agent …` run in this process with `env` set for the call only (restored
 * after, whatever happened); its exit code and what it printed.
 */
export async function runAgentCli(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const printed = { out: "", err: "" };
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    const code = await main(argv, { write: (s: string) => (printed.out += s) }, { write: (s: string) => (printed.err += s) });
    return { code, ...printed };
  } finally {
    // restored in place: replacing process.env with a copy would leave the rest of a shared
    // worker process (vitest.config.ts) a plain object that no longer is the environment
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/**
 * Test factory: the coordinator of a network with no local sandbox, as `cocoon-agent redeem` sees
 * it: `voucher` for the worker, a status with `redeemed` of it already paid, no sessions and no dev routes.
 */
export async function noSandboxCoordinator(voucher: Voucher, redeemed: bigint) {
  const status = {
    workerId: "w".repeat(43),
    tier: "none",
    models: [],
    jobs: 3,
    promptTokens: 1,
    completionTokens: 2,
    earned: voucher.cumulative,
    redeemed: redeemed.toString(),
    lastHeartbeat: 1,
    attestationExpiresAt: 2,
  };
  const answer = (route: string): StandInAnswer => {
    if (route === "GET /v1/routes") return { status: 404 };
    if (route === "POST /v1/sessions") return { status: 404, body: { error: { code: "sessions_unavailable", message: "-" } } };
    if (route === "POST /v1/agents/voucher") return { status: 200, body: voucher };
    if (route === "GET /v1/agents/me") return { status: 200, body: status };
    if (route.startsWith("POST /v1/dev/") || route.startsWith("GET /v1/dev/"))
      return { status: 404, body: { error: { code: "dev_chain_disabled", message: "no local sandbox here" } } };
    return { status: 404, body: { error: { code: "not_found", message: route } } };
  };
  return routeStandIn(answer);
}

/** Factory: a running agent's /status document (agent/metrics.ts AgentStatusDoc) for `workerId`. */
export function statusDoc(workerId: string) {
  const day = { day: "2026-12-06", jobs: 412, failed: 0, promptTokens: 1, completionTokens: 2, earned: "3000" };
  return {
    workerId,
    tier: "dev",
    confidential: false,
    tierLabel: "dev (SIMULATED TEE: NOT confidential)",
    state: "serving",
    startedAt: 1,
    uptimeSeconds: 3600,
    inFlight: 0,
    capacity: 1,
    today: day,
    total: day,
    redeemThreshold: "0",
  };
}
