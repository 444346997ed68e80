import { tmpdir } from "node:os";
import { join } from "node:path";

// Mutation testing of the paths that hold money and trust (issue 14). Run through
// `npm run mutation` (scripts/mutation.ts), which mutates one file per Stryker run and prints
// the score per file and the surviving mutants. Not part of `npm test`: it is too slow for CI.
//
// One file at a time, one worker (concurrency 1): the machine's two cores are shared.
// Which tests run: vitest.mutation.config.ts (unit and in-process tests only, narrowed by
// MUTATION_TESTS), then, per mutant, only the tests that covered it (coverageAnalysis perTest).
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: "npm",
  testRunner: "vitest",
  plugins: ["@stryker-mutator/vitest-runner"],
  vitest: { configFile: "vitest.mutation.config.ts", related: true },
  coverageAnalysis: "perTest",
  checkers: [],
  concurrency: 1,
  // Mutants that loop forever are cut off: 3x the test's own time + this.
  timeoutMS: 10_000,
  timeoutFactor: 3,
  reporters: ["json", "progress"],
  jsonReporter: { fileName: process.env.MUTATION_REPORT ?? "reports/mutation/mutation.json" },
  // Outside the working tree: a sandbox inside it would be picked up by everyone else's `vitest run <file>`
  // (vitest.config.ts includes **/*.test.ts), and other tools walk it too.
  tempDirName: process.env.MUTATION_TMP ?? join(tmpdir(), "cocoon-stryker"),
  cleanTempDir: "always",
  // Nothing the unit tests read: build outputs, local data, other tools' state.
  ignorePatterns: ["dist", ".sst", ".cocoon", ".scratch", "cdk.out", "coverage", "reports", "bench/results*.json"],
  // The files of issue 14; `npm run mutation -- <file>` narrows it (scripts/mutation.ts).
  mutate: [
    "core/jobs/*.ts",
    "!core/jobs/*.test.ts",
    "!core/jobs/testing.ts",
    "core/ledger.ts",
    "core/withdrawals.ts",
    "core/payouts.ts",
    "core/auth.ts",
    "core/crypto/request-auth.ts",
    "core/crypto/receipt.ts",
    "core/chain/watcher.ts",
    "client/sdk.ts",
  ],
};
