/**
 * collat40b: a tdx agent whose collateral went stale (agent/collateral.ts throws CollateralError
 * `collateral_stale`) logged `register failed` with code "error" (runtime's codeOf knew only API
 * and engine errors), and heartbeated on, listed, while it could answer no challenge and make no
 * evidence. Now the code is named in the log and the metrics, and the worker heartbeats offline
 * (off the candidate lists) until a registration with fresh evidence succeeds.
 *
 * The API is the local network (real handlers, loopback); heartbeats are answered by the agent's
 * own client (ApiClient.requestJson) so that each one is recorded and the verdict can be made due
 * for renewal at once. The attester is the dev one, made to throw the collateral source's error.
 */
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import { b64u } from "../core/crypto/encoding";
import type { AgentChallenge } from "../events/api";
import { API, ApiClient } from "../api-client/api";
import { startNetwork } from "../local/network";
import { agentLogTo, MODEL, pollUntil } from "../test/helpers";
import { makeAttester } from "./attest";
import { CollateralError } from "./collateral";
import type { Engine } from "./engines/engine";
import { startAgent, type RunningAgent } from "./runtime";
import type { JobSource, WorkBatch } from "./sources/job-source";

// ------------------------------------------------------------------------- factories

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
  vi.restoreAllMocks();
});

const idleEngine: Engine = {
  name: "idle",
  models: async () => [MODEL],
  generate: () => Promise.reject(new Error("no job is sent in these tests")),
};

/** A job source that hands out pushed batches, short empty polls in between. */
function pushedSource(): JobSource & { push(b: WorkBatch): void } {
  const batches: WorkBatch[] = [];
  return {
    push: (b) => void batches.push(b),
    async next(): Promise<WorkBatch> {
      const b = batches.shift();
      if (b) return b;
      await new Promise((r) => setTimeout(r, 20));
      return { jobs: [], challenges: [] };
    },
  };
}

const challenge = (): AgentChallenge => ({
  kind: "challenge",
  challengeId: `chl_${"a".repeat(26)}`,
  nonce: b64u.encode(randomBytes(32)),
  expiresAt: Date.now() + 60_000,
});

/**
 * A dev agent on a local network whose attester throws the collateral source's
 * `collateral_stale` while `stale.on`. Heartbeats every `heartbeatMs`, each recorded and answered
 * with a verdict that expires within the renewal margin, so that a tick after it asks for a
 * re-registration. `beatsAt[msg]`: how many beats had been sent when `msg` was first logged.
 */
async function staleableAgent(heartbeatMs = 100) {
  // Registrations unlimited here: every beat's short verdict asks for one, and each try while
  // stale takes a nonce, so the default 10-nonce burst ran out when a loaded host slowed the stale
  // phase (a 429 then held the return past the test's wait; CI, session 41). Not what this tests.
  const unlimited = { burst: 100_000, perMinute: 100_000 };
  const net = await startNetwork({ chain: false, config: { rateLimits: { registration_nonce: unlimited, registration: unlimited } } });
  cleanup.push(() => net.stop());
  const signingKey = generateSigningKey();
  const kemKey = generateKemKey();
  const dev = makeAttester({ tier: "dev", signingKey, kemKey });
  const stale = { on: false };
  const beats: Array<{ offline: boolean }> = [];
  const real = ApiClient.prototype.requestJson;
  vi.spyOn(ApiClient.prototype, "requestJson").mockImplementation(async function (this: ApiClient, method, p, body, headers, signal) {
    if (p !== API.heartbeat.path) return real.call(this, method, p, body, headers, signal);
    beats.push(body as { offline: boolean });
    return { ok: true, attestationExpiresAt: Date.now() + 1_000, heartbeatSeconds: 5 };
  });
  const lines: string[] = [];
  const beatsAt: Record<string, number> = {};
  const log = agentLogTo(lines);
  const marked = (put: typeof log.info) => (msg: string, data?: Record<string, unknown>) => {
    beatsAt[msg] ??= beats.length;
    put(msg, data);
  };
  const source = pushedSource();
  const a: RunningAgent = await startAgent({
    apiUrl: net.url,
    signingKey,
    kemKey,
    engine: idleEngine,
    models: [{ model: MODEL, priceBps: 10_000 }],
    attest: async (nonce, at) => {
      if (stale.on)
        throw new CollateralError(
          "collateral_stale",
          "tdx collateral stale: no evidence is made until the PCCS serves collateral that passes",
        );
      return dev(nonce, at);
    },
    log: { info: marked(log.info), warn: marked(log.warn) },
    jobSource: source,
    pollWaitSeconds: 1,
    heartbeatMs,
    tickMs: 20,
    backoff: { baseMs: 20, capMs: 100 },
  });
  cleanup.push(() => a.stop());
  const logged = (msg: string) => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === msg);
  return { a, stale, beats, beatsAt, source, logged };
}

// ------------------------------------------------------------------------- tests

/** Waits (5 s at most) until `cond` holds. */
const until = (what: string, cond: () => boolean) => pollUntil(what, () => (cond() ? true : undefined), 5_000, 10);

const CANNOT = "cannot attest: leaving the candidate lists until fresh evidence passes";
const BACK = "attesting again: back on the candidate lists";

describe("agent runtime: collateral that went stale (collat40b)", () => {
  it("names collateral_stale in the log line and the metrics of a failed re-registration and a failed challenge answer", async () => {
    // Prepare
    const { a, stale, source, logged } = await staleableAgent();
    // Act
    stale.on = true;
    source.push({ jobs: [], challenges: [challenge()] });
    await until("both failures logged", () => logged("register failed").length > 0 && logged("challenge failed").length > 0);
    // Assess
    expect(logged("register failed")[0]).toMatchObject({ code: "collateral_stale", error: expect.stringMatching(/tdx collateral stale/) });
    expect(logged("challenge failed")[0]).toMatchObject({ code: "collateral_stale" });
    const metrics = a.metrics.render();
    expect(metrics).toMatch(/cocoon_agent_errors_total\{code="collateral_stale",where="register"\} [1-9]/);
    expect(metrics).toMatch(/cocoon_agent_errors_total\{code="collateral_stale",where="challenge"\} 1/);
    expect(metrics).not.toMatch(/code="error"/);
    expect(a.metrics.status.lastError?.code).toBe("collateral_stale");
  });

  it("heartbeats offline (off the candidate lists) while it cannot attest, and online again once a registration with fresh evidence succeeds", async () => {
    // Prepare: serving, its heartbeats online
    const { stale, beats, beatsAt, logged } = await staleableAgent();
    await until("two online beats", () => beats.length >= 2);
    expect(beats.every((b) => !b.offline)).toBe(true);
    // Act: the collateral goes stale, for 4 more beats
    stale.on = true;
    await until("four beats after the failure", () => beatsAt[CANNOT] !== undefined && beats.length >= beatsAt[CANNOT]! + 4);
    // ... and fresh again, for 2 more
    stale.on = false;
    await until("two beats after the registration", () => beatsAt[BACK] !== undefined && beats.length >= beatsAt[BACK]! + 2);
    // Assess: from the failure to the registration every beat offline; online after it
    const whileStale = beats.slice(beatsAt[CANNOT], beatsAt[BACK]);
    expect(whileStale.length).toBeGreaterThanOrEqual(4);
    expect(whileStale.map((b) => b.offline)).toEqual(whileStale.map(() => true));
    expect(beats.slice(beatsAt[BACK]).map((b) => b.offline)).toEqual(beats.slice(beatsAt[BACK]).map(() => false));
    expect(logged(CANNOT)).toEqual([expect.objectContaining({ code: "collateral_stale" })]);
  });

  it("leaves the lists at once on a challenge it cannot answer (not at its next heartbeat, minutes away), and retries the registration meanwhile", async () => {
    // Prepare: heartbeats a minute apart, so none is due in this test
    const { stale, beats, source, logged } = await staleableAgent(60_000);
    // Act
    stale.on = true;
    source.push({ jobs: [], challenges: [challenge()] });
    await until("an offline beat and a failed registration", () => beats.length >= 1 && logged("register failed").length > 0);
    stale.on = false;
    await until("a registration with fresh evidence", () => logged(BACK).length > 0);
    // Assess: one beat, offline, sent when the challenge failed; the registration tried again without waiting for the verdict's renewal
    expect(beats).toEqual([expect.objectContaining({ offline: true })]);
    expect(logged("challenge failed")).toEqual([expect.objectContaining({ code: "collateral_stale" })]);
    expect(logged("register failed")[0]).toMatchObject({ code: "collateral_stale" });
    expect(logged("re-registered with fresh evidence").length).toBeGreaterThan(0);
  });
});
