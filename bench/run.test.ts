import { describe, expect, it } from "vitest";
import { applyTargets, readmeBlock, type BenchRun } from "./run";
import type { BenchResult } from "./types";

const row = (name: string, value: number, over: Partial<BenchResult> = {}): BenchResult => ({
  name,
  value,
  unit: "",
  target: null,
  ok: null,
  ...over,
});

describe("bench/run: every target has its row and verdict", () => {
  it("a target row without a target gets it, with a verdict from its value (coordinator CPU per job ≤ 1 ms)", () => {
    // Prepare
    const results = [row("coordinator CPU per job (during the throughput run)", 3.6), row("added latency p50 (zero-time engine)", 4.2)];
    // Act
    const out = applyTargets(results, ["network"]);
    // Assess
    expect(out.find((r) => r.name.startsWith("coordinator CPU"))).toMatchObject({ target: "≤ 1 ms", ok: false });
    expect(out.find((r) => r.name.startsWith("added latency p50"))).toMatchObject({ target: "≤ 5 ms", ok: true });
  });

  it("a target that a suite which ran did not measure becomes a failed row; suites that did not run add nothing", () => {
    const out = applyTargets([row("added latency p50", 4)], ["network"]);
    const missing = out.filter((r) => r.name.includes("no row"));
    expect(missing.map((r) => r.name).sort()).toEqual([
      "HTTP requests per job (no row: the network suite did not measure it)",
      "added latency p99 (no row: the network suite did not measure it)",
      "coordinator CPU per job (no row: the network suite did not measure it)",
      "throughput (jobs finished inside the window) (no row: the network suite did not measure it)",
    ]);
    expect(missing.every((r) => r.ok === false)).toBe(true);
    expect(out.some((r) => r.name.includes("cost suite"))).toBe(false);
  });

  it("a value that is not a number never passes", () => {
    const out = applyTargets([row("TDX cold verification ÷ @phala/dcap-qvl, same quote, same run", NaN)], ["attestation"]);
    expect(out[0]).toMatchObject({ ok: false, target: "≤ 0.5" });
  });
});

describe("bench/run: the README block comes from the run's rows", () => {
  it("names the commit and date, lists the rows with their verdicts and the per-handler bundle table", () => {
    const run: BenchRun = {
      commit: "0123456789abcdef0123",
      dirty: true,
      date: "2026-12-02T05:00:00.000Z",
      node: "20.20.2",
      cpus: 2,
      loadavg: { start: [1.5, 1, 1], end: [1, 1, 1] },
      suites: ["bundles"],
      results: [
        row("largest handler bundle (http/x, all files)", 250, { target: "≤ 300 KB", ok: true }),
        row("bundle http/x: size (3 files)", 250, { target: "≤ 300 KB", ok: true, group: "bundles" }),
        row("bundle http/x: cold import", 180, { target: "≤ 150 ms", ok: false, group: "bundles" }),
        row("agent idle RSS", 106, { target: "<= 150 MiB", ok: true, group: "agent" }),
      ],
    };
    const md = readmeBlock(run);
    expect(md).toContain("commit `0123456789ab` (with uncommitted changes), 2026-12-02T05:00:00.000Z");
    expect(md).toContain("| largest handler bundle (http/x, all files) | 250 |  | ≤ 300 KB | ok |");
    expect(md).toContain("| http/x | 250 | 180 | — | **MISS** |");
    expect(md).not.toContain("| bundle http/x: size");
    expect(md).toContain(
      "The agent suite:\n\n| benchmark | value | unit | target | |\n|---|---|---|---|---|\n| agent idle RSS | 106 |  | <= 150 MiB | ok |",
    );
  });
});
