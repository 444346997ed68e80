/**
 * `cocoon-agent start` stopped before it serves (agent/cli.ts stopOnSignals): a SIGTERM
 * (what `systemctl stop` sends) or SIGINT while the engine is waited for or registration
 * retries. Before, signals were listened for only once the agent had registered: such a signal
 * killed the process (exit 143 under systemd, no log line). Now it stops at once, logs why and
 * exits 0, the code a drain exits with. The agent runs from the sources, as a process.
 */
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { spawnAgent } from "../test/agent-fixtures";
import { stopOnSignals } from "./cli";

const root = fileURLToPath(new URL("..", import.meta.url));

/** A port on 127.0.0.1 with nothing listening (a coordinator or an engine that is not up). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** `cocoon-agent start …` from the sources, with its own home and any metrics port. */
const startFromSources = (args: string[]) =>
  spawnAgent(
    [process.execPath, "--import", "tsx", join(root, "agent", "cli.ts"), "start", "--tier", "dev", "--metrics-port", "0", ...args],
    {
      COCOON_HOME: tempDir("cocoon-agent-starting-"),
    },
  );

/** The exit code, or "still running" when none comes within `ms`. */
const exitWithin = (exited: Promise<number | string>, ms: number) =>
  Promise.race([exited, new Promise<string>((r) => setTimeout(() => r("still running"), ms))]);

describe("cocoon-agent start: a signal before the agent is up", () => {
  it.each(["SIGTERM", "SIGINT"] as const)(
    "%s while registration waits for a coordinator that is down: stops at once, exit 0",
    async (signal) => {
      // Prepare: nothing listens at the API's port; the agent retries its registration with backoff
      const agent = startFromSources(["--api", `http://127.0.0.1:${await closedPort()}`]);
      try {
        await agent.waitFor("register failed", 30_000);
        // Act
        agent.child.kill(signal);
        const code = await exitWithin(agent.exited, 5_000);
        // Assess
        expect(code).toBe(0);
        expect(agent.lines.some((l) => l.msg === "stopped before registering: nothing to drain" && l.signal === signal)).toBe(true);
        expect(agent.lines.some((l) => l.msg === "serving")).toBe(false);
      } finally {
        if (agent.child.exitCode === null) agent.child.kill("SIGKILL");
      }
    },
    60_000,
  );

  it("SIGTERM while an OpenAI-compatible engine is waited for (vLLM loading): stops at once, exit 0", async () => {
    // Prepare: neither the engine nor the API is up; the agent waits for the engine first
    const agent = startFromSources([
      "--api",
      `http://127.0.0.1:${await closedPort()}`,
      "--engine",
      "openai",
      "--engine-url",
      `http://127.0.0.1:${await closedPort()}/v1`,
    ]);
    try {
      await agent.waitFor("engine not answering yet", 30_000);
      // Act
      agent.child.kill("SIGTERM");
      const code = await exitWithin(agent.exited, 5_000);
      // Assess
      expect(code).toBe(0);
      expect(agent.lines.some((l) => l.msg === "stopped before registering: nothing to drain")).toBe(true);
      expect(agent.lines.some((l) => l.msg === "register failed")).toBe(false);
    } finally {
      if (agent.child.exitCode === null) agent.child.kill("SIGKILL");
    }
  }, 60_000);

  it("while an engine is waited for, /status (cocoon-agent status) is starting with the engine's error as its last error, not none", async () => {
    // Prepare: the engine is not up; status used to say "last error: none" while only the log said why (owner40's walk)
    const metricsPort = await closedPort();
    const engineUrl = `http://127.0.0.1:${await closedPort()}/v1`;
    const api = `http://127.0.0.1:${await closedPort()}`;
    const agent = startFromSources(["--api", api, "--engine", "openai", "--engine-url", engineUrl, "--metrics-port", String(metricsPort)]);
    try {
      await agent.waitFor("engine not answering yet", 30_000);
      // Act
      const doc = (await (await fetch(`http://127.0.0.1:${metricsPort}/status`)).json()) as {
        state: string;
        lastError?: { msg: string; code?: string };
      };
      // Assess
      expect(doc.state).toBe("starting");
      expect(doc.lastError?.code).toBe("engine_unavailable");
      expect(doc.lastError?.msg).toMatch(new RegExp(`^engine: cannot reach the engine at ${engineUrl.replace(/\/v1$/, "")}`));
    } finally {
      if (agent.child.exitCode === null) agent.child.kill("SIGKILL");
    }
  }, 60_000);

  it("stopOnSignals: the first signal aborts, a second is only noted, and dispose leaves no listener", () => {
    // Prepare
    const signals = new EventEmitter();
    const lines: string[] = [];
    const starting = stopOnSignals(signals, { info: (m) => void lines.push(m), warn: (m) => void lines.push(m) });
    // Act
    signals.emit("SIGTERM");
    signals.emit("SIGINT");
    starting.dispose();
    // Assess
    expect(starting.signal.aborted).toBe(true);
    expect(starting.received()).toBe("SIGTERM");
    expect(lines).toEqual(["stopping before the agent is up", "stopping already"]);
    expect(signals.listenerCount("SIGINT") + signals.listenerCount("SIGTERM")).toBe(0);
  });
});
