/**
 * npm run bench — every benchmark in one run, a readable table, bench/results.json and the
 * README's benchmark table.
 *
 * - Each suite runs in its own process (fresh JIT and heap, no state carried between suites)
 *   with a time limit, so one stuck suite is reported as failed instead of stopping the rest.
 * - bench/results.json is written only by a full run, whole: the commit (and whether the tree
 *   had uncommitted changes), the date, Node, the machine's cores and load, and every row
 *   ({ name, value, unit, target, ok }). A run of some suites (`npm run bench -- cost`) writes
 *   bench/results.local.json instead, so rows are never updated piecemeal.
 * - Every target of the issues has a row and a verdict: TARGETS below names them; a suite row
 *   without its target gets it here, and a target no suite measured becomes a failed row.
 * - A full run regenerates the table between the bench markers in README.md from the same rows.
 */
import { execFileSync, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { suites } from "./suite";
import type { BenchResult } from "./types";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const LIMIT_MS: Record<string, number> = { bundles: 600_000, cost: 300_000 };
const DEFAULT_LIMIT_MS = 180_000;

/** The targets the issues set: each must have a row with a verdict. `match` finds the row by its name. */
export const TARGETS: Array<{ suite: string; what: string; match: RegExp; target: string; ok: (v: number) => boolean }> = [
  { suite: "network", what: "added latency p50", match: /^added latency p50/, target: "≤ 5 ms", ok: (v) => v <= 5 },
  { suite: "network", what: "added latency p99", match: /^added latency p99/, target: "≤ 20 ms", ok: (v) => v <= 20 },
  {
    suite: "network",
    what: "throughput (jobs finished inside the window)",
    match: /^throughput/,
    target: "≥ 1000 jobs/s",
    ok: (v) => v >= 1000,
  },
  { suite: "network", what: "coordinator CPU per job", match: /^coordinator CPU per job/, target: "≤ 1 ms", ok: (v) => v <= 1 },
  {
    suite: "envelope",
    what: "1 MB envelope ÷ raw ChaCha20-Poly1305",
    match: /^envelope seal\+open 1MB .*÷ raw chacha20/,
    target: "≤ 1.2",
    ok: (v) => v <= 1.2,
  },
  {
    suite: "attestation",
    what: "TDX cold verification ÷ @phala/dcap-qvl",
    match: /^TDX cold verification ÷ @phala\/dcap-qvl/,
    target: "≤ 0.5",
    ok: (v) => v <= 0.5,
  },
  {
    suite: "chain",
    what: "chain watcher throughput over LMDB",
    match: /^chain watcher throughput/,
    target: ">= 200 tx/s",
    ok: (v) => v >= 200,
  },
  {
    suite: "cost",
    what: "AWS cost per 1M jobs at steady volume (provisioned)",
    match: /^AWS cost per 1M jobs, steady volume/,
    target: "≤ $3",
    ok: (v) => v <= 3,
  },
  {
    suite: "cost",
    what: "AWS cost per 1M jobs fully on-demand",
    match: /^AWS cost per 1M jobs, fully on-demand/,
    target: "≤ $6",
    ok: (v) => v <= 6,
  },
  { suite: "network", what: "HTTP requests per job", match: /^HTTP requests per job/, target: "≤ 2", ok: (v) => v <= 2 },
  { suite: "cost", what: "idle agent-day", match: /^idle agent-day \(computed\): SQS/, target: "≤ $0.002", ok: (v) => v <= 0.002 },
  { suite: "bundles", what: "largest handler bundle", match: /^largest handler bundle/, target: "≤ 300 KB", ok: (v) => v <= 300 },
  {
    suite: "stream",
    what: "time to first token through the network minus the engine's own",
    match: /^streaming: time to first token/,
    target: "≤ 10 ms",
    ok: (v) => v <= 10,
  },
  {
    suite: "stream",
    what: "streamed tokens/s through the network ÷ the engine's own",
    match: /^streaming: streamed tokens\/s/,
    target: "≥ 0.98",
    ok: (v) => v >= 0.98,
  },
  { suite: "bundles", what: "slowest cold import", match: /^slowest cold import/, target: "≤ 150 ms", ok: (v) => v <= 150 },
];

/** Gives target rows their target and verdict, and adds a failed row for each target nobody measured. */
export function applyTargets(results: BenchResult[], ran: string[]): BenchResult[] {
  const out = results.map((r) => ({ ...r }));
  for (const t of TARGETS) {
    if (!ran.includes(t.suite)) continue;
    const row = out.find((r) => t.match.test(r.name));
    if (!row) {
      out.push({ name: `${t.what} (no row: the ${t.suite} suite did not measure it)`, value: NaN, unit: "", target: t.target, ok: false });
      continue;
    }
    if (row.target === null) row.target = t.target;
    row.ok = Number.isFinite(row.value) && t.ok(row.value);
  }
  return out;
}

function runSuite(name: string): Promise<BenchResult[]> {
  const limit = LIMIT_MS[name] ?? DEFAULT_LIMIT_MS;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(here, "suite.ts"), name], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), limit);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      const last = out.trim().split("\n").at(-1) ?? "";
      if (code === 0 && last.startsWith("[")) resolve(JSON.parse(last) as BenchResult[]);
      else reject(new Error(signal === "SIGKILL" ? `no result within ${limit / 1000} s` : `exited with ${code ?? signal}`));
    });
  });
}

function git(...args: string[]): string {
  try {
    return execFileSync("git", args, { cwd: root, encoding: "utf8" }).trim();
  } catch {
    return "";
  }
}

export interface BenchRun {
  commit: string;
  /** Uncommitted changes in the tree when the run started (their effect is in the figures). */
  dirty: boolean;
  date: string;
  node: string;
  cpus: number;
  loadavg: { start: number[]; end: number[] };
  suites: string[];
  results: BenchResult[];
}

const fmt = (v: number) => (Number.isFinite(v) ? String(v) : "n/a");
const verdict = (r: BenchResult) => (r.ok === null ? "" : r.ok ? "ok" : "**MISS**");

/** The README block: the run's header line, the main table, and one table per row group. */
export function readmeBlock(run: BenchRun): string {
  const esc = (s: string) => s.replace(/\|/g, "\\|");
  const tableRow = (r: BenchResult) => `| ${esc(r.name)} | ${fmt(r.value)} | ${esc(r.unit)} | ${esc(r.target ?? "")} | ${verdict(r)} |`;
  const lines = [
    `One run of \`npm run bench\`: commit \`${run.commit.slice(0, 12)}\`${run.dirty ? " (with uncommitted changes)" : ""}, ${run.date}, Node ${run.node}, ${run.cpus} cores, load ${run.loadavg.start.map((x) => x.toFixed(1)).join("/")} at the start. Generated from \`bench/results.json\` by \`bench/run.ts\`; do not edit by hand.`,
    "",
    "| benchmark | value | unit | target | |",
    "|---|---|---|---|---|",
    ...run.results.filter((r) => !r.group).map(tableRow),
  ];
  const bundles = run.results.filter((r) => r.group === "bundles");
  if (bundles.length) {
    const byHandler = new Map<string, { size?: BenchResult; imp?: BenchResult; first?: BenchResult }>();
    for (const r of bundles) {
      const m = /^bundle (\S+): (size|cold import|cold start to first answer)/.exec(r.name);
      if (!m) continue;
      const e = byHandler.get(m[1]!) ?? {};
      if (m[2] === "size") e.size = r;
      else if (m[2] === "cold import") e.imp = r;
      else e.first = r;
      byHandler.set(m[1]!, e);
    }
    lines.push(
      "",
      "Per handler (each built as the stack builds it; cold import and first answer in a fresh `node` process, median of 3):",
      "",
      "| handler | bundle (KB, all files) | cold import (ms) | cold start to first answer (ms) | |",
      "|---|---|---|---|---|",
      ...[...byHandler].map(
        ([h, e]) =>
          `| ${h} | ${fmt(e.size?.value ?? NaN)} | ${fmt(e.imp?.value ?? NaN)} | ${e.first ? fmt(e.first.value) : "—"} | ${e.size?.ok && e.imp?.ok ? "ok" : "**MISS**"} |`,
      ),
    );
  }
  // every other group (the agent suite's rows) as a table of its own: a target has its row wherever it is grouped
  const otherGroups = [...new Set(run.results.map((r) => r.group).filter((g): g is string => !!g && g !== "bundles"))];
  for (const g of otherGroups) {
    lines.push(
      "",
      `The ${g} suite:`,
      "",
      "| benchmark | value | unit | target | |",
      "|---|---|---|---|---|",
      ...run.results.filter((r) => r.group === g).map(tableRow),
    );
  }
  return lines.join("\n");
}

export const README_BEGIN = "<!-- bench:begin (generated by npm run bench from bench/results.json) -->";
export const README_END = "<!-- bench:end -->";

/** Replaces the marked block of the README; returns false when the markers are missing. */
export function writeReadmeBlock(run: BenchRun, file = join(root, "README.md")): boolean {
  const text = readFileSync(file, "utf8");
  const a = text.indexOf(README_BEGIN);
  const b = text.indexOf(README_END);
  if (a < 0 || b < a) return false;
  writeFileSync(file, text.slice(0, a + README_BEGIN.length) + "\n" + readmeBlock(run) + "\n" + text.slice(b));
  return true;
}

async function main() {
  const only = process.argv.slice(2);
  const names = Object.keys(suites).filter((n) => !only.length || only.includes(n));
  const start = loadavg();
  const date = new Date().toISOString();
  const commit = git("rev-parse", "HEAD");
  const dirty = git("status", "--porcelain", "--untracked-files=no") !== "";
  const raw: BenchResult[] = [];
  for (const name of names) {
    process.stderr.write(`running ${name}…\n`);
    try {
      raw.push(...(await runSuite(name)));
    } catch (e) {
      process.stderr.write(`  ${name} failed: ${(e as Error).message}\n`);
      raw.push({ name: `${name} (failed to run: ${(e as Error).message})`, value: NaN, unit: "", target: null, ok: false });
    }
  }
  const results = applyTargets(raw, names);
  const run: BenchRun = {
    commit,
    dirty,
    date,
    node: process.versions.node,
    cpus: cpus().length,
    loadavg: { start, end: loadavg() },
    suites: names,
    results,
  };

  const rows = results.map((r) => [r.name, fmt(r.value), r.unit, r.target ?? "", r.ok === null ? "" : r.ok ? "ok" : "MISS"]);
  const widths = [0, 1, 2, 3, 4].map((i) => Math.max(...[["benchmark", "value", "unit", "target", ""], ...rows].map((r) => r[i]!.length)));
  const line = (r: string[]) => "| " + r.map((c, i) => c.padEnd(widths[i]!)).join(" | ") + " |";
  console.log(
    `commit ${commit}${dirty ? " (dirty)" : ""}, ${date}, load ${start.map((x) => x.toFixed(2)).join(" ")} → ${run.loadavg.end.map((x) => x.toFixed(2)).join(" ")}`,
  );
  console.log(line(["benchmark", "value", "unit", "target", ""]));
  console.log("|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|");
  for (const r of rows) console.log(line(r));
  const out = join(here, only.length ? "results.local.json" : "results.json");
  writeFileSync(out, JSON.stringify(run, null, 2) + "\n");
  console.log(`\nwrote ${out}`);
  if (!only.length)
    console.log(writeReadmeBlock(run) ? "README.md benchmark table regenerated" : "README.md has no bench markers: table not written");
  process.exit(0);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
