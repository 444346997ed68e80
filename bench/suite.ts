/** Runs one benchmark suite and prints its results as one JSON line (bench/run.ts runs each in its own process). */
import type { BenchResult } from "./types";

export const suites: Record<string, () => Promise<BenchResult[]>> = {
  network: async () => (await import("./network")).benchNetwork(),
  envelope: async () => (await import("./envelope")).benchEnvelope(),
  store: async () => (await import("./store")).benchStore(),
  attestation: async () => (await import("./attestation")).benchAttestation(),
  bundles: async () => (await import("./bundles")).benchBundles(),
  chain: async () => (await import("./chain")).benchChain(),
  cost: async () => (await import("./cost")).benchCost(),
  anchoring: async () => (await import("./anchoring")).benchAnchoring(),
  stream: async () => (await import("./stream")).benchStreaming(),
  agent: async () => (await import("./agent")).benchAgent({ sea: process.env.COCOON_BENCH_SEA === "1" }),
};

if (process.argv[1]?.endsWith("suite.ts")) {
  const name = process.argv[2] ?? "";
  const run = suites[name];
  if (!run) {
    console.error(`unknown suite "${name}"; one of: ${Object.keys(suites).join(", ")}`);
    process.exit(64);
  }
  const results = await run();
  process.stdout.write("\n" + JSON.stringify(results) + "\n");
  process.exit(0);
}
