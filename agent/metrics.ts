/**
 * What the owner sees of a running agent: Prometheus counters and histograms (`GET /metrics`,
 * text format 0.0.4) and a status document (`GET /status`, what `cocoon-agent status` prints),
 * served on 127.0.0.1 only. Counts, codes, durations and money: never a prompt or an answer.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";
import { AttestationTier } from "../events/attestation";
import { NanoTonString } from "../events/common";

type Labels = Record<string, string>;

const labelKey = (l: Labels) =>
  Object.keys(l)
    .sort()
    .map((k) => `${k}="${String(l[k]).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`)
    .join(",");

/**
 * Label sets one counter keeps at most. Codes come partly from the coordinator's answers, so a
 * hostile or broken one could otherwise grow the agent's memory and every scrape without bound
 * with ever-new codes; past this, new label sets are counted together under "other".
 */
export const MAX_SERIES = 256;

/** A code as a label: a short machine-readable token is kept, anything else is "other". */
export const labelCode = (code: string): string => (/^[A-Za-z0-9_.:-]{1,64}$/.test(code) ? code : "other");

class Counter {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1) {
    let k = labelKey(labels);
    if (!this.values.has(k) && this.values.size >= MAX_SERIES)
      k = labelKey(Object.fromEntries(Object.keys(labels).map((name) => [name, "other"])));
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.values.size === 0) lines.push(`${this.name} 0`);
    for (const [k, v] of [...this.values].sort()) lines.push(`${this.name}${k ? `{${k}}` : ""} ${v}`);
    return lines;
  }
}

class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: number[],
  ) {
    this.counts = buckets.map(() => 0);
  }
  observe(v: number) {
    this.sum += v;
    this.count++;
    this.buckets.forEach((b, i) => {
      if (v <= b) this.counts[i]!++;
    });
  }
  get total() {
    return { sum: this.sum, count: this.count };
  }
  render(): string[] {
    return [
      `# HELP ${this.name} ${this.help}`,
      `# TYPE ${this.name} histogram`,
      ...this.buckets.map((b, i) => `${this.name}_bucket{le="${b}"} ${this.counts[i]}`),
      `${this.name}_bucket{le="+Inf"} ${this.count}`,
      `${this.name}_sum ${this.sum}`,
      `${this.name}_count ${this.count}`,
    ];
  }
}

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** The status document: GET /status on the metrics port, and `cocoon-agent status`. */
export const AgentStatusDoc = z.object({
  workerId: z.string(),
  tier: AttestationTier,
  /** false for "dev" (SIMULATED) and "none" (no TEE): the owner can read every prompt */
  confidential: z.boolean(),
  tierLabel: z.string(),
  /**
   * cannot_attest: the agent cannot make evidence the coordinator accepts (no Intel collateral that
   * passes, or its evidence refused; attestError says why): off the candidate lists, or not
   * registered yet at a first start, and retrying on a backoff.
   */
  state: z.enum(["starting", "serving", "api_down", "engine_down", "cannot_attest", "draining", "stopped"]),
  startedAt: z.number().int(),
  uptimeSeconds: z.number(),
  inFlight: z.number().int(),
  capacity: z.number().int(),
  today: z.object({
    day: z.string(),
    jobs: z.number().int(),
    failed: z.number().int(),
    promptTokens: z.number().int(),
    completionTokens: z.number().int(),
    earned: NanoTonString,
  }),
  total: z.object({
    jobs: z.number().int(),
    failed: z.number().int(),
    promptTokens: z.number().int(),
    completionTokens: z.number().int(),
    earned: NanoTonString,
  }),
  /** from the coordinator (GET /v1/agents/me) at the last check; absent until one succeeded */
  account: z.object({ earned: NanoTonString, redeemed: NanoTonString, checkedAt: z.number().int() }).optional(),
  redeemThreshold: NanoTonString,
  lastRedeem: z
    .object({
      at: z.number().int(),
      cumulative: NanoTonString,
      paid: NanoTonString,
      txHash: z.string().optional(),
      sendYourself: z.boolean(),
    })
    .optional(),
  lastError: z.object({ at: z.number().int(), msg: z.string(), code: z.string().optional() }).optional(),
  /**
   * Why the engine is not answering, while it is not (state starting or engine_down): the job it
   * then failed overwrote lastError ("job …: engine_unavailable"), and the reason was lost to status.
   * Cleared once the agent serves.
   */
  engineError: z.object({ at: z.number().int(), msg: z.string(), code: z.string().optional() }).optional(),
  /**
   * Why the agent cannot attest, while it cannot (the state is cannot_attest unless something else
   * keeps it off the lists too): the code (collateral_stale, collateral_not_yet_valid,
   * quote_unreadable; or the coordinator's refusal, attestation_* / model_not_in_registry, with
   * `refused`), the message, when this spell began (`since`) and the last try (`at`). Cleared once
   * a registration is accepted.
   */
  attestError: z
    .object({ at: z.number().int(), since: z.number().int(), msg: z.string(), code: z.string(), refused: z.boolean() })
    .optional(),
});
export type AgentStatusDoc = z.infer<typeof AgentStatusDoc>;

export function tierLabel(tier: AttestationTier): string {
  return tier === "tdx"
    ? "tdx (confidential: attested Intel TDX)"
    : tier === "dev"
      ? "dev (SIMULATED TEE: NOT confidential)"
      : "none (home tier, no TEE: NOT confidential)";
}

const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/**
 * stale: the job had moved on; refused: the owner's policy (registry) refused it, left to its
 * lease; cancelled: its requester cancelled it before the engine started on it (reported failed
 * "cancelled", refunded). One cancelled mid-generation is completed: it bills what was generated.
 */
export type JobOutcome = "completed" | "failed" | "stale" | "refused" | "cancelled";

/** The agent's counters, its status document, and their rendering. */
export function createAgentMetrics(o: { now?: () => number } = {}) {
  const now = o.now ?? Date.now;
  const jobs = new Counter(
    "cocoon_agent_jobs_total",
    "Jobs finished, by outcome (completed, failed: reported to the coordinator, stale: the job had moved on, refused: by the owner's policy, cancelled: by its requester before it started)",
  );
  const tokens = new Counter("cocoon_agent_tokens_total", "Tokens of completed jobs, by kind (prompt, completion)");
  const errors = new Counter(
    "cocoon_agent_errors_total",
    "Errors by where (job, poll, heartbeat, register, engine, lease, redeem) and code",
  );
  const earned = new Counter("cocoon_agent_earned_nanoton_total", "nanoTON credited for completed jobs since start");
  const leases = new Counter("cocoon_agent_lease_extensions_total", "Lease extensions granted for long jobs");
  const latency = new Histogram("cocoon_agent_job_seconds", "Time from taking a job to its result posted", SECONDS);
  const engineTime = new Histogram("cocoon_agent_engine_seconds", "Time in the engine's generate call per job", SECONDS);
  const queueWait = new Histogram("cocoon_agent_queue_wait_seconds", "Time a received job waited for a free slot", SECONDS);

  const startedAt = now();
  const status: Omit<AgentStatusDoc, "uptimeSeconds" | "today"> & { today: AgentStatusDoc["today"] } = {
    workerId: "",
    tier: "none",
    confidential: false,
    tierLabel: tierLabel("none"),
    state: "starting",
    startedAt,
    inFlight: 0,
    capacity: 1,
    today: { day: utcDay(startedAt), jobs: 0, failed: 0, promptTokens: 0, completionTokens: 0, earned: "0" },
    total: { jobs: 0, failed: 0, promptTokens: 0, completionTokens: 0, earned: "0" },
    redeemThreshold: "0",
  };
  const rollDay = () => {
    const d = utcDay(now());
    if (status.today.day !== d) status.today = { day: d, jobs: 0, failed: 0, promptTokens: 0, completionTokens: 0, earned: "0" };
  };

  return {
    status,
    setIdentity(workerId: string, tier: AttestationTier) {
      status.workerId = workerId;
      status.tier = tier;
      status.confidential = tier === "tdx";
      status.tierLabel = tierLabel(tier);
    },
    setState(state: AgentStatusDoc["state"]) {
      status.state = state;
      if (state === "serving") delete status.engineError;
    },
    jobFinished(
      outcome: JobOutcome,
      r: { seconds: number; promptTokens?: number; completionTokens?: number; earned?: bigint; code?: string },
    ) {
      rollDay();
      jobs.inc({ outcome });
      // a refusal is the owner's policy doing its work: no result was posted, and nothing failed
      if (outcome === "refused") return;
      latency.observe(r.seconds);
      // a requester's cancel is no failure of this worker's: neither counted as one nor as an error
      if (outcome === "cancelled") return;
      if (outcome === "completed") {
        status.today.jobs++;
        status.total.jobs++;
        const p = r.promptTokens ?? 0;
        const c = r.completionTokens ?? 0;
        tokens.inc({ kind: "prompt" }, p);
        tokens.inc({ kind: "completion" }, c);
        status.today.promptTokens += p;
        status.today.completionTokens += c;
        status.total.promptTokens += p;
        status.total.completionTokens += c;
        const e = r.earned ?? 0n;
        earned.inc({}, Number(e));
        status.today.earned = (BigInt(status.today.earned) + e).toString();
        status.total.earned = (BigInt(status.total.earned) + e).toString();
      } else {
        status.today.failed++;
        status.total.failed++;
        errors.inc({ where: "job", code: labelCode(r.code ?? outcome) });
      }
    },
    engineCall(seconds: number) {
      engineTime.observe(seconds);
    },
    queueWait(seconds: number) {
      queueWait.observe(seconds);
    },
    leaseExtended() {
      leases.inc();
    },
    error(where: string, code: string, msg: string) {
      const label = labelCode(code);
      errors.inc({ where, code: label });
      status.lastError = { at: now(), msg: `${where}: ${msg}`.slice(0, 300), code: label };
      if (where === "engine") status.engineError = { at: now(), msg: msg.slice(0, 300), code: label };
    },
    /** Why the agent cannot attest (undefined: it attests again); kept in /status as attestError. */
    attestation(p: { code: string; msg: string; refused: boolean } | undefined) {
      if (!p) return void delete status.attestError;
      status.attestError = {
        at: now(),
        since: status.attestError?.since ?? now(),
        msg: p.msg.slice(0, 500),
        code: labelCode(p.code),
        refused: p.refused,
      };
    },
    account(a: { earned: string; redeemed: string }) {
      status.account = { earned: a.earned, redeemed: a.redeemed, checkedAt: now() };
    },
    redeemed(r: NonNullable<AgentStatusDoc["lastRedeem"]>) {
      status.lastRedeem = r;
    },
    /** The owner's auto-redeem threshold in nanoTON ("0": never), for `cocoon-agent status`. */
    redeemThreshold(nano: bigint) {
      status.redeemThreshold = nano.toString();
    },
    /** Sums for the bench: time per job and in the engine. */
    totals() {
      return { job: latency.total, engine: engineTime.total, queueWait: queueWait.total };
    },
    doc(): AgentStatusDoc {
      rollDay();
      return { ...status, uptimeSeconds: Math.round((now() - startedAt) / 100) / 10 };
    },
    render(): string {
      rollDay();
      const gauge = (name: string, help: string, v: number, labels: Labels = {}) => [
        `# HELP ${name} ${help}`,
        `# TYPE ${name} gauge`,
        `${name}${Object.keys(labels).length ? `{${labelKey(labels)}}` : ""} ${v}`,
      ];
      const redeemed = status.account ? Number(BigInt(status.account.redeemed)) : 0;
      return (
        [
          ...gauge("cocoon_agent_info", "The worker and its tier (confidential=false: the owner can read prompts)", 1, {
            worker: status.workerId,
            tier: status.tier,
            confidential: String(status.confidential),
          }),
          ...gauge("cocoon_agent_uptime_seconds", "Seconds since the agent started", (now() - startedAt) / 1000),
          ...gauge(
            "cocoon_agent_serving",
            "1 while the agent takes jobs (0 while the API or the engine is down, while it cannot attest, or draining)",
            status.state === "serving" ? 1 : 0,
          ),
          ...gauge(
            "cocoon_agent_attestation_ok",
            "0 while the agent cannot make evidence the coordinator accepts (no Intel collateral that passes, or its evidence refused: see /status attestError), else 1",
            status.attestError ? 0 : 1,
          ),
          ...gauge("cocoon_agent_jobs_in_flight", "Jobs running now", status.inFlight),
          ...gauge("cocoon_agent_capacity", "Jobs the agent runs at once at most", status.capacity),
          ...gauge("cocoon_agent_redeemed_nanoton", "nanoTON redeemed on chain in all (coordinator's view at the last check)", redeemed),
          ...jobs.render(),
          ...tokens.render(),
          ...errors.render(),
          ...earned.render(),
          ...leases.render(),
          ...latency.render(),
          ...engineTime.render(),
          ...queueWait.render(),
        ].join("\n") + "\n"
      );
    },
  };
}
export type AgentMetrics = ReturnType<typeof createAgentMetrics>;

/** The Host header a local client sends to the metrics server: the loopback, by address or name, any port. */
const LOOPBACK_HOST = /^(127\.0\.0\.1|localhost)(:\d{1,5})?$/i;

/** GET /metrics and GET /status on 127.0.0.1:`port` (0: any free port). */
export async function serveMetrics(metrics: AgentMetrics, port: number): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (!LOOPBACK_HOST.test(req.headers.host ?? "")) {
      // A web page the owner opens could reach 127.0.0.1 under its own name by DNS rebinding
      // and read the status document; a scraper or curl on this machine names the loopback.
      res.writeHead(403, { "content-type": "text/plain" }).end("forbidden: address this server as 127.0.0.1 or localhost\n");
    } else if (req.method === "GET" && path === "/metrics") {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" }).end(metrics.render());
    } else if (req.method === "GET" && path === "/status") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(metrics.doc()));
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: GET /metrics or /status\n");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}`,
    server,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
