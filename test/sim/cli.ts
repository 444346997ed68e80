/**
 * `npm run sim:faults -- --seeds N` runs seeds 1..N of the coordinator simulation (test/sim/sim.ts)
 * and prints seeds per minute; a failing seed prints its report (what broke, the last steps,
 * the replay command) and the run exits 1.
 *
 *   --seeds N        how many seeds (default 100)
 *   --from S         first seed (default 1)
 *   --seed S         just this seed (decimal or 0x hex), with its trace
 *   --steps K        active steps per seed (default 500)
 *   --trace L        trace lines in a failure report (default 40)
 *   --strict         an unexpected 500 fails the seed too
 *   --keep-going     run every seed even after a failure
 *   --fail-known     a seed that fails only on a known finding (KNOWN_FINDINGS) fails the run too
 *   --tabs F         the share of submits under a tab, for every seed (default: drawn per seed)
 *   --tab-clock 0|1  whether the clock flies once to a tab's close (default: drawn per seed)
 */
import { ASK_KINDS, ASK_PHASES, KNOWN_FINDINGS, onlyKnown, report, runSeed, type SimResult } from "./sim";

function args(argv: string[]) {
  const o: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("--")) continue;
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith("--")) {
      o[a.slice(2)] = next;
      i++;
    } else o[a.slice(2)] = true;
  }
  return o;
}

const num = (v: string | true | undefined, d: number) => (typeof v === "string" ? Number(v) : d);

async function main() {
  const a = args(process.argv.slice(2));
  const steps = num(a.steps, 500);
  const traceLines = num(a.trace, 40);
  const strict = a.strict === true;
  const single = typeof a.seed === "string" ? Number(a.seed) : undefined;
  const from = num(a.from, 1);
  const count = single !== undefined ? 1 : num(a.seeds, 100);
  // issue 12: tab knobs for every seed (a seed run with them replays with the same flags)
  const tabs = {
    ...(typeof a.tabs === "string" ? { tabShare: Number(a.tabs) } : {}),
    ...(typeof a["tab-clock"] === "string" ? { tabClock: a["tab-clock"] === "1" } : {}),
  };
  const started = performance.now();
  const totals: Record<string, number> = {};
  const anomalies = new Map<string, number[]>();
  const failed: SimResult[] = [];
  const known = new Map<string, number[]>();
  let done = 0;
  for (let i = 0; i < count; i++) {
    const seed = single ?? from + i;
    const r = await runSeed({ seed, steps, strict, traceSize: Math.max(traceLines, 60), ...tabs });
    done++;
    for (const [k, n] of Object.entries(r.stats)) totals[k] = (totals[k] ?? 0) + n;
    for (const an of new Set(r.anomalies.map(normalize))) anomalies.set(an, [...(anomalies.get(an) ?? []), seed]);
    if (!r.ok && onlyKnown(r) && a["fail-known"] !== true) {
      for (const k of Object.keys(KNOWN_FINDINGS))
        if (r.violations.some((v) => v.includes(k))) known.set(k, [...(known.get(k) ?? []), seed]);
      if (single !== undefined) console.log(report(r, traceLines));
    } else if (!r.ok) {
      failed.push(r);
      console.log(report(r, traceLines));
      if (a["keep-going"] !== true) break;
    } else if (single !== undefined) {
      console.log(`seed ${seed} passed: ${r.steps} steps in ${r.ms.toFixed(0)} ms; knobs ${JSON.stringify(r.knobs)}`);
      console.log(
        r.trace
          .slice(-traceLines)
          .map((l) => `  ${l}`)
          .join("\n"),
      );
    }
    if (single === undefined && done % 25 === 0) console.log(`${done} seeds, ${rate(done, started)} seeds/min`);
  }
  const minutes = (performance.now() - started) / 60_000;
  console.log(
    `\n${done} seeds (${steps} active steps each) in ${(minutes * 60).toFixed(1)} s: ${rate(done, started)} seeds per minute, ${failed.length} failed`,
  );
  console.log(
    "totals:",
    Object.entries(totals)
      .filter(([k]) => !k.startsWith("ask ") && !k.startsWith("settled "))
      .sort(([x], [y]) => (x < y ? -1 : 1))
      .map(([k, n]) => `${k}=${n}`)
      .join(", "),
  );
  console.log(askHistogram(totals));
  for (const [k, seeds] of known)
    console.log(`known finding (not counted as a failure): ${k} [seeds ${seeds.join(", ")}]\n  ${KNOWN_FINDINGS[k]}`);
  if (anomalies.size) {
    console.log(`anomalies (reported, not failures${strict ? "" : "; --strict fails on unexpected 500s"}):`);
    for (const [what, seeds] of anomalies)
      console.log(`  ${what}  [seeds ${seeds.slice(0, 8).join(", ")}${seeds.length > 8 ? ", …" : ""}]`);
  }
  process.exitCode = failed.length ? 1 : 0;
}

/**
 * Where the operators' and owners' money asks happened (sim.ts askSent / askLanded): sent and
 * landed (answered; a vault ask: paid) per phase, the active phase in quarters by step, and what
 * they interleaved with.
 */
export function askHistogram(totals: Record<string, number>): string {
  const n = (k: string) => totals[k] ?? 0;
  const pct = (x: number, of: number) => (of ? `${((100 * x) / of).toFixed(0)}%` : "-");
  const head = ["ask", ...ASK_PHASES.map((p) => `sent@${p}`), "drain%", ...ASK_PHASES.map((p) => `landed@${p}`), "drain%"];
  const extra = ["amid jobs", "amid chain lag", "cut by a crash", "timed out", "refused"];
  const rows = ASK_KINDS.map((kind) => {
    const sent = ASK_PHASES.map((p) => n(`ask ${kind} sent @${p}`));
    const landed = ASK_PHASES.map((p) => n(`ask ${kind} landed @${p}`));
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    return [
      kind,
      ...sent.map(String),
      pct(sent[4]!, sum(sent)),
      ...landed.map(String),
      pct(landed[4]!, sum(landed)),
      ...extra.map((e) => String(n(`ask ${kind} ${e === "amid jobs" ? "amid jobs in flight" : e}`))),
    ];
  });
  const table = [[...head, ...extra], ...rows];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  const settled = ["job completed", "tab closed"].map(
    (what) => `${what}: ${ASK_PHASES.map((p) => `${p}=${n(`settled ${what} @${p}`)}`).join(" ")}`,
  );
  return [
    `what the asks are paid from, by phase: ${settled.join("; ")}`,
    "operator / owner asks by phase (a1..a4: the active phase's quarters by step; landed: answered, or paid by the vault):",
    ...table.map((r) => "  " + r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" ")),
  ].join("\n");
}

/** One line per kind of anomaly: job labels, attempts and delivery notes vary from seed to seed. */
const normalize = (s: string) =>
  s
    .replace(/\bJ\d+\b/g, "J·")
    .replace(/@\d+/g, "@·")
    .replace(/ \((?:delivered early|delivery \d+)\)/g, "")
    .replace(/\{.*\}/, "{…}");

const rate = (n: number, started: number) => ((n / (performance.now() - started)) * 60_000).toFixed(0);

void main();
