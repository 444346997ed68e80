import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { loadOrCreateKey } from "../api-client/keys";
import { runAgentCli, statusDoc } from "./cli-testing";
import { lockWorker } from "./instance-lock";

/** One 127.0.0.1 server standing in for both the coordinator (GET /v1/agents/me) and the agent's /status. */
async function fakeServer(me: string, agentOnPort: string, doc: Record<string, unknown> = {}) {
  const server: Server = createServer((req, res) => {
    const body =
      req.url === "/status"
        ? { ...statusDoc(agentOnPort), ...doc }
        : req.url === "/v1/agents/me"
          ? {
              workerId: me,
              tier: "dev",
              models: ["m"],
              jobs: 7,
              promptTokens: 1,
              completionTokens: 2,
              earned: "5",
              redeemed: "0",
              lastHeartbeat: 1,
              attestationExpiresAt: 2,
            }
          : undefined;
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return { port, url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe("cocoon-agent status when another agent answers on the metrics port", () => {
  it("does not show the other worker's jobs and uptime as this worker's, and says whose they are", async () => {
    // Prepare: this worker's key, and a port where another worker's agent answers /status
    const home = tempDir("cocoon-agent-status-other-");
    const me = loadOrCreateKey(join(home, "worker.key")).id;
    const fake = await fakeServer(me, "another-worker-id");
    try {
      // Act
      const r = await runAgentCli(["status", "--api", fake.url, "--metrics-port", String(fake.port)], { COCOON_HOME: home });
      // Assess
      expect(r.code).toBe(0);
      expect(r.out).toContain(`worker ${me} `);
      expect(r.out).not.toContain("412 job(s)");
      expect(r.out).toContain(`not running here: ${fake.url}/status is worker another-worker-id's, another agent`);
      expect(r.out).toContain("all time: 7 job(s)");
    } finally {
      await fake.close();
    }
  });

  it("shows the running agent's own numbers when it is this worker", async () => {
    // Prepare
    const home = tempDir("cocoon-agent-status-own-");
    const me = loadOrCreateKey(join(home, "worker.key")).id;
    const fake = await fakeServer(me, me);
    try {
      // Act
      const r = await runAgentCli(["status", "--api", fake.url, "--metrics-port", String(fake.port)], { COCOON_HOME: home });
      // Assess
      expect(r.code).toBe(0);
      expect(r.out).toContain("running: up 1h 0m · serving");
      expect(r.out).toContain("412 job(s)");
    } finally {
      await fake.close();
    }
  });
});

describe.runIf(process.platform === "linux")("cocoon-agent status while the agent runs without its /status on that port", () => {
  // Walking the README (session 38): an agent whose metrics port was taken at its start serves
  // on (a warning in its log), and status said "not running here" of it.
  it.each([
    ["nothing answers there", false, "nothing answers on"],
    ["another agent answers there", true, "/status is worker another-worker-id's, another agent"],
  ])("says it runs, with its pid, when %s", async (_, otherAgent, where) => {
    // Prepare: this worker's start holds the instance lock (this process stands in for it)
    const home = tempDir("cocoon-agent-status-running-");
    const key = loadOrCreateKey(join(home, "worker.key"));
    const fake = await fakeServer(key.id, "another-worker-id");
    const silent = await fakeServer(key.id, key.id);
    await silent.close(); // a port nothing answers on
    const lock = await lockWorker(key);
    try {
      // Act
      const port = otherAgent ? fake.port : silent.port;
      const r = await runAgentCli(["status", "--api", fake.url, "--metrics-port", String(port)], { COCOON_HOME: home });
      const json = await runAgentCli(["status", "--json", "--api", fake.url, "--metrics-port", String(port)], { COCOON_HOME: home });
      // Assess
      expect(r.code).toBe(0);
      expect(r.out).toContain(`running (pid ${process.pid}), but `);
      expect(r.out).toContain(where);
      expect(r.out).toContain("--metrics-port");
      expect(r.out).not.toContain("not running here");
      expect(r.out).toContain("all time: 7 job(s)");
      expect(JSON.parse(json.out)).toMatchObject({ runningPid: process.pid, agent: null });
    } finally {
      if (lock.held) await lock.release();
      await fake.close();
    }
  });

  it("still says not running here when no start holds this worker's key", async () => {
    // Prepare
    const home = tempDir("cocoon-agent-status-stopped-");
    const me = loadOrCreateKey(join(home, "worker.key")).id;
    const fake = await fakeServer(me, me);
    const silent = await fakeServer(me, me);
    await silent.close();
    try {
      // Act
      const r = await runAgentCli(["status", "--json", "--api", fake.url, "--metrics-port", String(silent.port)], { COCOON_HOME: home });
      const text = await runAgentCli(["status", "--api", fake.url, "--metrics-port", String(silent.port)], { COCOON_HOME: home });
      // Assess
      expect(JSON.parse(r.out)).not.toHaveProperty("runningPid");
      expect(text.out).toContain(`not running here (nothing answers on http://127.0.0.1:${silent.port}/status)`);
    } finally {
      await fake.close();
    }
  });
});

describe("cocoon-agent status while the engine does not answer", () => {
  it("names why, though a job failed since (last error: its code only)", async () => {
    // Prepare: the running agent's /status: engine down, then a job failed on it (owner40's walk: status showed the code alone)
    const home = tempDir("cocoon-agent-status-engine-");
    const me = loadOrCreateKey(join(home, "worker.key")).id;
    const at = Date.parse("2026-12-07T19:10:33.961Z");
    const fake = await fakeServer(me, me, {
      state: "engine_down",
      engineError: { at, msg: "cannot reach the engine at http://127.0.0.1:18800/props (ECONNREFUSED)", code: "engine_unavailable" },
      lastError: { at: at + 7, msg: "job job_1: engine_unavailable", code: "engine_unavailable" },
    });
    try {
      // Act
      const r = await runAgentCli(["status", "--api", fake.url, "--metrics-port", String(fake.port)], { COCOON_HOME: home });
      // Assess
      expect(r.code).toBe(0);
      expect(r.out).toContain(
        "\n  engine not answering (2026-12-07T19:10:33.961Z): cannot reach the engine at http://127.0.0.1:18800/props (ECONNREFUSED)\n  last error: ",
      );
    } finally {
      await fake.close();
    }
  });

  it("says nothing of an old engine error once the agent serves", async () => {
    // Prepare
    const home = tempDir("cocoon-agent-status-engine-back-");
    const me = loadOrCreateKey(join(home, "worker.key")).id;
    const fake = await fakeServer(me, me, { state: "serving", engineError: { at: 1, msg: "old" } });
    try {
      // Act
      const r = await runAgentCli(["status", "--api", fake.url, "--metrics-port", String(fake.port)], { COCOON_HOME: home });
      // Assess
      expect(r.out).not.toContain("engine not answering");
    } finally {
      await fake.close();
    }
  });
});

describe("cocoon-agent status while the coordinator does not answer", () => {
  it("shows the running agent's last reading of the earnings, and that they are kept", async () => {
    // Prepare: the agent's /status answers; the coordinator (a closed port) does not
    const home = tempDir("cocoon-agent-status-api-down-");
    const me = loadOrCreateKey(join(home, "worker.key")).id;
    const at = Date.parse("2026-12-07T19:38:00.000Z");
    const fake = await fakeServer(me, me, { state: "api_down", account: { earned: "2500000000", redeemed: "1000000000", checkedAt: at } });
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const api = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((r) => closed.close(() => r()));
    try {
      // Act
      const r = await runAgentCli(["status", "--api", api, "--metrics-port", String(fake.port)], { COCOON_HOME: home });
      // Assess
      expect(r.code).toBe(0);
      expect(r.out).toContain("the coordinator did not answer: cannot reach the Cocoon API");
      expect(r.out).toContain(
        "  earned 2.5 TON · redeemed 1 TON at the coordinator's last answer (2026-12-07T19:38:00.000Z); earnings are kept there, not lost while it is down",
      );
    } finally {
      await fake.close();
    }
  });
});
