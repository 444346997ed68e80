/**
 * `kill -9` of the agent process a GPU owner runs (an OOM kill, a host reboot, systemd's SIGKILL
 * after TimeoutStopSec) while a job is in flight, then the unit's restart on the same state
 * directory: the job is failed over by its lease to the other candidate and answered once, the
 * killed worker is paid nothing for it, and the restarted agent comes back as the same worker
 * (its key), registers afresh (a new HPKE key: the old one died with the process, so it can never
 * be handed the old attempt) and serves again. The other suites stop agents in-process
 * (stop(), drain()); only this one kills the real process mid-job.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import { startNetwork, type LocalNetwork } from "../local/network";
import { startAgent, type RunningAgent } from "../agent/runtime";
import { makeAttester } from "../agent/attest";
import { createBuiltinEngine } from "../agent/engines/builtin";
import { jsonLog } from "../agent/log";
import { ApiClient, API } from "../api-client/api";
import { loadKey } from "../api-client/keys";
import { CocoonClient } from "../client/sdk";
import { REPO_ROOT } from "../scripts/build-agent";
import { devStartArgv, spawnAgent, startFakeEngine, type AgentProcess } from "./agent-fixtures";
import { MODEL, pollUntil } from "./helpers";

let net: LocalNetwork;
let other: RunningAgent;
const engine = startFakeEngine(MODEL);
beforeAll(async () => {
  net = await startNetwork({ chain: false, config: { leaseBaseSeconds: 2, leaseMsPerToken: 1 } });
  await engine.start();
  // the other candidate: answers at once (the built-in engine), in this process
  const signingKey = generateSigningKey();
  const kemKey = generateKemKey();
  other = await startAgent({
    apiUrl: net.url,
    signingKey,
    kemKey,
    engine: createBuiltinEngine(),
    models: [{ model: MODEL, priceBps: 10_000 }],
    capacity: 4,
    attest: makeAttester({ tier: "dev", signingKey, kemKey }),
    log: jsonLog({ write: () => {} }),
    pollWaitSeconds: 1,
  });
}, 30_000);
afterAll(async () => {
  await other?.stop();
  await engine.kill();
  await net?.stop();
});

/** `cocoon-agent start` from the sources, as its own process, on `home`, in front of the test's held engine. */
const startOwnersAgent = (home: string): AgentProcess =>
  spawnAgent(devStartArgv([join(REPO_ROOT, "agent/cli.ts")], net.url, "--engine", "openai", "--engine-url", engine.url, "--model", MODEL), {
    COCOON_HOME: home,
    COCOON_POLL_WAIT_SECONDS: "1",
  });

describe("kill -9 of the owner's agent with a job in flight, then its restart", () => {
  it("fails the job over once, pays the killed worker nothing, and the restarted agent serves as the same worker", async () => {
    // Prepare: the owner's agent up, its engine holding every generation
    const home = tempDir("cocoon-agent-kill9-");
    engine.hold = true;
    const first = startOwnersAgent(home);
    const serving = await first.waitFor("serving", 30_000);
    const workerId = String(serving.workerId);
    const client = new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true });
    await client.faucet(10_000_000_000n);
    const ask = () =>
      client.ask({
        model: MODEL,
        messages: [{ role: "user", content: "kill me" }],
        maxTokens: 16,
        tiers: ["dev"],
        candidates: 2,
        timeoutMs: 60_000,
      });
    // Act: ask until a job lands on the owner's agent (the coordinator may hand one to the other worker first)
    let answer: Awaited<ReturnType<typeof ask>> | undefined;
    for (let i = 0; i < 10 && answer === undefined; i++) {
      const before = engine.received;
      let settled = false;
      const pending = ask();
      pending.then(
        () => (settled = true),
        () => (settled = true),
      );
      const landed = await pollUntil(
        "the job at the owner's engine, or its answer from the other worker",
        () => (engine.received > before ? true : settled ? false : undefined),
        30_000,
      );
      if (!landed) {
        await pending.catch(() => undefined);
        continue;
      }
      first.child.kill("SIGKILL");
      await first.exited;
      answer = await pending;
    }
    engine.hold = false;
    engine.release();
    const second = startOwnersAgent(home);
    const again = await second.waitFor("serving", 30_000);
    const api = new ApiClient(net.url, loadKey(join(home, "worker.key")));
    const account = await api.request(API.workerStatus);
    second.child.kill("SIGTERM");
    const code = await second.exited;
    // Assess: the job was answered once, by the other candidate, on its second attempt
    expect(answer).toBeDefined();
    expect(answer!.workerId).not.toBe(workerId);
    expect(answer!.attempt).toBe(1);
    // the killed worker was paid nothing: its attempt never finished
    expect(account.workerId).toBe(workerId);
    expect(account.jobs).toBe(0);
    expect(account.earned).toBe("0");
    // the restart is the same worker, registered afresh, and stops cleanly
    expect(again.workerId).toBe(workerId);
    expect(second.lines.some((l) => l.msg === "made a new worker key")).toBe(false);
    expect(code).toBe(0);
  }, 120_000);
});
