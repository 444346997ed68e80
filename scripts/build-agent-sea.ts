/**
 * `npm run build:agent:sea`: the agent as a single executable (Node SEA): this machine's node
 * binary with dist/agent/cocoon-agent.cjs injected (node --experimental-sea-config, then
 * postject). Linux x64 here; the binary runs where this node runs, with nothing installed.
 * Prints its size and cold start (`--help`, median of 5). The bundle's SHA-256 goes in beside it
 * as a SEA asset, so that the binary's --version names the digest of the bundle it carries.
 *
 * Not part of `npm test` (copying and patching a ~100 MB binary takes seconds and disk);
 * test/agent-bundle.test.ts runs it once when COCOON_TEST_SEA=1.
 *
 * The binary covers the builtin and openai engines. --model-file forks the llama child
 * (llama-worker.mjs, next to the binary) on the `node` found on PATH (COCOON_LLAMA_NODE to
 * choose), with node-llama-cpp installed next to it: a SEA cannot load native addons from
 * its own blob.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { AGENT_BUNDLE, buildAgent, DEFAULT_OUT_DIR, REPO_ROOT } from "./build-agent";
import { SEA_DIGEST_ASSET } from "../agent/version";

export const SEA_BINARY = "cocoon-agent";
/** The fuse Node's SEA loader looks for (nodejs.org/api/single-executable-applications.html). */
const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";

export interface SeaBuild {
  binary: string;
  bytes: number;
  bundleDigest: string;
  /** ms, median of `runs` cold starts of `--help` */
  coldStartMs: number;
}

/** Median wall time of `argv` run `runs` times (each a fresh process). */
export function coldStartMs(argv: string[], runs = 5): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = spawnSync(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    times.push(performance.now() - t0);
    if (r.status !== 0) throw new Error(`${argv.join(" ")} exited ${r.status}: ${String(r.stderr)}`);
  }
  times.sort((a, b) => a - b);
  return Math.round(times[Math.floor(times.length / 2)]!);
}

/**
 * The SEA configuration (node --experimental-sea-config): the bundle as the main script, and
 * its SHA-256 (the file `digestFile`) as the asset agent/version.ts reads for --version. Node
 * does not hand back the main script's bytes, so the binary could not hash its bundle itself.
 */
export function seaConfig(outDir: string, blob: string, digestFile: string) {
  return {
    main: join(outDir, AGENT_BUNDLE),
    output: blob,
    disableExperimentalSEAWarning: true,
    useCodeCache: false,
    useSnapshot: false,
    assets: { [SEA_DIGEST_ASSET]: digestFile },
  };
}

export async function buildAgentSea(o: { outDir?: string } = {}): Promise<SeaBuild> {
  const outDir = resolve(o.outDir ?? DEFAULT_OUT_DIR);
  const { digest } = await buildAgent({ outDir });
  const blob = join(outDir, "sea-prep.blob");
  const seaConfigFile = join(outDir, "sea-config.json");
  // the digest buildAgent computed from the very file that becomes the main script below
  const digestFile = join(outDir, `${AGENT_BUNDLE}.sha256`);
  writeFileSync(digestFile, digest);
  writeFileSync(seaConfigFile, JSON.stringify(seaConfig(outDir, blob, digestFile), null, 2));
  execFileSync(process.execPath, ["--experimental-sea-config", seaConfigFile], { stdio: "pipe" });
  const binary = join(outDir, SEA_BINARY);
  if (existsSync(binary)) rmSync(binary);
  copyFileSync(process.execPath, binary);
  chmodSync(binary, 0o755);
  const postject = join(REPO_ROOT, "node_modules", "postject", "dist", "cli.js");
  execFileSync(process.execPath, [postject, binary, "NODE_SEA_BLOB", blob, "--sentinel-fuse", SEA_FUSE], { stdio: "pipe" });
  rmSync(blob);
  rmSync(seaConfigFile);
  rmSync(digestFile);
  return { binary, bytes: statSync(binary).size, bundleDigest: digest, coldStartMs: coldStartMs([binary, "--help"]) };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const t0 = performance.now();
  const r = await buildAgentSea();
  const bundleStart = coldStartMs([process.execPath, join(DEFAULT_OUT_DIR, AGENT_BUNDLE), "--help"]);
  process.stdout.write(
    [
      `${r.binary}  ${(r.bytes / 1024 / 1024).toFixed(1)} MiB (node ${process.version} + the bundle sha256:${r.bundleDigest})`,
      `cold start (--help, median of 5): binary ${r.coldStartMs} ms · node + bundle ${bundleStart} ms`,
      `built in ${Math.round(performance.now() - t0)} ms`,
    ].join("\n") + "\n",
  );
}
