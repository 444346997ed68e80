/**
 * Issue 13: what the owner sees. The JSON log withholds text fields and cuts long strings;
 * /metrics is Prometheus text with the counters the status needs; backoff grows to its cap
 * with jitter and starts over after a success.
 */
import { describe, expect, it } from "vitest";
import { backoff } from "./backoff";
import { jsonLog } from "./log";
import { createAgentMetrics, tierLabel } from "./metrics";

describe("issue 13: observability", () => {
  it("the JSON log is one object per line and never writes a field that could hold a prompt or an answer", () => {
    // Prepare
    const lines: string[] = [];
    const warned: string[] = [];
    const log = jsonLog({ write: (l) => void lines.push(l), now: () => 0, onWarn: (m) => void warned.push(m) });
    // Act
    log.info("job", {
      jobId: "job_1",
      prompt: "secret prompt",
      nested: { messages: [{ content: "secret" }], text: "secret answer" },
      big: "x".repeat(1000),
    });
    log.warn("poll failed", { code: "unreachable" });
    // Assess
    const [first, second] = lines.map((l) => JSON.parse(l) as Record<string, any>);
    expect(lines.every((l) => l.endsWith("\n") && !l.slice(0, -1).includes("\n"))).toBe(true);
    expect(first).toMatchObject({
      time: "1970-01-01T00:00:00.000Z",
      level: "info",
      msg: "job",
      jobId: "job_1",
      prompt: "[withheld]",
      nested: { messages: "[withheld]", text: "[withheld]" },
    });
    expect(first!.big.length).toBeLessThanOrEqual(301);
    expect(lines.join("")).not.toContain("secret");
    expect(second).toMatchObject({ level: "warn", code: "unreachable" });
    expect(warned).toEqual(["poll failed"]);
  });

  it("metrics: jobs by outcome, tokens, earnings, latency, queue wait; today's counters and the last error in the status", () => {
    // Prepare
    let t = Date.parse("2026-03-01T23:59:00Z");
    const m = createAgentMetrics({ now: () => t });
    m.setIdentity("w1", "none");
    // Act
    m.queueWait(0.02);
    m.engineCall(0.5);
    m.jobFinished("completed", { seconds: 0.6, promptTokens: 10, completionTokens: 5, earned: 1500n });
    m.jobFinished("failed", { seconds: 0.1, code: "engine_unavailable" });
    m.error("poll", "unreachable", "cannot reach the API");
    const before = m.doc();
    t += 120_000; // past midnight UTC
    const after = m.doc();
    const text = m.render();
    // Assess
    expect(text).toMatch(/^cocoon_agent_jobs_total\{outcome="completed"\} 1$/m);
    expect(text).toMatch(/^cocoon_agent_jobs_total\{outcome="failed"\} 1$/m);
    expect(text).toMatch(/^cocoon_agent_tokens_total\{kind="prompt"\} 10$/m);
    expect(text).toMatch(/^cocoon_agent_earned_nanoton_total 1500$/m);
    expect(text).toMatch(/^cocoon_agent_errors_total\{code="engine_unavailable",where="job"\} 1$/m);
    expect(text).toMatch(/^cocoon_agent_job_seconds_count 2$/m);
    expect(text).toMatch(/^cocoon_agent_queue_wait_seconds_bucket\{le="0.025"\} 1$/m);
    expect(text).toMatch(/^cocoon_agent_info\{confidential="false",tier="none",worker="w1"\} 1$/m);
    expect(before.today).toMatchObject({ day: "2026-03-01", jobs: 1, failed: 1, promptTokens: 10, completionTokens: 5, earned: "1500" });
    expect(after.today).toMatchObject({ day: "2026-03-02", jobs: 0 });
    expect(after.total.jobs).toBe(1);
    expect(after.lastError).toMatchObject({ code: "unreachable", msg: "poll: cannot reach the API" });
    expect(after).toMatchObject({ confidential: false, tierLabel: tierLabel("none") });
    expect(tierLabel("none")).toMatch(/NOT confidential/);
    expect(tierLabel("tdx")).not.toMatch(/NOT/);
  });

  it("backoff: full jitter under a ceiling that doubles up to the cap, and starts over after a success", () => {
    // Prepare: the largest draw each time
    const b = backoff({ baseMs: 100, capMs: 1000, random: () => 0.999999 });
    // Act
    const waits = Array.from({ length: 6 }, () => b.next());
    b.reset();
    const afterReset = b.next();
    const low = backoff({ baseMs: 100, random: () => 0 }).next();
    // Assess
    expect(waits).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(afterReset).toBe(100);
    expect(low).toBe(0);
  });
});
