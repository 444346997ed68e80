import { chmodSync, existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadOrCreateKey } from "../api-client/keys";
import { runAgentCli } from "./cli-testing";

/** `cocoon-agent …` with COCOON_HOME set to `home` for the call. */
const agentIn = (home: string, argv: string[]) => runAgentCli(argv, { COCOON_HOME: home });

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

describe("cocoon-agent failures under --json: one JSON line on stderr, as `cocoon` prints them", () => {
  it("status --json without a key: {error:{code:no_key,…,status:0}} on stderr, stdout empty, exit 2", async () => {
    // Prepare
    const home = mkdtempSync(join(tmpdir(), "cocoon-agent-json-"));
    // Act
    const r = await agentIn(home, ["status", "--metrics-port", "1", "--api", "http://127.0.0.1:1", "--json"]);
    // Assess
    expect([r.code, r.out]).toEqual([2, ""]);
    expect(r.err.split("\n")).toEqual([expect.any(String), ""]); // one line
    expect(JSON.parse(r.err)).toEqual({
      error: { code: "no_key", message: expect.stringContaining("there is no worker key at"), status: 0 },
    });
  });
});

describe.skipIf(process.platform === "win32")(
  "cocoon-agent start with a key file it refuses: exit 78 (EX_CONFIG), not restarted by systemd",
  () => {
    /** Factory: a worker key file at `home`/worker.key in a refused state. */
    function refusedKey(home: string, how: "too_open" | "malformed") {
      const file = join(home, "worker.key");
      if (how === "too_open") {
        loadOrCreateKey(file);
        chmodSync(file, 0o644);
      } else writeFileSync(file, "not a key\n", { mode: 0o600 });
      return file;
    }

    it.each([
      ["too_open", "key_file_too_open"],
      ["malformed", "key_file_malformed"],
    ] as const)("a key file %s is refused with %s and exit 78, before anything is started", async (how, code) => {
      // Prepare
      const home = mkdtempSync(join(tmpdir(), "cocoon-agent-badkey-"));
      const key = refusedKey(home, how);
      // Act
      const text = await agentIn(home, ["start", "--key", key, "--api", "http://127.0.0.1:1", "--dev-attestation"]);
      const json = await agentIn(home, ["start", "--key", key, "--api", "http://127.0.0.1:1", "--dev-attestation", "--json"]);
      // Assess
      expect([text.code, json.code]).toEqual([78, 78]);
      expect(text.err).toMatch(new RegExp(`^error \\[${code}\\]: `));
      expect(JSON.parse(json.err)).toMatchObject({ error: { code, status: 0 } });
      expect(json.out).toBe("");
    });
  },
);
