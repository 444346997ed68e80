/**
 * The entry of the bundled agent (scripts/build-agent.ts → dist/agent/cocoon-agent.cjs) and of
 * the single-executable binary built from it: runs the CLI and exits with its code.
 */
import { main } from "./cli";

// In a single-executable binary process.execPath is the binary itself, which cannot run the
// llama engine's child script: the child then runs on the `node` found on PATH.
try {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- only a CommonJS SEA bundle has `require` here
  if ((require("node:sea") as { isSea(): boolean }).isSea()) process.env.COCOON_LLAMA_NODE ??= "node";
} catch {
  // not a Node with node:sea (or not CommonJS): nothing to do
}

// `cocoon-agent status | head`: a reader that went away is not an error of ours.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(0);
    throw e;
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
