/**
 * Clocks minutes apart (home GPU owners' and requesters' machines often are): times the
 * coordinator sends (a quote's expiresAt, a job's lease, a challenge's expiresAt, evidence's
 * end as the coordinator counts it) are on its clock. The SDK and the agent compare them with
 * their own only through the offset the API client learnt from a refused timestamp
 * (ApiClient.localTime): a quote is not thrown away on arrival, a lease is neither extended four
 * times a second nor left to lapse, a challenge is not dropped as expired, evidence is renewed
 * before the coordinator counts it out.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { startTestNet, MODEL, type TestNet } from "./helpers";
import { API } from "../api-client/api";
import { CocoonClient } from "../client/sdk";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import { b64u } from "../core/crypto/encoding";
import { startAgent, type RunningAgent } from "../agent/runtime";
import { makeAttester } from "../agent/attest";
import { sealedJob } from "../agent/job-testing";
import type { Engine } from "../agent/engines/engine";
import type { AgentChallenge, AgentJob } from "../events/api";
import type { AttestationDoc } from "../events/attestation";

const FIVE_MIN = 5 * 60_000;

// ---------------------------------------------------------------- the SDK

/**
 * Factory: a funded client on a machine whose clock is `aheadMs` off the coordinator's (the SDK
 * and its API client both read it), and how many prepares it sent (a spy on its API client).
 */
async function skewedClient(t: TestNet, aheadMs: number) {
  const now = () => Date.now() + aheadMs;
  const key = generateSigningKey();
  const client = new CocoonClient({ apiUrl: t.net.url, key, allowDev: true, now });
  await client.faucet(10_000_000_000n);
  const request = client.api.request.bind(client.api);
  let prepares = 0;
  vi.spyOn(client.api, "request").mockImplementation(((endpoint: unknown, o?: unknown) => {
    if (endpoint === API.prepareJob) prepares++;
    return (request as (e: unknown, o?: unknown) => Promise<unknown>)(endpoint, o);
  }) as typeof client.api.request);
  return { client, prepares: () => prepares };
}

const ask = (client: CocoonClient, content: string) =>
  client.ask({ model: MODEL, messages: [{ role: "user", content }], maxTokens: 16, tiers: ["dev"], candidates: 2 });

describe("the SDK on a clock minutes off the coordinator's", () => {
  let t: TestNet;
  beforeAll(async () => {
    t = await startTestNet();
  }, 60_000);
  afterAll(async () => t?.stop());

  it.each([
    ["5 min ahead (as long as the quote's life)", FIVE_MIN],
    ["5 min behind", -FIVE_MIN],
    ["90 s ahead", 90_000],
  ])(
    "a client %s keeps its quote: three asks, one prepare",
    async (_what, aheadMs) => {
      // Prepare
      const { client, prepares } = await skewedClient(t, aheadMs);
      // Act
      const answers = [];
      for (let i = 0; i < 3; i++) answers.push(await ask(client, `question ${i}`));
      // Assess
      expect(prepares()).toBe(1);
      for (const a of answers) expect(a.receipt?.body.jobId).toBe(a.jobId);
    },
    30_000,
  );
});

// ---------------------------------------------------------------- the agent

/**
 * A stand-in coordinator on its own clock, `agentAheadMs` behind the agent's (Date header
 * included): it refuses the agent's first request as stale or from the future, as the real one
 * does, so the agent's API client learns the offset; then it answers what the agent asks.
 * `evidenceAgeMs`: the registration's attestationExpiresAt is issuedAt + this, as the real
 * coordinator's verdict is; evidence issued more than 5 min ahead of its clock is refused
 * (evidence_from_future), as the real one refuses it.
 */
async function skewedCoordinator(agentAheadMs: number, o: { leaseMs?: number; evidenceAgeMs?: number } = {}) {
  const serverNow = () => Date.now() - agentAheadMs;
  const seen = { nonces: 0, registered: 0, leases: [] as number[], answered: [] as string[] };
  let taught = false;
  let attestationExpiresAt = 0;
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (b: Buffer) => (body += b.toString()));
    req.on("end", () => {
      const send = (status: number, json: unknown) =>
        res.writeHead(status, { "content-type": "application/json", date: new Date(serverNow()).toUTCString() }).end(JSON.stringify(json));
      const path = req.url ?? "";
      if (path === "/v1/routes") return send(404, { error: { code: "not_found", message: "no directory" } });
      if (!taught) {
        taught = true;
        const code = agentAheadMs > 0 ? "future_request" : "stale_request";
        return send(401, { error: { code, message: "request timestamp off" } });
      }
      const b = (body ? JSON.parse(body) : {}) as { attestation?: AttestationDoc; challengeId?: string };
      switch (path) {
        case "/v1/sessions":
          return send(404, { error: { code: "sessions_unavailable", message: "none" } });
        case "/v1/agents/nonce":
          seen.nonces++;
          return send(200, { nonce: b64u.encode(randomBytes(32)), expiresAt: serverNow() + 60_000 });
        case "/v1/agents":
          if (b.attestation!.issuedAt > serverNow() + 5 * 60_000)
            return send(400, { error: { code: "evidence_from_future", message: "issued in the future" } });
          seen.registered++;
          attestationExpiresAt = b.attestation!.issuedAt + (o.evidenceAgeMs ?? 86_400_000);
          return send(200, {
            workerId: b.attestation!.signingPublicKey,
            tier: "dev",
            measurement: "dev",
            attestationExpiresAt,
            models: [MODEL],
            heartbeatSeconds: 5,
          });
        case "/v1/agents/heartbeat":
          return send(200, { ok: true, attestationExpiresAt, heartbeatSeconds: 5 });
        case "/v1/agent/lease":
          seen.leases.push(Date.now());
          return send(200, { leaseUntil: serverNow() + (o.leaseMs ?? 4_000), extended: true });
        case "/v1/agent/attestations":
          seen.answered.push(b.challengeId!);
          return send(200, { challengeId: b.challengeId, status: "answered", duplicate: false });
        case "/v1/agent/results":
          return send(200, { status: "completed", duplicate: false, cost: "1" });
        default:
          return send(404, { error: { code: "unknown_route", message: path } });
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, serverNow, seen, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** Factory: an engine that answers once `release()` is called (a job that runs as long as the test wants). */
function heldEngine() {
  let release = () => {};
  const held = new Promise<void>((r) => (release = r));
  const engine: Engine = {
    name: "held",
    models: async () => [MODEL],
    capabilities: async () => ({ chat: true, completions: false, embeddings: false, streaming: false, tools: false, jsonSchema: false }),
    generate: async () => {
      await held;
      return { text: "done", usage: { promptTokens: 1, completionTokens: 1 }, finishReason: "stop", engine: "held" };
    },
  };
  return { engine, release };
}

/** Factory: a job sealed to the agent's keys, as the coordinator dispatches it (its deadline on the coordinator's clock). */
const jobFor = (workerId: string, hpkePublicKey: Uint8Array, deadline: number): AgentJob => ({
  ...sealedJob(workerId, { publicKey: hpkePublicKey }),
  deadline,
});

/** Factory: an agent (its own clock, Date.now) on the stand-in coordinator, given `work` on its first poll. */
async function agentWith(
  coord: Awaited<ReturnType<typeof skewedCoordinator>>,
  work: (k: { workerId: string; hpke: Uint8Array }) => { jobs: AgentJob[]; challenges: AgentChallenge[] },
) {
  const signingKey = generateSigningKey();
  const kemKey = generateKemKey();
  const held = heldEngine();
  let given = false;
  const agent = await startAgent({
    apiUrl: coord.url,
    signingKey,
    kemKey,
    engine: held.engine,
    models: [{ model: MODEL, priceBps: 10_000 }],
    attest: makeAttester({ tier: "dev", signingKey, kemKey }),
    jobSource: {
      next: async (s) => {
        if (!given) {
          given = true;
          return work({ workerId: signingKey.id, hpke: kemKey.publicKey });
        }
        await new Promise((r) => setTimeout(r, Math.min(s, 0.2) * 1000));
        return { jobs: [], challenges: [] };
      },
    },
    heartbeatMs: 1_000,
    tickMs: 100,
    backoff: { baseMs: 50, capMs: 100 },
  });
  return { agent, release: held.release };
}

describe("the agent on a clock minutes off the coordinator's", () => {
  const running: Array<{ agent: RunningAgent; release: () => void; close: () => Promise<void> }> = [];
  afterEach(async () => {
    for (const r of running.splice(0)) {
      r.release();
      await r.agent.stop();
      await r.close();
    }
  });

  // The three wait 3 s each and share nothing (each its own stand-in coordinator and agent): run at
  // once, each stopping its own agent when it ends (the afterEach below would stop the others' too).
  it.concurrent.for<[string, number]>([
    ["5 min ahead (was: extended every 250 ms)", FIVE_MIN],
    ["5 min behind (was: first extension after the lease ran out)", -FIVE_MIN],
    ["90 s behind", -90_000],
  ])("an agent %s extends a 4 s lease once half of it is left", { timeout: 15_000 }, async ([, aheadMs], { expect, onTestFinished }) => {
    // Prepare
    const coord = await skewedCoordinator(aheadMs, { leaseMs: 4_000 });
    const { agent, release } = await agentWith(coord, (k) => ({
      jobs: [jobFor(k.workerId, k.hpke, coord.serverNow() + 4_000)],
      challenges: [],
    }));
    onTestFinished(async () => {
      release();
      await agent.stop();
      await coord.close();
    });
    // Act: the job runs 3 s
    await new Promise((r) => setTimeout(r, 3_000));
    // Assess: one extension about 2 s in (the lease kept, and not asked for over and over)
    expect(coord.seen.leases.length).toBeGreaterThanOrEqual(1);
    expect(coord.seen.leases.length).toBeLessThanOrEqual(2);
  });

  it("an agent 5 min ahead answers a challenge that has 60 s left", async () => {
    // Prepare
    const coord = await skewedCoordinator(FIVE_MIN);
    const challenge: AgentChallenge = {
      kind: "challenge",
      challengeId: `chl_${"a".repeat(26)}`,
      nonce: b64u.encode(randomBytes(32)),
      expiresAt: coord.serverNow() + 60_000,
    };
    // Act
    const { agent, release } = await agentWith(coord, () => ({ jobs: [], challenges: [challenge] }));
    running.push({ agent, release, close: coord.close });
    // Assess
    await vi.waitFor(() => expect(coord.seen.answered).toEqual([challenge.challengeId]), { timeout: 3_000 });
  }, 15_000);

  it("an agent 6 min ahead registers: its evidence is stamped with the coordinator's time (was: evidence_from_future, every time)", async () => {
    // Prepare
    const coord = await skewedCoordinator(6 * 60_000);
    // Act
    const { agent, release } = await agentWith(coord, () => ({ jobs: [], challenges: [] }));
    running.push({ agent, release, close: coord.close });
    // Assess
    expect(coord.seen.registered).toBe(1);
  }, 15_000);

  it("an agent 5 min behind renews its evidence before the coordinator counts it out", async () => {
    // Prepare: evidence the coordinator keeps 61 s from its issue: due for renewal at once by its clock, in 5 min by the agent's
    const coord = await skewedCoordinator(-FIVE_MIN, { evidenceAgeMs: 61_000 });
    // Act
    const { agent, release } = await agentWith(coord, () => ({ jobs: [], challenges: [] }));
    running.push({ agent, release, close: coord.close });
    // Assess: registered again (within two heartbeats and a minute of the coordinator's end)
    await vi.waitFor(() => expect(coord.seen.nonces).toBeGreaterThanOrEqual(2), { timeout: 3_000 });
  }, 15_000);
});
