/**
 * The engine health settings reach the runtime: `cocoon-agent start` hands the config's
 * engineHealthEveryMs and engineTimeoutsBeforeDown (file, COCOON_* variable or flag) to
 * startAgent as `engineHealth`. Before, the runtime option existed but nothing set it.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { tempDir } from "../test/temp-dir";
import { runAgentCli } from "./cli-testing";
import type { AgentOptions } from "./runtime";

/** What start() passed to startAgent; the stand-in then fails, so start() returns without serving. */
const started: AgentOptions[] = [];
vi.mock("./runtime", async (importOriginal) => ({
  ...(await importOriginal<typeof import("./runtime")>()),
  startAgent: async (o: AgentOptions) => {
    started.push(o);
    throw new Error("startAgent stand-in: options captured");
  },
}));

beforeEach(() => void started.splice(0));

/** `cocoon-agent start` on a dev tier with the built-in engine and its own home; the options it gave startAgent. */
async function startWith(argv: string[], env: Record<string, string> = {}, file?: Record<string, unknown>) {
  const home = tempDir("cocoon-agent-health-");
  if (file) writeFileSync(join(home, "agent.json"), JSON.stringify(file));
  const r = await runAgentCli(["start", "--tier", "dev", "--api", "http://127.0.0.1:9", "--metrics-port", "0", ...argv], {
    COCOON_HOME: home,
    ...env,
  });
  return { ...r, options: started.at(-1) };
}

describe("cocoon-agent start: engine health settings → runtime engineHealth", () => {
  it("the flags --engine-health-every and --engine-timeouts-before-down become engineHealth.everyMs and .timeoutsBeforeDown", async () => {
    // Act
    const r = await startWith(["--engine-health-every", "5000", "--engine-timeouts-before-down", "2"]);
    // Assess
    expect(r.err).toContain("options captured");
    expect(r.options?.engineHealth).toEqual({ everyMs: 5_000, timeoutsBeforeDown: 2 });
  });

  it("the config file's and the environment's values reach it too; without any, the defaults (30 s, 3)", async () => {
    // Act
    const fromFile = await startWith([], {}, { engineHealthEveryMs: 12_000, engineTimeoutsBeforeDown: 4 });
    const fromEnv = await startWith([], { COCOON_ENGINE_HEALTH_EVERY_MS: "7000" }, { engineTimeoutsBeforeDown: 4 });
    const byDefault = await startWith([]);
    // Assess
    expect(fromFile.options?.engineHealth).toEqual({ everyMs: 12_000, timeoutsBeforeDown: 4 });
    expect(fromEnv.options?.engineHealth).toEqual({ everyMs: 7_000, timeoutsBeforeDown: 4 });
    expect(byDefault.options?.engineHealth).toEqual({ everyMs: 30_000, timeoutsBeforeDown: 3 });
  });

  it("a value below its bound stops start with exit 78 and the setting's name, before the agent starts", async () => {
    // Act
    const r = await startWith(["--engine-health-every", "500"]);
    // Assess
    expect(r.code).toBe(78);
    expect(r.err).toMatch(/engineHealthEveryMs \(--engine-health-every\): must be at least 1000/);
    expect(r.options).toBeUndefined();
  });
});
