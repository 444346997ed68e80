/**
 * A GPU owner's install, as README.md "Running an agent (GPU owners)" walks it: the systemd unit
 * and its sysusers/tmpfiles files, `cocoon-agent init` (modes, the payout address, an upgrade
 * keeps the key), and `start` with its engine not up yet, then `status`.
 */
import { spawnSync } from "node:child_process";
import { createServer, type AddressInfo } from "node:net";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { runAgentCli } from "../agent/cli-testing";
import { EX_CONFIG } from "../agent/config";
import { startNetwork, type LocalNetwork } from "../local/network";
import { spawnAgent, startFakeEngine } from "./agent-fixtures";
import { MODEL } from "./helpers";

const root = fileURLToPath(new URL("..", import.meta.url));
const deploy = (name: string) => readFileSync(join(root, "deploy", name), "utf8");
const tmp = () => tempDir("cocoon-agent-install-");

/** A unit file as { section: { key: [values] } } (comments and blank lines dropped). */
function unitSections(text: string): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  let section = "";
  for (const line of text.split("\n").map((l) => l.trim())) {
    if (!line || line.startsWith("#")) continue;
    const head = /^\[(\w+)\]$/.exec(line);
    if (head) {
      section = head[1]!;
      out[section] ??= {};
      continue;
    }
    const eq = line.indexOf("=");
    const key = line.slice(0, eq);
    ((out[section] ??= {})[key] ??= []).push(line.slice(eq + 1));
  }
  return out;
}

// One basechain wallet in its three spellings (@ton/core Address of hash 0x11…11).
const RAW = `0:${"11".repeat(32)}`;
const BOUNCEABLE = "EQAREREREREREREREREREREREREREREREREREREREREREeYT";
const NON_BOUNCEABLE = "UQAREREREREREREREREREREREREREREREREREREREREREbvW";

describe("the systemd unit (deploy/)", () => {
  const unit = unitSections(deploy("cocoon-agent.service"));

  it("puts the restart brake in [Unit], where systemd reads StartLimitIntervalSec=, and does not restart a config error", () => {
    // Assess: in [Service] systemd ignored StartLimitIntervalSec= (Unknown key), so the brake never held
    expect(unit.Service).not.toHaveProperty("StartLimitIntervalSec");
    expect(unit.Service).not.toHaveProperty("StartLimitBurst");
    expect(unit.Unit?.StartLimitIntervalSec).toHaveLength(1);
    expect(unit.Unit?.StartLimitBurst).toHaveLength(1);
    expect(unit.Service?.Restart).toEqual(["on-failure"]);
    expect(unit.Service?.RestartPreventExitStatus?.join(" ").split(/\s+/)).toContain(String(EX_CONFIG));
  });

  it("runs as its own user, hardened, writing only its state directory, which tmpfiles makes 0700 before the first init", () => {
    // Prepare
    const s = unit.Service!;
    const state = `/var/lib/${s.StateDirectory![0]}`;
    const tmpfiles = deploy("cocoon-agent.tmpfiles")
      .split("\n")
      .filter((l) => l && !l.startsWith("#"))
      .map((l) => l.split(/\s+/));
    const sysusers = deploy("cocoon-agent.sysusers")
      .split("\n")
      .filter((l) => l && !l.startsWith("#"))
      .map((l) => l.split(/\s+/));
    // Assess
    expect(s.User).toEqual(["cocoon-agent"]);
    expect(sysusers.some((l) => l[0] === "u" && l[1] === "cocoon-agent")).toBe(true);
    expect(s).toMatchObject({
      NoNewPrivileges: ["yes"],
      ProtectSystem: ["strict"],
      PrivateTmp: ["yes"],
      StateDirectoryMode: ["0700"],
      UMask: ["0077"],
      CapabilityBoundingSet: [""],
    });
    expect(s.ReadWritePaths).toEqual([state]);
    expect(s.Environment).toContain(`COCOON_HOME=${state}`);
    // `sudo -u cocoon-agent … init` runs before the first start: the user must own the directory by then
    expect(tmpfiles).toContainEqual(["d", state, "0700", "cocoon-agent", "cocoon-agent", "-"]);
  });

  it("session 31: writes no core dump (a crash of the engine child would write every running job's prompt and answer to disk)", () => {
    // Assess: both limits 0, so nothing in the unit's process tree can raise its own
    expect(unit.Service?.LimitCORE).toEqual(["0"]);
  });

  it("session 42: keeps the agent and its engine child out of swap (a page on the host's disk is plaintext it may read)", () => {
    expect(unit.Service?.MemorySwapMax).toEqual(["0"]);
  });

  it.skipIf(spawnSync("systemd-analyze", ["--version"]).status !== 0)("passes systemd-analyze verify without a warning", () => {
    // Act
    const r = spawnSync("systemd-analyze", ["verify", "--man=no", join(root, "deploy", "cocoon-agent.service")], { encoding: "utf8" });
    // Assess
    expect(r.stderr + r.stdout).toBe("");
    expect(r.status).toBe(0);
  });
});

describe("cocoon-agent init", () => {
  it("makes the state directory 0700, the key and agent.json 0600; init --force (an upgrade) keeps the key", async () => {
    // Prepare
    const home = join(tmp(), "state");
    const umask = process.umask(0o022); // what a login shell has
    try {
      // Act
      const first = await runAgentCli(["init", "--api", "https://coordinator.example", "--tier", "none"], { COCOON_HOME: home });
      const again = await runAgentCli(["init", "--force", "--api", "https://coordinator.example", "--tier", "none"], { COCOON_HOME: home });
      // Assess
      expect(first.code).toBe(0);
      expect(again.code).toBe(0);
      expect(statSync(home).mode & 0o777).toBe(0o700);
      expect(statSync(join(home, "worker.key")).mode & 0o777).toBe(0o600);
      expect(statSync(join(home, "agent.json")).mode & 0o777).toBe(0o600);
      const id = (out: string) => /worker id (\S+)/.exec(out)?.[1];
      expect(id(again.out)).toBe(id(first.out));
      expect(first.out).toMatch(/worker key .*worker\.key \(made here, mode 0600/);
      expect(again.out).toMatch(/worker key .*worker\.key \(kept: the same worker/);
    } finally {
      process.umask(umask);
    }
  });

  it("--help names where the key really is: $COCOON_HOME/worker.key", async () => {
    // Act
    const help = await runAgentCli(["start", "--help"], {});
    // Assess
    expect(help.out).toContain("$COCOON_HOME/worker.key");
  });

  it.each([
    ["a raw basechain address", RAW],
    ["the bounceable form", BOUNCEABLE],
    ["the non-bounceable form", NON_BOUNCEABLE],
  ])("takes a payout address in %s", async (_what, address) => {
    // Act
    const r = await runAgentCli(["init", "--payout-address", address, "--tier", "none"], { COCOON_HOME: tmp() });
    // Assess
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toContain(`payouts to ${address}`);
  });

  it.each([
    ["a typo (its checksum fails)", NON_BOUNCEABLE.slice(0, 20) + "X" + NON_BOUNCEABLE.slice(21), /checksum/],
    ["48 characters that are no address", "A".repeat(48), /checksum/],
    ["a masterchain wallet", `-1:${"11".repeat(32)}`, /workchain -1: the vault pays basechain/],
  ])("refuses a payout address that is %s, naming the setting, exit 78, nothing written", async (_what, address, why) => {
    // Prepare
    const home = tmp();
    // Act
    const r = await runAgentCli(["init", "--payout-address", address, "--tier", "none"], { COCOON_HOME: home });
    // Assess
    expect(r.code).toBe(EX_CONFIG);
    expect(r.err).toMatch(/payoutAddress \(--payout-address\): /);
    expect(r.err).toMatch(why);
    expect(() => statSync(join(home, "agent.json"))).toThrow();
  });

  it("refuses at start, as a config error (exit 78, not restarted), a config file it cannot read", async () => {
    // Prepare: unreadable as a file (EISDIR; EACCES, as root's file under the service user, takes the same path)
    const home = tmp();
    mkdirSync(join(home, "agent.json"));
    // Act
    const r = await runAgentCli(["start", "--api", "http://127.0.0.1:1", "--tier", "none"], { COCOON_HOME: home });
    // Assess
    expect(r.code).toBe(EX_CONFIG);
    expect(r.err).toContain(`error [bad_config]: cannot read the config file ${join(home, "agent.json")} (EISDIR)`);
  });

  it("refuses at start a bad payout address in agent.json, with the file's key in the message", async () => {
    // Prepare
    const home = tmp();
    writeFileSync(join(home, "agent.json"), JSON.stringify({ tier: "none", payoutAddress: "A".repeat(48) }));
    // Act
    const r = await runAgentCli(["start", "--api", "http://127.0.0.1:1"], { COCOON_HOME: home }); // a closed port, should the check be missed
    // Assess
    expect(r.code).toBe(EX_CONFIG);
    expect(r.err).toContain(`${join(home, "agent.json")}: payoutAddress: is not a valid TON address`);
  });
});

describe("cocoon-agent start on the local network", () => {
  let net: LocalNetwork;
  beforeAll(async () => {
    net = await startNetwork({ chain: false });
  });
  afterAll(async () => {
    await net?.stop();
  });

  const startFromSources = (args: string[], home: string) =>
    spawnAgent([process.execPath, "--import", "tsx", join(root, "agent", "cli.ts"), "start", ...args], {
      COCOON_HOME: home,
      COCOON_POLL_WAIT_SECONDS: "1",
    });

  it("a metrics port in use is warned about with what to change, and the agent serves on", async () => {
    // Prepare: the port taken (another agent's, on a machine with two GPUs)
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const port = (taken.address() as AddressInfo).port;
    const agent = startFromSources(["--api", net.url, "--tier", "dev", "--metrics-port", String(port)], tmp());
    try {
      // Act
      const warned = await agent.waitFor("metrics not served");
      const serving = await agent.waitFor("serving");
      // Assess
      expect(warned).toMatchObject({ level: "warn", port, hint: expect.stringContaining("its own metricsPort (--metrics-port") });
      expect(serving.metrics).toBeUndefined();
    } finally {
      agent.child.kill("SIGKILL");
      await agent.exited;
      await new Promise<void>((r) => taken.close(() => r()));
    }
  });

  // While it waited, `status` said "not running here": /status was served only once the engine answered.
  it("waits for an OpenAI-compatible engine that is not up yet (it exited 1), shown by status as starting, then serves", async () => {
    // Prepare: the engine's port, with nothing listening on it yet; a free metrics port
    const engine = await startFakeEngine(MODEL).start();
    await engine.kill();
    const free = createServer();
    await new Promise<void>((r) => free.listen(0, "127.0.0.1", r));
    const port = String((free.address() as AddressInfo).port);
    await new Promise<void>((r) => free.close(() => r()));
    const home = tmp();
    const agent = startFromSources(
      ["--api", net.url, "--tier", "dev", "--engine", "openai", "--engine-url", engine.url, "--metrics-port", port],
      home,
    );
    try {
      // Act
      const waiting = await agent.waitFor("engine not answering yet");
      const status = await runAgentCli(["status", "--api", net.url, "--metrics-port", port], { COCOON_HOME: home });
      await engine.start();
      const serving = await agent.waitFor("serving");
      // Assess
      expect(waiting).toMatchObject({ level: "warn", code: "engine_unavailable" });
      expect(status.out).toMatch(/running: up .* · starting · 0\/1 job\(s\) in flight/);
      expect(serving.models).toEqual([MODEL]);
    } finally {
      agent.child.kill("SIGKILL");
      await agent.exited;
      await engine.kill();
    }
  });

  it("status shows the running agent's auto-redeem threshold (it said 0 TON whatever was set)", async () => {
    // Prepare
    const engine = await startFakeEngine(MODEL).start();
    const home = tmp();
    const agent = startFromSources(
      [
        "--api",
        net.url,
        "--tier",
        "dev",
        "--engine",
        "openai",
        "--engine-url",
        engine.url,
        "--metrics-port",
        "0",
        "--redeem-threshold",
        "7",
      ],
      home,
    );
    try {
      const port = new URL(String((await agent.waitFor("serving")).metrics)).port;
      // Act
      const status = await runAgentCli(["status", "--api", net.url, "--metrics-port", port], { COCOON_HOME: home });
      // Assess
      expect(status.code).toBe(0);
      expect(status.out).toMatch(/running: up .* · serving · 0\/1 job\(s\) in flight/);
      expect(status.out).toContain("auto-redeem at 7 TON");
    } finally {
      agent.child.kill("SIGKILL");
      await agent.exited;
      await engine.kill();
    }
  });

  it("warns at start when no payout address is set off the local network's dev tier (found only at the first payout before)", async () => {
    // Prepare
    const engine = await startFakeEngine(MODEL).start();
    const agent = startFromSources(
      ["--api", net.url, "--tier", "none", "--engine", "openai", "--engine-url", engine.url, "--metrics-port", "0"],
      tmp(),
    );
    try {
      // Act
      const warned = await agent.waitFor("no payoutAddress set");
      const serving = await agent.waitFor("serving");
      // Assess
      expect(warned).toMatchObject({ level: "warn", redeemThresholdTon: "10" });
      expect(serving.tier).toBe("none");
    } finally {
      agent.child.kill("SIGKILL");
      await agent.exited;
      await engine.kill();
    }
  });

  it("says which configured models the engine does not list", async () => {
    // Prepare
    const engine = await startFakeEngine(MODEL).start();
    const agent = startFromSources(
      ["--api", net.url, "--tier", "dev", "--engine", "openai", "--engine-url", engine.url, "--metrics-port", "0", "--model", "my-model"],
      tmp(),
    );
    try {
      // Act
      const warned = await agent.waitFor("the engine does not list these configured models");
      // Assess
      expect(warned).toMatchObject({ missing: ["my-model"], listed: [MODEL] });
    } finally {
      agent.child.kill("SIGKILL");
      await agent.exited;
      await engine.kill();
    }
  });
});
