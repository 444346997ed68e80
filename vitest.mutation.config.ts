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

export default defineConfig({
  test: {
    include: process.env.MUTATION_TESTS ? process.env.MUTATION_TESTS.split(",") : DEFAULT,
    exclude: ["node_modules/**", ".sst/**", "contracts/build/**", "core/attestation/**"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
