import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "./cli";

/** `cocoon-agent …` in this process with COCOON_HOME set to a fresh directory; what it printed and its exit code. */
async function agentIn(home: string, argv: string[]) {
  const o = { out: "", err: "" };
  const saved = process.env.COCOON_HOME;
  process.env.COCOON_HOME = home;
  try {
    const code = await main(argv, { write: (s: string) => (o.out += s) }, { write: (s: string) => (o.err += s) });
    return { code, ...o };
  } finally {
    if (saved === undefined) delete process.env.COCOON_HOME;
    else process.env.COCOON_HOME = saved;
  }
}

describe("cocoon-agent status and redeem without a worker key (they read; they never make one)", () => {
  it.each([
    ["status", ["status", "--metrics-port", "1"]],
    ["redeem", ["redeem", "--payout-address", "0:" + "ab".repeat(32)]],
  ])("%s says there is no key and to run init (exit 2, no_key), and leaves no key behind", async (_cmd, argv) => {
    // Prepare: a closed port, should the key check be missed
    const home = mkdtempSync(join(tmpdir(), "cocoon-agent-nokey-"));
    // Act
    const r = await agentIn(home, [...argv, "--api", "http://127.0.0.1:1"]);
    // Assess
    expect(r.code).toBe(2);
    expect(r.err).toContain(`error [no_key]: there is no worker key at ${join(home, "worker.key")}: run \`cocoon-agent init\` first`);
    expect(existsSync(join(home, "worker.key"))).toBe(false);
  });
});
