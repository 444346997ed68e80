import { spawn } from "node:child_process";
import { statSync } from "node:fs";
import { createServer, type Server } from "node:net";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";

const repoRoot = join(fileURLToPath(new URL(".", import.meta.url)), "..");

/**
 * `npm start -- <args>` (local/main.ts) with these variables, to its exit. Not spawnSync: each start spends
 * seconds loading the sources, so the cases (which share nothing) run at once.
 */
function start(env: Record<string, string>, args: string[] = []): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "local/main.ts", ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      timeout: 60_000,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

describe("npm start on a port in use", () => {
  it.concurrent("says which port and how to choose another (exit 1), without a stack trace", async () => {
    // Prepare: the port taken, as by a first `npm start`
    const taken: Server = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const port = (taken.address() as AddressInfo).port;
    const home = join(tempDir("cocoon-port-in-use-"), "home");
    try {
      // Act
      const r = await start({ PORT: String(port), COCOON_HOME: home, COCOON_COORDINATOR_ONLY: "1" });
      // Assess
      expect(statSync(home).mode & 0o777).toBe(0o700); // made before the listen, for the user alone
      expect(r.status).toBe(1);
      expect(r.stderr.trim()).toBe(
        `error: 127.0.0.1:${port} is in use (another npm start, or another program): stop it, or start on another port: PORT=${port + 1} npm start`,
      );
    } finally {
      await new Promise<void>((r) => taken.close(() => r()));
    }
  });

  it.concurrent.each(["abc", "99999", "-1"])(
    "PORT=%s is refused in one line naming PORT and its range (exit 1), without a stack trace",
    async (bad) => {
      // Act
      const r = await start({ PORT: bad, COCOON_HOME: tempDir("cocoon-bad-port-"), COCOON_COORDINATOR_ONLY: "1" });
      // Assess
      expect(r.status).toBe(1);
      expect(r.stderr.trim()).toBe(`error: PORT must be a whole number from 0 to 65535, got "${bad}"`);
    },
  );
});

describe("npm start with a malformed COCOON_OPERATOR_KEY", () => {
  it.concurrent.each([
    ["not hex", "zzz"],
    ["upper-case hex (the deploy refuses it)", "AB".repeat(32)],
    ["the account id (base64url), not the hex public key", "q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k"],
  ])("%s: refused in one line naming the variable and how to print it (exit 1), before anything starts", async (_, bad) => {
    // Prepare
    const home = tempDir("cocoon-bad-operator-");
    // Act
    const r = await start({ PORT: "0", COCOON_HOME: home, COCOON_COORDINATOR_ONLY: "1", COCOON_OPERATOR_KEY: bad });
    // Assess
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(
      "error: COCOON_OPERATOR_KEY must be 64 lower-case hex chars (the operator's 32-byte Ed25519 public key): print it with `npx cocoon operator key` (COCOON_OPERATOR_KEY=<hex>), or unset it",
    );
    expect(r.stdout).toBe("");
  });
});

describe("npm start with a model file that cannot be read", () => {
  // Regression: it said "the GGUF agent did not start …; the network runs without it" and exited 0
  // after the demo, without the model the user asked for.
  it.concurrent.each([
    ["--model-file", (f: string) => ({ env: {}, args: ["--model-file", f] })],
    ["COCOON_MODEL_FILE", (f: string) => ({ env: { COCOON_MODEL_FILE: f }, args: [] })],
  ])("named by %s: refused in one line naming it (exit 1), before anything starts", async (setting, given) => {
    // Prepare
    const home = tempDir("cocoon-bad-model-file-");
    const missing = join(home, "nonexistent.gguf");
    const { env, args } = given(missing);
    // Act
    const r = await start({ PORT: "0", COCOON_HOME: home, COCOON_EXIT_AFTER_DEMO: "1", ...env }, args);
    // Assess
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(
      `error: ${setting} ${missing} cannot be read: there is no such file; check the path, or leave it out to serve the tiny test model`,
    );
    expect(r.stdout).toBe("");
  });
});

describe("npm start stopped with Ctrl-C", () => {
  it.concurrent(
    "says it is stopping and that its state stays in its home (npm start takes it up again), exit 0",
    async () => {
      // Regression: Ctrl-C printed nothing, as if the network and its balances were gone.
      // Prepare: the coordinator alone (the quickest start), interrupted once it is up
      const home = join(tempDir("cocoon-ctrl-c-"), "home");
      const child = spawn(process.execPath, ["--import", "tsx", "local/main.ts"], {
        cwd: repoRoot,
        env: { ...process.env, PORT: "0", COCOON_HOME: home, COCOON_COORDINATOR_ONLY: "1" },
        timeout: 60_000,
      });
      let stdout = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => {
        stdout += d;
        if (d.includes("Cocoon coordinator up at")) child.kill("SIGINT");
      });
      // Act
      const status = await new Promise<number | null>((resolve, reject) => {
        child.on("error", reject);
        child.on("close", resolve);
      });
      // Assess
      expect(status).toBe(0);
      expect(stdout.trim().split("\n").at(-1)).toBe(
        `SIGINT: stopping the local network; its state stays in ${home} (the ledger and jobs, the sandbox chain, the keys): npm start takes it up again (delete the folder to start afresh)`,
      );
    },
    60_000,
  );
});
