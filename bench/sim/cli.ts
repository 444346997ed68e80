/**
 * Launcher of `npm run sim`: bundles bench/sim/run.ts with esbuild, pointing every import of
 * core/crypto/keys at bench/sim/crypto-stub.ts (real signatures and verification for 1 in
 * `--crypto-every` messages, default 100; see that file for why and how), then runs it.
 * `--crypto-every 1` makes every signature and every verification real. The bundle holds the
 * repository's own sources unchanged; npm packages stay external.
 */
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const keysFile = join(root, "core/crypto/keys.ts");
const stubFile = join(here, "crypto-stub.ts");

const argv = process.argv.slice(2);
const everyArg = argv.indexOf("--crypto-every");
const every = everyArg >= 0 ? Number(argv[everyArg + 1]) : 100;
if (!Number.isInteger(every) || every < 1) throw new Error(`--crypto-every needs a positive integer, got ${argv[everyArg + 1]}`);
(globalThis as { __cocoonSimCrypto?: unknown }).__cocoonSimCrypto = {
  every,
  realSigns: 0,
  pooledSigns: 0,
  realVerifies: 0,
  stubbedVerifies: 0,
  realVerifyFailures: 0,
  realVerifyMs: [],
};

const outDir = join(root, "node_modules/.cache/cocoon-sim");
mkdirSync(outDir, { recursive: true });
const outfile = join(outDir, "sim.mjs");
await build({
  entryPoints: [join(here, "run.ts")],
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  outfile,
  logLevel: "warning",
  plugins: [
    {
      name: "sim-crypto-stub",
      setup(b) {
        b.onResolve({ filter: /crypto\/keys$|\/keys$/ }, (args) => {
          const target = resolve(args.resolveDir, args.path) + ".ts";
          if (target !== keysFile || args.importer === stubFile) return undefined;
          return { path: stubFile };
        });
      },
    },
  ],
});
// The run itself is a child node with a larger young generation: 100k agents keep a big heap,
// and with V8's default semi-space the collector took about half of the time.
const runner = join(outDir, "runner.mjs");
writeFileSync(
  runner,
  [
    `globalThis.__cocoonSimCrypto = { every: ${every}, realSigns: 0, pooledSigns: 0, realVerifies: 0, stubbedVerifies: 0, realVerifyFailures: 0, realVerifyMs: [] };`,
    `const { main } = await import(${JSON.stringify(pathToFileURL(outfile).href)});`,
    `await main(process.argv.slice(2));`,
  ].join("\n"),
);
const rest = argv.filter((a, i) => !(a === "--crypto-every" || (everyArg >= 0 && i === everyArg + 1)));
const r = spawnSync(process.execPath, ["--max-semi-space-size=64", "--max-old-space-size=8192", runner, ...rest], {
  stdio: "inherit",
  cwd: root,
});
process.exit(r.status ?? 1);
