/**
 * Issue 13: an agent that looks after itself, on the local network (real handlers, LMDB,
 * in-process queues): the API going away and coming back, the engine killed in the middle of
 * a job and coming back, long jobs kept alive by lease extensions, malformed and foreign-key
 * jobs, automatic payout, and logs and metrics that never hold a prompt or an answer.
 */
import { afterEach, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import { startNetwork, type LocalNetwork, type NetworkOptions } from "../local/network";
import { startAgent, type AgentOptions, type RunningAgent } from "../agent/runtime";
import { makeAttester } from "../agent/attest";
import { sealedJob } from "../agent/job-testing";
import { createBuiltinEngine } from "../agent/engines/builtin";
import { createHttpJobSource } from "../agent/sources/http";
import { ApiClient } from "../api-client/api";
import { createOpenAiEngine } from "../agent/engines/openai-http";
import { jsonLog } from "../agent/log";
import { serveMetrics } from "../agent/metrics";
import { CocoonClient } from "../client/sdk";
import { expectNoCanary, findCanary, lineSources, newCanary } from "./canary";
import { MODEL, pollUntil } from "./helpers";
import { startFakeEngine } from "./agent-fixtures";

// ------------------------------------------------------------------------- factories

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
});

async function network(o: NetworkOptions = {}): Promise<LocalNetwork> {
  const net = await startNetwork({ chain: false, ...o });
  cleanup.push(() => net.stop());
  return net;
}

/** A dev agent with quick backoff and short polls, its JSON log kept in `lines`. */
async function agent(apiUrl: string, o: Partial<AgentOptions> & { lines?: string[] } = {}): Promise<RunningAgent & { lines: string[] }> {
  const signingKey = generateSigningKey();
  const kemKey = generateKemKey();
  const lines = o.lines ?? [];
  const a = await startAgent({
    apiUrl,
    signingKey,
    kemKey,
    engine: createBuiltinEngine(),
    models: [{ model: MODEL, priceBps: 10_000 }],
    capacity: 2,
    attest: makeAttester({ tier: "dev", signingKey, kemKey }),
    log: jsonLog({ write: (l) => void lines.push(l) }),
    pollWaitSeconds: 1,
    heartbeatMs: 500,
    tickMs: 100,
    backoff: { baseMs: 50, capMs: 400 },
    resultRetryMs: 10_000,
    ...o,
  });
  cleanup.push(() => a.stop());
  return Object.assign(a, { lines });
}

/** An engine the test controls (./agent-fixtures.ts), stopped after the test. */
function fakeEngine() {
  const f = startFakeEngine(MODEL);
  cleanup.push(() => f.kill());
  return f;
}

async function requester(apiUrl: string): Promise<CocoonClient> {
  const c = new CocoonClient({ apiUrl, key: generateSigningKey(), allowDev: true });
  await c.faucet(10_000_000_000n);
  return c;
}

const ask = (c: CocoonClient, content: string, o: { candidates?: number; maxTokens?: number } = {}) =>
  c.ask({
    model: MODEL,
    messages: [{ role: "user", content }],
    maxTokens: o.maxTokens ?? 16,
    tiers: ["dev"],
    candidates: o.candidates ?? 1,
    timeoutMs: 20_000,
  });

const logged = (a: { lines: string[] }, msg: string) => a.lines.some((l) => (JSON.parse(l) as { msg: string }).msg === msg);

// ------------------------------------------------------------------------- tests

describe("issue 13: an agent that looks after itself", () => {
  it("survives the API going away and coming back: polls back off with jitter, then it serves again on the same registration", async () => {
    // Prepare: a network with its store on disk, an agent serving it
    const dataDir = tempDir("cocoon-api-down-");
    const first = await startNetwork({ chain: false, dataDir });
    const port = Number(new URL(first.url).port);
    const a = await agent(first.url);
    // Act 1: the coordinator goes away
    await first.stop();
    await pollUntil(
      "two failed polls",
      () => (a.lines.filter((l) => l.includes('"msg":"poll failed"')).length >= 2 ? true : undefined),
      10_000,
    );
    const whileDown = a.metrics.doc().state;
    // Act 2: it comes back on the same address and store; a requester asks
    const again = await network({ dataDir, port });
    await pollUntil("the agent serving again", () => (a.metrics.doc().state === "serving" ? true : undefined), 10_000);
    const r = await ask(await requester(again.url), "still there?");
    // Assess
    expect(whileDown).toBe("api_down");
    const waits = a.lines.filter((l) => l.includes('"msg":"poll failed"')).map((l) => (JSON.parse(l) as { retryInMs: number }).retryInMs);
    expect(waits.every((w) => w >= 0 && w <= 400)).toBe(true); // capped, jittered
    expect(logged(a, "API reachable again")).toBe(true);
    expect(r.workerId).toBe(a.workerId);
  });

  it("the engine killed mid-job: the job fails over to the next candidate, the agent leaves the lists, and serves again once the engine is back", async () => {
    // Prepare: agent A in front of an engine that holds the request; agent B (dearer) as the second candidate
    const net = await network();
    const engine = await fakeEngine().start();
    engine.hold = true;
    const a = await agent(net.url, { engine: createOpenAiEngine({ baseUrl: engine.url }), models: [{ model: MODEL, priceBps: 10_000 }] });
    const b = await agent(net.url, { models: [{ model: MODEL, priceBps: 30_000 }] });
    const client = await requester(net.url);
    // Act 1: a job reaches A's engine, which dies
    const pending = ask(client, "first", { candidates: 2 });
    await pollUntil("the engine to get the request", () => (engine.received > 0 ? true : undefined), 10_000);
    await engine.kill();
    const r1 = await pending;
    const downState = a.metrics.doc().state;
    // Act 2: the engine comes back; B leaves; the next job is A's
    engine.hold = false;
    await engine.start();
    await pollUntil("A serving again", () => (a.metrics.doc().state === "serving" ? true : undefined), 10_000);
    await b.stop();
    const r2 = await ask(client, "second");
    // Assess
    expect(r1.workerId).toBe(b.workerId);
    expect(r1.attempt).toBe(1);
    expect(downState).toBe("engine_down");
    expect(logged(a, "engine back: taking jobs again")).toBe(true);
    expect(r2.workerId).toBe(a.workerId);
    expect(r2.text).toBe("fake answer");
    expect(a.metrics.render()).toMatch(/cocoon_agent_jobs_total\{outcome="failed"\} 1/);
  });

  it("a job longer than its lease is kept by lease extensions and answered by the first candidate", async () => {
    // Prepare: 1 s leases, an engine that takes 1.8 s (past the lease, and past its second extension at 1 s), one candidate only
    const net = await network({ config: { leaseBaseSeconds: 1, leaseMsPerToken: 0 } });
    const engine = await fakeEngine().start();
    engine.delayMs = 1_800;
    const a = await agent(net.url, { engine: createOpenAiEngine({ baseUrl: engine.url }) });
    // Act
    const r = await ask(await requester(net.url), "take your time");
    // Assess: without the extensions the lease check would have refunded it after 1 s
    expect(r.workerId).toBe(a.workerId);
    expect(r.attempt).toBe(0);
    expect(Number(/cocoon_agent_lease_extensions_total (\d+)/.exec(a.metrics.render())?.[1])).toBeGreaterThanOrEqual(2);
  });

  it("malformed and foreign-key jobs are rejected without crashing; the next real job is answered", async () => {
    // Prepare: the agent's own poll, with a first answer that carries a malformed item, a job
    // sealed to another worker's key and one whose ciphertext is broken
    const net = await network();
    const signingKey = generateSigningKey();
    const foreign = sealedJob(generateSigningKey().id, generateKemKey());
    const poller = new ApiClient(net.url, signingKey);
    let injected = false;
    const jobSource = createHttpJobSource({
      async requestJson(method, path) {
        const real = (await poller.requestJson(method, path)) as { jobs: unknown[]; challenges?: unknown[] };
        if (injected) return real;
        injected = true;
        // two attempts of one job (the agent runs an id and attempt once: a second delivery is dropped)
        const broken = { ...foreign, attempt: 1, envelope: { ...foreign.envelope, payload: "AAAA" } };
        return { ...real, jobs: [{ hello: "world" }, foreign, broken, ...real.jobs] };
      },
    });
    const kemKey = generateKemKey();
    const a = await agent(net.url, { signingKey, kemKey, attest: makeAttester({ tier: "dev", signingKey, kemKey }), jobSource });
    // Act
    await pollUntil("both jobs refused", () => (a.stats.failed >= 2 ? true : undefined), 10_000);
    const r = await ask(await requester(net.url), "a real one");
    // Assess
    expect(a.stats.failed).toBe(2);
    expect(a.lines.filter((l) => l.includes('"code":"bad_request"')).length).toBe(2);
    expect(r.workerId).toBe(a.workerId);
    expect(a.metrics.doc().state).toBe("serving");
  });

  it("re-attests before its evidence expires", async () => {
    // Prepare: an agent whose clock we move to 30 s before its evidence expires
    const net = await network();
    let skew = 0;
    let attested = 0;
    const signingKey = generateSigningKey();
    const kemKey = generateKemKey();
    const attest = makeAttester({ tier: "dev", signingKey, kemKey });
    const a = await agent(net.url, { signingKey, kemKey, now: () => Date.now() + skew, attest: (n) => (attested++, attest(n)) });
    const registeredUntil = (await a.api.request((await import("../api-client/routes")).API.workerStatus)).attestationExpiresAt;
    // Act
    skew = registeredUntil - Date.now() - 30_000;
    await pollUntil("a re-registration", () => (logged(a, "re-registered with fresh evidence") ? true : undefined), 5_000);
    skew = 0;
    // Assess: fresh evidence was made for it (the first attestation was the registration's)
    expect(attested).toBeGreaterThanOrEqual(2);
  });

  it("redeems earnings on its own once they pass the owner's threshold (local sandbox wallet)", async () => {
    // Prepare: the network with its TON sandbox; a threshold of 1 nanoTON, checked often
    const net = await network({ chain: true });
    const a = await agent(net.url, { redeem: { threshold: 1n, checkEveryMs: 200 } });
    // Act
    await ask(await requester(net.url), "pay me");
    const redeemed = await pollUntil("an automatic redemption", () => a.metrics.doc().lastRedeem, 20_000);
    // Assess
    const { API } = await import("../api-client/routes");
    const s = await a.api.request(API.workerStatus);
    expect(BigInt(redeemed.paid)).toBeGreaterThan(0n);
    expect(s.redeemed).toBe(s.earned);
    expect(logged(a, "payout redeemed")).toBe(true);
  });

  it("a run's logs, metrics and status hold no canary from the prompt or the answer", async () => {
    // Prepare
    const net = await network();
    const a = await agent(net.url);
    const served = await serveMetrics(a.metrics, 0);
    cleanup.push(() => served.close());
    const canary = newCanary();
    // Act
    const r = await ask(await requester(net.url), `repeat after me: ${canary}`, { maxTokens: 64 });
    const metrics = await (await fetch(`${served.url}/metrics`)).text();
    const status = await (await fetch(`${served.url}/status`)).text();
    // Assess: the answer carried it (positive control), the owner's views do not
    expect(findCanary(r.text, canary).length).toBeGreaterThan(0);
    expect(metrics).toMatch(/cocoon_agent_jobs_total\{outcome="completed"\} 1/);
    expectNoCanary(canary, [
      ...lineSources("agent log", a.lines),
      ...lineSources("metrics", [metrics]),
      ...lineSources("status", [status]),
    ]);
  });
});
