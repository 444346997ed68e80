/**
 * `npm run build:agent`: the agent as one file a GPU owner runs with Node 20
 * (dist/agent/cocoon-agent.cjs), plus the llama engine's child script (dist/agent/llama-worker.mjs,
 * loaded only with --model-file, next to an `npm install node-llama-cpp@3.21.1`).
 *
 * Only the agent's own dependencies go in: agent/, api-client/, events/, the shared parts of
 * core/ (crypto, dev attestation), zod, commander, @ton/core, @noble/curves and the SQS client
 * for the cloud job source. No coordinator (functions/, local/, stacks/), no requester (client/),
 * no AWS CDK: test/agent-bundle.test.ts reads the build's input list and fails on any of them.
 *
 * Reproducible: esbuild's output depends only on the sources, the lockfile's packages and these
 * options (no timestamps, no absolute paths, inputs in a fixed order), so two builds of one
 * commit give the same SHA-256. That digest is printed; it is what an image's allow-list entry
 * names (README: "Running an agent").
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build, type Metafile, type Plugin, version as esbuildVersion } from "esbuild";

export const REPO_ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "..");
export const DEFAULT_OUT_DIR = join(REPO_ROOT, "dist", "agent");
export const AGENT_BUNDLE = "cocoon-agent.cjs";
export const LLAMA_WORKER = "llama-worker.mjs";

/** Where the build's inputs must never come from. */
export const FORBIDDEN_INPUTS: RegExp[] = [
  /^functions\//,
  /^local\//,
  /^client\//,
  /^stacks\//,
  /^bench\//,
  /^test\//,
  /aws-cdk/,
  /node_modules\/(sst|lmdb|@ton\/sandbox|@aws-sdk\/client-dynamodb|@aws-lambda-powertools)\//,
];

export interface BuiltFile {
  name: string;
  path: string;
  bytes: number;
  sha256: string;
}

export interface AgentBuild {
  outDir: string;
  /** SHA-256 (hex) of cocoon-agent.cjs: what the allow-list names */
  digest: string;
  files: BuiltFile[];
  /** every source file esbuild read (repository-relative), both outputs */
  inputs: string[];
}

/**
 * The llama engine forks its child from `./llama-worker.ts` through tsx (the repository runs
 * TypeScript directly). In the bundle the child is the sibling `llama-worker.mjs`, run by plain
 * node (COCOON_LLAMA_NODE overrides which node: a single-executable binary cannot run it
 * itself). A change to those lines fails the build, so the rewrite can never silently miss.
 */
const llamaChildRewrite: Plugin = {
  name: "cocoon-llama-child",
  setup(b) {
    b.onLoad({ filter: /[\\/]agent[\\/]engines[\\/]llama\.ts$/ }, (args) => {
      const src = readFileSync(args.path, "utf8");
      const swaps: Array<[string, string]> = [
        ['new URL("./llama-worker.ts", import.meta.url)', `new URL("./${LLAMA_WORKER}", import.meta.url)`],
        ['execArgv: ["--import", tsxLoader()],', "execArgv: [], execPath: process.env.COCOON_LLAMA_NODE || process.execPath,"],
      ];
      let out = src;
      for (const [from, to] of swaps) {
        if (!out.includes(from)) {
          return {
            errors: [
              {
                text: `agent/engines/llama.ts no longer contains ${JSON.stringify(from)}: update the child rewrite in scripts/build-agent.ts`,
              },
            ],
          };
        }
        out = out.replace(from, to);
      }
      return { contents: out, loader: "ts" };
    });
  },
};

const common = {
  absWorkingDir: REPO_ROOT,
  bundle: true,
  platform: "node",
  target: "node20",
  minify: true,
  keepNames: true,
  legalComments: "eof",
  charset: "utf8",
  sourcemap: false,
  write: false,
  metafile: true,
  logLevel: "silent",
} as const;

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Builds both files into `outDir` (default dist/agent) and returns their digests and inputs. */
export async function buildAgent(o: { outDir?: string } = {}): Promise<AgentBuild> {
  const outDir = resolve(o.outDir ?? DEFAULT_OUT_DIR);
  const main = await build({
    ...common,
    entryPoints: ["agent/main.ts"],
    outfile: join(outDir, AGENT_BUNDLE),
    format: "cjs",
    // The sources are ESM; in CommonJS import.meta.url is this file's URL, from __filename.
    define: { "import.meta.url": "__cocoon_import_meta_url" },
    // In a single-executable binary __filename is the bundle's path at build time: there the
    // binary's own path stands for it (its sibling llama-worker.mjs is found next to it).
    banner: {
      js: '#!/usr/bin/env node\nvar __cocoon_import_meta_url = require("node:url").pathToFileURL((() => { try { if (require("node:sea").isSea()) return process.execPath; } catch {} return __filename; })()).href;',
    },
    external: ["node-llama-cpp"],
    plugins: [llamaChildRewrite],
  });
  const worker = await build({
    ...common,
    entryPoints: ["agent/engines/llama-worker.ts"],
    outfile: join(outDir, LLAMA_WORKER),
    format: "esm",
    banner: {
      js: 'import { createRequire as __cocoonCreateRequire } from "node:module"; const require = __cocoonCreateRequire(import.meta.url);',
    },
    // The native engine: installed next to the bundle by whoever serves a GGUF file.
    external: ["node-llama-cpp"],
  });
  mkdirSync(outDir, { recursive: true });
  const files: BuiltFile[] = [];
  for (const out of [...main.outputFiles, ...worker.outputFiles]) {
    writeFileSync(out.path, out.contents, { mode: out.path.endsWith(AGENT_BUNDLE) ? 0o755 : 0o644 });
    files.push({ name: out.path.slice(outDir.length + 1), path: out.path, bytes: out.contents.byteLength, sha256: sha256(out.contents) });
  }
  const digest = files.find((f) => f.name === AGENT_BUNDLE)!.sha256;
  const inputs = [...new Set([...inputsOf(main.metafile), ...inputsOf(worker.metafile)])].sort();
  // No time, host or path in here either: the manifest is as reproducible as the bundle.
  writeFileSync(join(outDir, "SHA256SUMS"), files.map((f) => `${f.sha256}  ${f.name}\n`).join(""));
  writeFileSync(
    join(outDir, "manifest.json"),
    JSON.stringify(
      {
        agent: AGENT_BUNDLE,
        digest: `sha256:${digest}`,
        esbuild: esbuildVersion,
        node: ">=20",
        external: ["node-llama-cpp@3.21.1 (only with --model-file)"],
        files: files.map(({ name, bytes, sha256 }) => ({ name, bytes, sha256 })),
      },
      null,
      2,
    ) + "\n",
  );
  return { outDir, digest, files, inputs };
}

const inputsOf = (m: Metafile | undefined) => Object.keys(m?.inputs ?? {});

/** The inputs that must not be in the agent (FORBIDDEN_INPUTS). */
export function forbiddenInputs(inputs: string[]): string[] {
  return inputs.filter((i) => FORBIDDEN_INPUTS.some((re) => re.test(i)));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const t0 = performance.now();
  const b = await buildAgent({ ...(process.argv[2] ? { outDir: process.argv[2] } : {}) });
  const bad = forbiddenInputs(b.inputs);
  if (bad.length) {
    process.stderr.write(`the agent bundle pulled in code it must not carry:\n  ${bad.join("\n  ")}\n`);
    process.exit(1);
  }
  for (const f of b.files) process.stdout.write(`${f.name}  ${(f.bytes / 1024).toFixed(0)} KiB  sha256:${f.sha256}\n`);
  process.stdout.write(`agent bundle digest (what the allow-list names): sha256:${b.digest}\n`);
  process.stdout.write(`built in ${Math.round(performance.now() - t0)} ms into ${b.outDir} from ${b.inputs.length} inputs\n`);
}
