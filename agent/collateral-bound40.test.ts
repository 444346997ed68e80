/**
 * collat40b: the agent judged its collateral by the `maxCollateralAgeSeconds` of the policy it
 * was built with, not the one the coordinator enforces; with a shorter bound at the coordinator
 * it attached collateral the coordinator then refused (`collateral_too_old`), and refreshed too
 * late. The coordinator now names its bound with each registration nonce (NonceResponse
 * `attestationPolicy`), the runtime hands it to the collateral source before the evidence is
 * made, and the source judges what it holds by it (the bundled bound where the coordinator is too
 * old to name one).
 *
 * Offline: the PCCS is a stand-in on 127.0.0.1 serving the genuine sample collateral in Intel
 * PCS's shapes (TCB info issued 2025-06-19T10:16:03Z); the coordinator's answers are given by
 * the agent's own client (ApiClient.requestJson), since the sample quote binds another TD's keys.
 */
import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import { b64u } from "../core/crypto/encoding";
import { NonceResponse, type AgentChallenge, type AttestationBounds } from "../events/api";
import { API, ApiClient } from "../api-client/api";
import { SAMPLE_QUOTE, sampleCollateral } from "../test/fixtures/attestation/helpers";
import { agentLogTo, MODEL, pollUntil } from "../test/helpers";
import { tempDir } from "../test/temp-dir";
import { makeAttester } from "./attest";
import { CollateralError, collateralSource } from "./collateral";
import { closeStandInPccses, HOUR, SAMPLE_ISSUED as ISSUED, samplePccs } from "./collateral-testing";
import type { Engine } from "./engines/engine";
import { startAgent } from "./runtime";
import type { JobSource, WorkBatch } from "./sources/job-source";

// ---------------------------------------------------------------- factories
/** The bound the agent was built with (its bundled policy's, here as the option that stands for it). */
const BUNDLED_SECONDS = 36 * 3600;
/** The shorter bound the coordinator enforces. */
const COORDINATOR: AttestationBounds = { policyVersion: 9, maxCollateralAgeSeconds: 30 * 3600 };

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
  await closeStandInPccses();
  vi.restoreAllMocks();
});

/** A collateral source on `pccs` built with the 36-hour bound. */
const sourceOn = (pccsUrl: string, log = agentLogTo([])) =>
  collateralSource({ stateDir: tempDir("cocoon-collateral-bound-"), pccsUrl, maxAgeSeconds: BUNDLED_SECONDS, log });

/**
 * The coordinator, answered by the agents' own client: the nonce with `bounds` (undefined: an
 * older coordinator's answer, without the field), the registration of `workerId` as accepted,
 * heartbeats and challenge answers taken. Agents start one at a time, so each registers under
 * the values set just before it.
 */
const coordinator: { workerId: string; bounds: AttestationBounds | undefined } = { workerId: "", bounds: undefined };
beforeEach(() => {
  vi.spyOn(ApiClient.prototype, "requestJson").mockImplementation(async (_method, p, body) => {
    if (p === API.workerNonce.path)
      return {
        nonce: b64u.encode(randomBytes(32)),
        expiresAt: Date.now() + 300_000,
        ...(coordinator.bounds ? { attestationPolicy: coordinator.bounds } : {}),
      };
    if (p === API.registerWorker.path)
      return {
        workerId: coordinator.workerId,
        tier: "tdx",
        measurement: "ab".repeat(48),
        attestationExpiresAt: Date.now() + 24 * HOUR,
        models: [MODEL],
        heartbeatSeconds: 1800,
      };
    if (p === API.heartbeat.path) return { ok: true, attestationExpiresAt: Date.now() + 24 * HOUR, heartbeatSeconds: 1800 };
    if (p === API.answerChallenge.path)
      return { challengeId: (body as { challengeId: string }).challengeId, status: "answered", duplicate: false };
    throw new Error(`the test answers no ${p}`);
  });
});

const idleEngine: Engine = { name: "idle", models: async () => [MODEL], generate: () => Promise.reject(new Error("no jobs here")) };

/**
 * A tdx agent (the sample quote, collateral from `pccsUrl`, its clock at `clock.t`) whose
 * coordinator names `bounds` with its nonce. `challenge()` pushes a challenge and waits for its answer.
 */
async function tdxAgent(pccsUrl: string, bounds: AttestationBounds | undefined, clock: { t: number }) {
  const signingKey = generateSigningKey();
  const kemKey = generateKemKey();
  const collateral = sourceOn(pccsUrl);
  const attester = makeAttester({
    tier: "tdx",
    signingKey,
    kemKey,
    quoteProvider: { tier: "tdx", quote: async () => SAMPLE_QUOTE },
    collateral,
    now: () => clock.t,
  });
  coordinator.workerId = signingKey.id;
  coordinator.bounds = bounds;
  const batches: WorkBatch[] = [];
  const source: JobSource = {
    async next() {
      await new Promise((r) => setTimeout(r, 10));
      return batches.shift() ?? { jobs: [], challenges: [] };
    },
  };
  const a = await startAgent({
    apiUrl: "http://127.0.0.1:9",
    signingKey,
    kemKey,
    engine: idleEngine,
    models: [{ model: MODEL }],
    // the test's clock, not the coordinator's (the sample collateral is from 2025)
    attest: (nonce) => attester(nonce),
    collateral,
    jobSource: source,
    pollWaitSeconds: 1,
    heartbeatMs: 60_000,
    tickMs: 20,
  });
  cleanup.push(() => a.stop());
  const challenge = async () => {
    const before = a.stats.challenges;
    const c: AgentChallenge = {
      kind: "challenge",
      challengeId: `chl_${"b".repeat(26)}`,
      nonce: b64u.encode(randomBytes(32)),
      expiresAt: Date.now() + 60_000,
    };
    batches.push({ jobs: [], challenges: [c] });
    await pollUntil("the challenge answered", () => (a.stats.challenges > before ? true : undefined), 5_000, 10);
  };
  return { a, challenge };
}

// ---------------------------------------------------------------- tests

describe("the coordinator names the collateral age bound it enforces (collat40b)", () => {
  it("an agent refreshes its collateral against the coordinator's bound, shorter than the bundled one; against the bundled one where the coordinator names none", async () => {
    // Prepare: collateral fetched a day after Intel issued it. With the coordinator's 30 hours,
    // 6 are left and it is due again 3 hours later; with the bundled 36 hours, 6 hours later.
    const clock = { t: ISSUED + 24 * HOUR };
    const told = await samplePccs();
    const old = await samplePccs();
    const toldAgent = await tdxAgent(told.url, COORDINATOR, clock);
    const oldAgent = await tdxAgent(old.url, undefined, clock);
    expect([told.requests.length, old.requests.length]).toEqual([4, 4]); // fetched for the registrations
    // Act: a challenge each, 3 hours on
    clock.t = ISSUED + 27 * HOUR;
    await toldAgent.challenge();
    await oldAgent.challenge();
    // Assess: only the agent told the shorter bound fetched again
    expect([told.requests.length, old.requests.length]).toEqual([8, 4]);
  });

  it("the collateral source: a shorter coordinator bound brings the refresh forward and makes collateral stale sooner; an older coordinator's silence restores the bundled bound", async () => {
    // Prepare
    const pccs = await samplePccs();
    const lines: string[] = [];
    const s = sourceOn(pccs.url, agentLogTo(lines));
    await s.forQuote(SAMPLE_QUOTE, ISSUED + 24 * HOUR);
    // Act + Assess, in steps
    s.coordinatorBounds(COORDINATOR);
    await s.forQuote(SAMPLE_QUOTE, ISSUED + 27 * HOUR);
    expect(pccs.requests.length).toBe(8); // due at 27 h under 30 h (the bundled 36 h: at 30 h)
    const stale = await s.forQuote(SAMPLE_QUOTE, ISSUED + 30 * HOUR).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(CollateralError);
    expect(stale).toMatchObject({ code: "collateral_stale" });
    s.coordinatorBounds(undefined);
    await expect(s.forQuote(SAMPLE_QUOTE, ISSUED + 30 * HOUR)).resolves.toEqual(sampleCollateral());
    s.coordinatorBounds({ policyVersion: 10 }); // the coordinator bounds it by Intel's nextUpdate only
    await expect(s.forQuote(SAMPLE_QUOTE, ISSUED + 40 * HOUR)).resolves.toEqual(sampleCollateral());
    const changes = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "tdx collateral age bound changed");
    expect(changes).toEqual([
      expect.objectContaining({ maxCollateralAgeSeconds: 30 * 3600, was: BUNDLED_SECONDS, from: "the coordinator's policy v9" }),
      expect.objectContaining({ maxCollateralAgeSeconds: BUNDLED_SECONDS, was: 30 * 3600 }),
      expect.objectContaining({ maxCollateralAgeSeconds: "none", was: BUNDLED_SECONDS, from: "the coordinator's policy v10" }),
    ]);
  });

  it("the nonce answer: an older coordinator's, without the field, still parses; one the agent cannot read reads as absent", () => {
    // Prepare
    const base = { nonce: "n", expiresAt: 1 };
    // Act + Assess
    expect(NonceResponse.parse(base)).toEqual(base);
    expect(NonceResponse.parse({ ...base, attestationPolicy: COORDINATOR }).attestationPolicy).toEqual(COORDINATOR);
    expect(NonceResponse.parse({ ...base, attestationPolicy: { maxCollateralAgeSeconds: "soon" } }).attestationPolicy).toBeUndefined();
  });
});
