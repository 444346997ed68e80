import { chmodSync, existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { loadOrCreateKey } from "../api-client/keys";
import { runAgentCli } from "./cli-testing";
import { CONFIGFS_TSM_ROOT } from "./quote-provider";

/** `cocoon-agent …` with COCOON_HOME set to `home` for the call. */
const agentIn = (home: string, argv: string[]) => runAgentCli(argv, { COCOON_HOME: home });

describe("cocoon-agent status and redeem without a worker key (they read; they never make one)", () => {
  it.each([
    ["status", ["status", "--metrics-port", "1"]],
    ["redeem", ["redeem", "--payout-address", "0:" + "ab".repeat(32)]],
  ])(
    "%s says there is no key, where a running agent's is, and to run init otherwise (exit 2, no_key), and leaves no key behind",
    async (_cmd, argv) => {
      // Prepare: a closed port, should the key check be missed
      const home = tempDir("cocoon-agent-nokey-");
      // Act
      const r = await agentIn(home, [...argv, "--api", "http://127.0.0.1:1"]);
      // Assess
      expect(r.code).toBe(2);
      expect(r.err).toContain(
        `error [no_key]: there is no worker key at ${join(home, "worker.key")}: if an agent runs on this machine, point COCOON_HOME`,
      );
      // init last, as what makes a new worker: run in the wrong shell it made a second one beside the running one
      expect(r.err).toContain("otherwise run `cocoon-agent init` first (it makes the key: a new worker)");
      expect(existsSync(join(home, "worker.key"))).toBe(false);
    },
  );
});

describe("cocoon-agent status and redeem --help (they never make a key)", () => {
  it.each(["status", "redeem"])("%s --help does not say the key is created, and names init; start's still does", async (cmd) => {
    // Prepare
    const home = tempDir("cocoon-agent-help-");
    // Act
    const help = await agentIn(home, [cmd, "--help"]);
    const startHelp = await agentIn(home, ["start", "--help"]);
    // Assess: commander wraps help lines, so the words are compared with the whitespace folded
    const words = (s: string) => s.replace(/\s+/g, " ");
    expect(help.code).toBe(0);
    expect(words(help.out)).not.toContain("created on first use");
    expect(words(help.out)).toContain("as cocoon-agent init made it; never created here");
    expect(words(startHelp.out)).toContain("created on first use");
  });
});

describe("cocoon-agent failures under --json: one JSON line on stderr, as `cocoon` prints them", () => {
  it("status --json without a key: {error:{code:no_key,…,status:0}} on stderr, stdout empty, exit 2", async () => {
    // Prepare
    const home = tempDir("cocoon-agent-json-");
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
      const home = tempDir("cocoon-agent-badkey-");
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

describe("cocoon-agent start with the builtin engine and a model it does not serve", () => {
  it("is refused at start with exit 78, naming the setting and the model (not registered, then failing every job)", async () => {
    // Prepare: a closed API port; should the check be missed, start would retry registering forever
    const home = tempDir("cocoon-agent-builtin-model-");
    const argv = ["start", "--api", "http://127.0.0.1:1", "--dev-attestation", "--metrics-port", "0", "--model", "my-model"];
    // Act
    const r = await Promise.race([
      agentIn(home, argv),
      new Promise<{ code: number; out: string; err: string }>((res) =>
        setTimeout(() => res({ code: -1, out: "", err: "still running" }), 5_000),
      ),
    ]);
    // Assess
    expect(r.code).toBe(78);
    expect(r.err).toContain("error [bad_config]: models (--model, COCOON_MODELS or agent.json): the builtin engine");
    expect(r.err).toContain("serves only cocoon-builtin-echo, not my-model");
  });
});

describe("cocoon-agent start --model-file with no such file", () => {
  it("is refused with exit 78 (not restarted by the unit), naming the setting and the path, under --json too", async () => {
    // Prepare: a closed API port; should the check be missed, the load fails with exit 1 instead
    const home = tempDir("cocoon-agent-no-model-file-");
    const missing = join(home, "models", "typo.gguf");
    const argv = ["start", "--api", "http://127.0.0.1:1", "--dev-attestation", "--metrics-port", "0", "--model-file", missing];
    // Act
    const text = await agentIn(home, argv);
    const json = await agentIn(home, [...argv, "--json"]);
    // Assess
    expect([text.code, json.code]).toEqual([78, 78]);
    expect(text.err).toContain(
      `error [bad_config]: modelFile (--model-file, COCOON_MODEL_FILE or agent.json): cannot read the model file ${missing}: there is no such file`,
    );
    expect(JSON.parse(json.err.trim().split("\n").at(-1)!)).toMatchObject({ error: { code: "bad_config", status: 0 } });
  });
});

describe.skipIf(existsSync(CONFIGFS_TSM_ROOT))("cocoon-agent start on tier tdx where there is no TDX (this machine)", () => {
  it("is refused with no_tee and exit 78 (no restart helps), naming the home tier as the choice", async () => {
    // Prepare
    const home = tempDir("cocoon-agent-no-tdx-");
    const argv = ["start", "--api", "http://127.0.0.1:1", "--tier", "tdx", "--metrics-port", "0"];
    // Act
    const text = await agentIn(home, argv);
    const json = await agentIn(home, [...argv, "--json"]);
    // Assess
    expect([text.code, json.code]).toEqual([78, 78]);
    expect(text.err).toMatch(/^error \[no_tee\]: no TDX quote interface at /);
    expect(text.err).toContain("--tier none");
    expect(JSON.parse(json.err)).toMatchObject({ error: { code: "no_tee" } });
  });

  it("writes nothing before it refuses: no worker key, and no state directory made", async () => {
    // Prepare: an empty home, and a COCOON_HOME that does not exist yet (a service's first start)
    const home = tempDir("cocoon-agent-no-tdx-nothing-");
    const unmade = join(tempDir("cocoon-agent-no-tdx-unmade-"), "state");
    const argv = ["start", "--api", "http://127.0.0.1:1", "--tier", "tdx", "--metrics-port", "0"];
    // Act
    const inHome = await agentIn(home, argv);
    const inUnmade = await agentIn(unmade, argv);
    // Assess
    expect([inHome.code, inUnmade.code]).toEqual([78, 78]);
    expect(readdirSync(home)).toEqual([]);
    expect(existsSync(unmade)).toBe(false);
  });
});

describe("cocoon-agent start --model-file with no such file, before anything is written", () => {
  it("leaves no worker key behind", async () => {
    // Prepare
    const home = tempDir("cocoon-agent-no-model-file-nothing-");
    const argv = [
      "start",
      "--api",
      "http://127.0.0.1:1",
      "--dev-attestation",
      "--metrics-port",
      "0",
      "--model-file",
      join(home, "typo.gguf"),
    ];
    // Act
    const r = await agentIn(home, argv);
    // Assess
    expect(r.code).toBe(78);
    expect(readdirSync(home)).toEqual([]);
  });
});

describe("cocoon-agent start with the builtin engine and a model it does not serve, before anything is written", () => {
  it("leaves no worker key behind (it used to make one, then refuse)", async () => {
    // Prepare: an empty home (start without init)
    const home = tempDir("cocoon-agent-builtin-model-nothing-");
    // Act
    const r = await agentIn(home, ["start", "--api", "http://127.0.0.1:1", "--dev-attestation", "--metrics-port", "0", "--model", "x"]);
    // Assess: (a start that gets through every refusal makes the key: cli-keys-start.test.ts)
    expect(r.code).toBe(78);
    expect(readdirSync(home)).toEqual([]);
  });
});

describe.skipIf(existsSync(CONFIGFS_TSM_ROOT))("cocoon-agent init on tier tdx where there is no TDX (this machine)", () => {
  it("writes the config and warns that start will refuse tier tdx here, naming --tier none", async () => {
    // Prepare
    const home = tempDir("cocoon-agent-init-no-tdx-");
    // Act
    const r = await agentIn(home, ["init", "--api", "http://127.0.0.1:1", "--payout-address", "0:" + "ab".repeat(32)]);
    // Assess
    expect(r.code).toBe(0);
    expect(r.out).toContain(`WARNING: no TDX quote interface at ${CONFIGFS_TSM_ROOT} on this machine: start will refuse tier tdx here`);
    expect(r.out).toContain("--tier none");
  });

  it("ends with a next step start accepts here: init --force --tier none, not start (which refuses no_tee, exit 78)", async () => {
    // Prepare: a config file elsewhere than the default, which the next step must name
    const home = tempDir("cocoon-agent-init-no-tdx-next-");
    const config = join(home, "elsewhere.json");
    // Act
    const r = await agentIn(home, ["init", "--api", "http://127.0.0.1:1", "--config", config]);
    // Assess
    const next = r.out.trim().split("\n").at(-1)!;
    expect(r.code).toBe(0);
    // (init --force keeps this init's other settings: no "with this init's other flags" to repeat)
    expect(next).toMatch(
      new RegExp(`^next: cocoon-agent init --force --tier none --config ${config}, then cocoon-agent start --config ${config};`),
    );
    expect(next).not.toMatch(/^next: cocoon-agent start/);
  });
});

describe("cocoon-agent init on a tier start accepts without TDX", () => {
  it("ends with next: cocoon-agent start", async () => {
    // Prepare
    const home = tempDir("cocoon-agent-init-home-tier-next-");
    // Act
    const r = await agentIn(home, ["init", "--api", "http://127.0.0.1:1", "--tier", "none"]);
    // Assess
    expect(r.code).toBe(0);
    expect(r.out.trim().split("\n").at(-1)).toBe("next: cocoon-agent start");
  });
});
