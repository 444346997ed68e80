/**
 * Edges of what the owner and a Prometheus scraper see of a running agent (agent/metrics.ts):
 * the exact text exposition (names, HELP and TYPE lines, label escaping, sorted series, histogram
 * buckets and their boundaries), the status document and its schema, the day roll-over, and the
 * /metrics and /status server on 127.0.0.1. The last test drives the real agent loop (local
 * network, in-process job source) to see how a job the owner's policy refuses is counted.
 */
import { request as httpRequest } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import { DEV_IMAGE_DIGEST, PolicyCache, type PolicyReading } from "../core/policy-registry";
import { startNetwork } from "../local/network";
import { agentLogTo, MODEL, pollUntil } from "../test/helpers";
import { makeAttester } from "./attest";
import { AgentStatusDoc, createAgentMetrics, labelCode, MAX_SERIES, serveMetrics, tierLabel } from "./metrics";
import { startAgent } from "./runtime";
import type { JobSource, WorkBatch } from "./sources/job-source";
import { sealedJob } from "./job-testing";

// ------------------------------------------------------------------------- factories

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
});

const T0 = Date.parse("2026-03-01T12:00:00Z");

/** Metrics on a clock the test moves: `clock.t` is now in ms. */
function clocked(start = T0) {
  const clock = { t: start };
  const m = createAgentMetrics({ now: () => clock.t });
  return { m, clock };
}

/** The sample lines (no comments) of `name` exactly, in the order rendered. */
const samples = (text: string, name: string) => text.split("\n").filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));

const BUCKETS = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60", "120", "300"];

/** A histogram's block as a scraper must see it: `counts` per bucket, then +Inf, sum and count. */
const histogram = (name: string, help: string, counts: number[], sum: number, count: number) => [
  `# HELP ${name} ${help}`,
  `# TYPE ${name} histogram`,
  ...BUCKETS.map((b, i) => `${name}_bucket{le="${b}"} ${counts[i]}`),
  `${name}_bucket{le="+Inf"} ${count}`,
  `${name}_sum ${sum}`,
  `${name}_count ${count}`,
];
const zeros = BUCKETS.map(() => 0);

/** A full status document with every optional part, as the schema must keep it. */
const fullDoc = (state: AgentStatusDoc["state"]): AgentStatusDoc => ({
  workerId: "w1",
  tier: "tdx",
  confidential: true,
  tierLabel: tierLabel("tdx"),
  state,
  startedAt: 1,
  uptimeSeconds: 2.5,
  inFlight: 1,
  capacity: 4,
  today: { day: "2026-03-01", jobs: 3, failed: 1, promptTokens: 30, completionTokens: 9, earned: "1200" },
  total: { jobs: 7, failed: 2, promptTokens: 70, completionTokens: 21, earned: "2800" },
  account: { earned: "5000", redeemed: "4000", checkedAt: 3 },
  redeemThreshold: "1000000",
  lastRedeem: { at: 4, cumulative: "4000", paid: "1000", txHash: "ab", sendYourself: false },
  lastError: { at: 5, msg: "poll: down", code: "unreachable" },
});

// ------------------------------------------------------------------------- exposition

describe("agent metrics: the text a scraper reads", () => {
  it("a fresh agent renders every family with its HELP and TYPE, a 0 sample for each counter, and ends with a newline", () => {
    // Prepare
    const { m } = clocked();

    // Act
    const text = m.render();

    // Assess
    const expected = [
      "# HELP cocoon_agent_info The worker and its tier (confidential=false: the owner can read prompts)",
      "# TYPE cocoon_agent_info gauge",
      'cocoon_agent_info{confidential="false",tier="none",worker=""} 1',
      "# HELP cocoon_agent_uptime_seconds Seconds since the agent started",
      "# TYPE cocoon_agent_uptime_seconds gauge",
      "cocoon_agent_uptime_seconds 0",
      "# HELP cocoon_agent_serving 1 while the agent takes jobs (0 while the API or the engine is down, while it cannot attest, or draining)",
      "# TYPE cocoon_agent_serving gauge",
      "cocoon_agent_serving 0",
      "# HELP cocoon_agent_attestation_ok 0 while the agent cannot make evidence the coordinator accepts (no Intel collateral that passes, or its evidence refused: see /status attestError), else 1",
      "# TYPE cocoon_agent_attestation_ok gauge",
      "cocoon_agent_attestation_ok 1",
      "# HELP cocoon_agent_jobs_in_flight Jobs running now",
      "# TYPE cocoon_agent_jobs_in_flight gauge",
      "cocoon_agent_jobs_in_flight 0",
      "# HELP cocoon_agent_capacity Jobs the agent runs at once at most",
      "# TYPE cocoon_agent_capacity gauge",
      "cocoon_agent_capacity 1",
      "# HELP cocoon_agent_redeemed_nanoton nanoTON redeemed on chain in all (coordinator's view at the last check)",
      "# TYPE cocoon_agent_redeemed_nanoton gauge",
      "cocoon_agent_redeemed_nanoton 0",
      "# HELP cocoon_agent_jobs_total Jobs finished, by outcome (completed, failed: reported to the coordinator, stale: the job had moved on, refused: by the owner's policy, cancelled: by its requester before it started)",
      "# TYPE cocoon_agent_jobs_total counter",
      "cocoon_agent_jobs_total 0",
      "# HELP cocoon_agent_tokens_total Tokens of completed jobs, by kind (prompt, completion)",
      "# TYPE cocoon_agent_tokens_total counter",
      "cocoon_agent_tokens_total 0",
      "# HELP cocoon_agent_errors_total Errors by where (job, poll, heartbeat, register, engine, lease, redeem) and code",
      "# TYPE cocoon_agent_errors_total counter",
      "cocoon_agent_errors_total 0",
      "# HELP cocoon_agent_earned_nanoton_total nanoTON credited for completed jobs since start",
      "# TYPE cocoon_agent_earned_nanoton_total counter",
      "cocoon_agent_earned_nanoton_total 0",
      "# HELP cocoon_agent_lease_extensions_total Lease extensions granted for long jobs",
      "# TYPE cocoon_agent_lease_extensions_total counter",
      "cocoon_agent_lease_extensions_total 0",
      ...histogram("cocoon_agent_job_seconds", "Time from taking a job to its result posted", zeros, 0, 0),
      ...histogram("cocoon_agent_engine_seconds", "Time in the engine's generate call per job", zeros, 0, 0),
      ...histogram("cocoon_agent_queue_wait_seconds", "Time a received job waited for a free slot", zeros, 0, 0),
    ];
    expect(text.split("\n")).toEqual([...expected, ""]);
  });

  it("label values escape backslash, double quote and newline, so one worker id cannot break or forge a line", () => {
    // Prepare
    const { m } = clocked();
    m.setIdentity('a\\b"c\nd', "none");

    // Act
    const text = m.render();

    // Assess: \ → \\, " → \", newline → \n; the sample stays on one line
    expect(samples(text, "cocoon_agent_info")).toEqual(['cocoon_agent_info{confidential="false",tier="none",worker="a\\\\b\\"c\\nd"} 1']);
    expect(text).not.toMatch(/^d"/m);
  });

  it("a counter with samples renders them sorted by label and drops its 0 placeholder; labels of a sample sort by name", () => {
    // Prepare
    const { m } = clocked();

    // Act: outcomes in an order that is not sorted
    m.jobFinished("stale", { seconds: 1, code: "stale_attempt" });
    m.jobFinished("failed", { seconds: 1, code: "engine_unavailable" });
    m.jobFinished("completed", { seconds: 1, promptTokens: 2, completionTokens: 3 });
    m.jobFinished("completed", { seconds: 1 });
    m.error("poll", "unreachable", "down");
    m.leaseExtended();
    m.leaseExtended();
    const text = m.render();

    // Assess
    expect(samples(text, "cocoon_agent_jobs_total")).toEqual([
      'cocoon_agent_jobs_total{outcome="completed"} 2',
      'cocoon_agent_jobs_total{outcome="failed"} 1',
      'cocoon_agent_jobs_total{outcome="stale"} 1',
    ]);
    expect(samples(text, "cocoon_agent_tokens_total")).toEqual([
      'cocoon_agent_tokens_total{kind="completion"} 3',
      'cocoon_agent_tokens_total{kind="prompt"} 2',
    ]);
    expect(samples(text, "cocoon_agent_errors_total")).toEqual([
      'cocoon_agent_errors_total{code="engine_unavailable",where="job"} 1',
      'cocoon_agent_errors_total{code="stale_attempt",where="job"} 1',
      'cocoon_agent_errors_total{code="unreachable",where="poll"} 1',
    ]);
    expect(samples(text, "cocoon_agent_earned_nanoton_total")).toEqual(["cocoon_agent_earned_nanoton_total 0"]);
    expect(samples(text, "cocoon_agent_lease_extensions_total")).toEqual(["cocoon_agent_lease_extensions_total 2"]);
  });

  it("a failed job without a code is counted under its outcome", () => {
    // Prepare
    const { m } = clocked();

    // Act
    m.jobFinished("failed", { seconds: 1 });

    // Assess
    expect(samples(m.render(), "cocoon_agent_errors_total")).toEqual(['cocoon_agent_errors_total{code="failed",where="job"} 1']);
  });

  it("histograms: a value on a bucket's bound counts in it, one past the last bucket only in +Inf; sum and count add up", () => {
    // Prepare
    const { m } = clocked();

    // Act
    m.jobFinished("completed", { seconds: 0.25 });
    m.jobFinished("completed", { seconds: 500 });
    m.engineCall(0.005);
    m.engineCall(1);
    m.queueWait(0.5);
    const lines = m.render().split("\n");

    // Assess
    const block = (name: string) => {
      const at = lines.indexOf(`# TYPE ${name} histogram`) - 1;
      return lines.slice(at, at + BUCKETS.length + 5);
    };
    const cumulative = (bounds: number[]) => BUCKETS.map((b) => bounds.filter((v) => v <= Number(b)).length);
    expect(block("cocoon_agent_job_seconds")).toEqual(
      histogram("cocoon_agent_job_seconds", "Time from taking a job to its result posted", cumulative([0.25, 500]), 500.25, 2),
    );
    expect(block("cocoon_agent_engine_seconds")).toEqual(
      histogram("cocoon_agent_engine_seconds", "Time in the engine's generate call per job", cumulative([0.005, 1]), 1.005, 2),
    );
    expect(block("cocoon_agent_queue_wait_seconds")).toEqual(
      histogram("cocoon_agent_queue_wait_seconds", "Time a received job waited for a free slot", cumulative([0.5]), 0.5, 1),
    );
    expect(lines).toContain('cocoon_agent_job_seconds_bucket{le="0.25"} 1');
    expect(lines).toContain('cocoon_agent_job_seconds_bucket{le="300"} 1');
    expect(lines).toContain('cocoon_agent_job_seconds_bucket{le="+Inf"} 2');
    expect(lines).toContain('cocoon_agent_engine_seconds_bucket{le="0.005"} 1');
  });

  it("totals() gives the bench each histogram's sum and count", () => {
    // Prepare
    const { m } = clocked();

    // Act
    m.jobFinished("completed", { seconds: 2 });
    m.jobFinished("failed", { seconds: 0.5 });
    m.engineCall(1.5);
    m.queueWait(0.25);

    // Assess
    expect(m.totals()).toEqual({ job: { sum: 2.5, count: 2 }, engine: { sum: 1.5, count: 1 }, queueWait: { sum: 0.25, count: 1 } });
  });

  it("gauges: serving is 1 only while serving; uptime in seconds since the start; redeemed from the last account check", () => {
    // Prepare
    const { m, clock } = clocked();
    const serving = () => samples(m.render(), "cocoon_agent_serving");

    // Act / Assess
    expect(serving()).toEqual(["cocoon_agent_serving 0"]);
    m.setState("serving");
    expect(serving()).toEqual(["cocoon_agent_serving 1"]);
    for (const s of ["api_down", "engine_down", "draining", "stopped"] as const) {
      m.setState(s);
      expect(serving()).toEqual(["cocoon_agent_serving 0"]);
    }
    clock.t += 12_345;
    m.account({ earned: "9000", redeemed: "7000" });
    m.status.inFlight = 2;
    m.status.capacity = 3;
    const text = m.render();
    expect(samples(text, "cocoon_agent_uptime_seconds")).toEqual(["cocoon_agent_uptime_seconds 12.345"]);
    expect(samples(text, "cocoon_agent_redeemed_nanoton")).toEqual(["cocoon_agent_redeemed_nanoton 7000"]);
    expect(samples(text, "cocoon_agent_jobs_in_flight")).toEqual(["cocoon_agent_jobs_in_flight 2"]);
    expect(samples(text, "cocoon_agent_capacity")).toEqual(["cocoon_agent_capacity 3"]);
  });

  it("the info gauge tells a scraper whether the owner can read prompts, for each tier", () => {
    // Prepare
    const { m } = clocked();
    const info = (tier: "tdx" | "dev" | "none") => {
      m.setIdentity("w9", tier);
      return samples(m.render(), "cocoon_agent_info");
    };

    // Act / Assess
    expect(info("tdx")).toEqual(['cocoon_agent_info{confidential="true",tier="tdx",worker="w9"} 1']);
    expect(info("dev")).toEqual(['cocoon_agent_info{confidential="false",tier="dev",worker="w9"} 1']);
    expect(info("none")).toEqual(['cocoon_agent_info{confidential="false",tier="none",worker="w9"} 1']);
  });
});

// ------------------------------------------------------------------------- status document

describe("agent metrics: the status document", () => {
  it("a fresh agent's document: no identity yet, tier none, starting, zero counters and amounts", () => {
    // Prepare
    const { m } = clocked();

    // Act: the live status the runtime shares, before anything rolls the day, then the document
    const live = { ...m.status.today };
    const doc = m.doc();

    // Assess
    expect(live).toEqual({ day: "2026-03-01", jobs: 0, failed: 0, promptTokens: 0, completionTokens: 0, earned: "0" });
    expect(doc).toEqual({
      workerId: "",
      tier: "none",
      confidential: false,
      tierLabel: "none (home tier, no TEE: NOT confidential)",
      state: "starting",
      startedAt: T0,
      uptimeSeconds: 0,
      inFlight: 0,
      capacity: 1,
      today: { day: "2026-03-01", jobs: 0, failed: 0, promptTokens: 0, completionTokens: 0, earned: "0" },
      total: { jobs: 0, failed: 0, promptTokens: 0, completionTokens: 0, earned: "0" },
      redeemThreshold: "0",
    });
    expect(AgentStatusDoc.parse(doc)).toEqual(doc);
  });

  it("each tier's label says whether it is confidential, and the document follows setIdentity", () => {
    // Prepare
    const { m } = clocked();

    // Act
    m.setIdentity("w_tdx", "tdx");
    const tdx = m.doc();
    m.setIdentity("w_dev", "dev");
    const dev = m.doc();

    // Assess
    expect(tierLabel("tdx")).toBe("tdx (confidential: attested Intel TDX)");
    expect(tierLabel("dev")).toBe("dev (SIMULATED TEE: NOT confidential)");
    expect(tierLabel("none")).toBe("none (home tier, no TEE: NOT confidential)");
    expect(tdx).toMatchObject({ workerId: "w_tdx", tier: "tdx", confidential: true, tierLabel: tierLabel("tdx") });
    expect(dev).toMatchObject({ workerId: "w_dev", tier: "dev", confidential: false, tierLabel: tierLabel("dev") });
  });

  it("completed and failed jobs add up in today's and the running totals; errors keep the last one, cut to 300 characters", () => {
    // Prepare
    const { m, clock } = clocked();

    // Act
    m.jobFinished("completed", { seconds: 1, promptTokens: 10, completionTokens: 4, earned: 1_000n });
    m.jobFinished("completed", { seconds: 1, promptTokens: 5, completionTokens: 2, earned: 500n });
    m.jobFinished("failed", { seconds: 1, code: "engine_unavailable" });
    m.jobFinished("stale", { seconds: 1, code: "stale_attempt" });
    clock.t += 1_000;
    m.error("redeem", "tx_failed", "x".repeat(400));
    const doc = m.doc();
    const text = m.render();

    // Assess
    const sums = { jobs: 2, failed: 2, promptTokens: 15, completionTokens: 6, earned: "1500" };
    expect(doc.today).toEqual({ day: "2026-03-01", ...sums });
    expect(doc.total).toEqual(sums);
    expect(samples(text, "cocoon_agent_earned_nanoton_total")).toEqual(["cocoon_agent_earned_nanoton_total 1500"]);
    expect(doc.lastError).toEqual({ at: T0 + 1_000, msg: `redeem: ${"x".repeat(292)}`, code: "tx_failed" });
    expect(doc.lastError!.msg).toHaveLength(300);
    expect(samples(text, "cocoon_agent_errors_total")).toContain('cocoon_agent_errors_total{code="tx_failed",where="redeem"} 1');
    expect(AgentStatusDoc.parse(doc)).toEqual(doc);
  });

  it("codes a coordinator sends are bounded: a long or odd code is labelled other, and new label sets past MAX_SERIES share one series (review, session 21)", () => {
    // Prepare
    const { m } = clocked();
    const long = "e".repeat(10_000);

    // Act: a hostile coordinator answers every poll with a new code
    m.error("poll", long, "x");
    const lastCode = m.doc().lastError?.code;
    m.error("poll", 'a"b', "x");
    m.error("poll", "x".repeat(64), "x");
    m.jobFinished("failed", { seconds: 1, code: "e".repeat(65) });
    for (let k = 0; k < 5_000; k++) m.error("poll", `code_${k}`, "x");
    const text = m.render();
    const errors = samples(text, "cocoon_agent_errors_total");

    // Assess: the old code kept 5,004 series, one 10,000 characters long
    expect(lastCode).toBe("other");
    expect(errors.length).toBeLessThanOrEqual(MAX_SERIES + 1);
    expect(text.length).toBeLessThan(64 * 1024);
    expect(errors).toContain(`cocoon_agent_errors_total{code="${"x".repeat(64)}",where="poll"} 1`);
    expect(errors).toContain('cocoon_agent_errors_total{code="code_0",where="poll"} 1');
    expect(errors).toContain('cocoon_agent_errors_total{code="other",where="job"} 1');
    // three series before the flood, so 253 of its codes have their own and the rest share one
    expect(errors).toContain(`cocoon_agent_errors_total{code="other",where="other"} ${5_000 - (MAX_SERIES - 3)}`);
    expect(errors).toContain('cocoon_agent_errors_total{code="other",where="poll"} 2');
    expect(labelCode("stale_attempt")).toBe("stale_attempt");
    expect(labelCode("a b")).toBe("other");
    expect(labelCode("")).toBe("other");
  });

  it("the account check and the last redemption show in the document", () => {
    // Prepare
    const { m, clock } = clocked();
    const lastRedeem = { at: T0, cumulative: "4000", paid: "1000", txHash: "ab12", sendYourself: true };

    // Act
    clock.t += 2_000;
    m.account({ earned: "5000", redeemed: "4000" });
    m.redeemed(lastRedeem);
    const doc = m.doc();

    // Assess
    expect(doc.account).toEqual({ earned: "5000", redeemed: "4000", checkedAt: T0 + 2_000 });
    expect(doc.lastRedeem).toEqual(lastRedeem);
    expect(doc.uptimeSeconds).toBe(2);
  });

  it("uptime is in seconds rounded to a tenth", () => {
    // Prepare
    const { m, clock } = clocked();

    // Act
    clock.t += 12_345;

    // Assess
    expect(m.doc().uptimeSeconds).toBe(12.3);
  });

  it("a job finished just after midnight UTC counts for the new day, and the new day starts at zero", () => {
    // Prepare: one job on the first day
    const { m, clock } = clocked(Date.parse("2026-03-01T23:59:30Z"));
    m.jobFinished("completed", { seconds: 1, promptTokens: 1, completionTokens: 1, earned: 10n });

    // Act: the next job after midnight, before anyone reads the document
    clock.t = Date.parse("2026-03-02T00:00:30Z");
    m.jobFinished("failed", { seconds: 1, code: "x" });
    const doc = m.doc();

    // Assess
    expect(doc.today).toEqual({ day: "2026-03-02", jobs: 0, failed: 1, promptTokens: 0, completionTokens: 0, earned: "0" });
    expect(doc.total).toEqual({ jobs: 1, failed: 1, promptTokens: 1, completionTokens: 1, earned: "10" });
  });

  it("a scrape after midnight rolls the day over as a status read does", () => {
    // Prepare
    const { m, clock } = clocked(Date.parse("2026-03-01T23:59:30Z"));
    m.jobFinished("completed", { seconds: 1, earned: 10n });

    // Act
    clock.t = Date.parse("2026-03-02T00:00:30Z");
    m.render();

    // Assess: the live status the runtime shares has moved on, not only doc()'s copy
    expect(m.status.today).toEqual({ day: "2026-03-02", jobs: 0, failed: 0, promptTokens: 0, completionTokens: 0, earned: "0" });
  });

  it("the schema keeps every part of a full document, for each state, and refuses an unknown state", () => {
    // Prepare
    const states = ["starting", "serving", "api_down", "engine_down", "draining", "stopped"] as const;

    // Act / Assess
    for (const s of states) expect(AgentStatusDoc.parse(fullDoc(s))).toEqual(fullDoc(s));
    expect(AgentStatusDoc.safeParse({ ...fullDoc("serving"), state: "paused" }).success).toBe(false);
    expect(AgentStatusDoc.safeParse({ ...fullDoc("serving"), state: "" }).success).toBe(false);
  });
});

// ------------------------------------------------------------------------- the server

describe("agent metrics: GET /metrics and GET /status on 127.0.0.1", () => {
  async function served() {
    const { m } = clocked();
    m.setIdentity("w1", "dev");
    const s = await serveMetrics(m, 0);
    cleanup.push(() => s.close());
    return { m, s };
  }

  it("serves the exposition with its content type (query strings ignored) and the status document as JSON", async () => {
    // Prepare
    const { m, s } = await served();

    // Act
    const metrics = await fetch(`${s.url}/metrics?x=1`);
    const status = await fetch(`${s.url}/status`);

    // Assess
    expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(await metrics.text()).toBe(m.render());
    expect(status.status).toBe(200);
    expect(status.headers.get("content-type")).toBe("application/json");
    expect(await status.json()).toEqual(m.doc());
  });

  it("anything but GET of those two paths is a plain-text 404", async () => {
    // Prepare
    const { s } = await served();

    // Act
    const answers = await Promise.all([
      fetch(`${s.url}/`),
      fetch(`${s.url}/metricsx`),
      fetch(`${s.url}/metrics`, { method: "POST", body: "x" }),
      fetch(`${s.url}/status`, { method: "POST", body: "x" }),
    ]);

    // Assess
    for (const a of answers) {
      expect(a.status).toBe(404);
      expect(a.headers.get("content-type")).toBe("text/plain");
      expect(await a.text()).toBe("not found: GET /metrics or /status\n");
    }
  });

  it("a request naming any host but the loopback is a 403, so a web page cannot read it by DNS rebinding", async () => {
    // Prepare
    const { s } = await served();
    const port = Number(new URL(s.url).port);
    /** GET `path` with this Host header (fetch will not send another host's name to 127.0.0.1) */
    const getWithHost = (host: string, path = "/status") =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest({ host: "127.0.0.1", port, path, headers: { host } }, (res) => {
          let body = "";
          res.setEncoding("utf8").on("data", (d: string) => (body += d));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on("error", reject).end();
      });

    // Act
    const rebound = await getWithHost(`attacker.example:${port}`);
    const reboundMetrics = await getWithHost("attacker.example", "/metrics");
    const local = await Promise.all([`127.0.0.1:${port}`, `localhost:${port}`, "LOCALHOST", "127.0.0.1"].map((h) => getWithHost(h)));
    const lookalike = await getWithHost(`127.0.0.1.attacker.example:${port}`);

    // Assess: the old code answered the attacker's name with the status document
    expect(rebound).toEqual({ status: 403, body: "forbidden: address this server as 127.0.0.1 or localhost\n" });
    expect(reboundMetrics.status).toBe(403);
    expect(lookalike.status).toBe(403);
    expect(local.map((a) => a.status)).toEqual([200, 200, 200, 200]);
  });

  it("listens on loopback only, a taken port is an error, and close() stops it", async () => {
    // Prepare
    const { m, s } = await served();
    const port = Number(new URL(s.url).port);

    // Act
    const taken = await serveMetrics(m, port).catch((e: NodeJS.ErrnoException) => e);
    const address = s.server.address();
    await s.close();
    const after = await fetch(`${s.url}/metrics`).catch((e: Error) => e);

    // Assess
    expect(taken).toMatchObject({ code: "EADDRINUSE" });
    expect(address).toMatchObject({ address: "127.0.0.1", port });
    expect(s.server.listening).toBe(false);
    expect(after).toBeInstanceOf(Error);
  });
});

// ------------------------------------------------------------------------- with the agent loop

/** A fresh registry reading that lists no image: a dev agent's own image is refused. */
const refusingRegistry = () =>
  new PolicyCache(
    {
      read: async (): Promise<PolicyReading> => ({
        version: 9,
        updatedAt: 1,
        readAt: Date.now() / 1000,
        policy: {
          coordinatorKey: "11".repeat(32),
          fees: { pricePerToken: 100n, promptBps: 2_500, completionBps: 10_000, operatorFeeBps: 0 },
          images: [],
          models: {},
        },
      }),
    },
    { refreshSeconds: 60, maxAgeSeconds: 60, now: Date.now },
  );

describe("agent metrics: a job the owner's policy refuses", () => {
  // Regression: a job the agent's own reading of the policy registry refuses is left to its lease (never
  // run, never reported), yet agent/runtime.ts finds no outcome for it and counts it as a failure
  // with code "unreported": jobs_total{outcome="failed"}, errors_total{where="job",code="unreported"},
  // the status's failed counters and its lastError. The owner sees an agent failing jobs when it is
  // doing what its policy says; an alert on the failure rate fires for a policy decision.
  it("is not counted as a failed job", async () => {
    // Prepare: a dev agent whose registry lists no image, and one job sealed to it
    const net = await startNetwork({ chain: false });
    cleanup.push(() => net.stop());
    const signingKey = generateSigningKey();
    const kemKey = generateKemKey();
    const job = sealedJob(signingKey.id, kemKey);
    const batches: WorkBatch[] = [{ jobs: [job], challenges: [] }];
    const jobSource: JobSource = {
      next: async () => batches.shift() ?? new Promise<WorkBatch>((r) => setTimeout(() => r({ jobs: [], challenges: [] }), 20)),
    };
    const lines: string[] = [];
    const metrics = createAgentMetrics();
    const a = await startAgent({
      apiUrl: net.url,
      signingKey,
      kemKey,
      engine: {
        name: "never",
        models: async () => [MODEL],
        generate: async () => {
          throw new Error("the engine must not be called for a refused job");
        },
      },
      models: [{ model: MODEL, priceBps: 10_000 }],
      capacity: 1,
      attest: makeAttester({ tier: "dev", signingKey, kemKey }),
      policy: { registry: refusingRegistry(), image: DEV_IMAGE_DIGEST },
      jobSource,
      metrics,
      log: agentLogTo(lines),
      pollWaitSeconds: 1,
      heartbeatMs: 500,
      tickMs: 100,
    });
    cleanup.push(() => a.stop());

    // Act: wait for the refusal, then for the job's accounting (it follows in the same turn)
    await pollUntil("the refusal in the log", () => lines.find((l) => l.includes("job left to its lease")), 5_000);
    await pollUntil("the job's queue wait observed", () => (metrics.totals().queueWait.count === 1 ? true : undefined), 2_000);
    await new Promise((r) => setTimeout(r, 50));
    const text = metrics.render();

    // Assess: not a failure in any of the owner's views
    expect(samples(text, "cocoon_agent_jobs_total").filter((l) => l.includes('outcome="failed"'))).toEqual([]);
    expect(text).not.toContain('code="unreported"');
    expect(metrics.status.total.failed).toBe(0);
    expect(metrics.status.today.failed).toBe(0);
    expect(metrics.status.lastError?.code).toBe("policy_refused");
    expect(samples(text, "cocoon_agent_jobs_total")).toContain('cocoon_agent_jobs_total{outcome="refused"} 1');
  }, 15_000);
});

describe("the status document's engineError", () => {
  it("keeps why the engine does not answer after a failed job overwrites lastError, until the agent serves again", () => {
    // Prepare
    const { m, clock } = clocked();
    // Act
    m.error("engine", "engine_unavailable", "cannot reach the engine at http://127.0.0.1:8000/health (ECONNREFUSED)");
    m.setState("engine_down");
    clock.t += 1000;
    m.error("job", "engine_unavailable", "job job_1: engine_unavailable");
    const down = m.doc();
    m.setState("serving");
    const back = m.doc();
    // Assess
    expect(down.lastError?.msg).toBe("job: job job_1: engine_unavailable");
    expect(down.engineError).toEqual({
      at: T0,
      msg: "cannot reach the engine at http://127.0.0.1:8000/health (ECONNREFUSED)",
      code: "engine_unavailable",
    });
    expect(AgentStatusDoc.safeParse(down).success).toBe(true);
    expect(back.engineError).toBeUndefined();
  });
});
