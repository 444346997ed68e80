/**
 * agent41: an agent that cannot attest waits it out, off the candidate lists, and says why.
 *
 * - A first start whose collateral was stale or missing while the PCCS was unreachable exited
 *   (startAgent threw the CollateralError): an owner whose PCCS was down at boot had to restart
 *   the agent. Now it starts, reports `cannot_attest` (state, attestError, the
 *   cocoon_agent_attestation_ok gauge, one log line per change), retries on its backoff and
 *   registers once the collateral arrives.
 * - A coordinator refusing the agent's evidence (403 `attestation_*`) at a re-registration left
 *   it heartbeating online and polling for jobs it would not be given, the refusal logged at every
 *   retry. Now it heartbeats offline, stops polling once idle, logs the refusal's code once per
 *   change, has its collateral fetched afresh, retries on a backoff and comes back when accepted.
 *
 * The coordinator is answered by the agent's own client (ApiClient.requestJson), so that each
 * registration can be refused with the coordinator's code and each heartbeat is recorded. The
 * attester is the dev one, made to throw the collateral source's error.
 */
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import { b64u } from "../core/crypto/encoding";
import { API, ApiClient, ApiError } from "../api-client/api";
import { agentLogTo, MODEL, pollUntil } from "../test/helpers";
import { makeAttester } from "./attest";
import { CollateralError } from "./collateral";
import type { Engine } from "./engines/engine";
import { createAgentMetrics } from "./metrics";
import { startAgent, type AgentOptions, type RunningAgent } from "./runtime";
import type { JobSource, WorkBatch } from "./sources/job-source";

// ------------------------------------------------------------------------- factories

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
  vi.restoreAllMocks();
});

const HOUR = 3_600_000;

const idleEngine: Engine = {
  name: "idle",
  models: async () => [MODEL],
  generate: () => Promise.reject(new Error("no job is sent in these tests")),
};

/** An empty job source that counts its polls. */
function countingSource(): JobSource & { polls: number } {
  const s = {
    polls: 0,
    async next(): Promise<WorkBatch> {
      s.polls++;
      await new Promise((r) => setTimeout(r, 20));
      return { jobs: [], challenges: [] };
    },
  };
  return s;
}

/** The coordinator's refusal of the evidence, as core/workers.ts registerWorker throws it (403, attestation_<verdict code>). */
const refusal = (code = "attestation_collateral_expired") =>
  new ApiError(
    403,
    code,
    "attestation refused: collateral expired: TCB info (next update 2030-07-01T00:00:00.000Z); fetch fresh collateral",
  );

const staleCollateral = () =>
  new CollateralError(
    "collateral_stale",
    "tdx collateral stale: no evidence is made until http://127.0.0.1:9 serves collateral that passes (nothing cached for FMSPC B0C06F000000)",
  );

/**
 * A dev agent and the coordinator it talks to. `coordinator.refuse`: what each registration is
 * refused with (undefined: accepted); `coordinator.refuseBeat`: what the next online heartbeat is
 * refused with; `coordinator.expiresAt`: the verdict's expiry each heartbeat reports (soon: a
 * re-registration is due at the next tick). `attest.fails`: what the attester throws.
 */
function world() {
  const signingKey = generateSigningKey();
  const kemKey = generateKemKey();
  const coordinator = {
    refuse: undefined as ApiError | undefined,
    refuseBeat: undefined as ApiError | undefined,
    expiresAt: () => Date.now() + 24 * HOUR,
    registrations: 0,
    refused: 0,
    beats: [] as Array<{ offline: boolean }>,
  };
  vi.spyOn(ApiClient.prototype, "requestJson").mockImplementation(async (_method, p, body) => {
    if (p === API.workerNonce.path) return { nonce: b64u.encode(randomBytes(32)), expiresAt: Date.now() + 300_000 };
    if (p === API.registerWorker.path) {
      if (coordinator.refuse) {
        coordinator.refused++;
        throw coordinator.refuse;
      }
      coordinator.registrations++;
      return {
        workerId: signingKey.id,
        tier: "dev",
        measurement: "dev",
        attestationExpiresAt: Date.now() + 24 * HOUR,
        models: [MODEL],
        heartbeatSeconds: 5,
      };
    }
    if (p === API.heartbeat.path) {
      const b = body as { offline: boolean };
      coordinator.beats.push(b);
      const refused = coordinator.refuseBeat;
      if (refused && !b.offline) {
        coordinator.refuseBeat = undefined;
        throw refused;
      }
      return { ok: true, attestationExpiresAt: coordinator.expiresAt(), heartbeatSeconds: 5 };
    }
    throw new Error(`the test answers no ${p}`);
  });
  const dev = makeAttester({ tier: "dev", signingKey, kemKey });
  const attest = { fails: undefined as Error | undefined, tries: 0 };
  const lines: string[] = [];
  const metrics = createAgentMetrics();
  const source = countingSource();
  const collateral = { coordinatorBounds: () => {}, refetch: vi.fn() };
  const options = (over: Partial<AgentOptions> = {}): AgentOptions => ({
    apiUrl: "http://127.0.0.1:9",
    signingKey,
    kemKey,
    engine: idleEngine,
    models: [{ model: MODEL, priceBps: 10_000 }],
    attest: async (nonce, at) => {
      attest.tries++;
      if (attest.fails) throw attest.fails;
      return dev(nonce, at);
    },
    collateral,
    log: agentLogTo(lines),
    metrics,
    jobSource: source,
    pollWaitSeconds: 1,
    heartbeatMs: 100,
    tickMs: 20,
    backoff: { baseMs: 20, capMs: 60 },
    ...over,
  });
  const start = async (over: Partial<AgentOptions> = {}) => {
    const a: RunningAgent = await startAgent(options(over));
    cleanup.push(() => a.stop());
    return a;
  };
  const logged = (msg: string) => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === msg);
  return { coordinator, attest, metrics, source, collateral, start, logged };
}

/** The registrations failed with `code`, as cocoon_agent_errors_total counts them in `metrics` (0: none). */
const counted = (metrics: string, code: string) =>
  Number(new RegExp(`^cocoon_agent_errors_total\\{code="${code}",where="register"\\} (\\d+)$`, "m").exec(metrics)?.[1] ?? 0);

/** Waits (5 s at most) until `cond` holds. */
const until = (what: string, cond: () => boolean) => pollUntil(what, () => (cond() ? true : undefined), 5_000, 10);

const CANNOT = "cannot attest: leaving the candidate lists until fresh evidence passes";
const BACK = "attesting again: back on the candidate lists";

// ------------------------------------------------------------------------- tests

describe("a first start that cannot attest yet (agent41)", () => {
  it("starts, reports cannot_attest with the cause, retries on its backoff and registers once the collateral arrives", async () => {
    // Prepare: the PCCS down at boot, nothing cached
    const w = world();
    w.attest.fails = staleCollateral();
    // Act: start; watch it wait for 3 tries; the collateral arrives
    const starting = w.start({ registerRetryMs: Infinity });
    starting.catch(() => {}); // awaited below; a rejection while it is watched must not go unhandled
    await until("three tries", () => w.attest.tries >= 3);
    const waiting = { doc: w.metrics.doc(), text: w.metrics.render(), registrations: w.coordinator.registrations };
    w.attest.fails = undefined;
    const a = await starting;
    // Assess: while it waited
    expect(waiting.registrations).toBe(0);
    expect(waiting.doc.state).toBe("cannot_attest");
    expect(waiting.doc.attestError).toMatchObject({
      code: "collateral_stale",
      refused: false,
      msg: expect.stringContaining("nothing cached"),
    });
    expect(waiting.text).toContain("\ncocoon_agent_attestation_ok 0\n");
    expect(waiting.text).toContain("\ncocoon_agent_serving 0\n");
    expect(counted(waiting.text, "collateral_stale")).toBeGreaterThanOrEqual(3);
    // ... one log line for the cause, though it was tried again and again
    expect(w.logged("register failed")).toEqual([expect.objectContaining({ code: "collateral_stale" })]);
    // ... and once registered
    expect(w.coordinator.registrations).toBe(1);
    expect(a.metrics.doc().state).toBe("serving");
    expect(a.metrics.doc().attestError).toBeUndefined();
    expect(a.metrics.render()).toContain("\ncocoon_agent_attestation_ok 1\n");
    expect(w.logged("attesting: the evidence passes")).toEqual([expect.objectContaining({ code: "collateral_stale" })]);
  });

  it.each([
    [
      "a quote whose platform cannot be read",
      new CollateralError("quote_unreadable", "cannot tell which collateral this quote needs"),
      Infinity,
    ],
    ["an embedder that asked not to wait (registerRetryMs 0)", staleCollateral(), 0],
  ])("still fails at once on %s", async (_, error, registerRetryMs) => {
    // Prepare
    const w = world();
    w.attest.fails = error;
    // Act
    const e = await w.start({ registerRetryMs }).then(
      () => undefined,
      (x: unknown) => x,
    );
    // Assess
    expect(e).toBe(error);
    expect(w.attest.tries).toBe(1);
  });
});

describe("a coordinator that refuses the evidence (agent41)", () => {
  it("sends the agent offline, stops its polls, logs the refusal's code once, refetches collateral, and brings it back when accepted", async () => {
    // Prepare: serving, its heartbeats online
    const w = world();
    const a = await w.start();
    await until("two online beats", () => w.coordinator.beats.length >= 2);
    expect(w.coordinator.beats.every((b) => !b.offline)).toBe(true);
    // Act: the verdict is due for renewal, and each registration is refused
    w.coordinator.refuse = refusal();
    w.coordinator.expiresAt = () => Date.now() + 1_000;
    await until("two refusals", () => w.coordinator.refused >= 2);
    const beatsAtRefusal = w.coordinator.beats.length;
    await until("the poll loop parked", () => w.logged(CANNOT).length > 0);
    await new Promise((r) => setTimeout(r, 60)); // the poll in flight ends (20 ms)
    const pollsParked = w.source.polls;
    await until("four more refusals and three beats", () => w.coordinator.refused >= 6 && w.coordinator.beats.length >= beatsAtRefusal + 3);
    const whileRefused = {
      doc: a.metrics.doc(),
      text: a.metrics.render(),
      polls: w.source.polls,
      beats: w.coordinator.beats.slice(beatsAtRefusal),
    };
    // ... accepted again
    w.coordinator.refuse = undefined;
    w.coordinator.expiresAt = () => Date.now() + 24 * HOUR;
    await until("back", () => w.logged(BACK).length > 0);
    const beatsAtBack = w.coordinator.beats.length;
    await until(
      "two beats and polls after",
      () => w.coordinator.beats.length >= beatsAtBack + 2 && w.source.polls > whileRefused.polls + 2,
    );
    // Assess: off the lists, no polls, said once, collateral refetched
    expect(whileRefused.beats.length).toBeGreaterThanOrEqual(3);
    expect(whileRefused.beats.every((b) => b.offline)).toBe(true);
    expect(whileRefused.polls).toBe(pollsParked);
    expect(w.logged("register failed")).toEqual([
      expect.objectContaining({ code: "attestation_collateral_expired", error: expect.stringContaining("collateral expired") }),
    ]);
    expect(w.logged(CANNOT)).toEqual([expect.objectContaining({ code: "attestation_collateral_expired" })]);
    expect(w.collateral.refetch.mock.calls.length).toBeGreaterThanOrEqual(6);
    expect(whileRefused.doc.state).toBe("cannot_attest");
    expect(whileRefused.doc.attestError).toMatchObject({ code: "attestation_collateral_expired", refused: true });
    expect(counted(whileRefused.text, "attestation_collateral_expired")).toBeGreaterThanOrEqual(6);
    // ... and back: online, polling, serving
    expect(w.coordinator.beats.slice(beatsAtBack).every((b) => !b.offline)).toBe(true);
    expect(a.metrics.doc().state).toBe("serving");
    expect(a.metrics.doc().attestError).toBeUndefined();
  });

  it("a new refusal code is logged again (once per change)", async () => {
    // Prepare
    const w = world();
    await w.start();
    w.coordinator.expiresAt = () => Date.now() + 1_000;
    // Act: refused for one reason, then another
    w.coordinator.refuse = refusal("attestation_collateral_expired");
    await until("three refusals", () => w.coordinator.refused >= 3);
    w.coordinator.refuse = refusal("attestation_measurement_not_allowed");
    await until("three more", () => w.coordinator.refused >= 6);
    // Assess
    expect(w.logged("register failed").map((l) => l.code)).toEqual([
      "attestation_collateral_expired",
      "attestation_measurement_not_allowed",
    ]);
  });

  it("a heartbeat refused with an attestation code sends it offline and has it re-attest at once", async () => {
    // Prepare: heartbeats every 100 ms; the verdict far from renewal
    const w = world();
    await w.start();
    await until("an online beat", () => w.coordinator.beats.length >= 1);
    // Act
    w.coordinator.refuseBeat = refusal("attestation_evidence_expired");
    await until("back", () => w.logged(BACK).length > 0);
    // Assess: refused, offline at once, registered again
    expect(w.logged(CANNOT)).toEqual([expect.objectContaining({ code: "attestation_evidence_expired" })]);
    expect(w.logged("heartbeat failed")).toEqual([expect.objectContaining({ code: "attestation_evidence_expired" })]);
    expect(w.coordinator.beats.some((b) => b.offline)).toBe(true);
    expect(w.coordinator.registrations).toBe(2);
  });
});
