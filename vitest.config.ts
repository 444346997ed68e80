import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { defineConfig } from "vitest/config";

const include = ["**/*.test.ts"];
// the ignored working folders (.scratch, Stryker's sandbox, build output) hold copies of tests that are not the suite
const exclude = [
  "node_modules/**",
  ".sst/**",
  "contracts/build/**",
  ".scratch/**",
  ".stryker-tmp/**",
  "dist/**",
  "cdk.out/**",
  ".cocoon/**",
];

/**
 * A test file that changes what the whole process shares — module mocks, AWS SDK client mocks
 * (aws-sdk-client-mock stubs the client class itself), process.env, the umask or working folder,
 * globals — runs in a process of its own, as every file did before.
 * The rest share their worker's process: loading @ton/*, the AWS SDK and our own modules once per
 * worker instead of once per file saves most of the suite's import time (231 s of 2 workers' time
 * on CI). A file that writes process.env and restores it still gets its own process: a child
 * process another file spawns meanwhile would inherit the value.
 */
const CHANGES_PROCESS_STATE =
  /\bmockClient\(|\bvi\.(mock|doMock|hoisted|stubGlobal|stubEnv|resetModules)\(|process\.env(\.\w+|\[[^\]]+\])\s*=[^=]|delete process\.env|process\.(chdir|umask)\(|globalThis\.\w+\s*=[^=]/;

export function filesInOwnProcess(root = "."): string[] {
  const ignored = new Set(exclude.map((e) => e.replace(/\/\*\*$/, "")));
  const walk = (dir: string): string[] =>
    readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => {
      const path = dir ? `${dir}/${e.name}` : e.name;
      if (e.isDirectory()) return ignored.has(path) || e.name === ".git" ? [] : walk(path);
      return e.name.endsWith(".test.ts") && CHANGES_PROCESS_STATE.test(readFileSync(join(root, path), "utf8")) ? [path] : [];
    });
  return walk("").sort();
}

/** Files that need a process of their own for a reason the pattern cannot see. */
const ALSO_OWN_PROCESS = [
  // A real SQSClient's receive against a silent 127.0.0.1 server failed at once (no request reached
  // the server) in 2 of 8 whole-suite runs in a shared process, never alone or in its own process.
  // The cause, some other file's state left in the AWS SDK or node:http, was not found.
  "agent/sources/sqs-timeout.test.ts",
];

const ownProcess = [...new Set([...filesInOwnProcess(), ...ALSO_OWN_PROCESS])].sort();

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    setupFiles: ["test/setup.ts"],
    pool: "forks",
    // vitest's default is one worker fewer than the cores: one on CI's two. Most of the suite waits
    // (real networks on loopback, timers), so two workers take ~500 s where one took ~720 s.
    maxWorkers: 2,
    projects: [
      // each project names its own files: with `extends`, an include or exclude at the top would be
      // added to the project's, not replaced by it
      { extends: true, test: { name: "shared-process", include, exclude: [...exclude, ...ownProcess], isolate: false } },
      { extends: true, test: { name: "own-process", include: ownProcess, exclude, isolate: true } },
    ],
  },
});
