/**
 * The local network's dev opt-in (its .cocoon/local.json: allowDevAttestation) applies when the
 * CLI talks to that network's API. It was compared as a string: `--api http://localhost:8787`
 * or a trailing slash lost it, and `cocoon serve` then refused every dev worker.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { runCli } from "../api-client/cli-testing";
import { sameApiUrl } from "../api-client/settings";
import { main } from "./cli";

/** `cocoon whoami --api api --json` with a COCOON_HOME whose local.json names `local` (dev allowed). */
async function whoamiWith(api: string, local: string) {
  const home = tempDir("cocoon-local-dev-");
  writeFileSync(
    join(home, "local.json"),
    JSON.stringify({ apiUrl: local, allowDevAttestation: true, startedAt: new Date().toISOString() }),
  );
  const saved = process.env.COCOON_HOME;
  process.env.COCOON_HOME = home;
  try {
    const r = await runCli(main, ["whoami", "--api", api, "--json"]);
    return { ...r, allowDev: r.code === 0 ? (JSON.parse(r.out) as { allowDev: boolean }).allowDev : undefined };
  } finally {
    if (saved === undefined) delete process.env.COCOON_HOME;
    else process.env.COCOON_HOME = saved;
  }
}

describe("the local network's dev opt-in, for --api typed another way", () => {
  it.each(["http://127.0.0.1:8790", "http://127.0.0.1:8790/", "http://localhost:8790", "http://[::1]:8790/"])(
    "--api %s is the local network at http://127.0.0.1:8790: dev accepted",
    async (api) => {
      // Act
      const r = await whoamiWith(api, "http://127.0.0.1:8790");
      // Assess
      expect(r.allowDev, r.err).toBe(true);
    },
  );

  it.each(["http://127.0.0.1:8787", "http://10.0.0.5:8790", "https://api.example.com"])(
    "--api %s is not it: dev not accepted",
    async (api) => {
      // Act
      const r = await whoamiWith(api, "http://127.0.0.1:8790");
      // Assess
      expect(r.allowDev, r.err).toBe(false);
    },
  );

  it("sameApiUrl never equates a remote host with loopback, nor different paths", () => {
    expect(sameApiUrl("http://example.com:8790", "http://127.0.0.1:8790")).toBe(false);
    expect(sameApiUrl("http://127.0.0.1:8790/a", "http://127.0.0.1:8790/b")).toBe(false);
    expect(sameApiUrl("not a url", "http://127.0.0.1:8790")).toBe(false);
  });
});
