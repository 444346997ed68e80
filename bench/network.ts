import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateSigningKey } from "../core/crypto/keys";
import { startLocalAgents } from "../local/agents";
import { createNullEngine, NULL_DEFAULT_MODEL } from "../agent/engines/builtin";
import { CocoonClient } from "../client/sdk";
import type { BenchResult } from "./types";

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

/** Start the coordinator (local default: real handlers, LMDB, in-process queues) in its own process. */
async function startCoordinatorProcess(): Promise<{ url: string; cpuMs(): number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ["--import", "tsx", new URL("./coordinator-process.ts", import.meta.url).pathname], { stdio: ["ignore", "pipe", "inherit"] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`coordinator exited with ${code}`)));
  });
  return {
    url: (JSON.parse(line) as { url: string }).url,
    cpuMs: () => processCpuMs(child.pid!),
    stop: () => new Promise((r) => (child.once("exit", () => r()), child.kill("SIGTERM"))),
  };
}

/** User + system CPU time of a process so far (Linux /proc; clock ticks are 100 Hz here). */
function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/**
 * Whole-network numbers on this 2-core machine over loopback: the coordinator in one
 * process (real handlers, LMDB, in-process queues), and in this process the requester SDK
 * (attestation checks, sealing, receipt checks) and two agents with a null engine that
 * answers instantly. "Added latency" is the full ask() round trip: prepare → seal → submit →
 * dispatch → agent opens, seals, signs → result → long-poll wakes → verify → open.
 */
export async function benchNetwork(o: { latencyJobs?: number; throughputSeconds?: number; concurrency?: number } = {}): Promise<BenchResult[]> {
  const net = await startCoordinatorProcess();
  const home = mkdtempSync(join(tmpdir(), "cocoon-bench-"));
  const agents = await startLocalAgents(net.url, home, [
    { name: "a1", priceBps: 10_000, engine: createNullEngine(), models: [NULL_DEFAULT_MODEL], capacity: 64 },
    { name: "a2", priceBps: 10_000, engine: createNullEngine(), models: [NULL_DEFAULT_MODEL], capacity: 64 },
  ]);
  const client = new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true });
  await client.faucet(1_000_000_000_000n);
  const ask = () => client.ask({ model: NULL_DEFAULT_MODEL, messages: [{ role: "user", content: "ping" }], maxTokens: 16, tiers: ["dev"] });
  try {
    for (let i = 0; i < 30; i++) await ask(); // warm up JIT, connections, store
    const lat: number[] = [];
    for (let i = 0; i < (o.latencyJobs ?? 300); i++) {
      const t0 = performance.now();
      await ask();
      lat.push(performance.now() - t0);
    }
    const seconds = o.throughputSeconds ?? 5;
    const conc = o.concurrency ?? 64;
    let done = 0;
    const end = performance.now() + seconds * 1000;
    const cpuBefore = net.cpuMs();
    await Promise.all(
      Array.from({ length: conc }, async () => {
        while (performance.now() < end) {
          await ask();
          done++;
        }
      }),
    );
    const p50 = pct(lat, 50);
    const p99 = pct(lat, 99);
    const jps = done / seconds;
    const coordinatorCpuPerJob = (net.cpuMs() - cpuBefore) / done;
    return [
      { name: "added latency p50 (zero-time engine, full ask round trip)", value: round(p50), unit: "ms", target: "≤ 5 ms", ok: p50 <= 5 },
      { name: "added latency p99 (zero-time engine, full ask round trip)", value: round(p99), unit: "ms", target: "≤ 20 ms", ok: p99 <= 20 },
      { name: `throughput, null engine, ${conc} jobs in flight (coordinator on one core, SDK + agents on the other)`, value: Math.round(jps), unit: "jobs/s", target: "≥ 1000 jobs/s", ok: jps >= 1000 },
      // What the coordinator alone spends per job: 1000 / this = jobs/s one coordinator core could serve.
      { name: "coordinator CPU per job (during the throughput run)", value: round(coordinatorCpuPerJob), unit: "ms", target: null, ok: null },
    ];
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
    await net.stop();
  }
}

const round = (x: number) => Math.round(x * 100) / 100;
