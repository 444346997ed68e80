/**
 * agent41: `cocoon-agent status` of an agent that cannot attest. Its /status says
 * `cannot_attest` with an `attestError` (agent/metrics.ts); status printed the bare state, and
 * for a first start still waiting for its collateral, "the coordinator did not answer" (the
 * coordinator's not_a_worker: it answered, it does not know the worker yet). Now each case is said
 * in plain words, with the code and the agent's own message.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadOrCreateKey } from "../api-client/keys";
import { tempDir } from "../test/temp-dir";
import { runAgentCli, statusDoc } from "./cli-testing";

const SINCE = Date.parse("2026-12-07T21:00:00.000Z");
const LAST = Date.parse("2026-12-07T21:04:00.000Z");

/**
 * One 127.0.0.1 server standing in for the coordinator (GET /v1/agents/me: the worker's account,
 * or 403 not_a_worker when `registered` is false) and the running agent's /status (`doc` over the
 * usual document).
 */
async function fakeServer(me: string, registered: boolean, doc: Record<string, unknown>) {
  const server: Server = createServer((req, res) => {
    const json = (status: number, body: unknown) =>
      void res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    if (req.url === "/status") return json(200, { ...statusDoc(me), ...doc });
    if (req.url !== "/v1/agents/me") return void res.writeHead(404).end();
    if (!registered) return json(403, { error: { code: "not_a_worker", message: `worker ${me} is not registered` } });
    json(200, {
      workerId: me,
      tier: "tdx",
      models: ["m"],
      jobs: 7,
      promptTokens: 1,
      completionTokens: 2,
      earned: "5",
      redeemed: "0",
      lastHeartbeat: 1,
      attestationExpiresAt: 2,
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return { port, url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** `cocoon-agent status` (text and --json) of this worker while its agent's /status says `doc`. */
async function statusWhile(registered: boolean, doc: Record<string, unknown>) {
  const home = tempDir("cocoon-agent-status-agent41-");
  const me = loadOrCreateKey(join(home, "worker.key")).id;
  const fake = await fakeServer(me, registered, { tier: "tdx", ...doc });
  try {
    const args = ["status", "--api", fake.url, "--metrics-port", String(fake.port)];
    const text = await runAgentCli(args, { COCOON_HOME: home });
    const json = await runAgentCli([...args, "--json"], { COCOON_HOME: home });
    return { text, json: JSON.parse(json.out) as Record<string, unknown> };
  } finally {
    await fake.close();
  }
}

const attestError = (code: string, msg: string, refused = false) => ({ at: LAST, since: SINCE, code, msg, refused });

describe("cocoon-agent status of an agent that cannot attest (agent41)", () => {
  it("a first start waiting for its PCCS: not registered yet, no Intel collateral that passes, retrying", async () => {
    // Prepare, Act
    const msg = "tdx collateral stale: no evidence is made until http://pccs.lan:8081 serves collateral that passes (nothing cached)";
    const { text, json } = await statusWhile(false, { state: "cannot_attest", attestError: attestError("collateral_stale", msg) });
    // Assess
    expect(text.code).toBe(0);
    expect(text.out).toContain("· cannot attest (off the candidate lists) · 0/1 job(s) in flight");
    expect(text.out).toContain("not registered with the coordinator yet: the agent registers once it can attest");
    expect(text.out).not.toContain("the coordinator did not answer");
    expect(text.out).toContain(
      "cannot attest since 2026-12-07T21:00:00.000Z (last try 2026-12-07T21:04:00.000Z): no Intel collateral that passes: the PCCS (pccsUrl, COCOON_PCCS_URL) cannot be reached",
    );
    expect(text.out).toContain("registers once it arrives (no restart needed).");
    expect(text.out).toContain(`[collateral_stale] ${msg}`);
    expect(json).toMatchObject({ agent: { state: "cannot_attest", attestError: { code: "collateral_stale" } } });
  });

  it("collateral not valid yet: says to check the PCCS and the clocks", async () => {
    // Prepare, Act
    const msg = "the PCCS served collateral that is not valid yet: its TCB info issueDate is 2030-06-20T00:00:00Z";
    const { text } = await statusWhile(false, { state: "cannot_attest", attestError: attestError("collateral_not_yet_valid", msg) });
    // Assess
    expect(text.out).toContain(
      "the PCCS serves collateral that is not valid yet (dates in the future): check that it serves Intel's collateral, and the clocks",
    );
    expect(text.out).toContain(`[collateral_not_yet_valid] ${msg}`);
  });

  it("evidence the coordinator refuses: off the candidate lists, re-attesting, its code and message", async () => {
    // Prepare, Act: registered before, its evidence refused since
    const msg = "register: attestation refused: collateral expired: TCB info (next update 2030-07-01T00:00:00.000Z)";
    const { text } = await statusWhile(true, {
      state: "cannot_attest",
      attestError: attestError("attestation_collateral_expired", msg, true),
    });
    // Assess
    expect(text.out).toContain("· cannot attest (off the candidate lists) ·");
    expect(text.out).toContain("all time: 7 job(s)");
    expect(text.out).toContain(
      "the coordinator refuses this worker's evidence: off the candidate lists; the agent fetches fresh collateral and tries again on a backoff, and serves once it is accepted.",
    );
    expect(text.out).toContain(`[attestation_collateral_expired] ${msg}`);
  });

  it("says nothing of attestation once the agent attests (serving, no attestError)", async () => {
    // Prepare, Act
    const { text } = await statusWhile(true, { state: "serving" });
    // Assess
    expect(text.out).toContain("· serving ·");
    expect(text.out).not.toContain("cannot attest");
  });
});
