// Runs Stryker for one file through its programmatic API: `node scripts/stryker-run.mjs <file>`.
// Why not the `stryker` CLI: 10.x's CLI refuses Node < 22 at start-up (guardMinimalNodeVersion),
// while the project runs on Node 20 (TOOLCHAIN.md); the library itself runs on 20 (checked here:
// no Node 22-only API in its dist, and full runs complete), so scripts/mutation.ts calls it this way.
// The class itself, not the package index: the index also loads the CLI module, whose top level
// runs that guard. (A file URL import: the package's "exports" would refuse the deep path.)
const { Stryker } = await import(new URL("../node_modules/@stryker-mutator/core/dist/src/stryker.js", import.meta.url).href);

const [file, ...rest] = process.argv.slice(2);
if (!file) {
  console.error("usage: node scripts/stryker-run.mjs <file to mutate> [--dry-run-only]");
  process.exit(2);
}
const stryker = new Stryker({
  configFile: "stryker.config.mjs",
  mutate: [file],
  ...(rest.includes("--dry-run-only") ? { dryRunOnly: true } : {}),
});
await stryker.runMutationTest();
