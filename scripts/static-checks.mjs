#!/usr/bin/env node
/**
 * The static half of `npm test`: ESLint, Prettier and the TypeScript compiler, run at once
 * instead of one after the other. Each is single-threaded and CI has two cores, so together they
 * take about as long as the slowest alone. Each one's output is printed whole once it ends (not
 * interleaved); the exit code is non-zero if any of them failed, naming which.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";

const checks = [
  { name: "eslint", args: ["eslint", "."] },
  { name: "prettier", args: ["prettier", "--check", "."] },
  { name: "tsc", args: ["tsc", "--noEmit", "-p", "tsconfig.json"] },
];

function run({ name, args }) {
  return new Promise((resolve) => {
    const started = Date.now();
    // the project's own binaries, as npm scripts find them
    const [bin, ...rest] = args;
    const child = spawn(join("node_modules", ".bin", bin), rest, { stdio: ["ignore", "pipe", "pipe"] });
    const out = [];
    child.stdout.on("data", (d) => out.push(d));
    child.stderr.on("data", (d) => out.push(d));
    const done = (code, error) => {
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      process.stdout.write(
        `\n── ${name} (${args.join(" ")}): ${code === 0 ? "ok" : `FAILED (${error ?? `exit ${code}`})`} in ${seconds} s\n`,
      );
      process.stdout.write(Buffer.concat(out));
      resolve(code === 0);
    };
    child.on("error", (e) => done(1, e.message));
    child.on("close", (code, signal) => done(code ?? 1, signal ? `signal ${signal}` : undefined));
  });
}

const results = await Promise.all(checks.map(run));
const failed = checks.filter((_, i) => !results[i]).map((c) => c.name);
if (failed.length) {
  process.stderr.write(`\nstatic checks failed: ${failed.join(", ")}\n`);
  process.exit(1);
}
