import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["**/*.test.ts"],
    // the ignored working folders (.scratch, Stryker's sandbox, build output) hold copies of tests that are not the suite
    exclude: ["node_modules/**", ".sst/**", "contracts/build/**", ".scratch/**", ".stryker-tmp/**", "dist/**", "cdk.out/**", ".cocoon/**"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
