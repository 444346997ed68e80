/**
 * `cocoon-agent --version` of the single executable (agent/version.ts): it printed
 * "cocoon-agent 0.1.0" and no digest, since the bundle it embeds is no file to hash. It now
 * names the digest the build embedded beside the bundle (scripts/build-agent-sea.ts seaConfig).
 * node:sea is a stand-in here; test/agent-bundle.test.ts checks a real binary (COCOON_TEST_SEA=1).
 */
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { COCOON_VERSION } from "../api-client/program";
import { seaConfig } from "../scripts/build-agent-sea";
import { AGENT_BUNDLE } from "../scripts/build-agent";
import { runAgentCli } from "./cli-testing";
import { agentVersionLine, nodeSea, SEA_DIGEST_ASSET, type SeaApi } from "./version";

const DIGEST = createHash("sha256").update("the embedded bundle").digest("hex");

/** node:sea as a single executable sees it, with these assets. */
const seaWith = (assets: Record<string, string>): SeaApi => ({
  isSea: () => true,
  getAsset(key) {
    if (!(key in assets)) throw Object.assign(new Error(`no asset ${key}`), { code: "ERR_SINGLE_EXECUTABLE_APPLICATION_ASSET_NOT_FOUND" });
    return assets[key]!;
  },
});

describe("cocoon-agent --version: the single executable names its bundle's digest", () => {
  it("prints the SHA-256 the build embedded, as the bundle's own --version does", () => {
    // Act
    const line = agentVersionLine("cocoon-agent", seaWith({ [SEA_DIGEST_ASSET]: `${DIGEST}\n` }), "/opt/cocoon/cocoon-agent");
    // Assess
    expect(line).toBe(`cocoon-agent ${COCOON_VERSION} (bundle sha256:${DIGEST}, single executable)`);
  });

  it("says so when the binary carries no digest (an older build) or a malformed one, rather than naming none", () => {
    // Act
    const none = agentVersionLine("cocoon-agent", seaWith({}), "/opt/cocoon/cocoon-agent");
    const malformed = agentVersionLine("cocoon-agent", seaWith({ [SEA_DIGEST_ASSET]: "not a digest" }), "/opt/cocoon/cocoon-agent");
    // Assess
    for (const line of [none, malformed])
      expect(line).toBe(`cocoon-agent ${COCOON_VERSION} (single executable; built without its bundle's digest)`);
  });

  it("outside a single executable stays what it was: the bundle hashes itself, the sources name no digest", () => {
    // Prepare
    const bundle = join(tempDir("cocoon-agent-version-"), AGENT_BUNDLE);
    writeFileSync(bundle, "bundle bytes");
    const plainNode: SeaApi = { isSea: () => false, getAsset: () => DIGEST };
    // Act / Assess
    expect(agentVersionLine("cocoon-agent", plainNode, bundle)).toBe(
      `cocoon-agent ${COCOON_VERSION} (bundle sha256:${createHash("sha256").update("bundle bytes").digest("hex")})`,
    );
    expect(agentVersionLine("cocoon-agent", undefined, "/repo/agent/cli.ts")).toBe(`cocoon-agent ${COCOON_VERSION}`);
    expect(nodeSea()?.isSea() ?? false).toBe(false);
  });

  it("the build embeds the digest under the asset name the binary reads", () => {
    // Act
    const config = seaConfig("/out", "/out/sea-prep.blob", "/out/cocoon-agent.cjs.sha256");
    // Assess
    expect(config.main).toBe(join("/out", AGENT_BUNDLE));
    expect(config.assets).toEqual({ [SEA_DIGEST_ASSET]: "/out/cocoon-agent.cjs.sha256" });
  });

  it("`cocoon-agent --version` goes through it (exit 0)", async () => {
    // Act
    const r = await runAgentCli(["--version"]);
    // Assess
    expect(r.code).toBe(0);
    expect(r.out).toBe(`cocoon-agent ${COCOON_VERSION}\n`);
  });
});
