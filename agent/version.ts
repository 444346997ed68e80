/**
 * `cocoon-agent --version`. Run as the bundle (cocoon-agent.cjs) it names the bundle's own
 * SHA-256, hashed from the file (api-client/program.ts versionLine). The single executable
 * (scripts/build-agent-sea.ts) has no bundle file to hash: its bundle is embedded, as the SEA's
 * main script, which Node does not hand back. So the build embeds the bundle's digest beside
 * it, as the SEA asset SEA_DIGEST_ASSET, and the binary names that one: the digest of the
 * bundle it carries, which is what an image's allow-list names and an owner quotes.
 */
import { createRequire } from "node:module";
import { COCOON_VERSION, versionLine } from "../api-client/program";

/** The SEA asset holding the embedded bundle's SHA-256 (64 hex digits); written by scripts/build-agent-sea.ts. */
export const SEA_DIGEST_ASSET = "cocoon-agent.cjs.sha256";

/** What this code needs of node:sea (Node ≥ 20.12); absent where the module is not. */
export interface SeaApi {
  isSea(): boolean;
  getAsset(key: string, encoding: string): string;
}

/** node:sea, or undefined on a Node without it (its getAsset came in 20.12). */
export function nodeSea(): SeaApi | undefined {
  try {
    return createRequire(import.meta.url)("node:sea") as SeaApi;
  } catch {
    return undefined;
  }
}

/**
 * The embedded bundle's digest when this process is the single executable: its asset if it
 * holds a SHA-256, "unknown" for a binary built without one (an older build); undefined when
 * this is not a single executable.
 */
export function seaBundleDigest(sea: SeaApi | undefined = nodeSea()): string | undefined {
  if (!sea?.isSea()) return undefined;
  let text: string;
  try {
    text = sea.getAsset(SEA_DIGEST_ASSET, "utf8").trim();
  } catch {
    return "unknown";
  }
  return /^[0-9a-f]{64}$/.test(text) ? text : "unknown";
}

/** The agent's version line: the single executable's embedded digest, else the bundle's own (or nothing from sources). */
export function agentVersionLine(
  name = "cocoon-agent",
  sea: SeaApi | undefined = nodeSea(),
  script: string | undefined = process.argv[1],
): string {
  const digest = seaBundleDigest(sea);
  if (digest === undefined) return versionLine(name, script);
  return digest === "unknown"
    ? `${name} ${COCOON_VERSION} (single executable; built without its bundle's digest)`
    : `${name} ${COCOON_VERSION} (bundle sha256:${digest}, single executable)`;
}
