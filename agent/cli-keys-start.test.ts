/**
 * A start without init that gets through every refusal makes the worker's key, and says so in
 * the log. (It was tested with a start the builtin engine refused after making the key; refusals
 * now come before the key is made, so the start here is stopped by a runtime stand-in instead.)
 */
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { tempDir } from "../test/temp-dir";
import { runAgentCli } from "./cli-testing";

vi.mock("./runtime", async (importOriginal) => ({
  ...(await importOriginal<typeof import("./runtime")>()),
  startAgent: async () => {
    throw new Error("startAgent stand-in: start got through its refusals");
  },
}));

describe("cocoon-agent start without init: what it makes is said in the log", () => {
  it("warns that it made a new worker key (a new worker, nothing earned) and that no config file was read", async () => {
    // Prepare: an empty home
    const home = tempDir("cocoon-agent-new-key-");
    const argv = ["start", "--api", "http://127.0.0.1:1", "--dev-attestation", "--metrics-port", "0"];
    // Act
    const r = await runAgentCli(argv, { COCOON_HOME: home });
    const again = await runAgentCli(argv, { COCOON_HOME: home });
    // Assess: the first start made the key and said so; the second kept it and says nothing of it
    const lines = (out: string) =>
      out
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(r.err).toContain("start got through its refusals");
    expect(lines(r.out)).toEqual([
      expect.objectContaining({ level: "warn", msg: expect.stringContaining("no config file"), file: join(home, "agent.json") }),
      expect.objectContaining({ level: "warn", msg: expect.stringContaining("made a new worker key"), keyFile: join(home, "worker.key") }),
    ]);
    expect(lines(again.out).map((l) => l.msg)).toEqual([expect.stringContaining("no config file")]);
  });
});
