/**
 * The agent as a GPU owner runs it (issue 13): the bundle's size, the single executable's size
 * (with `sea: true`; it copies and patches a ~100 MB node binary), cold start of the bundle to
 * its first poll of the local network, the RSS of an idle agent, and the agent's own cost per
 * job (open the envelope, seal the answer, sign the receipt, the HTTP calls) against the engine
 * call, read from the agent's /metrics: (job time − engine time) ÷ engine time, with an
 * OpenAI-compatible engine that takes `engineMs` per answer (a short generation).
 *
 * Exported for bench/run.ts (not wired there yet). About 10 s without the SEA.
 */
import { readFileSync } from "node:fs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateSigningKey } from "../core/crypto/keys";
import { startNetwork } from "../local/network";
import { CocoonClient } from "../client/sdk";
import { BUILTIN_DEFAULT_MODEL } from "../agent/engines/builtin";
import { AGENT_BUNDLE, buildAgent } from "../scripts/build-agent";
import { spawnAgent, startFakeEngine } from "../test/agent-fixtures";
import type { BenchResult } from "./types";

const row = (name: string, value: number, unit: string, target: string | null, ok: boolean | null): BenchResult => ({
  name,
  value: Math.round(value * 100) / 100,
  unit,
  target,
  ok,
  group: "agent",
});

/** VmRSS of a process in MiB (Linux /proc). */
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** A Prometheus sample's value from /metrics text. */
function sample(text: string, name: string): number {
  const m = new RegExp(`^${name} ([0-9.eE+-]+)$`, "m").exec(text);
  return m ? Number(m[1]) : NaN;
}

type BenchAgentOptions = { jobs?: number; engineMs?: number; idleMs?: number; sea?: boolean };

export async function benchAgent(o: BenchAgentOptions = {}): Promise<BenchResult[]> {
  // the builds and the agent's home are temp folders: removed once measured, whatever happened
  const made: string[] = [];
  const tmp = (prefix: string) => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    made.push(dir);
    return dir;
  };
  try {
    return await measureAgent(o, tmp);
  } finally {
    for (const dir of made) rmSync(dir, { recursive: true, force: true });
  }
}

async function measureAgent(o: BenchAgentOptions, tmp: (prefix: string) => string): Promise<BenchResult[]> {
  const jobs = o.jobs ?? 20;
  const engineMs = o.engineMs ?? 100;
  const out: BenchResult[] = [];
  const build = await buildAgent({ outDir: tmp("cocoon-bench-agent-") });
  const bundleKiB = build.files.find((f) => f.name === AGENT_BUNDLE)!.bytes / 1024;
  out.push(row("agent bundle size (cocoon-agent.cjs)", bundleKiB, "KiB", "<= 4096 KiB", bundleKiB <= 4096));
  if (o.sea) {
    const { buildAgentSea } = await import("../scripts/build-agent-sea");
    const sea = await buildAgentSea({ outDir: tmp("cocoon-bench-sea-") });
    out.push(row("agent binary size (Node SEA)", sea.bytes / 1024 / 1024, "MiB", null, null));
    out.push(row("agent binary cold start (--help)", sea.coldStartMs, "ms", null, null));
  }

  const net = await startNetwork({ chain: false });
  const engine = await startFakeEngine(BUILTIN_DEFAULT_MODEL).start();
  engine.delayMs = engineMs;
  const t0 = performance.now();
  const agent = spawnAgent(
    [
      process.execPath,
      join(build.outDir, AGENT_BUNDLE),
      "start",
      "--api",
      net.url,
      "--tier",
      "dev",
      "--engine",
      "openai",
      "--engine-url",
      engine.url,
      "--model",
      BUILTIN_DEFAULT_MODEL,
      "--metrics-port",
      "0",
    ],
    { COCOON_HOME: tmp("cocoon-bench-agent-home-") },
  );
  try {
    // "serving" is logged once registered with the poll loop started: the first poll is on the wire.
    const serving = await agent.waitFor("serving", 60_000);
    const coldMs = performance.now() - t0;
    out.push(row("agent cold start to first poll (node + bundle)", coldMs, "ms", "<= 3000 ms", coldMs <= 3000));
    await new Promise((r) => setTimeout(r, o.idleMs ?? 2_000));
    const rss = rssMiB(agent.child.pid!);
    out.push(row("agent idle RSS", rss, "MiB", "<= 150 MiB", rss <= 150));

    const client = new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true });
    await client.faucet(100_000_000_000n);
    const ask = (i: number) =>
      client.ask({
        model: BUILTIN_DEFAULT_MODEL,
        messages: [{ role: "user", content: `bench ${i}` }],
        maxTokens: 16,
        tiers: ["dev"],
        candidates: 1,
      });
    // The agent's own sums after its `n`th job: the answer can reach the SDK a moment before the
    // agent's result post returns and it records the job, so wait for its count.
    const sumsAfter = async (n: number) => {
      for (const deadline = Date.now() + 10_000; ;) {
        const m = await (await fetch(String(serving.metrics))).text();
        if (sample(m, "cocoon_agent_job_seconds_count") >= n || Date.now() > deadline)
          return { job: sample(m, "cocoon_agent_job_seconds_sum"), engine: sample(m, "cocoon_agent_engine_seconds_sum") };
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    // The steady state of a serving agent, as the stream suite measures it: the first job after
    // start (cold code in the agent and the coordinator, first connections) is reported on its own
    // row, five more warm it up, and each measured job's overhead is read from /metrics after it;
    // the row is their median (on this shared host one descheduled job moved a 20-job mean by 15 ms).
    const warmup = 5;
    await ask(-1);
    const cold = await sumsAfter(1);
    out.push(row("agent overhead, the first job after start (cold; its own row)", (cold.job - cold.engine) * 1000, "ms", null, null));
    for (let i = 0; i < warmup; i++) await ask(-2 - i);
    let before = await sumsAfter(1 + warmup);
    const per: Array<{ overhead: number; engine: number }> = [];
    for (let i = 0; i < jobs; i++) {
      await ask(i);
      const after = await sumsAfter(2 + warmup + i);
      per.push({ overhead: after.job - before.job - (after.engine - before.engine), engine: after.engine - before.engine });
      before = after;
    }
    const mid = [...per].sort((x, y) => x.overhead - y.overhead)[Math.floor(per.length / 2)]!;
    const overheadMs = mid.overhead * 1000;
    const ratio = mid.overhead / mid.engine;
    out.push(row(`agent overhead per job (open + seal + sign + HTTP; median of ${jobs} warm jobs)`, overheadMs, "ms", null, null));
    out.push(row(`agent overhead ÷ engine call (${engineMs} ms engine; the median job's)`, ratio, "ratio", "<= 0.1", ratio <= 0.1));
  } finally {
    agent.child.kill("SIGTERM");
    await agent.exited;
    await engine.kill();
    await net.stop();
  }
  return out;
}

if (process.argv[1]?.endsWith("bench/agent.ts")) {
  const rows = await benchAgent({ sea: process.argv.includes("--sea") });
  for (const r of rows)
    process.stdout.write(`${r.name}: ${r.value} ${r.unit}${r.target ? ` (target ${r.target}: ${r.ok ? "ok" : "MISSED"})` : ""}\n`);
}
