/**
 * `cocoon-agent serve`'s shutdown (agent/cli.ts shutdownOnSignals): the first SIGINT/SIGTERM
 * drains, a second one stops at once. Signals come from an EventEmitter standing in for process.
 */
import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { shutdownOnSignals } from "./cli";

/** An agent whose drain and stop wait for running jobs until `finishJobs()`; it records its calls. */
function agentWithRunningJobs() {
  const calls: string[] = [];
  let finishJobs!: () => void;
  const jobsDone = new Promise<void>((r) => (finishJobs = r));
  return {
    calls,
    finishJobs,
    agent: {
      drain: async () => {
        calls.push("drain");
        await jobsDone;
      },
      stop: async () => {
        calls.push("stop");
        await jobsDone;
      },
    },
  };
}

const quietLog = () => {
  const lines: string[] = [];
  return { lines, log: { info: (m: string) => void lines.push(m), warn: (m: string) => void lines.push(m) } };
};

/** Whether `p` settles within a few turns of the event loop. */
const settlesSoon = (p: Promise<unknown>) =>
  Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 50))]);

describe("cocoon-agent serve: shutdown on signals", () => {
  it("drains on the first signal and waits for the running jobs", async () => {
    // Prepare
    const signals = new EventEmitter();
    const { agent, calls, finishJobs } = agentWithRunningJobs();
    const done = shutdownOnSignals(agent, signals, quietLog().log);
    // Act
    signals.emit("SIGTERM");
    const beforeJobsEnd = await settlesSoon(done);
    finishJobs();
    // Assess
    expect(beforeJobsEnd).toBe(false);
    expect(await settlesSoon(done)).toBe(true);
    expect(calls).toEqual(["drain"]);
  });

  // BUG (fixed): the second signal called stop() but the drain was still awaited, and stop()
  // waits for running jobs too: "stops at once" waited for the longest generation to end.
  it("stops at once on a second signal while draining, without waiting for the running jobs", async () => {
    // Prepare
    const signals = new EventEmitter();
    const { agent, calls } = agentWithRunningJobs();
    const { lines, log } = quietLog();
    const done = shutdownOnSignals(agent, signals, log);
    signals.emit("SIGINT");
    await new Promise((r) => setImmediate(r)); // the drain has begun
    // Act
    signals.emit("SIGINT");
    // Assess
    expect(await settlesSoon(done)).toBe(true);
    expect(calls).toEqual(["drain", "stop"]);
    expect(lines.at(-1)).toMatch(/second signal: stopping now/);
    expect(signals.listenerCount("SIGINT") + signals.listenerCount("SIGTERM")).toBe(0);
  });
});
