/**
 * `npm run test:isolation [-- <file> ...] [--seeds 1,2]`: runs each end-to-end test file ALONE
 * (its own vitest process, nothing else in it) with its tests in a shuffled order
 * (`--sequence.shuffle`, one run per seed), one file at a time, and prints a table. A file that
 * passes in the suite but fails here depends on another file's state or on its own tests'
 * order (issue 14). Slow (every file boots its own network): run it before resolving, not in CI.
 */
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";

const args = process.argv.slice(2);
const s = args.indexOf("--seeds");
const seeds = (s >= 0 ? args[s + 1]! : "1,2").split(",").map(Number);
const named = args.filter((a, i) => !a.startsWith("--") && !(s >= 0 && i === s + 1));
const files = named.length
  ? named
  : readdirSync("test")
      .filter((f) => f.endsWith(".test.ts"))
      .map((f) => `test/${f}`);

function runAlone(file: string, seed: number): Promise<{ ok: boolean; seconds: number; tail: string }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ["node_modules/vitest/vitest.mjs", "run", file, "--sequence.shuffle", `--sequence.seed=${seed}`, "--exclude", ".stryker-tmp/**"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr.on("data", (b: Buffer) => (out += b.toString()));
    child.on("exit", (code) =>
      resolve({ ok: code === 0, seconds: (Date.now() - started) / 1000, tail: out.split("\n").slice(-40).join("\n") }),
    );
  });
}

const rows: string[] = [];
let failed = 0;
for (const file of files) {
  for (const seed of seeds) {
    const r = await runAlone(file, seed);
    rows.push(`| ${file} | ${seed} | ${r.ok ? "pass" : "**FAIL**"} | ${r.seconds.toFixed(0)} s |`);
    console.log(rows.at(-1));
    if (!r.ok) {
      failed++;
      console.log(r.tail);
    }
  }
}
console.log(`\n| file | shuffle seed | alone + shuffled | time |\n|---|---|---|---|\n${rows.join("\n")}`);
process.exit(failed ? 1 : 0);
