/**
 * npm run bench — every benchmark, a readable table, and bench/results.json
 * (an array of { name, value, unit, target, ok }). Numbers are from this machine, this run.
 */
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BenchResult } from "./types";

const suites: Array<[string, () => Promise<BenchResult[]>]> = [
  ["network", async () => (await import("./network")).benchNetwork()],
  ["envelope", async () => (await import("./envelope")).benchEnvelope()],
  ["store", async () => (await import("./store")).benchStore()],
  ["attestation", async () => (await import("./attestation")).benchAttestation()],
  ["chain", async () => (await import("./chain")).benchChain()],
  ["cost", async () => (await import("./cost")).benchCost()],
];

const only = process.argv.slice(2);
const results: BenchResult[] = [];
for (const [name, run] of suites) {
  if (only.length && !only.includes(name)) continue;
  process.stderr.write(`running ${name}…\n`);
  try {
    results.push(...(await run()));
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
const out = join(dirname(fileURLToPath(import.meta.url)), only.length ? "results.local.json" : "results.json");
writeFileSync(out, JSON.stringify(results, null, 2) + "\n");
console.log(`\nwrote ${out}`);
process.exit(0);
