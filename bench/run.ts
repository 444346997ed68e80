/**
 * npm run bench — every benchmark, a readable table, and bench/results.json
 * (an array of { name, value, unit, target, ok }). Numbers are from this machine, this run.
 * Each suite runs in its own process (fresh JIT and heap, no state carried between suites)
 * with a time limit, so one stuck suite is reported as failed instead of stopping the rest.
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { suites } from "./suite";
import type { BenchResult } from "./types";

const here = dirname(fileURLToPath(import.meta.url));
const LIMIT_MS = 180_000;

function runSuite(name: string): Promise<BenchResult[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(here, "suite.ts"), name], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), LIMIT_MS);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      const last = out.trim().split("\n").at(-1) ?? "";
      if (code === 0 && last.startsWith("[")) resolve(JSON.parse(last) as BenchResult[]);
      else reject(new Error(signal === "SIGKILL" ? `no result within ${LIMIT_MS / 1000} s` : `exited with ${code ?? signal}`));
    });
  });
}

const only = process.argv.slice(2);
const results: BenchResult[] = [];
for (const name of Object.keys(suites)) {
  if (only.length && !only.includes(name)) continue;
  process.stderr.write(`running ${name}…\n`);
  try {
    results.push(...(await runSuite(name)));
  } catch (e) {
    process.stderr.write(`  ${name} failed: ${(e as Error).message}\n`);
    results.push({ name: `${name} (failed to run)`, value: NaN, unit: "", target: null, ok: false });
  }
}

const rows = results.map((r) => [r.name, Number.isFinite(r.value) ? String(r.value) : "n/a", r.unit, r.target ?? "", r.ok === null ? "" : r.ok ? "ok" : "MISS"]);
const widths = [0, 1, 2, 3, 4].map((i) => Math.max(...[["benchmark", "value", "unit", "target", ""], ...rows].map((r) => r[i]!.length)));
const line = (r: string[]) => "| " + r.map((c, i) => c.padEnd(widths[i]!)).join(" | ") + " |";
console.log(line(["benchmark", "value", "unit", "target", ""]));
console.log("|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|");
for (const r of rows) console.log(line(r));
console.log(JSON.stringify(results));
const out = join(here, only.length ? "results.local.json" : "results.json");
writeFileSync(out, JSON.stringify(results, null, 2) + "\n");
console.log(`\nwrote ${out}`);
process.exit(0);
