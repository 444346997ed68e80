/**
 * Mutants of cocoon-agent status's running-holder path (session 38, helper mut38) that
 * agent/cli-status.test.ts left alive: the pid of the start that holds the instance lock is
 * reported only when no /status answers as this worker; one that answers is shown as it is. And
 * the redeem threshold's warning names both costs of a Redeem.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { loadOrCreateKey } from "../api-client/keys";
import { formatTon } from "../api-client/format";
import { redeemCost } from "../api-client/vault-messages";
import { runAgentCli, statusDoc } from "./cli-testing";
import { lockWorker } from "./instance-lock";

/** One 127.0.0.1 server standing in for the coordinator (GET /v1/agents/me) and this worker's running agent (/status). */
async function fakeServer(me: string) {
  const doc = statusDoc(me);
  const agentsMe = { workerId: me, tier: "dev", models: ["m"], jobs: 7, promptTokens: 1, completionTokens: 2, earned: "5", redeemed: "0" };
  const server: Server = createServer((req, res) => {
    const body =
      req.url === "/status" ? doc : req.url === "/v1/agents/me" ? { ...agentsMe, lastHeartbeat: 1, attestationExpiresAt: 2 } : undefined;
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return { port, url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe.runIf(process.platform === "linux")("cocoon-agent status while its start answers on the metrics port", () => {
  it("answers with the agent's own /status and no runningPid, though a start holds this worker's key", async () => {
    // Prepare: this worker's start holds the instance lock (this process stands in for it) and answers /status
    const home = tempDir("cocoon-agent-status-mut38-");
    const key = loadOrCreateKey(join(home, "worker.key"));
    const fake = await fakeServer(key.id);
    const lock = await lockWorker(key);
    try {
      // Act
      const args = ["--api", fake.url, "--metrics-port", String(fake.port)];
      const json = await runAgentCli(["status", "--json", ...args], { COCOON_HOME: home });
      // Assess
      expect(JSON.parse(json.out)).not.toHaveProperty("runningPid");
      expect(JSON.parse(json.out)).toMatchObject({ agent: { workerId: key.id, state: "serving" } });
    } finally {
      if (lock.held) await lock.release();
      await fake.close();
    }
  });
});

describe("a redeem threshold below what one Redeem costs", () => {
  it("init's warning names the cost of a first Redeem to an address as well as the usual one", async () => {
    // Act
    const r = await runAgentCli(["init", "--api", "http://127.0.0.1:1", "--tier", "dev", "--redeem-threshold", "0.001"], {
      COCOON_HOME: tempDir("cocoon-agent-threshold-mut38-"),
    });
    // Assess
    expect(redeemCost(true)).not.toBe(redeemCost(false));
    expect(r.out).toContain(
      `(≈ ${formatTon(redeemCost(false))} in network fees; ≈ ${formatTon(redeemCost(true))} for a first one to an address)`,
    );
  });
});
