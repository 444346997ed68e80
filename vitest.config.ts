import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["**/*.test.ts"],
    // the ignored working folders (.scratch, Stryker's sandbox, build output) hold copies of tests that are not the suite
    exclude: ["node_modules/**", ".sst/**", "contracts/build/**", ".scratch/**", ".stryker-tmp/**", "dist/**", "cdk.out/**", ".cocoon/**"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // vitest's default is one worker fewer than the cores: one on CI's two. Most of the suite waits
    // (real networks on loopback, timers), so two workers take ~500 s where one took ~720 s.
    maxWorkers: 2,
  },
});
