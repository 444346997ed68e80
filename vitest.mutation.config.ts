import { defineConfig } from "vitest/config";

/**
 * The tests Stryker runs against each mutant (stryker.config.mjs): unit and in-process tests
 * only, no network of processes, no sandboxed chain boots, so a mutant costs seconds.
 * MUTATION_TESTS (comma-separated globs, set by scripts/mutation.ts per mutated file) narrows it.
 */
const DEFAULT = [
  "core/**/*.test.ts",
  "client/sdk.test.ts",
  "events/**/*.test.ts",
  "local/memory-store*.test.ts",
  "test/idempotency-concurrency.test.ts",
];

const only = process.env.MUTATION_TESTS?.split(",");

export default defineConfig({
  test: {
    include: only ?? DEFAULT,
    // the attestation suites (certificate chains, a real quote) only when a run names them
    exclude: [
      "node_modules/**",
      ".sst/**",
      "contracts/build/**",
      ...(only?.some((g) => g.startsWith("core/attestation/")) ? [] : ["core/attestation/**"]),
    ],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
